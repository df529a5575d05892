"""Tag whole corpora on one machine: `python -m ner.tag`, streaming to JSONL.

    python -m ner.tag --model_dir=runs/default --output=tagged/ corpus/ extra/*.jsonl
    cat news.txt | python -m ner.tag --model_dir=runs/default - > news.jsonl

Inputs are files, folders (every file below, hidden ones left out), globs
and `-` for standard input, in plain text (one document per line, or per
file), JSONL or CoNLL; `ner.corpus` says how each is read and what each
output line holds. The format comes from the extension unless
`--input_format` says it.

Streaming: records are read one line at a time, gathered into batches of at
most `--batch_size` documents and `--batch_chars` characters, tagged, and
written before the next batch is read, so memory does not grow with the
input (a batch, a document, and the model). Each batch goes through the
tagger in one call (`ner.Tagger.tag_batch` for text, `tag_tokens` for CoNLL,
or the same methods of `ner.exported.ExportedTagger` for a SavedModel);
this module knows nothing about windows, decoding or offsets.

Output (`--output`):

* none or `-`: standard output, line by line as batches finish.
* a file: written as `FILE.partial` and renamed to FILE when the job is
  done, so FILE is never half-written (an existing FILE stays until then).
* a folder (one that exists, or a name ending in "/"): shards of
  `--shard_size` documents, `part-00000.jsonl`, `part-00001.jsonl`, ...,
  each written as `part-NNNNN.jsonl.partial` and renamed when complete. A
  rerun of the same command skips every complete shard, so an interrupted
  job resumes where it stopped; `job.json` records the inputs (sizes and
  modification times; standard input only by name), options, precision and
  the model's version, and a rerun with other ones is refused rather than
  mixed in. `inputs.sha256` records a digest of each complete shard's input
  records, checked when a rerun reads past them (standard input, a file
  edited in place). A folder with shards and no `job.json` is refused.
  `summary.json` (documents, shards, errors, precision) is written when the
  job is done.

Bad input (`ner.corpus.BadRecord`: invalid UTF-8, a line that is not a JSON
object, a missing or non-string text field, an empty file): by default the
documents before it are tagged and written, and the command stops with
`file:line: reason`; complete shards stay, and the open file or shard is
left as `.partial`. With `--on_error=skip` each bad record is written to an
errors file beside the output as `{"source", "line", "error"}`
(`--output=out.jsonl` -> `out.errors.jsonl`; `errors-NNNNN.jsonl` beside each
shard), or, when the output is standard output, as a line
`ner.tag: skipped file:line: reason` on standard error; and counted in the
summary.

Progress: a bar on standard error when it is a terminal (input bytes, ETA
when the input size is known, documents, documents/s, entities); otherwise
(a log file, nohup, cron) the same as a line a minute; then one summary line
at the end; `--quiet` for neither.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from ner import corpus, files, schemes

__all__ = ["Summary", "TagOptions", "add_corpus_flags", "count_entities", "main", "plural",
           "tag_corpus", "tag_records"]

_SHARD = re.compile(r"part-(\d{5,})\.(jsonl|conll)$")
_JOB_FILE = "job.json"
_SUMMARY_FILE = "summary.json"
# The sha256 of each shard's input records, a line "part-NNNNN.EXT HEX" each,
# appended before the shard is renamed complete: appended, not a key of
# job.json rewritten per shard, so that writing it stays linear in the shards.
_DIGESTS_FILE = "inputs.sha256"
# What a folder job writes besides job.json (complete or not).
_OUTPUT_FILE = re.compile(
    r"(part|errors)-\d{5,}\.\w+(\.partial)?$|summary\.json$|" + re.escape(_DIGESTS_FILE) + "$")


@dataclasses.dataclass
class TagOptions:
    """How `tag_corpus` reads, batches and writes; the flags of `python -m ner.tag`.

    Attributes:
        input_format: one of `ner.corpus.FORMATS` for every input; None takes
            each file's format from its extension (`lines` for stdin).
        text_field: the JSONL field holding the text.
        entities_field: the field of a `jsonl` output the entities go in; an
            input field of that name is replaced (with a warning, once).
        output_format: one of `ner.corpus.OUTPUT_FORMATS`.
        batch_size: at most this many documents per tagging call.
        batch_chars: at most this many characters per tagging call (a longer
            document is tagged alone).
        shard_size: documents per shard of a folder output.
        on_error: "stop" or "skip" (see the module docstring).
        progress: a progress bar on standard error; None: when it is a terminal.
        quiet: neither a progress bar nor a summary line.
        output_scheme: the tag scheme of CoNLL input's predicted labels (any
            name `ner.schemes.scheme_name` takes); None: the model's own
            (`TaggerConfig.scheme`, IOB2 unless trained with `--tag_scheme`).
    """

    input_format: str | None = None
    text_field: str = "text"
    entities_field: str = "entities"
    output_format: str = "jsonl"
    batch_size: int = 4096
    batch_chars: int = 200_000
    shard_size: int = 10_000
    on_error: str = "stop"
    progress: bool | None = None
    quiet: bool = False
    output_scheme: str | None = None

    def __post_init__(self):
        if self.output_scheme is not None:
            try:
                self.output_scheme = schemes.scheme_name(self.output_scheme)
            except ValueError as e:
                raise ValueError(f"output_scheme: {e}") from None
        if self.input_format is not None and self.input_format not in corpus.FORMATS:
            raise ValueError(f"unknown input format {self.input_format!r}; "
                             f"choose one of {', '.join(corpus.FORMATS)}")
        if self.output_format not in corpus.OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {self.output_format!r}; "
                             f"choose one of {', '.join(corpus.OUTPUT_FORMATS)}")
        if self.on_error not in ("stop", "skip"):
            raise ValueError(f"on_error must be 'stop' or 'skip', got {self.on_error!r}")
        if not self.entities_field or self.entities_field == self.text_field:
            raise ValueError(f"entities_field must name a field other than the text's "
                             f"({self.text_field!r}), got {self.entities_field!r}")
        for name in ("batch_size", "batch_chars", "shard_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def format_of(self, path: str) -> str:
        """The input format of `path`."""
        if self.input_format:
            return self.input_format
        return "lines" if path == corpus.STDIN else corpus.format_for(path)


@dataclasses.dataclass
class Summary:
    """What a `tag_corpus` run did.

    Attributes:
        documents: documents tagged and written by this run.
        entities: entities they hold.
        errors: bad records skipped by this run.
        resumed_documents: documents of shards complete before this run.
        resumed_shards: those shards.
        seconds: wall time.
        output: where the output went.
        precision: how the encoder computed (`precision="auto"` chose it), if known.
    """

    documents: int = 0
    entities: int = 0
    errors: int = 0
    resumed_documents: int = 0
    resumed_shards: int = 0
    seconds: float = 0.0
    output: str = "standard output"
    precision: str | None = None

    def line(self) -> str:
        """One line for standard error."""
        rate = self.documents / self.seconds if self.seconds > 0 else 0.0
        parts = [f"tagged {plural(self.documents, 'document')} with "
                 f"{plural(self.entities, 'entity', 'entities')} in {self.seconds:.1f} s "
                 f"({rate:,.1f} documents/s"
                 + (f", {self.precision}" if self.precision else "") + ")"]
        if self.errors:
            parts.append(f"skipped {plural(self.errors, 'bad record')}")
        if self.resumed_shards:
            parts.append(f"kept {plural(self.resumed_shards, 'complete shard')} "
                         f"({plural(self.resumed_documents, 'document')})")
        return "ner.tag: " + "; ".join(parts) + f" -> {self.output}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """`count` and the noun: "1 document", "2,000 documents"."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"


# === Tagging records ===


def tag_records(tagger, records: Sequence[corpus.Record],
                scheme: str | None = None) -> list[Any]:
    """Results of records in one call per kind: entities of text, labels of CoNLL words.

    Args:
        tagger: `ner.Tagger` or `ner.exported.ExportedTagger`.
        records: `TextRecord`s and `ConllRecord`s.
        scheme: the tag scheme of CoNLL words' labels; None: the model's.

    Returns:
        Per record, `list[Entity]` (text) or per sentence its labels (CoNLL).
    """
    results: list[Any] = [None] * len(records)
    texts = [i for i, r in enumerate(records) if isinstance(r, corpus.TextRecord)]
    if texts:
        for i, entities in zip(texts, tagger.tag_batch([records[i].text for i in texts])):
            results[i] = entities
    conll = [i for i, r in enumerate(records) if isinstance(r, corpus.ConllRecord)]
    if conll:
        sentences = [s for i in conll for s in records[i].sentences]
        documents = [d for d, i in enumerate(conll) for _ in records[i].sentences]
        labels = tagger.tag_tokens(sentences, documents=documents, scheme=scheme)
        start = 0
        for i in conll:
            end = start + len(records[i].sentences)
            results[i] = labels[start:end]
            start = end
    return results


def count_entities(record: corpus.Record, result: Any) -> int:
    """Entities in a record's result."""
    if isinstance(record, corpus.ConllRecord):
        return sum(len(schemes.chunks(tags)) for tags in result)
    return len(result)


def open_input(path: str) -> BinaryIO:
    """A local input opened in binary mode; standard input for `-`."""
    return sys.stdin.buffer if path == corpus.STDIN else open(path, "rb")


def read_inputs(paths: Sequence[str],
                options: TagOptions) -> Iterator[corpus.Record | corpus.BadRecord]:
    """The records of every input in order, one file open at a time."""
    for path in paths:
        source = corpus.STDIN_SOURCE if path == corpus.STDIN else path
        stream = open_input(path)
        try:
            yield from corpus.read_records(stream, source, options.format_of(path),
                                           options.text_field)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


# === Sinks: where output lines go ===


class _OneStream:
    """What the sinks writing every line to one stream (`out`) share: none is done ahead."""

    out: BinaryIO

    def done(self, index: int) -> bool:
        return False

    def read(self, index: int, record: corpus.Record | corpus.BadRecord) -> None:
        """Nothing to check: one stream is never resumed."""

    def write(self, index: int, text: str) -> None:
        self.out.write(text.encode("utf-8") + b"\n")

    def flush(self) -> None:
        self.out.flush()


class _Stream(_OneStream):
    """Standard output; each bad record as a line for people on standard error."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.label = "standard output"

    def error(self, index: int, bad: corpus.BadRecord) -> None:
        print(f"ner.tag: skipped {bad.error()}", file=sys.stderr)

    def finish(self, documents: int) -> None:
        self.flush()

    def abort(self) -> str:
        self.flush()
        return ""


class _File(_OneStream):
    """One output file, written aside and renamed when complete."""

    def __init__(self, path: Path):
        self.path = path
        self.errors_path = path.with_name(path.stem + ".errors.jsonl")
        self.partial = _partial(path)
        self.errors_partial = _partial(self.errors_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(self.partial, "wb")
        self.errors: BinaryIO | None = None
        self.label = str(path)

    def error(self, index: int, bad: corpus.BadRecord) -> None:
        if self.errors is None:
            self.errors = open(self.errors_partial, "wb")
        self.errors.write(_json_bytes(bad.to_json()))

    def finish(self, documents: int) -> None:
        if self.errors is not None:
            _close_and_rename(self.errors, self.errors_partial, self.errors_path)
        else:
            self.errors_path.unlink(missing_ok=True)  # a previous run's
        _close_and_rename(self.out, self.partial, self.path)

    def abort(self) -> str:
        for f in (self.out, self.errors):
            if f is not None:
                f.close()
        return f"the documents written before it are in {self.partial}"


class _Shards:
    """A folder of shards of `shard_size` documents; complete shards are kept."""

    def __init__(self, folder: Path, shard_size: int, extension: str, job: dict):
        self.folder, self.shard_size, self.extension = folder, shard_size, extension
        self.precision = job.get("precision")  # for summary.json
        folder.mkdir(parents=True, exist_ok=True)
        _check_job(folder, job)
        self.complete = {int(m.group(1)) for p in folder.iterdir()
                         if (m := _SHARD.match(p.name)) and m.group(2) == extension}
        self.resumed = len(self.complete)  # shards complete before this run
        # The digest of each shard's input records (`_input_bytes`), recorded
        # as the shard completes. A complete shard's input is hashed again
        # when a rerun reads past it: standard input has no size or time to
        # compare, and a file may change without either changing.
        self.recorded = _read_digests(folder / _DIGESTS_FILE)
        self.digests: dict[int, str] = {}
        self.hashing: tuple[int, Any] | None = None  # (shard, sha256) being read
        self.shard: int | None = None  # the open shard
        self.out: BinaryIO | None = None
        self.errors: BinaryIO | None = None
        self.label = f"{folder}{os.sep}"

    def _name(self, shard: int, kind: str = "part") -> Path:
        extension = self.extension if kind == "part" else "jsonl"
        return self.folder / f"{kind}-{shard:05d}.{extension}"

    def done(self, index: int) -> bool:
        return index // self.shard_size in self.complete

    def read(self, index: int, record: corpus.Record | corpus.BadRecord) -> None:
        """Hashes one input record; index is the document it belongs to."""
        shard = index // self.shard_size
        if self.hashing is None or self.hashing[0] != shard:
            self.end_of_input()
            self.hashing = (shard, hashlib.sha256())
        self.hashing[1].update(_input_bytes(record))

    def end_of_input(self) -> None:
        """The shard being hashed has all its records: checked against its output's."""
        if self.hashing is None:
            return
        shard, digest = self.hashing[0], self.hashing[1].hexdigest()
        self.hashing = None
        self.digests[shard] = digest
        recorded = self.recorded.get(self._name(shard).name)
        if shard in self.complete and recorded is not None and recorded != digest:
            first = shard * self.shard_size + 1
            raise ValueError(
                f"{self.folder} holds shards of another job: the input of "
                f"{self._name(shard).name} (documents {first:,}-{first + self.shard_size - 1:,}) "
                f"is not the one it was tagged from (see {self.folder / _DIGESTS_FILE}); use "
                "another --output folder, or delete this one")

    def _open(self, index: int) -> None:
        shard = index // self.shard_size
        if shard != self.shard:
            self._close()
            self.shard = shard
            self.out = open(_partial(self._name(shard)), "wb")

    def _close(self) -> None:
        if self.shard is None:
            return
        errors_path = self._name(self.shard, "errors")
        # The errors file first: a complete part file means its errors are in place.
        if self.errors is not None:
            _close_and_rename(self.errors, _partial(errors_path), errors_path)
        else:
            errors_path.unlink(missing_ok=True)  # an interrupted run's
        name = self._name(self.shard).name
        if self.shard in self.digests:
            # Before the rename: a complete shard always has its digest.
            with open(self.folder / _DIGESTS_FILE, "ab") as f:
                f.write(f"{name} {self.digests[self.shard]}\n".encode("ascii"))
                f.flush()
                os.fsync(f.fileno())
        _close_and_rename(self.out, _partial(self._name(self.shard)), self._name(self.shard))
        self.complete.add(self.shard)
        self.shard, self.out, self.errors = None, None, None

    def write(self, index: int, text: str) -> None:
        self._open(index)
        self.out.write(text.encode("utf-8") + b"\n")

    def error(self, index: int, bad: corpus.BadRecord) -> None:
        self._open(index)
        if self.errors is None:
            self.errors = open(_partial(self._name(self.shard, "errors")), "wb")
        self.errors.write(_json_bytes(bad.to_json()))

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()

    def finish(self, documents: int) -> None:
        self.end_of_input()
        beyond = sorted(self.complete - set(self.digests) - {self.shard})
        if beyond:
            raise ValueError(
                f"{self.folder} holds shards of another job: {self._name(beyond[0]).name} and "
                f"{len(beyond) - 1} more lie beyond the end of this input ({documents:,} "
                f"documents); use another --output folder, or delete this one")
        self._close()
        errors = 0
        for path in self.folder.glob("errors-*.jsonl"):
            with open(path, "rb") as f:
                errors += sum(1 for _ in f)
        shards = sorted(self.complete)
        summary = {"documents": documents, "shards": len(shards), "errors": errors}
        if self.precision is not None:  # what the shards were tagged in (auto's choice)
            summary["precision"] = self.precision
        files.write_json_atomically(self.folder / _SUMMARY_FILE, summary)

    def abort(self) -> str:
        for f in (self.out, self.errors):
            if f is not None:
                f.close()
        kept = f"{len(self.complete)} complete shards are kept"
        if self.shard is None:
            return kept
        return (f"{kept}, and the documents written before it in shard {self.shard} are in "
                f"{_partial(self._name(self.shard))}; rerun the command to resume")


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _close_and_rename(f: BinaryIO, partial: Path, target: Path) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(partial, target)


def _json_bytes(value: dict) -> bytes:
    return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")


def _input_bytes(record: corpus.Record | corpus.BadRecord) -> bytes:
    """What a record's output is made from, as bytes to hash (ASCII JSON)."""
    if isinstance(record, corpus.ConllRecord):
        value = [record.source, record.line, record.lines]
    elif isinstance(record, corpus.TextRecord):
        value = [record.source, record.line, record.fields, record.text]
    else:
        value = record.to_json()
    return json.dumps(value, sort_keys=True).encode("ascii") + b"\n"


def _read_digests(path: Path) -> dict[str, str]:
    """Shard file name -> its input's digest; the last line wins, a torn one is skipped."""
    recorded = {}
    if path.exists():
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            name, _, digest = line.partition(" ")
            if _SHARD.match(name) and re.fullmatch(r"[0-9a-f]{64}", digest):
                recorded[name] = digest
    return recorded


def _check_job(folder: Path, job: dict) -> None:
    """Writes the job description, or checks that it is the one already there."""
    path = folder / _JOB_FILE
    if not path.exists():
        # Output without a job description belongs to an unknown job (or to
        # one whose job.json was deleted): resuming would keep it unchecked.
        others = sorted(p.name for p in folder.iterdir() if _OUTPUT_FILE.match(p.name))
        if others:
            raise ValueError(
                f"{folder} holds output of an unknown job ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}) and no {_JOB_FILE} to check it "
                "against; use another --output folder, or delete this one")
        files.write_json_atomically(path, job)
        return
    try:
        old = files.read_json_object(path)
    except (OSError, ValueError) as e:
        raise corpus.InputError(str(path), None, f"unreadable job description ({e}); "
                                "delete the folder or choose another --output") from None
    changed = [key for key in sorted(set(old) | set(job)) if old.get(key) != job.get(key)
               and (key in old or key not in _LATER_JOB_KEYS)]
    if changed:
        # Only the precision changed (auto chose otherwise here): the rerun can ask for it.
        resume = (f"; to resume, pass --precision={old['precision']}, what they were tagged in"
                  if changed == ["precision"] and old.get("precision") else "")
        raise ValueError(
            f"{path.parent} holds shards of another job: {', '.join(changed)} changed since "
            f"they were written (see {path}){resume}; or use another --output folder, or "
            f"delete this one")


# Keys a job records since a later version: a job.json without them (begun
# before) still resumes, unchecked on them.
_LATER_JOB_KEYS = frozenset({"precision", "model_version"})


def _job(paths: Sequence[str], options: TagOptions, model: str | None,
         precision: str | None = None, model_version: str | None = None) -> dict:
    inputs = []
    for path in paths:
        entry: dict[str, Any] = {"path": path, "format": options.format_of(path)}
        if path != corpus.STDIN:
            stat = os.stat(path)
            entry.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        inputs.append(entry)
    job = {"inputs": inputs, "text_field": options.text_field,
           "output_format": options.output_format, "shard_size": options.shard_size,
           "model": model}
    if options.entities_field != "entities":
        # Only when set, so that jobs begun before the flag existed still resume.
        job["entities_field"] = options.entities_field
    # Shards tagged in another precision, or by another version of the model's
    # weights (a model retrained into the same folder), would mix in one output.
    if precision is not None:
        job["precision"] = precision
    if model_version is not None:
        job["model_version"] = model_version
    return job


def overwrites_field(record: corpus.Record, options: TagOptions) -> bool:
    """Whether the output of `record` replaces an input field with the entities."""
    return (options.output_format == "jsonl" and isinstance(record, corpus.TextRecord)
            and options.entities_field in record.fields)


def replaced_field_warning(record: corpus.TextRecord, options: TagOptions) -> str:
    """What `tag_corpus` prints, once, when input records carry the entities' field."""
    where = f"{record.source}:{record.line}" if record.line else record.source
    return (f"ner.tag: warning: {where}: the input has an {options.entities_field!r} field; "
            f"the predicted entities replace it in the output (--entities_field=NAME "
            f"writes them to another field)")


def is_folder_output(output: str) -> bool:
    """A folder output: an existing folder, or a name ending in a path separator."""
    return os.path.isdir(output) or output.endswith(("/", os.sep))


# === The job ===


def tag_corpus(tagger, paths: Sequence[str], output: str | None, options: TagOptions,
               model: str | None = None) -> Summary:
    """Tags every input and writes one output per document, streaming.

    Args:
        tagger: `ner.Tagger` or `ner.exported.ExportedTagger` (anything with
            their `tag_batch` and `tag_tokens`).
        paths: inputs as `ner.corpus.expand_inputs` gives them.
        output: None or "-" (standard output), a file or a folder (see the
            module docstring).
        options: how to read, batch and write.
        model: the model folder, recorded in a folder output's `job.json`.

    Returns:
        What was done.

    Raises:
        ner.corpus.InputError: a bad record with `on_error="stop"`; what was
            tagged before it is written (the message says where).
        ValueError: formats that do not fit together, or a folder output
            holding another job's shards.
    """
    start = time.perf_counter()
    corpus.check_formats([options.format_of(p) for p in paths], options.output_format)
    extension = "conll" if options.output_format == "conll" else "jsonl"
    if output in (None, "-"):
        sink = _Stream(sys.stdout.buffer)
    elif is_folder_output(output):
        meta = getattr(tagger, "meta", None) or {}
        sink = _Shards(Path(output), options.shard_size, extension, _job(
            paths, options, model, precision=getattr(tagger, "precision", None),
            model_version=meta.get("version")))
    else:
        sink = _File(Path(output))
    summary = Summary(output=sink.label, precision=getattr(tagger, "precision", None))
    show_bar = options.progress if options.progress is not None else sys.stderr.isatty()
    bar = _progress_bar(paths, enabled=show_bar and not options.quiet,
                        lines=options.progress is None and not options.quiet)
    pending: list[tuple[int, corpus.Record | corpus.BadRecord]] = []
    chars = 0
    warned_field = False
    conll_lookalike = corpus.ConllLookalike()

    def flush() -> None:
        nonlocal pending, chars, warned_field
        good = [(i, r) for i, r in pending if not isinstance(r, corpus.BadRecord)]
        results = (iter(tag_records(tagger, [r for _, r in good], options.output_scheme))
                   if good else iter(()))
        for index, record in pending:
            if isinstance(record, corpus.BadRecord):
                sink.error(index, record)
                continue
            result = next(results)
            # ("<stdin>" has no extension: lines, as "-" is, unless --input_format.)
            if isinstance(record, corpus.TextRecord) and options.format_of(
                    record.source) == "lines":
                lookalike = conll_lookalike.check(record)
                if lookalike:
                    print(f"ner.tag: warning: {lookalike}", file=sys.stderr)
            if not warned_field and overwrites_field(record, options):
                warned_field = True
                print(replaced_field_warning(record, options), file=sys.stderr)
            sink.write(index, corpus.output_text(record, result, options.output_format,
                                                 options.entities_field))
            summary.documents += 1
            summary.entities += count_entities(record, result)
        sink.flush()
        if bar is not None:
            elapsed = time.perf_counter() - start
            bar.set_postfix_str(f"{summary.documents:,} docs, "
                                f"{summary.documents / max(elapsed, 1e-9):,.1f} docs/s, "
                                f"{summary.entities:,} entities", refresh=False)
            bar.update(sum(r.size for _, r in good))
        pending, chars = [], 0

    index = 0
    try:
        for record in read_inputs(paths, options):
            sink.read(index, record)
            if isinstance(record, corpus.BadRecord):
                if options.on_error == "stop":
                    flush()
                    raise record.error()
                if not sink.done(index):
                    summary.errors += 1
                    pending.append((index, record))
                continue
            if sink.done(index):
                summary.resumed_documents += 1
                if bar is not None:
                    bar.update(record.size)
            else:
                if pending and (len(pending) >= options.batch_size
                                or chars + record.weight > options.batch_chars):
                    flush()
                pending.append((index, record))
                chars += record.weight
            index += 1
        flush()
        summary.resumed_shards = getattr(sink, "resumed", 0)
        sink.finish(index)
    except corpus.InputError as e:
        where = sink.abort()
        if where:
            raise corpus.InputError(e.source, e.line, f"{e.reason}\n  ({where})") from None
        raise
    except BaseException:
        sink.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


#: Seconds between progress lines when standard error is not a terminal.
PROGRESS_LINE_SECONDS = 60.0


class _ProgressLines:
    """Progress as a line every `PROGRESS_LINE_SECONDS` (a log file, nohup, cron),
    with tqdm's interface as `tag_corpus` uses it."""

    def __init__(self, total: int | None):
        self.total, self.done, self.postfix = total, 0, ""
        self.start = self.last = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last < PROGRESS_LINE_SECONDS:
            return
        self.last = now
        read = f"{self.done / 2**20:,.1f} MiB"
        if self.total:
            share = self.done / self.total
            left = (now - self.start) * (1 - share) / max(share, 1e-9)
            read += f" of {self.total / 2**20:,.1f} MiB ({100 * share:.0f}%, {left:,.0f} s left)"
        print(f"ner.tag: {read} read; {self.postfix}", file=sys.stderr, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def close(self) -> None:
        pass


def _progress_bar(paths: Sequence[str], enabled: bool, lines: bool = False):
    """A tqdm bar when `enabled`; else, with `lines`, a progress line a minute."""
    if not enabled and not lines:
        return None
    total = None if corpus.STDIN in paths else sum(os.path.getsize(p) for p in paths)
    if not enabled:
        return _ProgressLines(total)
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="ner.tag",
                file=sys.stderr, dynamic_ncols=True)


# === Command line ===


def add_corpus_flags(parser: argparse.ArgumentParser, stdin: bool = True) -> None:
    """The flags `python -m ner.tag` and `python -m ner.beam` share.

    `stdin`: whether INPUT may be `-` (Beam's workers cannot read this
    process's standard input).
    """
    defaults = TagOptions()
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="files, folders, glob patterns, or - for standard input" if stdin
                        else "files, folders or glob patterns (not standard input)")
    parser.add_argument("--model_dir", required=True,
                        help="a training output folder, a model folder, or an exported "
                             "SavedModel version folder (python -m ner.export)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16", "int8"),
                        default="auto",
                        help="how the encoder computes (python -m ner.precision): auto (the "
                             "default) picks the fastest here among float32 and the precisions "
                             "the model folder's accuracy check accepted; float32 without one")
    parser.add_argument("--input_format", choices=corpus.FORMATS, default=None,
                        help="lines: a document per line; text: a document per file; jsonl: "
                             "a JSON object per line; conll: words in the first column "
                             "(default: by extension: .jsonl/.ndjson/.json, .conll/.iob/.bio, "
                             "else lines)")
    parser.add_argument("--text_field", default=defaults.text_field,
                        help="the JSONL field holding the text (default: %(default)s)")
    parser.add_argument("--entities_field", default=defaults.entities_field,
                        help="the field of the JSONL output the entities go in, beside the "
                             "input's fields; an input field of that name is replaced, with a "
                             "warning (default: %(default)s)")
    parser.add_argument("--output_format", choices=corpus.OUTPUT_FORMATS,
                        default=defaults.output_format,
                        help="jsonl: the input's fields plus entities; displacy: what "
                             "spaCy's displacy renders; conll: the CoNLL input with a "
                             "predicted-tag column (default: %(default)s)")
    parser.add_argument("--batch_chars", type=int, default=defaults.batch_chars,
                        help="at most this many characters per tagging call "
                             "(default: %(default)s)")
    parser.add_argument("--output_scheme", type=str.upper, default=None,
                        choices=schemes.NAMES,
                        help="the tag scheme of the labels written for CoNLL input "
                             "(default: the model's own, IOB2 unless it was trained with "
                             "--tag_scheme=BIOES); text input's entities do not depend on it")
    parser.add_argument("--on_error", choices=("stop", "skip"), default=defaults.on_error,
                        help="on a bad record: stop with file:line, or record it in an errors "
                             "file beside the output and go on (default: %(default)s)")


def _parser() -> argparse.ArgumentParser:
    defaults = TagOptions()
    parser = argparse.ArgumentParser(
        prog="python -m ner.tag",
        description="Tag files, folders, globs or standard input with a trained model and "
                    "write one JSON line (or CoNLL block) per document.")
    add_corpus_flags(parser)
    parser.add_argument("--output", default=None,
                        help="a file, a folder (existing, or ending in /) of resumable shards, "
                             "or - for standard output (the default)")
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size,
                        help="at most this many documents per tagging call (default: %(default)s)")
    parser.add_argument("--shard_size", type=int, default=defaults.shard_size,
                        help="documents per shard of a folder output (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no summary line")
    return parser


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Caps glibc's malloc arenas for this process, unless MALLOC_ARENA_MAX is set.

    glibc gives threads arenas of their own (up to 8 per core), and over a
    long run TensorFlow's thread pools spread allocations across them, so the
    resident memory of batch after batch creeps up; two arenas halved that
    creep (`scripts/rss_per_batch.py`, BENCHMARKS.md). Python services set
    MALLOC_ARENA_MAX=2 for the same reason. Call it before TensorFlow starts
    its threads. Elsewhere than glibc it does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(-8, arenas)  # M_ARENA_MAX


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ner.tag`; returns the exit status."""
    args = _parser().parse_args(argv)
    if not args.inputs:
        print("ner.tag: error: name the input: files, folders, globs, or - for standard input",
              file=sys.stderr)
        return 2
    try:
        options = TagOptions(input_format=args.input_format, text_field=args.text_field,
                             entities_field=args.entities_field,
                             output_format=args.output_format, batch_size=args.batch_size,
                             batch_chars=args.batch_chars, shard_size=args.shard_size,
                             on_error=args.on_error, quiet=args.quiet,
                             output_scheme=args.output_scheme)
        exclude = [args.output] if args.output not in (None, "-") else []
        paths = corpus.expand_inputs(args.inputs, exclude=exclude)
        if not paths:
            raise ValueError(f"no input files in {' '.join(args.inputs)}")
        corpus.check_formats([options.format_of(p) for p in paths], options.output_format)
        from ner.exported import load_tagger  # TensorFlow: after the cheap checks

        tagger = load_tagger(args.model_dir, precision=args.precision)
        summary = tag_corpus(tagger, paths, args.output, options,
                             model=str(Path(args.model_dir).resolve()))
    except (corpus.InputError, FileNotFoundError, ValueError) as e:
        print(f"ner.tag: error: {e}", file=sys.stderr)
        return 2 if not isinstance(e, corpus.InputError) else 1
    except KeyboardInterrupt:
        print("ner.tag: interrupted; a folder --output keeps its complete shards: rerun the "
              "same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of standard output went away (e.g. `| head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if not options.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    limit_malloc_arenas()  # before TensorFlow's threads exist
    sys.exit(main())
