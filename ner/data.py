"""Reading and writing CoNLL-format NER files: gold corpora and prediction files.

This is the first arrow of the data flow: CoNLL file -> `Sentence`/`Document`
records. Everything downstream sees tags in one internal scheme, IOB2 (every
chunk starts with `B-`), whatever scheme the file was written in; the schemes
and their rules live in `ner.schemes`.

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

A prediction file (`conlleval.pl`'s input) is the same layout with two tag
columns last, `word ... gold pred`; `read_predictions` and
`write_predictions` read and write it.

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
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TextIO, TypeVar

from ner import files, schemes

logger = logging.getLogger(__name__)

__all__ = [
    "ConllFormatError",
    "Document",
    "count_docstart_lines",
    "Sentence",
    "document_ids",
    "entity_types",
    "label_list",
    "parse_conll",
    "read_conll",
    "read_predictions",
    "sentences",
    "write_conll",
    "write_predictions",
]

_DOCSTART = "-DOCSTART-"
_BOM = "\ufeff"
# Column separators. str.split() without arguments also splits on Unicode
# spaces such as U+00A0, which can occur inside a token, so non-ASCII lines are
# split on ASCII whitespace only.
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")


class ConllFormatError(ValueError):
    """A CoNLL file that cannot be read.

    The message starts with `source:line:` (1-based line number) when the
    problem is on one line, e.g.
    `data/train.txt:123: expected 4 columns, got 3: 'EU NNP B-ORG'`, and with
    `source:` otherwise.

    Attributes:
        source: the file name (or `<string>`) the error is about.
        line: the 1-based line number, or None when the error is about the
            whole file.
    """

    def __init__(self, source: str, line: int | None, message: str):
        super().__init__(f"{source}:{line}: {message}" if line else f"{source}: {message}")
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
        scheme: what the file it was read from held, e.g. "IOB1" (detected
            or declared), or "spans" (character-offset spans, `ner.spans`);
            its sentences' tags are IOB2 whatever it was. Not compared: the
            same sentences are the same document.
    """

    sentences: tuple[Sentence, ...]
    docstart: str | None
    scheme: str = dataclasses.field(default="IOB2", compare=False)

    def __post_init__(self):
        if not isinstance(self.sentences, tuple):
            object.__setattr__(self, "sentences", tuple(self.sentences))


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def _split(line: str) -> list[str]:
    """Columns of `line`; ASCII whitespace separates, as discussed at _ASCII_SPACE."""
    if line.isascii():
        return line.split()
    return [f for f in _ASCII_SPACE.split(line) if f]


# A sentence as read: the line number of its first token line and the
# columns of each token line (the token lines of a sentence are consecutive).
_Rows = tuple[int, list[list[str]]]


def _scan(lines: Iterable[str]) -> Iterator[str | _Rows]:
    """The file's `-DOCSTART-` lines (stripped text) and sentences, in order."""
    it = iter(lines)
    first = next(it, None)
    if first is not None and first.startswith(_BOM):
        first = first[1:]
    rows: list[list[str]] = []
    start = 0
    for lineno, line in enumerate(itertools.chain(() if first is None else (first,), it), start=1):
        fields = _split(line)
        if fields and fields[0] != _DOCSTART:
            if not rows:
                start = lineno
            rows.append(fields)
            continue
        if rows:
            yield start, rows
            rows = []
        if fields:
            yield line.strip()
    if rows:
        yield start, rows


def _tag_error(source: str, sentence: _Rows, error: schemes.TagError, hint: str = ""
               ) -> ConllFormatError:
    """A ConllFormatError naming the line of `error`'s tag and quoting it."""
    start, rows = sentence
    quoted = " ".join(rows[error.index])
    return ConllFormatError(source, start + error.index, f"{error.reason}{hint}: {quoted!r}")


def parse_conll(lines: Iterable[str], source: str = "<string>", scheme: str = "auto") -> list[Document]:
    """Parse CoNLL-format lines into documents with IOB2 tags.

    Args:
        lines: the file's lines, with or without line endings (`\\n` or
            `\\r\\n`), e.g. an open text file or `text.splitlines()`.
        source: the name used in error messages, normally the file path.
        scheme: the scheme of the file's last column: "auto" (detected over the
            whole file with `ner.schemes.detect_scheme`), "IOB1", "IOB2"/"BIO"
            or "BIOES"/"IOBES".

    Returns:
        list[Document]: the documents in file order. A file without
        `-DOCSTART-` lines gives one document with `docstart=None`; sentences
        before the first `-DOCSTART-` also form such a document.

    Raises:
        ConllFormatError: with `source:line:` for a line with a single column
            or a different number of columns than most of the file's lines,
            for a malformed tag or one illegal in the scheme (see
            `ner.schemes.convert`), and `source:` for a file without any
            sentence (training on nothing is a mistake).
    """
    declared = scheme if scheme == "auto" else schemes.scheme_name(scheme)
    docs: list[tuple[str | None, list[tuple[_Rows, list[str]]]]] = []
    widths: Counter = Counter()
    for item in _scan(lines):
        if isinstance(item, str):
            docs.append((item, []))
            continue
        if not docs:  # sentences before any -DOCSTART- line
            docs.append((None, []))
        start, rows = item
        for k, fields in enumerate(rows):
            if len(fields) < 2:
                raise ConllFormatError(source, start + k, "expected at least 2 columns (token ... "
                                       f"tag), got 1: {fields[0]!r}")
        widths.update(len(fields) for fields in rows)
        docs[-1][1].append((item, [fields[-1] for fields in rows]))
    raw = [sent for _, sents in docs for sent in sents]
    if not raw:
        raise ConllFormatError(source, None, "no sentences (empty file or only -DOCSTART- lines)")
    # One width per file: the most common (ties: the earliest line's), so that
    # the odd line is the one named.
    ncols = max(widths, key=widths.__getitem__)
    if len(widths) > 1:
        for (start, rows), _ in raw:
            for k, fields in enumerate(rows):
                if len(fields) != ncols:
                    raise ConllFormatError(source, start + k, f"expected {ncols} columns like "
                                           f"most lines, got {len(fields)}: {' '.join(fields)!r}")

    # Every tag's syntax first, so that a malformed tag is reported as such
    # rather than as whatever the scheme detection makes of it.
    for sentence, tags in raw:
        try:
            schemes.parse_tags(tags, None if declared == "auto" else declared)
        except schemes.TagError as e:
            raise _tag_error(source, sentence, e) from None
    resolved = schemes.detect_scheme(tags for _, tags in raw) if declared == "auto" else declared
    if declared == "auto":  # what training and the report would otherwise never say
        logger.info("%s: tag scheme %s (detected)%s", source, resolved,
                    "" if resolved == "IOB2" else ", converted to IOB2")
    hint = ""
    if declared == "auto" and resolved == "IOB2":
        hint = (" (the scheme was detected as IOB2 because B- tags also start chunks; "
                "pass scheme='IOB1' (python -m ner.train and evaluation.report: --scheme=IOB1) "
                "to read such I- tags as chunk starts)")
    out = []
    for docstart, sents in docs:
        converted = []
        for sentence, tags in sents:
            try:
                iob2 = schemes.convert(tags, resolved, "IOB2")
            except schemes.TagError as e:
                raise _tag_error(source, sentence, e, hint) from None
            start, rows = sentence
            columns = tuple([tuple(fields[1:-1]) for fields in rows]) if ncols > 2 else ()
            converted.append(Sentence(tuple([fields[0] for fields in rows]), tuple(iob2), columns,
                                      start))
        out.append(Document(tuple(converted), docstart, resolved))
    return out


_T = TypeVar("_T")


def _read(path: str | os.PathLike, parse: Callable[[TextIO, str], _T]) -> _T:
    """`parse(file, source)` on the UTF-8 text file `path`."""
    source = os.fspath(path)
    # newline=None: universal newlines, so CRLF files read like LF ones;
    # utf-8-sig drops a byte-order mark.
    with open(path, encoding="utf-8-sig", newline=None) as f:
        try:
            return parse(f, source)
        except UnicodeDecodeError:
            pass
    raise ConllFormatError(source, *not_utf8(path))


def not_utf8(path: str | os.PathLike) -> tuple[int | None, str]:
    """(line, message) for a file that does not decode as UTF-8: its first bad line and byte.

    What a reader's error says; the decoder's own position counts within
    the chunk it was reading, not the file.
    """
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, (f"not UTF-8: byte {e.start + 1} of the line "
                                f"({line[e.start:e.start + 1]!r}: {e.reason}); convert the file "
                                "to UTF-8 (for Latin-1: iconv -f latin1 -t utf-8)")
    return None, "not UTF-8"


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
    return _read(path, lambda f, source: parse_conll(f, source, scheme))


def _parse_predictions(lines: Iterable[str], source: str, scheme: str
                       ) -> tuple[list[list[str]], list[list[str]], list[list[str | None]]]:
    """`read_predictions` on the lines of `source`."""
    sents = [item for item in _scan(lines) if not isinstance(item, str)]
    widths = Counter(len(fields) for _, rows in sents for fields in rows)
    if not widths:
        raise ConllFormatError(source, None, "empty file: no token lines")
    # The usual column count decides what a line should have; a line one
    # column short lacks its prediction, which is reported, not fatal.
    width = _usual_width(widths)
    if width < 3:
        line = next(start + k for start, rows in sents for k, fields in enumerate(rows)
                    if len(fields) == width)
        raise ConllFormatError(source, line, f"expected at least 3 columns (word ... gold pred), "
                               f"got {width}, as most lines have")
    for start, rows in sents:
        for k, fields in enumerate(rows):
            if len(fields) not in (width, width - 1):
                raise ConllFormatError(source, start + k, f"expected {width} columns (word ... gold "
                                       f"pred) like most lines, got {len(fields)}")
    tokens = [[fields[0] for fields in rows] for _, rows in sents]
    gold = [[fields[width - 2] for fields in rows] for _, rows in sents]
    pred = [[fields[-1] if len(fields) == width else None for fields in rows] for _, rows in sents]
    # "auto" needs no second look: any E-/S- tag makes the detected scheme
    # BIOES, which allows every prefix.
    for name, sequences in (("gold", gold), ("predicted", pred)):
        for (start, _), tags in zip(sents, sequences):
            numbers = [start + k for k, tag in enumerate(tags) if tag is not None]
            try:
                schemes.parse_tags([tag for tag in tags if tag is not None],
                                   None if scheme == "auto" else scheme)
            except schemes.TagError as e:
                raise ConllFormatError(source, numbers[e.index], f"{name} {e.reason}") from None
    return tokens, gold, pred


def _usual_width(widths: Counter) -> int:
    """The most common column count of a prediction file's token lines (ties: the wider)."""
    return max(widths, key=lambda n: (widths[n], n))


def count_docstart_lines(path: str | os.PathLike) -> tuple[int, bool]:
    """The `-DOCSTART-` lines of a prediction file, which `read_predictions` skips.

    `conlleval.pl` does not know them: it reads each as one more token (its
    last two columns, `O O` in CoNLL files), and refuses a file whose lines
    differ in column count.

    Returns:
        (how many, whether they all have the column count of most token
        lines and equal last two columns, as conlleval.pl needs to count
        them as correct tokens).
    """
    def count(f, source):
        docstarts, widths = [], Counter()
        for item in _scan(f):
            if isinstance(item, str):
                docstarts.append(item.split())
            else:
                widths.update(len(fields) for fields in item[1])
        width = _usual_width(widths) if widths else 0
        return len(docstarts), all(len(d) == width and d[-1] == d[-2] for d in docstarts)

    return _read(path, count)


def read_predictions(path: str | os.PathLike, scheme: str = "auto"
                     ) -> tuple[list[list[str]], list[list[str]], list[list[str | None]]]:
    """Reads a prediction file in `conlleval.pl`'s input format.

    One word per line, whitespace-separated columns ending in `gold pred`
    (`word gold pred`, or `word pos chunk gold pred`); blank lines between
    sentences; `-DOCSTART-` lines end a sentence and are otherwise skipped. A
    line with one column fewer than the file's usual count has no prediction.
    Tags are returned as written (no conversion: scoring a system's own output
    is the point).

    Args:
        path: the file (UTF-8).
        scheme: "auto" (any prefix) or a scheme whose prefixes every tag must
            use.

    Returns:
        `(tokens, gold, pred)`, each a list of sentences of str; in `pred` a
        word without prediction is None.

    Raises:
        ConllFormatError: naming the file and line of a wrong column count, a
            malformed tag or a prefix `scheme` does not use; naming the file
            when it has no token line or is not UTF-8.
        OSError: if the file cannot be opened.
    """
    return _read(path, lambda f, source: _parse_predictions(f, source, scheme))


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

_ASCII_SPACE_IN = re.compile(r"[ \t\n\r\f\v]")


def _write(documents: Iterable[Document], f: TextIO, scheme: str) -> None:
    width = None  # number of middle columns; one file has one width
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
            # Writing IOB2 passes tags through unchecked so that e.g. a
            # softmax tagger's orphan I- tags can be written for conlleval as
            # they are; converting needs legal IOB2.
            try:
                tags = sent.tags if scheme == "IOB2" else schemes.convert(sent.tags, "IOB2", scheme)
            except schemes.TagError as e:
                raise ValueError(f"{where}, tag {e.index}: cannot convert to {scheme}: {e.reason}") from None
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
    scheme = schemes.scheme_name(scheme)
    if isinstance(path_or_file, (str, os.PathLike)):
        # Write to memory first so that a ValueError leaves no half-written file.
        buf = io.StringIO()
        _write(documents, buf, scheme)
        files.write_text_atomically(path_or_file, buf.getvalue())  # never half-written
    else:
        _write(documents, path_or_file, scheme)


def write_predictions(path: str | os.PathLike, tokens: Sequence[Sequence[str]],
                      gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Writes a prediction file: `word gold pred` lines, a blank line after each sentence.

    This is `conlleval.pl`'s input (`perl conlleval.pl < path`), and what
    `read_predictions` reads back. Tags are written as they are.

    Args:
        path: the output file (overwritten).
        tokens, gold, pred: lists of sentences of str, of equal shapes.

    Raises:
        ValueError: as `write_conll`, e.g. for a word with whitespace.
    """
    sents = (Sentence(words, p, tuple((g,) for g in g_tags))
             for words, g_tags, p in zip(tokens, gold, pred, strict=True))
    write_conll([Document(tuple(sents), None)], path)


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


def document_ids(documents: Iterable[Document]) -> list[int]:
    """Per sentence of `sentences(documents)`, the index of its document.

    Args:
        documents: as returned by `read_conll`.

    Returns:
        list[int]: e.g. `[0, 0, 1]` for documents of two and one sentences;
        what `Tagger.tag_tokens(..., documents=...)` takes.
    """
    return [d for d, doc in enumerate(documents) for _ in doc.sentences]


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


def label_list(documents: Iterable[Document], scheme: str = "IOB2") -> list[str]:
    """The label vocabulary of a model of `documents` tagging in `scheme`, in a fixed order.

    Every type gets each of the scheme's prefixes even if one never occurs,
    so that a model trained on the list can emit any legal sequence.

    Args:
        documents: documents with IOB2 tags.
        scheme: the model's scheme, "IOB2" or "BIOES" (aliases as
            `ner.schemes.scheme_name`).

    Returns:
        list[str]: `"O"`, then per type T in sorted order its labels, e.g.
        `["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", ...]` for IOB2 and
        `["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", ...]` for BIOES.
    """
    prefixes = schemes.PREFIXES[schemes.scheme_name(scheme)]
    labels = ["O"]
    for t in entity_types(documents):
        labels += [f"{prefix}-{t}" for prefix in prefixes]
    return labels
