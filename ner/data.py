"""Reading and writing CoNLL-format NER files, and converting between tag schemes.

This is the first arrow of the data flow: CoNLL file -> `Sentence`/`Document`
records. Everything downstream sees tags in one internal scheme, IOB2 (every
chunk starts with `B-`), whatever scheme the file was written in.

File format (CoNLL-2003 and its relatives):

* one token per line; the token is the first column, the NER tag the last, and
  any middle columns (POS and chunk tags in CoNLL-2003) are kept verbatim;
  every token line of a file has the same number of columns (at least 2),
  separated by spaces or tabs;
* a blank line ends a sentence; several blank lines in a row are one boundary;
* a line whose first column is `-DOCSTART-` starts a new document; its text is
  kept so that the writer reproduces it;
* CRLF line endings, a UTF-8 byte-order mark and trailing whitespace are
  tolerated.

Tag schemes (the spelling of chunk `PER` over tokens 1..3 after an `O`):

* IOB1: `O I-PER I-PER I-PER`; `B-` only where a chunk follows a chunk of the
  same type.
* IOB2 (alias BIO): `O B-PER I-PER I-PER`.
* BIOES (alias IOBES): `O B-PER I-PER E-PER`; a one-token chunk is `S-PER`.

`write_conll` writes one canonical layout: columns joined by one space, `\\n`
line endings, a blank line after the `-DOCSTART-` line and after every
sentence. A file in that layout (the CoNLL-2003 files are) reads and writes
back byte for byte when written in the scheme it was read in; any other file
round-trips exactly on tokens, columns, tags and sentence and document
boundaries.

Example:

>>> docs = parse_conll(["-DOCSTART- O", "", "Ada I-PER", "Lovelace I-PER", "wrote O", ""])
>>> docs[0].sentences[0].tags  # IOB1 detected, stored as IOB2
('B-PER', 'I-PER', 'O')
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from typing import TextIO

__all__ = [
    "ConllFormatError",
    "Document",
    "Sentence",
    "SCHEMES",
    "convert_tags",
    "detect_scheme",
    "entity_types",
    "label_list",
    "parse_conll",
    "read_conll",
    "sentences",
    "write_conll",
]

# Canonical scheme names; everything else is an alias of one of these.
SCHEMES = ("IOB1", "IOB2", "BIOES")
_ALIASES = {"IOB1": "IOB1", "IOB2": "IOB2", "BIO": "IOB2", "BIOES": "BIOES", "IOBES": "BIOES"}
# The tag prefixes each scheme may use (besides the bare "O").
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES", "auto": "BIES"}

_DOCSTART = "-DOCSTART-"
_BOM = "\ufeff"
# Column separators. str.split() without arguments also splits on Unicode
# spaces such as U+00A0, which can occur inside a token, so non-ASCII lines are
# split on ASCII whitespace only.
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")


class ConllFormatError(ValueError):
    """A CoNLL file (or tag sequence) that cannot be read.

    The message starts with `source:line:` (1-based line number) when the
    problem is on one line, e.g.
    `data/train.txt:123: expected 4 columns, got 3: 'EU NNP B-ORG'`.

    Attributes:
        source: the file name (or `<string>`) the error is about.
        line: the 1-based line number, or None when the error is about the
            whole file.
    """

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        super().__init__(message)
        self.source = source
        self.line = line


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One sentence: tokens with their IOB2 tags.

    Sequences passed in are stored as tuples, so a `Sentence` is immutable and
    hashable.

    Attributes:
        tokens: the words, one per line of the source file.
        tags: one IOB2 tag per token (`"O"`, `"B-PER"`, `"I-PER"`, ...).
        columns: the middle columns of each token's line (POS and chunk tags in
            CoNLL-2003), one tuple per token, kept so that a file round-trips;
            `()` for a two-column file or a sentence built by hand.
        line: 1-based line number of the sentence's first token in the source
            file, for error messages; 0 when not read from a file.

    Example:

    >>> s = Sentence(tokens=("Ada", "Lovelace"), tags=("B-PER", "I-PER"))
    >>> len(s)
    2
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    columns: tuple[tuple[str, ...], ...] = ()
    line: int = 0

    def __post_init__(self):
        # Normalise lists to tuples: frozen dataclasses need object.__setattr__.
        if not isinstance(self.tokens, tuple):
            object.__setattr__(self, "tokens", tuple(self.tokens))
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))
        if not isinstance(self.columns, tuple) or any(not isinstance(c, tuple) for c in self.columns):
            object.__setattr__(self, "columns", tuple(tuple(c) for c in self.columns))
        if len(self.tags) != len(self.tokens):
            raise ValueError(f"Sentence has {len(self.tokens)} tokens but {len(self.tags)} tags")
        if self.columns and len(self.columns) != len(self.tokens):
            raise ValueError(
                f"Sentence has {len(self.tokens)} tokens but {len(self.columns)} rows of columns"
            )

    def __len__(self) -> int:
        return len(self.tokens)


@dataclasses.dataclass(frozen=True)
class Document:
    """The sentences between two `-DOCSTART-` lines.

    Attributes:
        sentences: the document's sentences, in file order.
        docstart: the `-DOCSTART-` line as read, e.g. `"-DOCSTART- -X- -X- O"`
            (without the line ending and surrounding whitespace), or None when
            no such line precedes the sentences (a file without `-DOCSTART-`
            lines is a single document).
    """

    sentences: tuple[Sentence, ...]
    docstart: str | None

    def __post_init__(self):
        if not isinstance(self.sentences, tuple):
            object.__setattr__(self, "sentences", tuple(self.sentences))


# --------------------------------------------------------------------------
# Tag schemes
# --------------------------------------------------------------------------


class _TagError(ValueError):
    """An invalid tag at `index` of a sequence; callers add file and line."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index
        self.message = message


def _scheme_name(scheme: str, allow_auto: bool = False) -> str:
    """Canonical name of `scheme` ("bio" -> "IOB2"); ValueError if unknown."""
    if allow_auto and scheme == "auto":
        return "auto"
    name = _ALIASES.get(str(scheme).upper())
    if name is None:
        choices = ", ".join(repr(s) for s in (("auto",) if allow_auto else ()) + tuple(_ALIASES))
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {choices}")
    return name


def _check_syntax(tags: Sequence[str], prefixes: str, known: set[str], scheme: str) -> None:
    """Raise _TagError at the first tag that is not `O` or `P-TYPE` with P in `prefixes`.

    `known` caches tags already accepted: a corpus has a handful of distinct
    tags, so the string checks run once per distinct tag, not once per token.
    """
    for i, tag in enumerate(tags):
        if tag in known:
            continue
        if tag == "O" or (len(tag) > 2 and tag[1] == "-" and tag[0] in prefixes):
            known.add(tag)
            continue
        if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
            why = f"{tag[0]}- tags are not used in {scheme}"
        else:
            why = f"expected 'O' or one of {', '.join(p + '-TYPE' for p in prefixes)}"
        raise _TagError(i, f"invalid tag {tag!r} ({why})")


def _detect(tag_sequences: Iterable[Sequence[str]]) -> str:
    """detect_scheme for tags whose syntax is already checked."""
    orphan_i = False  # some I-X starts a chunk: impossible in IOB2
    b_starts = False  # some B-X follows O or another type: impossible in IOB1
    for tags in tag_sequences:
        prev = "O"
        for tag in tags:
            p = tag[0]
            if p == "S" or p == "E":
                return "BIOES"
            if p != "O" and (prev == "O" or prev[2:] != tag[2:]):
                if p == "I":
                    orphan_i = True
                else:
                    b_starts = True
            prev = tag
    return "IOB1" if orphan_i and not b_starts else "IOB2"


def _to_iob2(tags: Sequence[str], scheme: str, detected: bool = False) -> list[str]:
    """Convert syntactically valid `tags` from `scheme` to IOB2.

    Raises _TagError where the sequence is illegal in `scheme`: an `I-`
    starting a chunk in IOB2, or a BIOES chunk that is not opened and closed.
    An IOB1 `B-X` after `O` is accepted and read as a chunk start, which is
    what every IOB1 reader does with it.
    """
    out = list(tags)
    prev = "O"
    if scheme == "IOB2":
        for i, tag in enumerate(tags):
            if tag[0] == "I" and (prev == "O" or prev[2:] != tag[2:]):
                hint = (
                    " (the scheme was detected as IOB2 because B- tags also start chunks; "
                    "pass scheme='IOB1' to read such I- tags as chunk starts)"
                    if detected
                    else ""
                )
                raise _TagError(
                    i, f"{tag!r} after {prev!r} starts a chunk, which IOB2 forbids: "
                    f"expected 'B-{tag[2:]}'{hint}"
                )
            prev = tag
    elif scheme == "IOB1":
        for i, tag in enumerate(tags):
            if tag[0] == "I" and (prev == "O" or prev[2:] != tag[2:]):
                out[i] = "B" + tag[1:]
            prev = tag
    else:  # BIOES
        for i, tag in enumerate(tags):
            p = tag[0]
            inside = prev[0] in "BI"  # a chunk is open and must be continued
            if p in "IE":
                if not inside or prev[2:] != tag[2:]:
                    raise _TagError(i, f"{tag!r} after {prev!r}: BIOES needs 'B-{tag[2:]}' or 'I-{tag[2:]}' before it")
                if p == "E":
                    out[i] = "I" + tag[1:]
            else:
                if inside:
                    raise _TagError(i, f"{tag!r} after {prev!r}: BIOES chunk {prev!r} is not closed with 'E-{prev[2:]}'")
                if p == "S":
                    out[i] = "B" + tag[1:]
            prev = tag
        if prev[0] in "BI":
            raise _TagError(len(tags) - 1, f"sentence ends inside a chunk at {prev!r}: BIOES needs 'E-{prev[2:]}'")
    return out


def _from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert legal IOB2 `tags` to `scheme`."""
    if scheme == "IOB2":
        return list(tags)
    out = list(tags)
    if scheme == "IOB1":
        prev = "O"
        for i, tag in enumerate(tags):
            # B- survives only where it separates two chunks of the same type.
            if tag[0] == "B" and (prev == "O" or prev[2:] != tag[2:]):
                out[i] = "I" + tag[1:]
            prev = tag
        return out
    # BIOES: a chunk's last token is the one not followed by I- of its type.
    n = len(tags)
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        ends = i + 1 == n or tags[i + 1] != "I" + tag[1:]
        if ends:
            out[i] = ("S" if tag[0] == "B" else "E") + tag[1:]
    return out


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert one sentence's tags between schemes.

    Args:
        tags: the tags of one sentence, e.g. `["I-PER", "I-PER", "O"]`.
        source: the scheme `tags` are in: "IOB1", "IOB2" (alias "BIO") or
            "BIOES" (alias "IOBES"); case-insensitive.
        target: the scheme to convert to (same names).

    Returns:
        list[str]: the tags in `target`, one per input tag.

    Raises:
        ConllFormatError: (a ValueError) naming the position of a tag that is
            malformed (`"B-"`, `"X-PER"`) or illegal in `source` (an IOB2
            chunk starting with `I-`, an unclosed BIOES chunk).
        ValueError: for an unknown scheme name.

    >>> convert_tags(["I-PER", "I-PER", "B-PER", "O"], "IOB1", "BIOES")
    ['B-PER', 'E-PER', 'S-PER', 'O']
    """
    source = _scheme_name(source)
    target = _scheme_name(target)
    try:
        _check_syntax(tags, _PREFIXES[source], set(), source)
        iob2 = _to_iob2(tags, source)
    except _TagError as e:
        raise ConllFormatError(f"tag {e.index}: {e.message}") from None
    return _from_iob2(iob2, target)


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the tag scheme of a corpus.

    Args:
        tag_sequences: the tags of each sentence (an iterable of sequences of
            str).

    Returns:
        str: "BIOES" if any tag is `S-` or `E-`; "IOB1" if some `I-X` starts
        a chunk (after `O`, another type, or at the start of a sentence)
        and every `B-X` follows a token of type X; otherwise "IOB2" (also for
        a corpus without entities, where the schemes coincide).

    Raises:
        ConllFormatError: naming sentence and position of a malformed tag.

    >>> detect_scheme([["I-LOC", "O"], ["I-PER", "B-PER"]])
    'IOB1'
    """
    seqs = [list(t) for t in tag_sequences]
    known: set[str] = set()
    for n, tags in enumerate(seqs):
        try:
            _check_syntax(tags, _PREFIXES["auto"], known, "auto")
        except _TagError as e:
            raise ConllFormatError(f"sentence {n}, tag {e.index}: {e.message}") from None
    return _detect(seqs)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def _split(line: str) -> list[str]:
    """Columns of `line`; ASCII whitespace separates, as discussed at _ASCII_SPACE."""
    if line.isascii():
        return line.split()
    return [f for f in _ASCII_SPACE.split(line) if f]


def parse_conll(lines: Iterable[str], source: str = "<string>", scheme: str = "auto") -> list[Document]:
    """Parse CoNLL-format lines into documents with IOB2 tags.

    Args:
        lines: the file's lines, with or without line endings (`\\n` or
            `\\r\\n`), e.g. an open text file or `text.splitlines()`.
        source: the name used in error messages, normally the file path.
        scheme: the scheme of the file's last column: "auto" (detected over the
            whole file with `detect_scheme`), "IOB1", "IOB2"/"BIO" or
            "BIOES"/"IOBES".

    Returns:
        list[Document]: the documents in file order. A file without
        `-DOCSTART-` lines gives one document with `docstart=None`; sentences
        before the first `-DOCSTART-` also form such a document.

    Raises:
        ConllFormatError: with `source:line:` for a line with a single column
            or a different number of columns than the file's first token line,
            for a malformed tag or one illegal in the scheme, and `source:` for
            a file without any sentence (training on nothing is a mistake).
    """
    declared = _scheme_name(scheme, allow_auto=True)
    docs: list[tuple[str | None, list[tuple[int, list[str], list[str], list[tuple[str, ...]]]]]] = []
    current: list = []  # the raw sentences of the document being read
    tokens: list[str] = []
    tags: list[str] = []
    cols: list[tuple[str, ...]] = []
    start = 0
    ncols = 0  # set by the first token line; every other token line must match
    n_sentences = 0

    def flush():
        nonlocal tokens, tags, cols, n_sentences
        if tokens:
            current.append((start, tokens, tags, cols))
            n_sentences += 1
            tokens, tags, cols = [], [], []

    it = iter(lines)
    first = next(it, None)
    if first is not None and first.startswith(_BOM):
        first = first[1:]
    for lineno, line in enumerate(itertools.chain(() if first is None else (first,), it), start=1):
        fields = _split(line)
        if not fields:
            flush()
            continue
        if fields[0] == _DOCSTART:
            flush()
            current = []
            docs.append((line.strip(), current))
            continue
        n = len(fields)
        if n != ncols:
            if ncols == 0 and n >= 2:
                ncols = n
            elif n < 2:
                raise ConllFormatError(
                    f"{source}:{lineno}: expected at least 2 columns (token ... tag), got 1: {line.strip()!r}",
                    source, lineno,
                )
            else:
                raise ConllFormatError(
                    f"{source}:{lineno}: expected {ncols} columns, got {n}: {line.strip()!r}", source, lineno
                )
        if not tokens:
            start = lineno
            if not docs:  # sentences before any -DOCSTART- line
                docs.append((None, current))
        tokens.append(fields[0])
        tags.append(fields[-1])
        if n > 2:
            cols.append(tuple(fields[1:-1]))
    flush()
    if n_sentences == 0:
        raise ConllFormatError(f"{source}: no sentences (empty file or only -DOCSTART- lines)", source)

    def fail(sent, e: _TagError):
        start, toks, tgs, cs = sent
        lineno = start + e.index  # a sentence's token lines are consecutive
        text = " ".join((toks[e.index], *(cs[e.index] if cs else ()), tgs[e.index]))
        return ConllFormatError(f"{source}:{lineno}: {e.message}: {text!r}", source, lineno)

    known: set[str] = set()
    for _, raw in docs:
        for sent in raw:
            try:
                _check_syntax(sent[2], _PREFIXES[declared], known, declared)
            except _TagError as e:
                raise fail(sent, e) from None
    resolved = declared
    if declared == "auto":
        resolved = _detect(sent[2] for _, raw in docs for sent in raw)

    out = []
    for docstart, raw in docs:
        sents = []
        for sent in raw:
            try:
                iob2 = _to_iob2(sent[2], resolved, detected=declared == "auto")
            except _TagError as e:
                raise fail(sent, e) from None
            sents.append(Sentence(tuple(sent[1]), tuple(iob2), tuple(sent[3]), sent[0]))
        out.append(Document(tuple(sents), docstart))
    return out


def read_conll(path: str | os.PathLike, scheme: str = "auto") -> list[Document]:
    """Read a CoNLL-format file (UTF-8) into documents with IOB2 tags.

    Args:
        path: the file to read.
        scheme: the scheme of its tag column; see `parse_conll`.

    Returns:
        list[Document]: as `parse_conll`.

    Raises:
        ConllFormatError: as `parse_conll`, with `path` as the source, and for
            a file that is not UTF-8.
        OSError: if the file cannot be opened.
    """
    # newline=None: universal newlines, so CRLF files read like LF ones;
    # utf-8-sig drops a byte-order mark.
    with open(path, encoding="utf-8-sig", newline=None) as f:
        try:
            return parse_conll(f, source=os.fspath(path), scheme=scheme)
        except UnicodeDecodeError as e:
            raise ConllFormatError(f"{os.fspath(path)}: not UTF-8 ({e})", os.fspath(path)) from None


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

_ASCII_SPACE_IN = re.compile(r"[ \t\n\r\f\v]")


def _write(documents: Iterable[Document], f: TextIO, scheme: str) -> None:
    width = None  # number of middle columns; one file has one width
    known: set[str] = set()
    for d, doc in enumerate(documents):
        if doc.docstart is None:
            if d > 0:
                raise ValueError(
                    f"document {d} has docstart=None: only the first document may lack a -DOCSTART- "
                    "line, otherwise it would be read back as part of the previous document"
                )
        else:
            f.write(doc.docstart + "\n\n")
        for s, sent in enumerate(doc.sentences):
            where = f"document {d}, sentence {s}"
            if not sent.tokens:
                raise ValueError(f"{where} is empty: a CoNLL file cannot represent an empty sentence")
            w = len(sent.columns[0]) if sent.columns else 0
            if width is None:
                width = w
            if any(len(c) != width for c in sent.columns) or (not sent.columns and width != 0):
                raise ValueError(f"{where}: every token needs the same number of middle columns ({width})")
            if sent.tokens[0] == _DOCSTART:
                raise ValueError(f"{where} starts with the token {_DOCSTART!r}, which would read as a document break")
            if scheme != "IOB2":
                # Converting needs legal IOB2; writing IOB2 passes tags through
                # unchecked so that e.g. a softmax tagger's orphan I- tags can
                # be written for conlleval as they are.
                try:
                    _check_syntax(sent.tags, "BI", known, "IOB2")
                    _to_iob2(sent.tags, "IOB2")
                except _TagError as e:
                    raise ValueError(f"{where}, tag {e.index}: cannot convert to {scheme}: {e.message}") from None
            tags = _from_iob2(sent.tags, scheme)
            if sent.columns:
                rows = [" ".join((tok, *c, tag)) for tok, c, tag in zip(sent.tokens, sent.columns, tags)]
            else:
                rows = [f"{tok} {tag}" for tok, tag in zip(sent.tokens, tags)]
            # One regex call per sentence: any whitespace or empty field would
            # change the column count when the file is read back.
            fields = [*sent.tokens, *tags, *itertools.chain.from_iterable(sent.columns)]
            if not all(fields) or _ASCII_SPACE_IN.search("".join(fields)):
                bad = next(x for x in fields if not x or _ASCII_SPACE_IN.search(x))
                raise ValueError(f"{where}: field {bad!r} is empty or contains whitespace")
            f.write("\n".join(rows))
            f.write("\n\n")


def write_conll(
    documents: Iterable[Document], path_or_file: str | os.PathLike | TextIO, scheme: str = "IOB2"
) -> None:
    """Write documents in the canonical CoNLL layout.

    Layout: each `-DOCSTART-` line followed by a blank line; each token as
    `token [columns...] tag` joined by single spaces; a blank line after every
    sentence; `\\n` line endings; UTF-8.

    Args:
        documents: documents whose sentences carry IOB2 tags (as read).
        path_or_file: a path (overwritten) or an open text file.
        scheme: the scheme to write tags in: "IOB2"/"BIO", "IOB1" or
            "BIOES"/"IOBES".

    Raises:
        ValueError: for something a CoNLL file cannot hold: an empty sentence,
            a token with whitespace, a document without `-DOCSTART-` after the
            first one, sentences with different numbers of middle columns.
    """
    scheme = _scheme_name(scheme)
    if isinstance(path_or_file, (str, os.PathLike)):
        # Write to memory first so that a ValueError leaves no half-written file.
        buf = io.StringIO()
        _write(documents, buf, scheme)
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as f:
            f.write(buf.getvalue())
    else:
        _write(documents, path_or_file, scheme)


# --------------------------------------------------------------------------
# Corpus helpers
# --------------------------------------------------------------------------


def sentences(documents: Iterable[Document]) -> list[Sentence]:
    """All sentences of `documents`, in order.

    Args:
        documents: as returned by `read_conll`.

    Returns:
        list[Sentence]: the concatenation of every document's sentences.
    """
    return [s for doc in documents for s in doc.sentences]


def entity_types(documents: Iterable[Document]) -> list[str]:
    """The entity types used in `documents`, sorted.

    Args:
        documents: documents with IOB2 tags.

    Returns:
        list[str]: e.g. `["LOC", "MISC", "ORG", "PER"]` for CoNLL-2003.
    """
    seen = set()
    for doc in documents:
        for sent in doc.sentences:
            seen.update(sent.tags)
    seen.discard("O")
    return sorted({tag[2:] for tag in seen})


def label_list(documents: Iterable[Document]) -> list[str]:
    """The IOB2 label vocabulary of `documents`, in a fixed order.

    Every type gets both `B-` and `I-` even if one never occurs, so that a
    model trained on the list can emit any legal sequence.

    Args:
        documents: documents with IOB2 tags.

    Returns:
        list[str]: `"O"`, then `B-T`, `I-T` for each type T in sorted order,
        e.g. `["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", ...]`.
    """
    labels = ["O"]
    for t in entity_types(documents):
        labels += [f"B-{t}", f"I-{t}"]
    return labels
