"""Tests for ner.tokenization: id-for-id parity with the reference BERT tokenizer.

The reference is Hugging Face's slow Python tokenizer (`BertTokenizerLegacy`
in transformers 5), which implements Google's tokenization.py. Every expected
id below comes from it, or from a rule written out by hand, never from our
own output.
"""

import json
import subprocess
import sys
import unicodedata

import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from transformers.models.bert.tokenization_bert_legacy import BasicTokenizer, BertTokenizerLegacy

from ner.checkpoint import resolve_bert_dir
from ner.tokenization import Tokenizer

# Special-token strings are the one documented, deliberate difference (we
# split "[SEP]" like Google's tokenization.py); keep them out of parity inputs.
_SPECIAL = ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")

HAND_WRITTEN_WORDS = [
    # Accents, precomposed and combining.
    "café", "naïve", "Zoë", "e\u0301", "Cafe\u0301", "Ångström", "São", "Dvořák", "Łódź",
    # CJK ideographs are split one by one; kana and Hangul are not.
    "東京", "東京タワー", "北京市", "서울", "\U00020000",
    # Emoji, with skin tone and zero-width-joiner sequences.
    "😀", "👍🏽", "👨\u200d👩\u200d👧",
    # Control and zero-width characters are deleted and join their neighbours.
    "a\x00b", "\x00", "\x07", "x\x07y", "\x0b", "a\x0cb", "\x85", "\u200b", "a\u200bb", "a\u200db",
    "\ufeff", "\ufeffword", "\ufffd", "a\ufffdb", "\ue000", "\u0378",
    # Whitespace inside a word.
    "a b", "a\tb", "a\u00a0b", "a\u3000b", "a\u2028b", "a\u2029b",
    # Compatibility characters: the reference does not fold them.
    "ß", "ẞ", "Straße", "STRASSE", "ﬁ", "ﬁnance", "Ⅻ", "𝐀", "ℌ", "①", "ｆｕｌｌｗｉｄｔｈ",
    "²", "µ", "Ω", "Å",
    # Special casing.
    "İ", "İstanbul", "ı", "Σ", "ς", "σ", "ΟΔΟΣ", "ΣΑΣ", "ΑΣ.", "ΑΣ.Α", "ΑΣ'Α", "Α\u200bΣ",
    "ΑΣ\u0301", "ΑΣΣ",
    "ǅ", "ﬀ", "ŉ", "ǰ",
    # Unicode 14 letters that TensorFlow's ICU does not lower-case itself.
    "\u2c2f", "\U00010570", "\ua7c0",
    # Punctuation, BERT's definition (ASCII symbols count).
    "U.S.", "Smith's", "don't", "$5", "^_^", "`x`", "a-b", "«quoted»", "¿Qué?", "≠", "a\u1fefb",
    # Very long words: the limit is 100 code points after normalisation.
    "x" * 100, "x" * 101, "é" * 100, "é" * 101, "e\u0301" * 100, "ab" * 60 + ".",
    # Right-to-left scripts.
    "مرحبا", "שלום",
    "", " ",
]


def _conll_sentences(path, limit=None):
    """First-column words of a CoNLL-2003 file, one list per sentence."""
    sentences, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                if current:
                    sentences.append(current)
                    current = []
                    if limit is not None and len(sentences) == limit:
                        break
            elif fields[0] != "-DOCSTART-":
                current.append(fields[0])
    if current and (limit is None or len(sentences) < limit):
        sentences.append(current)
    return sentences


@pytest.fixture(scope="module")
def vocab_file():
    return resolve_bert_dir(None) / "vocab.txt"


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_pretrained()


@pytest.fixture(scope="module")
def reference(vocab_file):
    return BertTokenizerLegacy(str(vocab_file), do_lower_case=True)


def _reference_ids(reference, word):
    return reference.convert_tokens_to_ids(reference.tokenize(word))


def _ids(tokenizer, words, empty_to_unk=False):
    return tokenizer.tokenize_words([words], empty_to_unk=empty_to_unk)[0].to_list()


# === Parity with the reference ===


def test_default_tokenizer_is_uncased_and_knows_special_ids(tokenizer, reference):
    assert tokenizer.do_lower_case is True
    assert tokenizer.vocab_size == len(tokenizer.vocab) == reference.vocab_size == 30522
    assert (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, tokenizer.unk_id) == (
        reference.cls_token_id,
        reference.sep_token_id,
        reference.pad_token_id,
        reference.unk_token_id,
    )
    assert tokenizer.max_chars_per_word == 100


def test_conll_sentences_match_reference_word_by_word(tokenizer, reference, conll_dir):
    sentences = _conll_sentences(conll_dir / "train.txt", limit=1000)
    assert len(sentences) == 1000
    ours = tokenizer.tokenize_words(sentences).to_list()
    n_words = 0
    for sentence, sentence_ids in zip(sentences, ours):
        assert len(sentence_ids) == len(sentence)
        for word, ids in zip(sentence, sentence_ids):
            assert ids == _reference_ids(reference, word), word
            n_words += 1
    assert n_words > 12_000


def test_all_conll_word_types_match_reference(tokenizer, reference, conll_dir):
    splits = ("train", "dev", "test")
    files = [conll_dir / f"{split}.txt" for split in splits]
    types = sorted({w for path in files for sentence in _conll_sentences(path) for w in sentence})
    assert len(types) > 23_623  # train alone has 23,623
    ours = tokenizer.tokenize_words([types]).to_list()[0]
    mismatches = [(w, ids) for w, ids in zip(types, ours) if ids != _reference_ids(reference, w)]
    assert mismatches == []


@pytest.mark.parametrize("word", HAND_WRITTEN_WORDS, ids=ascii)
def test_hand_written_word_matches_reference(tokenizer, reference, word):
    assert _ids(tokenizer, [word]) == [_reference_ids(reference, word)]


def test_hand_written_words_in_one_batch(tokenizer, reference):
    # Batched with others, a word must tokenize as it does alone.
    ours = _ids(tokenizer, HAND_WRITTEN_WORDS)
    assert ours == [_reference_ids(reference, w) for w in HAND_WRITTEN_WORDS]


def test_compatibility_characters_are_not_folded(tokenizer):
    # The reason this module exists: FastBertTokenizer's own normaliser folds
    # these (NFKC case folding); the reference and we do not.
    words = ["ß", "ﬁ", "Ⅻ", "𝐀"]
    folding = tf_text.FastBertTokenizer(
        vocab=tokenizer.vocab, token_out_type=tf.int32, lower_case_nfd_strip_accents=True
    ).tokenize(tf.constant(words)).to_list()
    vocab = tokenizer.vocab
    assert [[vocab[i] for i in ids] for ids in folding] == [["ss"], ["fi"], ["xii"], ["a"]]
    ours = [tokenizer.ids_to_tokens(ids) for ids in _ids(tokenizer, words)]
    assert ours == [["ß"], ["ﬁ"], ["[UNK]"], ["[UNK]"]]


def _reference_chars():
    """Every assigned character, except that the ~90,000 CJK ideographs (all
    alike to the reference) and the unassigned and private-use code points
    are sampled, to keep the test fast."""
    is_cjk = BasicTokenizer()._is_chinese_char
    chars = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        category = unicodedata.category(chr(cp))
        if category in ("Cn", "Co") or is_cjk(cp):
            if cp % 97 == 0:
                chars.append(chr(cp))
        else:
            chars.append(chr(cp))
    return chars


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_basic_tokens_of_every_character_match_reference(vocab_file, do_lower_case):
    # Compares normalised strings, not ids: a wrong lower case or accent
    # strip can hide behind "[UNK]" at the id level.
    tokenizer = Tokenizer(vocab_file, do_lower_case=do_lower_case)
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    chars = _reference_chars()
    # Each character between two letters also checks how it joins or splits.
    words = [f"a{c}b" for c in chars]
    ours = tokenizer._basic_tokens(tf.constant([w.encode("utf-8") for w in words])).to_list()
    mismatches = []
    for word, tokens in zip(words, ours):
        expected = basic.tokenize(word)
        if [t.decode("utf-8") for t in tokens] != expected:
            mismatches.append((ascii(word), tokens, expected))
    assert mismatches == []


def test_lower_case_matches_python_on_every_character(tokenizer):
    chars = [c for c in _reference_chars() if unicodedata.category(c)[0] != "C"]
    ours = tokenizer._lower(tf.constant([c.encode("utf-8") for c in chars])).numpy()
    assert [(ascii(c), o) for c, o in zip(chars, ours) if o.decode("utf-8") != c.lower()] == []


def test_empty_words_become_unk_only_when_asked(tokenizer, reference):
    words = ["\x07", "\u200b", "\ufeff", "\u0301", "", "ok"]
    assert [_reference_ids(reference, w) for w in words[:-1]] == [[]] * 5
    assert _ids(tokenizer, words, empty_to_unk=False)[:-1] == [[]] * 5
    unk = tokenizer.unk_id
    assert _ids(tokenizer, words, empty_to_unk=True) == [[unk]] * 5 + [_reference_ids(reference, "ok")]


def test_special_token_strings_are_tokenized_as_text(tokenizer):
    # Deliberate difference from Hugging Face (which keeps "[SEP]" whole):
    # user text must not inject separators, as in Google's tokenization.py.
    vocab = tokenizer.vocab
    assert [[vocab[i] for i in ids] for ids in _ids(tokenizer, ["[SEP]"])] == [["[", "sep", "]"]]
    assert tokenizer.sep_id not in _ids(tokenizer, list(_SPECIAL))[1]


# === Cased checkpoints ===

_TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "Hello", "hello", "Caf", "caf", "##é", "##e", ",", "!", "É", "e", "é",
]


@pytest.fixture()
def tiny_vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(_TINY_VOCAB) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("do_lower_case", [False, True])
def test_tiny_vocab_matches_reference(tiny_vocab, do_lower_case):
    tokenizer = Tokenizer(tiny_vocab, do_lower_case=do_lower_case)
    reference = BertTokenizerLegacy(str(tiny_vocab), do_lower_case=do_lower_case)
    words = ["Hello", "hello", "HELLO", "Hello,", "Café", "Cafe\u0301", "CAFÉ", "É", "E\u0301", "é!"]
    words += ["Zoë", "\u0301", "e \u0301"]
    assert _ids(tokenizer, words) == [_reference_ids(reference, w) for w in words]


def test_cased_keeps_case_and_accents(tiny_vocab):
    cased = Tokenizer(tiny_vocab, do_lower_case=False)
    uncased = Tokenizer(tiny_vocab, do_lower_case=True)
    v = {t: i for i, t in enumerate(_TINY_VOCAB)}
    # Cased: no lower case, no accent stripping, but NFC (as Hugging Face).
    assert _ids(cased, ["Hello", "hello", "Café", "Cafe\u0301"]) == [
        [v["Hello"]],
        [v["hello"]],
        [v["Caf"], v["##é"]],
        [v["Caf"], v["##é"]],
    ]
    assert _ids(uncased, ["Hello", "Café"]) == [[v["hello"]], [v["caf"], v["##e"]]]


# === Words and offsets ===


def _split(tokenizer, text):
    words, starts, ends = tokenizer.split_words_with_offsets([text])
    words = [w.decode("utf-8") for w in words[0].numpy()]
    return words, starts[0].numpy().tolist(), ends[0].numpy().tolist()


OFFSET_TEXTS = [
    "Zoë lives in São Paulo.",
    "Cafe\u0301 naïve e\u0301\u0301 x",
    "😀 I 👍🏽 it! 👨\u200d👩\u200d👧",
    "東京タワー is in 東京, Japan.",
    "مرحبا بالعالم! قال أحمد.",
    "שלום עולם, אמר דוד.",
    "tab\there\nnew line\r\nCRLF\u00a0nbsp\u3000ideographic\u2028ls\u2029ps",
    "zero\u200bwidth \u200b alone \u200d\ufeff bom\ufeff",
    "\ufeffleading byte order mark",
    "ctrl\x00nul \x00 \x07bell\x07 \x0bvt\x0c\x85",
    "The U.S.-led team, e.g. Smith's (3.5%).",
    "",
    "   \t\n",
]


@pytest.mark.parametrize("text", OFFSET_TEXTS, ids=ascii)
def test_offsets_slice_back_to_original_bytes(tokenizer, text):
    words, starts, ends = _split(tokenizer, text)
    data = text.encode("utf-8")
    assert all(data[s:e].decode("utf-8") == w for w, s, e in zip(words, starts, ends))
    assert all(w for w in words)
    # Words are in order, do not overlap, and only separators or dropped
    # control/zero-width runs lie between them.
    bounds = [0] + [x for s, e in zip(starts, ends) for x in (s, e)] + [len(data)]
    assert bounds == sorted(bounds)
    for gap_start, gap_end in zip(bounds[::2], bounds[1::2]):
        gap = data[gap_start:gap_end].decode("utf-8")
        assert all(c.isspace() or unicodedata.category(c)[0] == "C" for c in gap), ascii(gap)


@pytest.mark.parametrize("text", OFFSET_TEXTS, ids=ascii)
def test_words_tokenize_like_the_whole_text(tokenizer, reference, text):
    # Word boundaries are reference token boundaries: the words' pieces,
    # concatenated, are the reference's pieces for the whole text.
    words, _, _ = _split(tokenizer, text)
    ours = [i for ids in _ids(tokenizer, words) for i in ids]
    assert ours == _reference_ids(reference, text)


def test_conll_text_tokenizes_like_the_reference(tokenizer, reference, conll_dir):
    texts = [" ".join(s) for s in _conll_sentences(conll_dir / "dev.txt", limit=300)]
    words, _, _ = tokenizer.split_words_with_offsets(texts)
    ids = tokenizer.tokenize_words(words).to_list()
    for text, sentence_ids in zip(texts, ids):
        assert [i for word in sentence_ids for i in word] == _reference_ids(reference, text)


def _pieces_of_words(tokenizer, texts):
    words, _, _ = tokenizer.split_words_with_offsets(texts)
    return tokenizer.tokenize_words(words).row_lengths(axis=2).to_list()


def test_counted_wordpieces_are_those_of_the_split_words(tokenizer, conll_dir):
    # The server's budgets count pieces on whole texts (half the cost);
    # the tagger encodes the split words' pieces. Every character once
    # between letters, after a period and alone, the offset and joining
    # cases, over-long words and CoNLL sentences.
    texts = ([f"a{c}b {c}. x{c}" for c in _reference_chars()] + OFFSET_TEXTS
             + ["M. Waugh and O'Neill paid C$ 5 to Acme Corp. in Fla. on Jan. 3", "2. Venuste",
                "." * 300, "x" * 250 + " y", "new\u200byork \u200b"]
             + [" ".join(s) for s in _conll_sentences(conll_dir / "dev.txt", limit=300)])
    counted = tokenizer.tf_count_wordpieces(tf.constant([t.encode("utf-8") for t in texts]))
    expected = [sum(pieces) for pieces in _pieces_of_words(tokenizer, texts)]
    assert [(ascii(t), n, e) for t, n, e in zip(texts, counted.numpy().tolist(), expected)
            if n != e] == []
    # The documented exception: the whole text lower-cases "ΚΑΣ.Β" to
    # "κασ.β", the word "ΚΑΣ" alone to "κας", and the pieces differ.
    text = "ΟΔΟΣ.Α ΚΑΣ.Β"
    counted = tokenizer.tf_count_wordpieces(tf.constant([text.encode("utf-8")]))
    assert counted.numpy().tolist() == [sum(_pieces_of_words(tokenizer, [text])[0]) + 1]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("Smith's car", ["Smith", "'", "s", "car"]),
        ("the U.S. and U.K.", ["the", "U.S.", "and", "U.K."]),
        ("U.S.-led", ["U.S.", "-", "led"]),
        ("Jean-Luc met Israeli-Syrian 2-1 1996-08-22", ["Jean-Luc", "met", "Israeli-Syrian",
                                                        "2-1", "1996-08-22"]),
        ("a - b -c d- e--f", ["a", "-", "b", "-", "c", "d", "-", "e", "-", "-", "f"]),
        ("Zoë-Ann's", ["Zoë-Ann", "'", "s"]),
        ("e.g. this", ["e.g.", "this"]),
        ("XU.S.", ["XU", ".", "S", "."]),
        ("U.S", ["U.S"]),
        ("N.Ireland x.com", ["N.Ireland", "x.com"]),
        # Periods that CoNLL-2003 keeps with their word: initials, titles,
        # list numbers opening a line, abbreviations before a word that
        # does not start with a capital.
        ("M. Waugh c J. Adams", ["M.", "Waugh", "c", "J.", "Adams"]),
        ("He got an A. Then", ["He", "got", "an", "A.", "Then"]),
        ("Dr. No met ST. LOUIS", ["Dr.", "No", "met", "ST.", "LOUIS"]),
        ("Mr . Brown", ["Mr", ".", "Brown"]),
        ("AMR Corp., said; Fla. 1996", ["AMR", "Corp.", ",", "said", ";", "Fla.", "1996"]),
        ("of Apple Inc. The", ["of", "Apple", "Inc", ".", "The"]),
        ("Apple Inc.", ["Apple", "Inc", "."]),
        ("vitamin c. d", ["vitamin", "c", ".", "d"]),
        ("Paris. then", ["Paris", ".", "then"]),
        ("2. Ann\n 13. Bo, 1996. Cy 4. D", ["2.", "Ann", "13.", "Bo", ",", "1996", ".", "Cy",
                                           "4", ".", "D"]),
        ("1234. x", ["1234", ".", "x"]),
        # An apostrophe between letters joins them, unless a clitic follows.
        ("O'Neill's rock'n'roll don't I'M N\u2019Djamena 'x' O 'Neill",
         ["O'Neill", "'", "s", "rock'n'roll", "don", "'", "t", "I", "'", "M",
          "N\u2019Djamena", "'", "x", "'", "O", "'", "Neill"]),
        ("fell C$ 0.45, US$1 and ABCD$", ["fell", "C$", "0", ".", "45", ",", "US$", "1", "and",
                                          "ABCD", "$"]),
        ("3.5", ["3", ".", "5"]),
        ("東京タワー", ["東", "京", "タワー"]),
        ("New\u200bYork", ["New\u200bYork"]),
        ("a \u200b b", ["a", "b"]),
        ("a \x07\x00 b", ["a", "b"]),
        ("x\x00y", ["x\x00y"]),
        ("a\x0cb", ["a\x0cb"]),
        ("a\tb\nc\r\nd\u00a0e\u2028f", ["a", "b", "c", "d", "e", "f"]),
        ("e\u0301 \u0301 x", ["e\u0301", "x"]),
        ("(\u0301)", ["(\u0301", ")"]),
        ("👍🏽!", ["👍🏽", "!"]),
        ("שלום, עולם", ["שלום", ",", "עולם"]),
        ("", []),
        (" \t\n ", []),
    ],
    ids=ascii,
)
def test_split_words(tokenizer, text, expected):
    assert _split(tokenizer, text)[0] == expected


def test_cased_split_keeps_lone_combining_marks(tiny_vocab):
    # Cased, the reference keeps a lone mark as a token, so it is a word.
    cased = Tokenizer(tiny_vocab, do_lower_case=False)
    assert _split(cased, "e \u0301 x")[0] == ["e", "\u0301", "x"]


def test_offsets_are_utf8_bytes(tokenizer):
    words, starts, ends = _split(tokenizer, "é 東 😀")
    assert (words, starts, ends) == (["é", "東", "😀"], [0, 3, 7], [2, 6, 11])


# === Inputs ===


def test_accepts_tensors_of_both_kinds(tokenizer):
    from_lists = tokenizer.tokenize_words([["New", "York"], ["Paris"]]).to_list()
    ragged = tokenizer.tokenize_words(tf.ragged.constant([["New", "York"], ["Paris"]])).to_list()
    dense = tokenizer.tokenize_words(tf.constant([["New", "York"], ["Paris", ""]])).to_list()
    assert from_lists == ragged == dense[:1] + [dense[1][:1]]
    assert tokenizer.tokenize_words([]).to_list() == []
    assert tokenizer.tokenize_words([[]]).to_list() == [[]]
    assert tokenizer.split_words_with_offsets([])[0].to_list() == []


def test_bad_inputs_raise(tokenizer):
    with pytest.raises(TypeError, match="single string"):
        tokenizer.tokenize_words("New York")
    with pytest.raises(TypeError, match=r"words\[0\] must be a list"):
        tokenizer.tokenize_words(["New", "York"])
    with pytest.raises(TypeError, match=r"words\[1\]\[0\] must be str"):
        tokenizer.tokenize_words([["a"], [3]])
    with pytest.raises(TypeError, match="wrap a single text"):
        tokenizer.split_words_with_offsets("text")
    with pytest.raises(tf.errors.InvalidArgumentError):
        tokenizer.tokenize_words(tf.ragged.constant([[b"\xff"]]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        tokenizer.split_words_with_offsets(tf.constant([b"ok \xc3"]))


def test_ids_to_tokens(tokenizer, reference):
    ids = _reference_ids(reference, "unaffable")
    assert tokenizer.ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids)
    assert tokenizer.ids_to_tokens(tf.constant(ids)) == reference.convert_ids_to_tokens(ids)
    with pytest.raises(ValueError, match=r"ids\[1\] = 30522"):
        tokenizer.ids_to_tokens([0, 30522])


# === Loading ===


def _folder(tmp_path, vocab_lines=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"), **configs):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "vocab.txt").write_text("\n".join(vocab_lines) + "\n", encoding="utf-8")
    for name, content in configs.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    return tmp_path


def test_casing_comes_from_the_folder(tmp_path):
    hf = _folder(tmp_path / "hf", config={"vocab_size": 5}, tokenizer_config={"do_lower_case": False})
    assert Tokenizer.from_pretrained(hf).do_lower_case is False
    assert Tokenizer.from_pretrained(hf, do_lower_case=True).do_lower_case is True
    google = _folder(tmp_path / "google", bert_config={"vocab_size": 5, "do_lower_case": True})
    assert Tokenizer.from_pretrained(google).do_lower_case is True
    both = _folder(
        tmp_path / "both", bert_config={"do_lower_case": True}, tokenizer_config={"do_lower_case": False}
    )
    assert Tokenizer.from_pretrained(both).do_lower_case is False


def test_casing_is_never_guessed(tmp_path):
    # "uncased" in the path must not matter.
    folder = _folder(tmp_path / "uncased_L-2_H-128", bert_config={"vocab_size": 5}, tokenizer_config={})
    with pytest.raises(ValueError, match="casing could not be determined.*do_lower_case=True"):
        Tokenizer.from_pretrained(folder)
    assert Tokenizer.from_pretrained(folder, do_lower_case=False).do_lower_case is False


_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _words(n, capitalised_every=0):
    """n distinct lettered wordpieces; every k-th capitalised (0: none)."""
    words = [f"w{chr(97 + i % 26)}{i}" for i in range(n)]
    if capitalised_every:
        words = [w.title() if i % capitalised_every == 0 else w for i, w in enumerate(words)]
    return words


def test_casing_comes_from_the_vocabulary_when_no_config_states_it(tmp_path, caplog):
    # Google's TF1 releases: bert_config.json without do_lower_case.
    uncased = _folder(tmp_path / "uncased", _SPECIALS + tuple(_words(1200)),
                      bert_config={"vocab_size": 1205})
    with caplog.at_level("INFO", logger="ner.tokenization"):
        assert Tokenizer.from_pretrained(uncased).do_lower_case is True
    assert "uncased, since 0 of its 1,200 wordpieces with letters have capitals" in caplog.text
    cased = _folder(tmp_path / "cased", _SPECIALS + tuple(_words(1200, capitalised_every=4)),
                    bert_config={"vocab_size": 1205})
    assert Tokenizer.from_pretrained(cased).do_lower_case is False
    # A few capitals among many (1%), or too few pieces to judge: not decided.
    unclear = _folder(tmp_path / "unclear", _SPECIALS + tuple(_words(1200, capitalised_every=100)),
                      bert_config={})
    with pytest.raises(ValueError, match=r"vocabulary does not tell \(12 of its 1,200 .*"
                                         r"--do_lower_case or --nodo_lower_case"):
        Tokenizer.from_pretrained(unclear)
    assert Tokenizer.from_pretrained(unclear, do_lower_case=True).do_lower_case is True


def test_a_casing_the_vocabulary_contradicts_is_warned_about(tmp_path, caplog):
    uncased = _SPECIALS + tuple(_words(1200))
    stated = _folder(tmp_path / "stated", uncased, bert_config={"do_lower_case": False})
    with caplog.at_level("WARNING", logger="ner.tokenization"):
        assert Tokenizer.from_pretrained(stated).do_lower_case is False  # as stated
    assert "do_lower_case=False (the folder's config), but 0 of its 1,200 wordpieces with " \
           "letters have capitals: this looks like an uncased checkpoint" in caplog.text
    caplog.clear()
    cased = _folder(tmp_path / "cased", _SPECIALS + tuple(_words(1200, capitalised_every=2)),
                    config={})
    with caplog.at_level("WARNING", logger="ner.tokenization"):
        Tokenizer.from_pretrained(cased, do_lower_case=True)
    assert "do_lower_case=True (do_lower_case given), but 600 of its 1,200" in caplog.text
    assert "a cased checkpoint; if it is, pass do_lower_case=False (python -m ner.train: " \
           "--nodo_lower_case)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ner.tokenization"):
        Tokenizer.from_pretrained(cased, do_lower_case=False)
    assert caplog.text == ""


@pytest.mark.parametrize(
    "configs, message",
    [
        (
            {"bert_config": {"do_lower_case": "yes"}},
            r"bert_config.json: field 'do_lower_case' must be true or false",
        ),
        ({"tokenizer_config": "{not json"}, r"tokenizer_config.json:1: not valid JSON"),
        ({"config": "[1, 2]"}, r"config.json: expected a JSON object, got an array"),
        (
            {"tokenizer_config": {"do_lower_case": True, "strip_accents": False}},
            r"tokenizer_config.json: field 'strip_accents' = False with do_lower_case=True is not",
        ),
        (
            {"tokenizer_config": {"do_lower_case": True, "tokenize_chinese_chars": False}},
            r"tokenizer_config.json: field 'tokenize_chinese_chars' = False is not supported",
        ),
    ],
)
def test_bad_configs_name_file_and_field(tmp_path, configs, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_pretrained(_folder(tmp_path, **configs))


@pytest.mark.parametrize(
    "lines, message",
    [
        (("[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"), r"line 6: duplicate wordpiece 'a' \(first on line 5"),
        (("[PAD]", "[UNK]", "", "[CLS]", "[SEP]"), r"line 3: empty wordpiece"),
        (("[PAD]", "[CLS]", "[SEP]", "a"), r"no line holds the special token '\[UNK\]'"),
    ],
)
def test_bad_vocabularies_name_file_and_line(tmp_path, lines, message):
    folder = _folder(tmp_path, vocab_lines=lines)
    with pytest.raises(ValueError, match=message):
        Tokenizer(folder / "vocab.txt", do_lower_case=True)


def test_missing_files_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        Tokenizer(tmp_path / "vocab.txt", do_lower_case=True)
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_pretrained(tmp_path / "missing", do_lower_case=True)
    folder = _folder(tmp_path / "ok")
    with pytest.raises(TypeError, match="do_lower_case"):
        Tokenizer(folder / "vocab.txt", do_lower_case="yes")
    with pytest.raises(ValueError, match="max_chars_per_word"):
        Tokenizer(folder / "vocab.txt", do_lower_case=True, max_chars_per_word=0)


def test_crlf_vocabulary_reads_like_the_reference(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n".encode("utf-8"))
    tokenizer = Tokenizer(path, do_lower_case=True)
    reference = BertTokenizerLegacy(str(path), do_lower_case=True)
    assert tokenizer.vocab == list(reference.vocab)
    assert _ids(tokenizer, ["Hello", "bye"]) == [_reference_ids(reference, w) for w in ["Hello", "bye"]]


def test_max_chars_per_word_counts_code_points(tiny_vocab):
    tokenizer = Tokenizer(tiny_vocab, do_lower_case=False, max_chars_per_word=3)
    v = {t: i for i, t in enumerate(_TINY_VOCAB)}
    # "Café" has 4 code points (5 bytes): over the limit; "é" is 1 (2 bytes).
    assert _ids(tokenizer, ["Café", "é", "Caf"]) == [[v["[UNK]"]], [v["é"]], [v["Caf"]]]


# === SavedModel ===


class _Serving(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def words_and_ids(self, texts):
        words, starts, ends = self.tokenizer.tf_split_words_with_offsets(texts)
        ids = self.tokenizer.tf_tokenize_words(words)
        return {"ids": ids, "starts": starts, "ends": ends}


def test_saved_model_reloads_with_same_ids(tokenizer, reference, tmp_path):
    module = _Serving(tokenizer)
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    texts = ["Straße in 東京 — naïve U.S. ﬁ \u2c2f \u200b x\x00", "ΟΔΟΣ", ""]
    expected = module.words_and_ids(tf.constant(texts))
    got = loaded.words_and_ids(tf.constant(texts))
    for key in ("ids", "starts", "ends"):
        assert got[key].to_list() == expected[key].to_list()
    flat = [[i for word in sentence for i in word] for sentence in got["ids"].to_list()]
    assert flat == [_reference_ids(reference, t) for t in texts]


# === Which tensorflow_text op libraries a process loads (ner.text_ops) ===

_LIBRARIES_SCRIPT = """
import json, re, sys
{first}
from ner.tokenization import Tokenizer

def mapped():
    maps = open("/proc/self/maps").read()
    return sorted(set(re.findall(r"tensorflow_text/python/ops/(_\\w+)\\.so", maps)))

tokenizer = Tokenizer.from_pretrained()
ids = tokenizer.tokenize_words([["Straße", "naïve", "東京"]]).flat_values.numpy().tolist()
before = mapped()
import tensorflow_text
import ner.text_ops
same = (tensorflow_text.FastWordpieceTokenizer is ner.text_ops.FastWordpieceTokenizer
        and tensorflow_text.regex_split_with_offsets.__globals__["gen_regex_split_ops"]
        is ner.text_ops._split_op)
print(json.dumps(dict(ids=ids, before=before, after=mapped(), same=same)))
"""


def _fresh_process(first: str) -> dict:
    run = subprocess.run([sys.executable, "-c", _LIBRARIES_SCRIPT.format(first=first)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_tokenizer_loads_only_the_text_op_libraries_it_uses():
    alone = _fresh_process(first="")
    # Three libraries of the package's 30-odd (92 MB less resident memory).
    assert alone["before"] == ["_fast_wordpiece_tokenizer", "_normalize_ops", "_regex_split_ops"]
    # A later `import tensorflow_text` gets the whole package, reusing the
    # modules already imported rather than defining them a second time.
    assert len(alone["after"]) > 20 and alone["same"]
    # The same ids as with the whole package imported first (the old way).
    whole = _fresh_process(first="import tensorflow_text")
    assert len(whole["before"]) > 20 and whole["same"]
    assert alone["ids"] == whole["ids"]
    reference = BertTokenizerLegacy(vocab_file=str(resolve_bert_dir(None) / "vocab.txt"),
                                    do_lower_case=True)
    assert alone["ids"] == reference.convert_tokens_to_ids(reference.tokenize("Straße naïve 東京"))


@pytest.mark.parametrize("delim, keep", [
    (r"\s+", ""),
    (r"[ \t]+|[.,!]", "[.,!]"),
    (r"[^\w]", r"[^\w\s]"),
])
def test_text_ops_split_is_the_packages_without_its_graph_checks(delim, keep):
    from ner import text_ops

    strings = ["", "Hello, world!", "  two  spaces\t", "東京 Straße. naïve!", "a\x01b", "...",
               "no-delimiters"]
    for batch in (tf.constant(strings), tf.zeros([0], tf.string)):
        ours = text_ops.regex_split_with_offsets(batch, delim, keep)
        theirs = tf_text.regex_split_with_offsets(batch, delim, keep)
        for mine, reference in zip(ours, theirs, strict=True):
            assert mine.dtype == reference.dtype
            assert mine.to_list() == reference.to_list()
    # The point of it: in a graph, none of the wrapper's checks of the row
    # splits (its graph has 213 ops, in TensorFlow Text 2.21).
    graph = tf.function(lambda s: text_ops.regex_split_with_offsets(s, delim, keep),
                        input_signature=[tf.TensorSpec([None], tf.string)],
                        autograph=False).get_concrete_function().graph
    kinds = [op.type for op in graph.get_operations()]
    assert "RegexSplitWithOffsets" in kinds
    assert len(kinds) < 20, kinds
