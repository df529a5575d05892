"""Tag schemes: the one home of the rules of IOB1, IOB2 and BIOES.

The data reader, the CRF's constraints, the tagger's chunking, the metrics and
the evaluation report all read tags through this module; it is pure Python.

Schemes (the spelling of chunk `PER` over tokens 1..3 after an `O`):

* IOB1: `O I-PER I-PER I-PER`; `B-` only where a chunk follows a chunk of the
  same type.
* IOB2 (alias BIO): `O B-PER I-PER I-PER`; every chunk starts with `B-`.
* BIOES (alias IOBES): `O B-PER I-PER E-PER`; a one-token chunk is `S-PER`.

A tag is `O` or `<prefix>-<TYPE>` with prefix one of B, I, E, S; the type is
everything after the first hyphen (`B-ORG-X` has type `ORG-X`, as in
conlleval). Entities are spans `(type, start, end)` with an EXCLUSIVE end, the
one span convention of the project (`seqeval.get_entities` uses an inclusive
end).

Example:
    >>> chunks(["I-PER", "I-PER", "B-PER", "O"])
    [('PER', 0, 2), ('PER', 2, 3)]
    >>> convert(["I-PER", "I-PER", "B-PER", "O"], "IOB1", "BIOES")
    ['B-PER', 'E-PER', 'S-PER', 'O']
    >>> invalid_transitions(["O", "I-PER", "B-LOC", "I-LOC"], "IOB2")
    [1]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

__all__ = [
    "LabelTable",
    "NAMES",
    "PREFIXES",
    "SCHEMES",
    "Span",
    "TagError",
    "allowed_transitions",
    "chunks",
    "convert",
    "detect_scheme",
    "invalid_transitions",
    "label_table",
    "parse_tag",
    "parse_tags",
    "respell",
    "scheme_name",
    "spell",
]

#: Canonical scheme names; "BIO" and "IOBES" are aliases (see `scheme_name`).
SCHEMES = ("IOB1", "IOB2", "BIOES")
#: The prefixes each scheme uses besides the bare "O".
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES"}
_ALIASES = {"BIO": "IOB2", "IOBES": "BIOES"}
#: Every name `scheme_name` takes (in capitals; it takes any case).
NAMES = (*SCHEMES, *_ALIASES)
_OUTSIDE = ("O", None)

Span = tuple[str, int, int]


class TagError(ValueError):
    """A tag that is malformed, not used by a scheme, or may not follow its predecessor.

    `str()` is `"position INDEX: REASON"` (just the reason when no position
    applies); callers that know the file line or sentence use the parts.

    Attributes:
        reason: what is wrong, naming the tag, e.g. `"malformed tag 'B-'..."`.
        index: the tag's position in its sentence, or None.
    """

    def __init__(self, reason: str, index: int | None = None):
        super().__init__(reason if index is None else f"position {index}: {reason}")
        self.reason = reason
        self.index = index


def scheme_name(scheme: str) -> str:
    """The canonical name of a scheme.

    Args:
        scheme: "IOB1", "IOB2", "BIO", "BIOES" or "IOBES", in any case.

    Returns:
        str: one of `SCHEMES`, e.g. "IOB2" for "bio".

    Raises:
        ValueError: for any other name.
    """
    name = str(scheme).upper()
    name = _ALIASES.get(name, name)
    if name not in SCHEMES:
        choices = ", ".join(repr(s) for s in NAMES)
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {choices}")
    return name


def scheme_or_auto(scheme: str) -> str:
    """`scheme_name`, or "auto" (in any case) for a scheme to detect: what the
    command lines' `--scheme` takes."""
    return "auto" if str(scheme).upper() == "AUTO" else scheme_name(scheme)


# Tags already parsed: a corpus has a handful of distinct tags, and parsing
# each token anew would cost the reader a third of its time.
_PARSED: dict[str, tuple[str, str | None]] = {"O": _OUTSIDE}
_MAX_CACHED = 100_000


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Splits a tag into its prefix and entity type.

    Args:
        tag: `"O"` or `"<prefix>-<TYPE>"` with prefix one of B, I, E, S.

    Returns:
        `(prefix, type)`; `("O", None)` for the outside tag.

    Raises:
        TagError: for any other shape (`"PER"`, `"B-"`, `"X-PER"`, `""`).
            conlleval would read such tags as typeless chunks; refusing them
            shows a wrong column at once.
    """
    parsed = _PARSED.get(tag)
    if parsed is None:
        prefix, sep, type_ = tag.partition("-")
        if not sep or prefix not in ("B", "I", "E", "S") or not type_:
            hint = ""
            if sep and prefix in ("L", "U") and type_:
                hint = (" (BILOU is not supported: write its L- as E- and U- as S-, which is "
                        "BIOES)")
            raise TagError(f"malformed tag {tag!r}: expected 'O' or '<B|I|E|S>-<TYPE>'{hint}")
        parsed = (prefix, type_)
        if len(_PARSED) < _MAX_CACHED:
            _PARSED[tag] = parsed
    return parsed


def parse_tags(tags: Sequence[str], scheme: str | None = None) -> list[tuple[str, str | None]]:
    """`parse_tag` over one sentence, checking the prefixes `scheme` uses.

    Args:
        tags: the tags of one sentence.
        scheme: a scheme name, or None to accept every prefix.

    Returns:
        list of `(prefix, type)`, one per tag.

    Raises:
        TagError: with the position of the first malformed tag, or of a tag
            whose prefix `scheme` does not use (`S-PER` in IOB2).
    """
    try:
        parsed = [_PARSED[tag] for tag in tags]
    except KeyError:  # a tag seen for the first time, or a malformed one
        parsed = []
        for i, tag in enumerate(tags):
            try:
                parsed.append(parse_tag(tag))
            except TagError as exc:
                raise TagError(exc.reason, i) from None
    if scheme is not None:
        allowed = "O" + PREFIXES[scheme_name(scheme)]
        for i, (prefix, _) in enumerate(parsed):
            if prefix not in allowed:
                raise TagError(f"tag {tags[i]!r} is not allowed in scheme {scheme_name(scheme)}", i)
    return parsed


def detect_scheme(tag_sequences: Iterable[Sequence[str]], predicted: Iterable[Sequence[str]] = (),
                  *, undecided: str = "IOB2") -> str:
    """Guesses the scheme of a corpus.

    Args:
        tag_sequences: the (gold) tags of each sentence.
        predicted: optional system output for the same corpus. It counts only
            for BIOES: a tagger's output may be ill formed in any scheme, so
            its orphan `I-` tags must not make a corpus IOB1.

    Returns:
        str: "BIOES" if any tag is `S-` or `E-`; "IOB1" if some `I-X` of
        `tag_sequences` starts a chunk (after `O`, another type, or at the
        start of a sentence) and no `B-X` does; "IOB2" if some `B-X` starts
        one; otherwise `undecided` ("IOB2" by default: in a corpus without
        entities the schemes coincide).

    Raises:
        TagError: naming sentence and position of a malformed tag.

    >>> detect_scheme([["I-LOC", "O"], ["I-PER", "B-PER"]])
    'IOB1'
    """
    orphan_i = b_starts = bioes = False
    for which, sequences in (("", tag_sequences), ("predicted ", predicted)):
        for n, tags in enumerate(sequences):
            try:
                parsed = parse_tags(tags)
            except TagError as exc:
                raise TagError(f"{which}sentence {n}, position {exc.index}: {exc.reason}") from None
            prev_type = None
            for prefix, type_ in parsed:
                bioes |= prefix in "ES"
                if not which and type_ is not None and type_ != prev_type:
                    orphan_i |= prefix == "I"
                    b_starts |= prefix == "B"
                prev_type = type_
    if bioes:
        return "BIOES"
    if not (orphan_i or b_starts):
        return undecided
    return "IOB1" if orphan_i and not b_starts else "IOB2"


def chunks(tags: Sequence[str]) -> list[Span]:
    """The entities of one sentence, read with conlleval's chunk rules.

    A chunk starts at `B-X` or `S-X`, and also at an `I-X`/`E-X` after `O`, a
    closed chunk (`E-`/`S-`) or another type; so an orphan `I-X` is an entity,
    and IOB1, IOB2 and BIOES read alike without naming the scheme. A chunk
    ends before a `B-`/`S-`/`O`, a change of type, and after `E-`/`S-`. On
    `B-`, `I-` and `O` tags this is exactly what `conlleval.pl` counts; `E-`
    and `S-` (which conlleval predates) follow `seqeval`'s default mode.

    Args:
        tags: the tags of ONE sentence, in any scheme.

    Returns:
        `[(type, start, end), ...]` in order, `end` exclusive.

    Raises:
        TagError: with the position of a malformed tag.

    >>> chunks(["I-PER", "I-LOC", "B-LOC", "O"])
    [('PER', 0, 1), ('LOC', 1, 2), ('LOC', 2, 3)]
    """
    return _chunks(parse_tags(tags))


def _chunks(parsed: list[tuple[str, str | None]]) -> list[Span]:
    """`chunks` of parsed tags."""
    spans = []
    prev, begin = _OUTSIDE, 0
    # A trailing "O" closes whatever chunk is still open at the end.
    for i, (prefix, type_) in enumerate([*parsed, _OUTSIDE]):
        prev_prefix, prev_type = prev
        if prev_prefix != "O" and (prev_prefix in "ES" or prefix in "BSO" or prev_type != type_):
            spans.append((prev_type, begin, i))
        if prefix in "BS" or (prefix != "O" and (prev_prefix in "OES" or prev_type != type_)):
            begin = i
        prev = (prefix, type_)
    return spans


def spell(spans: Iterable[Span], length: int, scheme: str) -> list[str]:
    """The tags that write `spans` in `scheme`.

    Args:
        spans: non-overlapping `(type, start, end)` spans in order, as
            `chunks` returns them.
        length: the number of tokens.
        scheme: the scheme to write.

    Returns:
        list of `length` tags, `"O"` outside the spans.
    """
    scheme = scheme_name(scheme)
    out = ["O"] * length
    prev_end, prev_type = -1, None
    for type_, start, end in spans:
        # IOB1 writes B- only where a chunk directly follows one of its type.
        first = "I" if scheme == "IOB1" and (prev_end, prev_type) != (start, type_) else "B"
        out[start:end] = [f"{first}-{type_}"] + [f"I-{type_}"] * (end - start - 1)
        if scheme == "BIOES":
            out[end - 1] = f"{'S' if end - start == 1 else 'E'}-{type_}"
        prev_end, prev_type = end, type_
    return out


def _allowed(prev: tuple[str, str | None], cur: tuple[str, str | None] | None,
             scheme: str) -> bool:
    """Whether parsed tag `cur` may follow `prev` (`_OUTSIDE` at the start; `cur` None: the end)."""
    prev_prefix, prev_type = prev
    inside = prev_prefix in "BI"  # a chunk is open and may continue
    if cur is None:
        return not (scheme == "BIOES" and inside)
    prefix, type_ = cur
    continues = inside and prev_type == type_
    if scheme == "IOB2":
        return prefix != "I" or continues
    if scheme == "IOB1":  # B- only separates two chunks of one type
        return prefix != "B" or continues
    return prefix in "IE" and continues if inside else prefix in "OBS"


def allowed_transitions(labels: Sequence[str], scheme: str) -> set[tuple[str | None, str | None]]:
    """Which label may follow which in `scheme`.

    * IOB2: `I-X` only after `B-X` or `I-X` (so not at the start).
    * IOB1: `B-X` only after `B-X` or `I-X` (it separates two chunks of one
      type).
    * BIOES: after `B-X`/`I-X` only `I-X`/`E-X`; after `O`, `E-`, `S-` and at
      the start only `O`, `B-`, `S-`; a sentence ends after `O`, `E-`, `S-`.

    Args:
        labels: tags, e.g. a model's label list.
        scheme: the scheme whose rules apply.

    Returns:
        set of `(from, to)` label pairs; `from` None is the start of a
        sentence, `to` None its end.

    Raises:
        TagError: naming a label that is malformed or not used by `scheme`.

    >>> sorted(allowed_transitions(["O", "I-PER"], "IOB2"), key=str)
    [('I-PER', 'I-PER'), ('I-PER', 'O'), ('I-PER', None), ('O', 'O'), ('O', None), (None, 'O')]
    """
    scheme = scheme_name(scheme)
    parsed = dict(zip(labels, parse_tags(labels, scheme)))
    pairs = {(None, b) for b, cur in parsed.items() if _allowed(_OUTSIDE, cur, scheme)}
    pairs |= {(a, None) for a, prev in parsed.items() if _allowed(prev, None, scheme)}
    pairs |= {(a, b) for a, prev in parsed.items() for b, cur in parsed.items()
              if _allowed(prev, cur, scheme)}
    return pairs


def invalid_transitions(tags: Sequence[str], scheme: str) -> list[int]:
    """Positions where a tag may not follow its predecessor in `scheme`.

    The rules are `allowed_transitions`'. A BIOES sentence that ends inside a
    chunk is reported at position `len(tags)`.

    Args:
        tags: the tags of one sentence.
        scheme: the scheme whose rules apply.

    Returns:
        list of int, ascending.

    Raises:
        TagError: for a malformed tag or a prefix `scheme` does not use.
    """
    scheme = scheme_name(scheme)
    return _invalid(parse_tags(tags, scheme), scheme)


def _invalid(parsed: list[tuple[str, str | None]], scheme: str) -> list[int]:
    """`invalid_transitions` of parsed tags."""
    path = [_OUTSIDE, *parsed, None]
    return [i for i in range(len(path) - 1) if not _allowed(path[i], path[i + 1], scheme)]


def _transition_error(tags: Sequence[str], i: int, scheme: str) -> TagError:
    """Why tag `i` of `tags` may not follow its predecessor; i = len(tags): the end."""
    prev = tags[i - 1] if i else "O"
    if i == len(tags):
        return TagError(f"sentence ends inside a chunk at {prev!r}: BIOES needs 'E-{prev[2:]}'",
                        i - 1)
    tag = tags[i]
    if scheme != "BIOES":
        first = "B" if scheme == "IOB2" else "I"
        return TagError(f"{tag!r} after {prev!r} starts a chunk, which {scheme} forbids: "
                        f"expected '{first}-{tag[2:]}'", i)
    if tag[0] in "IE":
        return TagError(f"{tag!r} after {prev!r}: BIOES needs 'B-{tag[2:]}' or 'I-{tag[2:]}' "
                        "before it", i)
    return TagError(f"{tag!r} after {prev!r}: BIOES chunk {prev!r} is not closed with "
                    f"'E-{prev[2:]}'", i)


def convert(tags: Sequence[str], source: str, target: str, *, strict: bool = True) -> list[str]:
    """Converts one sentence's tags between schemes.

    The chunks of `tags` (see `chunks`) are written in `target` (see
    `spell`); tags already in `target` are returned as they are.

    Args:
        tags: the tags of one sentence, e.g. `["I-PER", "I-PER", "O"]`.
        source: the scheme `tags` are in (a name `scheme_name` accepts).
        target: the scheme to convert to.
        strict: raise at an IOB2 chunk that opens with `I-` or a BIOES chunk
            that is not opened and closed (`invalid_transitions`), which
            usually means the wrong scheme was named. IOB1's `B-X` after `O`
            is read as a chunk start either way, as every IOB1 reader does.
            Not strict, ill-formed chunks are read as conlleval reads them.

    Returns:
        list[str]: the tags in `target`, one per input tag.

    Raises:
        TagError: for a malformed tag, a prefix `source` does not use, or
            (strict) a transition it forbids, naming the position.
        ValueError: for an unknown scheme name.

    >>> convert(["B-PER", "I-PER", "B-LOC"], "IOB2", "BIOES")
    ['B-PER', 'E-PER', 'S-LOC']
    """
    source, target = scheme_name(source), scheme_name(target)
    parsed = parse_tags(tags, source)
    if strict and source != "IOB1":
        bad = _invalid(parsed, source)
        if bad:
            raise _transition_error(tags, bad[0], source)
    if source == target:
        return list(tags)
    return spell(_chunks(parsed), len(tags), target)


def respell(sentences: Sequence[Sequence[str]], source: str,
            target: str | None) -> list[list[str]]:
    """A model's labels per sentence, written in the scheme a caller asks for.

    Args:
        sentences: per sentence its tags, in `source` (the model's scheme).
        source: the scheme they are in.
        target: the scheme to write; None (or `source`): as they are.

    Returns:
        Per sentence its tags in `target`; read as conlleval reads them
        (`convert(..., strict=False)`), since a model's output is not data
        whose scheme may have been named wrongly.

    >>> respell([["S-PER", "O"], ["B-LOC", "E-LOC"]], "BIOES", "bio")
    [['B-PER', 'O'], ['B-LOC', 'I-LOC']]
    """
    if target is None or scheme_name(target) == scheme_name(source):
        return [list(tags) for tags in sentences]
    return [convert(tags, source, target, strict=False) for tags in sentences]


@dataclasses.dataclass(frozen=True)
class LabelTable:
    """What chunking needs to know of each label of a model, as plain lists.

    Attributes:
        types: the entity types, in order of first appearance in the labels.
        type_of: per label, its type's index in `types`; -1 for "O".
        opens: per label, whether it always opens a chunk (prefix B or S).
        closes: per label, whether it always closes one (prefix E or S).
    """

    types: list[str]
    type_of: list[int]
    opens: list[bool]
    closes: list[bool]


def label_table(labels: Sequence[str]) -> LabelTable:
    """The `LabelTable` of a label list, for chunking tag ids in a graph.

    Args:
        labels: the model's labels in tag-id order, e.g. `["O", "B-PER", ...]`.

    Returns:
        LabelTable: with one entry per label in `type_of`, `opens`, `closes`.

    Raises:
        ValueError: for a label that is not `O` or `<B|I|E|S>-<TYPE>`.

    >>> label_table(["O", "B-PER", "I-PER", "S-LOC"])
    LabelTable(types=['PER', 'LOC'], type_of=[-1, 0, 0, 1], opens=[False, True, False, True], closes=[False, False, False, True])
    """
    types: list[str] = []
    type_of, opens, closes = [], [], []
    for position, label in enumerate(labels):
        try:
            prefix, type_ = parse_tag(label)
        except TagError:
            raise ValueError(f"label {position} {label!r}: expected 'O' or '<B|I|E|S>-<TYPE>'") from None
        if type_ is not None and type_ not in types:
            types.append(type_)
        type_of.append(-1 if type_ is None else types.index(type_))
        opens.append(prefix in "BS")
        closes.append(prefix in "ES")
    return LabelTable(types, type_of, opens, closes)
