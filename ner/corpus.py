"""Corpora to tag: input files as records, and records with their results as output.

What `python -m ner.tag` and `python -m ner.beam` share, so the two commands
read the same inputs the same way and write the same lines. This module does
no tagging: a `TextRecord` goes through `tag_batch`, a `ConllRecord` through
`tag_tokens` (`ner.Tagger`, or `ner.exported.ExportedTagger`).

Input formats (`FORMATS`), read from a binary stream one line at a time:

* `lines`: one document per line (`\\n` or `\\r\\n` ends a line, and is not
  part of the text); a blank line is an empty document, so output line k
  belongs to input line k. Each document becomes
  `{"source": file, "line": k, "text": ...}`.
* `text`: one document per file, the file's whole text:
  `{"source": file, "text": ...}`.
* `jsonl`: one JSON object per line, its text in a string field (`text` by
  default); every field is carried through, so an `id` survives. Blank
  lines are skipped.
* `conll`: pre-tokenised words, one per line in the first column (any other
  columns, such as gold tags, are kept); a blank line ends a sentence and a
  `-DOCSTART-` line starts a document. Lines before any `-DOCSTART-` (a
  file without them) are documents of `SENTENCES_PER_UNMARKED_DOCUMENT`
  sentences; a document is held in memory whole.

`format_for(path)` takes the format from the extension: `.jsonl`, `.ndjson`
and `.json` are JSONL (as `python -m ner.train` reads them), `.conll`, `.iob`
and `.bio` are CoNLL, anything else (`.txt` included) is `lines`.

Every input may start with a UTF-8 byte-order mark (dropped). Bad input
becomes a `BadRecord` naming file, line and reason, where the reader can go
on: invalid UTF-8, a line that is not JSON or not a JSON object, a missing
or non-string text field, and an empty file (no bytes, or for JSONL and
CoNLL no record at all).

Output formats (`OUTPUT_FORMATS`), one output per input document:

* `jsonl`: the record's fields plus `entities`, the objects `ner.serve`
  returns (`{"label", "start", "end", "text", "score"}`, character offsets
  into the document's text). An input field named `entities` is replaced.
  For CoNLL input, which has no text: `{"source", "line", "docstart",
  "sentences": [{"words", "labels"}], "entities": [{"label", "sentence",
  "start", "end", "text"}]}`, where start and end are word positions in the
  sentence (end exclusive) and there is no score (`tag_tokens` gives labels).
* `displacy`: `{"text", "ents": [{"start", "end", "label"}]}`, what spaCy's
  `displacy.render(..., manual=True)` draws.
* `conll` (CoNLL input only): the document's lines as they were, each token
  line with the predicted tag appended as one more column (and `O` to each
  `-DOCSTART-` line, so that every line has the same columns, as
  `conlleval.pl` requires); what `python -m evaluation.report
  --predictions_in` reads when the input had a gold column.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from ner import schemes
from ner.files import json_type

__all__ = ["BadRecord", "ConllLookalike", "ConllRecord", "FORMATS", "InputError",
           "OUTPUT_FORMATS", "SENTENCES_PER_UNMARKED_DOCUMENT", "STDIN", "TextRecord",
           "check_formats", "expand_inputs", "format_for", "json_object", "output_text",
           "read_records", "text_lines"]

FORMATS = ("lines", "text", "jsonl", "conll")
OUTPUT_FORMATS = ("jsonl", "displacy", "conll")
#: The input name of standard input.
STDIN = "-"
#: How standard input is named in records and messages.
STDIN_SOURCE = "<stdin>"

# `.json` as JSON Lines too, as `python -m ner.train` reads it (`ner.spans`).
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".conll": "conll",
               ".iob": "conll", ".bio": "conll"}
_BOM = b"\xef\xbb\xbf"
_DOCSTART = "-DOCSTART-"
# Column separators of a CoNLL line: ASCII whitespace only, as `ner.data`
# reads them (str.split() would also split on U+00A0 inside a token).
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_GLOB_CHARS = re.compile(r"[*?[]")


class InputError(ValueError):
    """Bad input, as `source:line: reason` (`source: reason` for a whole file).

    Attributes:
        source: the file (or `<stdin>`).
        line: the 1-based line number, or None.
        reason: what is wrong.
    """

    def __init__(self, source: str, line: int | None, reason: str):
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")
        self.source, self.line, self.reason = source, line, reason


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """A record that could not be read: where it is and why."""

    source: str
    line: int | None
    reason: str

    def error(self) -> InputError:
        return InputError(self.source, self.line, self.reason)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "error": self.reason}


@dataclasses.dataclass(frozen=True)
class TextRecord:
    """A document of raw text.

    Attributes:
        fields: what the output carries besides the entities (the JSONL
            object; `source`, `line` and `text` for plain text).
        text: the document's text.
        source, line: where it starts.
        size: bytes of input it was read from (progress).
    """

    fields: dict
    text: str
    source: str
    line: int
    size: int

    @property
    def weight(self) -> int:
        """Characters of text: what a batch's budget counts."""
        return len(self.text)


@dataclasses.dataclass(frozen=True)
class ConllRecord:
    """A CoNLL document: its lines as read and the words of its sentences.

    Attributes:
        lines: the document's lines without line endings, `-DOCSTART-` and
            blank lines included.
        sentences: per sentence, its words (the first column of its lines).
        docstart: the `-DOCSTART-` line, or None for sentences before any.
        source, line: where it starts.
        size: bytes of input it was read from.
    """

    lines: tuple[str, ...]
    sentences: tuple[tuple[str, ...], ...]
    docstart: str | None
    source: str
    line: int
    size: int

    @property
    def weight(self) -> int:
        """Characters of words: what a batch's budget counts."""
        return sum(len(word) + 1 for sentence in self.sentences for word in sentence)


Record = TextRecord | ConllRecord


# === Inputs ===


def format_for(path: str) -> str:
    """The input format of `path` by its extension (see the module docstring)."""
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), "lines")


def expand_inputs(specs: Sequence[str], exclude: Sequence[str | os.PathLike] = ()) -> list[str]:
    """The files that input arguments name, in order, each once.

    Args:
        specs: files, folders (every file below, recursively, sorted; hidden
            files and folders, whose names start with ".", are left out),
            glob patterns (`**` matches folders recursively) and `-` for
            standard input.
        exclude: files and folders to leave out (the command's own output,
            when it lies below an input folder).

    Returns:
        Paths as given or found, and `-` where standard input was named.

    Raises:
        InputError: a name that matches nothing.
    """
    excluded = [Path(p).resolve() for p in exclude]

    def wanted(path: str) -> bool:
        resolved = Path(path).resolve()
        return not any(resolved == e or e in resolved.parents for e in excluded)

    out: list[str] = []
    for spec in specs:
        if spec == STDIN:
            found = [STDIN]
        elif os.path.isdir(spec):
            found = _folder_files(spec)
        elif os.path.isfile(spec):
            found = [spec]
        elif _GLOB_CHARS.search(spec):
            found = []
            for match in sorted(glob.glob(spec, recursive=True)):
                found += _folder_files(match) if os.path.isdir(match) else [match]
            if not found:
                raise InputError(spec, None, "no file matches this pattern")
        else:
            raise InputError(spec, None, "no such file or folder")
        out += [path for path in found if path not in out and (path == STDIN or wanted(path))]
    return out


def _folder_files(folder: str) -> list[str]:
    """Every file below `folder` but hidden ones, sorted by path (as `find | sort`)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, n) for n in names if not n.startswith(".")]
    return sorted(found, key=lambda path: Path(path).parts)


def check_formats(input_formats: Sequence[str], output_format: str) -> None:
    """Raises ValueError when an output format cannot hold an input format's results."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {output_format!r}; "
                         f"choose one of {', '.join(OUTPUT_FORMATS)}")
    for fmt in input_formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r}; choose one of {', '.join(FORMATS)}")
    kinds = set(input_formats)
    if output_format == "conll" and kinds - {"conll"}:
        raise ValueError("--output_format=conll needs CoNLL input (it appends a tag column "
                         f"to the input's lines); the input is {', '.join(sorted(kinds))}")
    if output_format == "displacy" and "conll" in kinds:
        raise ValueError("--output_format=displacy needs text: CoNLL input has words, not text; "
                         "use jsonl or conll")


def read_records(stream: BinaryIO, source: str, input_format: str,
                 text_field: str = "text") -> Iterator[Record | BadRecord]:
    """The records of one input, in order, read one line at a time.

    Args:
        stream: the input, opened in binary mode (anything with `readline`).
        source: its name, for records and messages.
        input_format: one of `FORMATS`.
        text_field: the JSONL field that holds the text.

    Yields:
        `TextRecord` or `ConllRecord` per document, and a `BadRecord` for
        each bad one (the reader goes on after it where it can: a file that
        is not UTF-8 in `text` format, or empty, yields that one BadRecord).
    """
    if input_format not in FORMATS:
        raise ValueError(f"unknown input format {input_format!r}; "
                         f"choose one of {', '.join(FORMATS)}")
    lines = _lines(stream)
    if input_format == "text":
        yield _text_file(b"".join(raw for _, raw in lines), source)
    elif input_format == "conll":
        yield from _conll(lines, source)
    else:
        yield from _line_records(lines, source, input_format, text_field)


def text_lines(stream: BinaryIO, source: str) -> Iterator[tuple[int, str | BadRecord]]:
    """(1-based line number, the line without its ending) of each line of a stream.

    A line that is not UTF-8 is a `BadRecord` naming `source`, the line and
    the byte; a byte-order mark before the first line is dropped.
    """
    for number, raw in _lines(stream):
        yield number, _decode(raw, source, number)


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line with its ending), the first without a BOM."""
    for number, raw in enumerate(iter(stream.readline, b""), start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        yield number, raw


# Leading bytes of compressed files, which are read as text otherwise.
_COMPRESSED = {b"\x1f\x8b": ("gzip", "zcat"), b"BZh": ("bzip2", "bzcat"),
               b"\xfd7zXZ\x00": ("xz", "xzcat"), b"\x28\xb5\x2f\xfd": ("zstd", "zstdcat"),
               b"PK\x03\x04": ("zip", "unzip -p")}


def _compressed_hint(first: bytes) -> str:
    """For an invalid first line: what the file looks like, if compressed."""
    for magic, (kind, command) in _COMPRESSED.items():
        if first.startswith(magic):
            return (f"; the file looks {kind}-compressed, which is not read: decompress it "
                    f"first (`{command} FILE | python -m ner.tag -`)")
    return ""


def _decode(raw: bytes, source: str, number: int) -> str | BadRecord:
    """The line without its ending, or a BadRecord for invalid UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        hint = _compressed_hint(raw) if number == 1 else ""
        return BadRecord(source, number, f"invalid UTF-8 (byte {e.start + 1} of the line: "
                                         f"{raw[e.start:e.start + 1]!r}){hint}")
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text


def _text_file(data: bytes, source: str) -> TextRecord | BadRecord:
    if not data:
        return BadRecord(source, None, "empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        return BadRecord(source, data.count(b"\n", 0, e.start) + 1,
                         f"invalid UTF-8 (byte {e.start - line_start + 1} of the line: "
                         f"{data[e.start:e.start + 1]!r}){_compressed_hint(data)}")
    return TextRecord({"source": source, "text": text}, text, source, 1, len(data))


def _line_records(lines: Iterator[tuple[int, bytes]], source: str, input_format: str,
                  text_field: str) -> Iterator[TextRecord | BadRecord]:
    jsonl = input_format == "jsonl"
    seen_lines = seen_records = False
    for number, raw in lines:
        seen_lines = True
        text = _decode(raw, source, number)
        if isinstance(text, BadRecord):
            seen_records = True
            yield text
        elif not jsonl:
            seen_records = True
            yield TextRecord({"source": source, "line": number, "text": text}, text, source,
                             number, len(raw))
        elif text.strip():  # a blank JSONL line holds no record
            seen_records = True
            yield _json_record(text, source, number, text_field, len(raw))
    if not seen_records:
        yield BadRecord(source, None, "no JSON objects (only blank lines)" if seen_lines
                        else "empty file")


def json_object(line: str, source: str, number: int) -> dict[str, Any] | BadRecord:
    """The JSON object on line `number` of a JSON Lines input, or a BadRecord saying why not."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        return BadRecord(source, number, f"not JSON: {e.msg} (column {e.colno})"
                                         f"{_array_hint(line, number)}")
    if not isinstance(value, dict):
        return BadRecord(source, number, f"{json_type(value)} where a JSON object was expected"
                                         f"{_array_hint(line, number)}")
    return value


def _json_record(line: str, source: str, number: int, text_field: str,
                 size: int) -> TextRecord | BadRecord:
    value = json_object(line, source, number)
    if isinstance(value, BadRecord):
        return value
    if text_field not in value:
        return BadRecord(source, number, f"no {text_field!r} field")
    text = value[text_field]
    if not isinstance(text, str):
        return BadRecord(source, number,
                         f"the {text_field!r} field is {json_type(text)}, not a string")
    return TextRecord(value, text, source, number, size)


def _array_hint(line: str, number: int) -> str:
    """A hint for a bad first line that opens a JSON array, else "".

    Annotation tools export a whole project as one JSON array too (one line,
    or "[" alone on the first); this reader takes one object per line.
    """
    if number == 1 and line.lstrip().startswith("["):
        return ("; is the file one JSON array? One JSON object per line is expected "
                "(JSON Lines): convert with jq -c '.[]' FILE.json > FILE.jsonl")
    return ""


# A line of a CoNLL file: a word, up to four more columns, and a tag last;
# or a -DOCSTART- line.
_CONLL_LINE = re.compile(r"-DOCSTART-(?:\s.*)?|\S+(?:[ \t]+\S+){0,4}[ \t]+(?:O|[BIES]-\S+)")


class ConllLookalike:
    """Notices a `lines` input whose first lines look like CoNLL columns (`word ... tag`).

    Such a file (CoNLL data is often named `.txt`) is read as one text per
    line, its tags tagged as words: `check` returns a warning once its first
    `lines` non-blank lines all look like CoNLL lines, and nothing after.
    """

    def __init__(self, lines: int = 5):
        self.lines = lines
        self._seen: dict[str, int] = {}  # source -> CoNLL-like lines so far; -1: decided

    def check(self, record: "TextRecord") -> str | None:
        """A warning for `record`'s source, or None."""
        seen = self._seen.get(record.source, 0)
        text = record.text.strip()
        if seen < 0 or not text:
            return None
        if not _CONLL_LINE.fullmatch(text):
            self._seen[record.source] = -1
            return None
        self._seen[record.source] = seen + 1
        if seen + 1 < self.lines:
            return None
        self._seen[record.source] = -1
        return (f"{record.source}: its lines look like CoNLL columns (word ... tag), but it is "
                "read as one text per line; pass --input_format=conll to tag its words")


#: A CoNLL input without `-DOCSTART-` lines (or its part before the first) is
#: read as documents of this many sentences, so that memory stays bounded
#: (`--document_context` models see neighbours within one).
SENTENCES_PER_UNMARKED_DOCUMENT = 1000


def _conll(lines: Iterator[tuple[int, bytes]], source: str) -> Iterator[ConllRecord | BadRecord]:
    doc_lines: list[str] = []  # the open document's lines
    sentences: list[tuple[str, ...]] = []
    words: list[str] = []  # the open sentence's words
    docstart: str | None = None
    start = size = 0
    broken = seen_lines = seen_records = False

    def close() -> Iterator[ConllRecord]:
        nonlocal doc_lines, sentences, words, docstart, size, broken, seen_records
        if words:
            sentences.append(tuple(words))
        if (sentences or docstart is not None) and not broken:
            seen_records = True
            yield ConllRecord(tuple(doc_lines), tuple(sentences), docstart, source, start, size)
        doc_lines, sentences, words, docstart, size, broken = [], [], [], None, 0, False

    for number, raw in lines:
        seen_lines = True
        text = _decode(raw, source, number)
        if isinstance(text, BadRecord):
            # Without this word the document's labels cannot be placed: it
            # is dropped whole, and the error names the line.
            seen_records = broken = True
            size += len(raw)
            yield text
            continue
        fields = _columns(text)
        if fields and fields[0] == _DOCSTART:
            yield from close()
            docstart, start = text.strip(), number
        elif fields:
            if (docstart is None and not words
                    and len(sentences) >= SENTENCES_PER_UNMARKED_DOCUMENT):
                yield from close()  # a file without -DOCSTART- lines, in bounded pieces
            if not doc_lines and docstart is None:
                start = number
            words.append(fields[0])
        elif words:
            sentences.append(tuple(words))
            words = []
        if doc_lines or fields or docstart is not None:  # not a blank line before any
            doc_lines.append(text)
        size += len(raw)
    yield from close()
    if not seen_records:
        yield BadRecord(source, None, "no sentences (only blank lines)" if seen_lines
                        else "empty file")


def _columns(line: str) -> list[str]:
    return line.split() if line.isascii() else [f for f in _ASCII_SPACE.split(line) if f]


# === Output ===


def output_text(record: Record, result: Any, output_format: str,
                entities_field: str = "entities") -> str:
    """The output of one document, without a final newline.

    Args:
        record: the document.
        result: its entities (`list[Entity]`) for a `TextRecord`; its labels
            (per sentence, per word) for a `ConllRecord`.
        output_format: one of `OUTPUT_FORMATS`.
        entities_field: for `jsonl` output of a text, the field the entities
            go in, beside the input's fields (replacing one of that name).

    Returns:
        One JSON line, or for `conll` the document's lines joined by "\\n".
    """
    if output_format == "conll":
        return "\n".join(_conll_lines(record, result))
    if isinstance(record, ConllRecord):
        value = _conll_object(record, result)
    elif output_format == "displacy":
        value = {"text": record.text, "ents": [
            {"start": e.start, "end": e.end, "label": e.label} for e in result]}
    else:
        value = dict(record.fields)
        value[entities_field] = [dataclasses.asdict(e) for e in result]
    return _json_line(value)


def _json_line(value: dict) -> str:
    try:
        line = json.dumps(value, ensure_ascii=False)
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        # A lone surrogate (from a JSON escape such as "\ud800") has no UTF-8
        # form; an escaped line reads back as the same string.
        return json.dumps(value, ensure_ascii=True)


def _conll_object(record: ConllRecord, labels: Sequence[Sequence[str]]) -> dict:
    entities = []
    for s, (words, tags) in enumerate(zip(record.sentences, labels, strict=True)):
        entities += [{"label": label, "sentence": s, "start": start, "end": end,
                      "text": " ".join(words[start:end])}
                     for label, start, end in schemes.chunks(tags)]
    return {"source": record.source, "line": record.line, "docstart": record.docstart,
            "sentences": [{"words": list(words), "labels": list(tags)}
                          for words, tags in zip(record.sentences, labels)],
            "entities": entities}


def _conll_lines(record: ConllRecord, labels: Sequence[Sequence[str]]) -> Iterator[str]:
    flat = iter([tag for tags in labels for tag in tags])
    for line in record.lines:
        fields = _columns(line)
        if not fields:
            yield ""
            continue
        # A -DOCSTART- line gets O, like its gold column: every line has the
        # same columns, which conlleval.pl requires (it reads this as a token).
        docstart = fields[0] == _DOCSTART
        kept = line.strip() if docstart else line.rstrip()
        yield kept + ("\t" if "\t" in line.strip() else " ") + ("O" if docstart else next(flat))
