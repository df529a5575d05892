"""Character-offset span files (JSONL) -> `Sentence`/`Document` records with IOB2 tags.

The other way into training besides CoNLL files (`ner.data`): texts with
entities marked by character offsets, as annotation tools export them. One
JSON object per line, each line one document:

    {"text": "Ada Lovelace lives in London.", "entities": [[0, 12, "PER"], [22, 28, "LOC"]]}
    {"text": "...", "spans": [{"start": 0, "end": 12, "label": "PER"}]}
    {"text": "...", "label": [[0, 12, "PER"]]}                           # doccano's JSONL export

or one JSON array of such objects, as Label Studio's JSON-MIN export writes
it (its spans carry `"labels": ["PER"]`, which is read as `"label": "PER"`):

    [{"text": "...", "label": [{"start": 0, "end": 12, "text": "Ada", "labels": ["PER"]}]}]

An array's items are named in messages by the line they start on.

* Offsets are Python string indices (code points) into `text`, the end
  exclusive; labels are entity types, any non-empty string without
  whitespace (`PER`, `Drug`, `B-cell`): the tag set is whatever the training
  file uses (`ner.data.label_list`). `O` is not a label (an error); one that
  looks like a tag (`B-LOC`, which would train as `B-B-LOC`) is warned about.
* Exactly one of `entities`, `spans`, `label` must be present (`[]` for a
  text without entities); other fields (`id`, `meta`, ...) are ignored.
  Blank lines are skipped; a UTF-8 byte-order mark is dropped.

Texts become words and sentences exactly as the tagger cuts the texts it tags
(`ner.segmentation.split_texts`, the same word splitter and sentence rule),
so a model learns on the words it will be asked to label. Then:

* A span's leading and trailing whitespace (and control characters, which the
  tokenizer deletes) are ignored.
* A span that cuts through a word is snapped outward to whole words, with a
  warning naming `file:line`, the span, its text and the words it became:
  `train.jsonl:12: span [3, 9) "ondon " snapped to word boundaries [2, 8)
  "London"`. With `strict=True` it is an error instead.
* An entity is never cut in two by the sentence rule: a sentence boundary
  that would fall inside a span ("Dr. Smith") is left out, and logged at
  INFO level.
* Errors (`SpanFormatError`, a `ValueError`, naming `file:line`): a line
  (or an array item) that is not JSON or not an object; a missing or
  non-string `text`; a span that is not `[start, end, label]` or
  `{"start", "end", "label"}`; offsets
  that are not integers, out of range, or with start >= end; a label that is
  not a string or is empty or holds whitespace; a span covering no word
  (only whitespace); two spans that overlap, in characters or in the words
  they snap to; a file without any text.

Each text becomes one `Document` (so `--document_context` sees a text's
other sentences), its sentences carrying the JSONL line number in
`Sentence.line`.

Example:

>>> docs = read_spans("train.jsonl", Tokenizer.from_pretrained())
>>> docs[0].sentences[0].tags
('B-PER', 'I-PER', 'O', 'O', 'B-LOC', 'O')
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ner import data, schemes
from ner.files import json_type
from ner.segmentation import split_texts
from ner.tokenization import text_batch

__all__ = ["SUFFIXES", "SpanFormatError", "is_span_file", "parse_spans", "read_spans"]

logger = logging.getLogger("ner.spans")

#: File name endings read as span files (`is_span_file`); anything else is CoNLL.
SUFFIXES = (".jsonl", ".json", ".ndjson")
# The keys that may hold a text's spans, in the order messages name them.
_SPAN_KEYS = ("entities", "spans", "label")
# Texts split per TensorFlow call: large enough to amortise the call, small
# enough that a big file never holds all its words in tensors at once.
_BATCH = 256


class SpanFormatError(data.ConllFormatError):
    """A span file that cannot be read; the message starts with `source:line:`."""


@dataclasses.dataclass(frozen=True)
class _Span:
    start: int  # characters, end exclusive
    end: int
    label: str
    key: str  # where it was written, e.g. "entities[2]"


@dataclasses.dataclass(frozen=True)
class _Record:
    line: int
    text: str
    spans: tuple[_Span, ...]


def is_span_file(path: str | os.PathLike) -> bool:
    """True when `path` ends in one of `SUFFIXES` (any case): read it with `read_spans`."""
    return Path(path).suffix.lower() in SUFFIXES


def _quote(text: str) -> str:
    """A string as messages show it: JSON-quoted, so spaces and line breaks are visible."""
    return json.dumps(text, ensure_ascii=False)


def _blank(char: str) -> bool:
    """Trimmed from span edges: whitespace, and what the tokenizer deletes (category C*).

    The Python side of `ner.tokenization.blank_class`, which the tagger trims
    its entity spans with.
    """
    return char.isspace() or unicodedata.category(char)[0] == "C"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return start, end


def _parse_span(item, key: str, text: str, source: str, line: int) -> _Span:
    if isinstance(item, dict):
        if "label" not in item and "labels" in item:
            # Label Studio: "labels": ["PER"], one label per span here.
            labels = item["labels"]
            if not (isinstance(labels, list) and len(labels) == 1):
                raise SpanFormatError(source, line, f"{key}: \"labels\" must hold one label, "
                                      f"got {json.dumps(labels)[:80]}")
            item = {**item, "label": labels[0]}
        missing = [name for name in ("start", "end", "label") if name not in item]
        if missing:
            raise SpanFormatError(source, line, f"{key}: missing {', '.join(map(repr, missing))}")
        start, end, label = item["start"], item["end"], item["label"]
    elif isinstance(item, list) and len(item) == 3:
        start, end, label = item
    else:
        raise SpanFormatError(source, line, f"{key}: expected [start, end, label] or "
                              f"{{\"start\", \"end\", \"label\"}}, got {json.dumps(item)[:80]}")
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpanFormatError(source, line, f"{key}: {name} must be an integer (a character "
                                  f"offset), got {json_type(value)}")
    if not 0 <= start < end <= len(text):
        why = "start must be less than end" if start >= end else (
            f"out of range for a text of {len(text)} characters")
        raise SpanFormatError(source, line, f"{key}: span [{start}, {end}): {why}")
    if not isinstance(label, str):
        raise SpanFormatError(source, line,
                              f"{key}: label must be a string, got {json_type(label)}")
    if not label or any(c.isspace() for c in label):
        raise SpanFormatError(source, line, f"{key}: label {_quote(label)} must be non-empty "
                              "and without whitespace")
    return _Span(start, end, label, key)


# A label that looks like a tag: its scheme prefix is added again ("B-LOC"
# would train as B-B-LOC). Not an error: "B-cell" is an entity type.
_TAG_LIKE = re.compile(r"[BIESLU]-[A-Z0-9_]+")


def _check_labels(records: list[_Record], source: str) -> None:
    """"O" as a span label is an error; tag-like labels are warned about, once each."""
    warned = set()
    for record in records:
        for span in record.spans:
            if span.label == "O":
                raise SpanFormatError(source, record.line, f"{span.key}: label \"O\" marks words "
                                      "outside entities; give such words no span")
            if _TAG_LIKE.fullmatch(span.label) and span.label not in warned:
                warned.add(span.label)
                logger.warning("%s:%d: %s: label %s looks like a tag with its scheme prefix; "
                               "labels are entity types, and this one trains as the tag "
                               "B-%s (if it is an entity type, ignore this)", source,
                               record.line, span.key, _quote(span.label), span.label)


def _parse_line(line_text: str, source: str, line: int) -> _Record:
    """One JSONL line: its text and validated character spans (no two overlapping)."""
    try:
        obj = json.loads(line_text)
    except json.JSONDecodeError as e:
        raise SpanFormatError(source, line,
                              f"not valid JSON: {e.msg} (column {e.colno})") from None
    return _parse_object(obj, source, line)


def _parse_object(obj, source: str, line: int) -> _Record:
    """One document's JSON object (a JSONL line, or an item of a JSON array file)."""
    if not isinstance(obj, dict):
        raise SpanFormatError(source, line, f"expected a JSON object "
                              f"{{\"text\": ..., \"entities\": [...]}}, got {json_type(obj)}")
    if "text" not in obj:
        raise SpanFormatError(source, line, "missing \"text\"")
    text = obj["text"]
    if not isinstance(text, str):
        raise SpanFormatError(source, line, f"\"text\" must be a string, got {json_type(text)}")
    keys = [k for k in _SPAN_KEYS if k in obj]
    if len(keys) != 1:
        names = " or ".join(f'"{k}"' for k in _SPAN_KEYS)
        raise SpanFormatError(source, line, (
            f"expected one of {names} (a list of spans; [] for a text without entities)")
            if not keys else f"both {' and '.join(map(_quote, keys))}: expected one list of spans")
    items = obj[keys[0]]
    if not isinstance(items, list):
        raise SpanFormatError(source, line, f"\"{keys[0]}\" must be a list of spans, got "
                              f"{json_type(items)}")
    spans = [_parse_span(item, f"{keys[0]}[{i}]", text, source, line)
             for i, item in enumerate(items)]
    # Sorted by start, the first overlap of all is one of neighbours.
    spans.sort(key=lambda s: (s.start, s.end))
    for before, span in zip(spans, spans[1:]):
        if span.start < before.end:
            raise SpanFormatError(source, line, f"overlapping spans {_describe(before, text)} and "
                                  f"{_describe(span, text)}")
    return _Record(line, text, tuple(spans))


def _describe(span: _Span, text: str) -> str:
    return f"[{span.start}, {span.end}) {_quote(text[span.start:span.end])} {span.label}"


def _convert(record: _Record, words: list[str], starts: list[int], ends: list[int],
             sentence_starts: list[int], source: str, strict: bool) -> data.Document:
    """One text's words (character offsets) and sentence starts, with its spans, as a Document.

    Args:
        record: the line's text and spans (validated, sorted, not overlapping).
        words: the text's words, in order.
        starts, ends: each word's character offsets into the text.
        sentence_starts: the index of each sentence's first word, ascending,
            starting at 0 (empty when the text has no words).
        source: the file name for messages.
        strict: a span that cuts a word is an error instead of a warning.

    Returns:
        The Document of the text, one Sentence per sentence, IOB2 tags.
    """
    text, line = record.text, record.line
    word_spans = []  # (first word, last word, label), by first word
    previous = None
    for span in record.spans:
        start, end = _trim(text, span.start, span.end)
        # Words are ordered and disjoint: the first word ending after `start`
        # and the last one starting before `end`.
        first = bisect.bisect_right(ends, start)
        last = bisect.bisect_left(starts, end) - 1
        if start >= end or first > last:
            why = ("no word the tokenizer keeps" if start < end else "only whitespace"
                   if text[span.start:span.end].isspace() else
                   "only whitespace and characters the tokenizer deletes")
            raise SpanFormatError(source, line,
                                  f"span {_describe(span, text)} covers no word ({why})")
        # A word's own edges may hold deleted characters ("\u200bLondon"): compare trimmed.
        if _trim(text, starts[first], ends[last]) != (start, end):
            where = f"[{starts[first]}, {ends[last]}) {_quote(text[starts[first]:ends[last]])}"
            said = f"span [{span.start}, {span.end}) {_quote(text[span.start:span.end])}"
            if strict:
                raise SpanFormatError(source, line, f"{said} does not fall on word boundaries "
                                      f"(its words are {where})")
            logger.warning("%s:%d: %s snapped to word boundaries %s", source, line, said, where)
        if previous is not None and first <= previous[1]:
            raise SpanFormatError(source, line, (
                f"spans {_describe(previous[2], text)} and {_describe(span, text)} overlap once "
                f"snapped to word boundaries (both cover {_quote(words[first])})"))
        previous = (first, last, span)
        word_spans.append((first, last, span.label))

    # The sentence rule never cuts an entity in two.
    boundaries = set(sentence_starts)
    for first, last, label in word_spans:
        inside = [b for b in range(first + 1, last + 1) if b in boundaries]
        if inside:
            boundaries.difference_update(inside)
            logger.info("%s:%d: span [%d, %d) %s crosses a sentence boundary of the tagger's "
                        "rule; kept in one sentence", source, line, starts[first], ends[last],
                        _quote(text[starts[first]:ends[last]]))
    bounds = sorted(boundaries) + [len(words)]
    sentences = []
    k = 0
    for begin, stop in zip(bounds, bounds[1:]):
        chunks = []
        while k < len(word_spans) and word_spans[k][0] < stop:
            first, last, label = word_spans[k]
            chunks.append((label, first - begin, last + 1 - begin))
            k += 1
        tags = schemes.spell(chunks, stop - begin, "IOB2")
        sentences.append(data.Sentence(tuple(words[begin:stop]), tuple(tags), (), line))
    return data.Document(tuple(sentences), None, scheme="spans")


def _convert_batch(records: list[_Record], tokenizer, source: str, strict: bool
                   ) -> list[data.Document]:
    """`_convert` over records whose texts are split in one TensorFlow call."""
    found = split_texts(tokenizer, text_batch([r.text for r in records]))
    text_of_word = found["text_of_word"]
    char_starts = found["chars"].chars(text_of_word, found["starts"]).numpy().tolist()
    char_ends = found["chars"].chars(text_of_word, found["ends"]).numpy().tolist()
    strings = [w.decode("utf-8") for w in found["strings"].numpy().tolist()]
    text_splits = found["text_splits"].numpy().tolist()
    sentence_splits = found["sentence_splits"].numpy().tolist()[:-1]
    docs = []
    k = 0  # the next sentence start
    for b, record in enumerate(records):
        lo, hi = text_splits[b], text_splits[b + 1]
        firsts = []
        while k < len(sentence_splits) and sentence_splits[k] < hi:
            firsts.append(sentence_splits[k] - lo)
            k += 1
        docs.append(_convert(record, strings[lo:hi], char_starts[lo:hi], char_ends[lo:hi],
                             firsts, source, strict))
    return docs


def _array_records(text: str, first_line: int, source: str) -> list[_Record]:
    """The items of a file that is one JSON array, each named by the line it starts on."""
    decoder = json.JSONDecoder()
    records = []

    counted = [0, first_line]  # a position, and the line it is on

    def line_at(position: int) -> int:
        # Counted on from the last position asked for (positions only grow),
        # so that a large array costs one pass, not one per item.
        counted[1] += text.count("\n", counted[0], position)
        counted[0] = position
        return counted[1]

    position = text.index("[") + 1
    expect_item = True  # at the start, or after a ","
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            raise SpanFormatError(source, line_at(len(text.rstrip())), "not valid JSON: the "
                                  "array is not closed (a \"]\" is missing)")
        char = text[position]
        if char == "]":
            if expect_item and records:
                raise SpanFormatError(source, line_at(position),
                                      "not valid JSON: a \",\" before \"]\"")
            position += 1
            break
        if not expect_item:
            if char != ",":
                raise SpanFormatError(source, line_at(position), "not valid JSON: expected "
                                      "\",\" or \"]\" after an item of the array")
            position += 1
            expect_item = True
            continue
        try:
            obj, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as e:
            raise SpanFormatError(source, e.lineno + first_line - 1,
                                  f"not valid JSON: {e.msg} (column {e.colno})") from None
        records.append(_parse_object(obj, source, line_at(position)))
        position, expect_item = end, False
    if text[position:].strip():
        raise SpanFormatError(source, line_at(position), "not valid JSON: text after the array")
    return records


def parse_spans(lines: Iterable[str], tokenizer, source: str = "<string>", *,
                strict: bool = False) -> list[data.Document]:
    """Parses JSONL span lines into documents with IOB2 tags (see the module docstring).

    Args:
        lines: the file's lines, e.g. an open text file (a line that holds
            only whitespace is skipped); if the first that holds anything
            starts with "[", the rest of the file is one JSON array of the
            documents' objects.
        tokenizer: the `ner.tokenization.Tokenizer` of the model to train
            (its word splitter decides the words).
        source: the name used in messages, normally the file path.
        strict: a span that cuts a word is an error instead of being snapped.

    Returns:
        list[Document]: one per text, in file order; a text without words
        gives a document without sentences.

    Raises:
        SpanFormatError: naming `source:line` (see the module docstring), and
            `source:` for a file without any text.
    """
    records = []
    lines = iter(lines)
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if not records and line.lstrip().startswith("["):
            # One JSON array of objects (Label Studio's JSON and JSON-MIN
            # exports): the whole file, each item one document.
            rest = (text if text.endswith("\n") else text + "\n" for text in lines)
            records = _array_records(line + "\n" * (not line.endswith("\n")) + "".join(rest),
                                     number, source)
            break
        if line.strip():
            records.append(_parse_line(line, source, number))
    if not records:
        raise SpanFormatError(source, None, "no texts (empty file or only blank lines)")
    _check_labels(records, source)
    docs = []
    for i in range(0, len(records), _BATCH):
        docs += _convert_batch(records[i:i + _BATCH], tokenizer, source, strict)
    return docs


def read_spans(path: str | os.PathLike, tokenizer, *, strict: bool = False) -> list[data.Document]:
    """Reads a JSONL span file (UTF-8) into documents with IOB2 tags.

    Args:
        path: the file.
        tokenizer: as `parse_spans`.
        strict: as `parse_spans`.

    Returns:
        list[Document]: as `parse_spans`.

    Raises:
        SpanFormatError: as `parse_spans`, with `path` as the source, and for a
            file that is not UTF-8.
        OSError: if the file cannot be opened.
    """
    source = os.fspath(path)
    # Only "\n" ends a line (a JSON string may hold a raw U+2028); a "\r" before
    # it is whitespace to the JSON parser.
    with open(path, encoding="utf-8", newline="\n") as f:
        try:
            return parse_spans(f, tokenizer, source, strict=strict)
        except UnicodeDecodeError:
            pass
    raise SpanFormatError(source, *data.not_utf8(path))
