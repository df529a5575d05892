"""Tag corpora on Apache Beam: `python -m ner.beam`, the job of `ner.tag` beyond one machine.

    python -m ner.beam --model_dir=exported/ner/1 --output=tagged/ 'corpus/*.jsonl'

runs locally on Beam's in-process runner (no cluster; `--direct_num_workers=N
--direct_running_mode=multi_processing` for N worker processes). Any other
runner takes Beam's standard pipeline options (`--runner=DataflowRunner
--project=... --region=... --temp_location=gs://...`, `--runner=FlinkRunner
--flink_master=...`, `--runner=SparkRunner --spark_master_url=...`); README.md
shows them and what a cluster needs: workers with this package and the
`beam` extra installed, and the model folder at a path every worker can read.
Inputs and outputs may be on any file system Beam knows (`gs://` needs
`apache-beam[gcp]`); the model is loaded by TensorFlow from a local path.

The pipeline, per element:

1. Read: each input file is read by one worker with `ner.corpus.read_records`
   (the reader of `ner.tag`), through Beam's file systems, so `gs://` and
   other Beam paths work; then the records are spread over the workers
   (`beam.Reshuffle`), so that one large file is tagged by all of them. On
   the in-process runner with one worker (the default) there is nobody to
   spread to, and the records stream from read to write instead: that runner
   holds a reshuffle's records in memory, about 9 bytes per byte of input
   (BENCHMARKS.md), where streaming stays flat.
2. Batch and tag: `RunInference` with `NerModelHandler`, which loads the
   model once per worker (`ner.exported.load_tagger`: an exported SavedModel
   version folder, importing `ner.text_ops` for its text ops, or a model
   folder) and tags each batch with `ner.tag.tag_records`, the function
   `ner.tag` calls. Beam's `BatchElements` cuts batches of about
   `--batch_chars` characters.
3. Write: `ner.corpus.output_text` lines, sharded by the runner, as
   `OUTPUT/part-SSSSS-of-NNNNN.jsonl` (Beam writes each shard aside and
   renames it when the job commits). With `--on_error=skip`, bad records go
   to `OUTPUT/errors-SSSSS-of-NNNNN.jsonl`; by default the first one fails
   the job with `file:line: reason`.

Beam's stock TensorFlow handler does not fit: it loads with Keras's
`load_model`, which under Keras 3 refuses SavedModel folders, and it feeds
numeric tensors, where ours take strings. Output order is not kept (each
line carries its source, or the JSONL input's own fields such as an id).
Standard input is not an input here: workers cannot read the launcher's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from typing import Any, Iterable, Sequence

from ner import cli

_MISSING = cli.missing_extra("beam", ["apache_beam"], "ner.beam and its jobs")
if _MISSING:
    if __name__ == "__main__":  # one line, not a traceback, even for --help
        print(f"beam: error: {_MISSING}", file=sys.stderr)
        sys.exit(2)
    raise ImportError(_MISSING)

from ner.tag import add_corpus_flags  # noqa: E402  (no TensorFlow, no Beam)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ner.beam",
        description="Tag files, folders or globs with a trained model on Apache Beam and write "
                    "sharded JSONL (or CoNLL). Flags this command does not know are Beam's "
                    "pipeline options (--runner, --direct_num_workers, --project, ...).")
    add_corpus_flags(parser, stdin=False)
    parser.add_argument("--output", required=True,
                        help="the output folder (local, or any Beam file system such as gs://)")
    parser.add_argument("--num_shards", type=int, default=0,
                        help="output shards (default: the runner chooses)")
    return parser


cli.answer_help_first(__name__, parser=_parser)  # before Beam's import of seconds


class _NoGcpNotice(logging.Filter):
    """Drops Beam's import-time warning that Google Cloud's libraries are missing:
    this module uses none of them, and the line stood before every `--help`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


_notice = _NoGcpNotice()
logging.getLogger().addFilter(_notice)
try:
    import apache_beam as beam  # noqa: E402
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics import Metrics
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference
    from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                      StandardOptions)
finally:
    logging.getLogger().removeFilter(_notice)

from ner import corpus
from ner.tag import (TagOptions, count_entities, overwrites_field, plural,
                     tag_records)

__all__ = ["NerModelHandler", "build_pipeline", "main", "spreads"]

_NAMESPACE = "ner"
_IN_PROCESS_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
_INPUT_ERROR = re.compile(r"InputError: (.+?)(?: \[while running|\n|$)")
# Taggers loaded in this process, by model folder: a worker loads its model
# once, and a later pipeline in the same process (the in-process runner run
# again, a notebook, the tests) reuses it instead of loading and tracing anew.
_LOADED: dict[tuple[str, str], Any] = {}


class NerModelHandler(ModelHandler):
    """Beam's `ModelHandler` for our taggers: records in, (record, result) out.

    Args:
        model_dir: an exported SavedModel version folder, a model folder or a
            training output folder, readable by every worker.
        batch_chars: characters of text (or CoNLL words) per batch.
        precision: as `ner.exported.load_tagger`; "auto" decides on each worker.
        scheme: the tag scheme of CoNLL words' labels; None: the model's.
    """

    def __init__(self, model_dir: str, batch_chars: int = TagOptions.batch_chars,
                 precision: str = "auto", scheme: str | None = None):
        super().__init__()
        self._model_dir = model_dir
        self._batch_chars = batch_chars
        self._precision = precision
        self._scheme = scheme

    def load_model(self):
        """The tagger; loaded once per process (Beam shares it across threads)."""
        from ner.exported import load_tagger

        key = self._model_dir if "://" in self._model_dir else os.path.abspath(self._model_dir)
        key = (key, self._precision)
        if key not in _LOADED:
            _LOADED[key] = load_tagger(self._model_dir, precision=self._precision)
        return _LOADED[key]

    def run_inference(self, batch: Sequence[corpus.Record], model,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        """Tags a batch in one call per kind (`ner.tag.tag_records`)."""
        if getattr(model, "precision", None):  # what "auto" chose, for the summary line
            Metrics.counter(_NAMESPACE, f"precision_{model.precision}").inc(len(batch))
        return [PredictionResult(record, result)
                for record, result in zip(batch, tag_records(model, list(batch), self._scheme))]

    def get_num_bytes(self, batch: Sequence[corpus.Record]) -> int:
        return sum(record.size for record in batch)

    def get_metrics_namespace(self) -> str:
        return _NAMESPACE

    def batch_elements_kwargs(self) -> dict[str, Any]:
        # Equal bounds: a fixed budget of characters per batch, as ner.tag;
        # BatchElements' own tuning starts from one element a batch, too
        # small for the tagger's length-sorted encoder batches.
        return {"min_batch_size": self._batch_chars, "max_batch_size": self._batch_chars,
                "element_size_fn": _weight}


def _weight(record: corpus.Record) -> int:
    return max(record.weight, 1)


class _ReadFile(beam.DoFn):
    """A file's records; bad ones fail the job or go to the `errors` output."""

    def __init__(self, formats: dict[str, str], text_field: str, on_error: str):
        self._formats, self._text_field, self._on_error = formats, text_field, on_error

    def process(self, path: str):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for record in corpus.read_records(f, path, self._formats[path], self._text_field):
                if isinstance(record, corpus.BadRecord):
                    if self._on_error == "stop":
                        raise record.error()
                    yield beam.pvalue.TaggedOutput("errors", record)
                else:
                    yield record


class _Format(beam.DoFn):
    """The output text of a tagged record; counts documents and entities."""

    def __init__(self, options: TagOptions):
        self._options = options
        self._documents = Metrics.counter(_NAMESPACE, "documents")
        self._entities = Metrics.counter(_NAMESPACE, "entities")
        self._replaced = Metrics.counter(_NAMESPACE, "replaced_fields")

    def process(self, tagged: PredictionResult):
        self._documents.inc()
        self._entities.inc(count_entities(tagged.example, tagged.inference))
        if overwrites_field(tagged.example, self._options):
            self._replaced.inc()
        yield corpus.output_text(tagged.example, tagged.inference, self._options.output_format,
                                 self._options.entities_field)


def _error_line(bad: corpus.BadRecord) -> str:
    Metrics.counter(_NAMESPACE, "errors").inc()
    return json.dumps(bad.to_json(), ensure_ascii=False)


def expand_inputs(specs: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Input files: local ones as `ner.tag` finds them, others by Beam's file systems."""
    if corpus.STDIN in specs:
        raise ValueError("standard input (-) cannot be read by Beam workers; write it to a "
                         "file first, or use python -m ner.tag")
    paths: list[str] = []
    for spec in specs:
        if "://" not in spec:
            found = corpus.expand_inputs([spec], exclude=exclude)
        else:
            pattern = spec + "**" if spec.endswith("/") else spec
            matched = FileSystems.match([pattern])[0].metadata_list
            found = sorted(m.path for m in matched)
            if not found:
                raise corpus.InputError(spec, None, "no file matches this pattern")
        paths += [p for p in found if p not in paths]
    return paths


def build_pipeline(pipeline: beam.Pipeline, paths: Sequence[str], output: str,
                   options: TagOptions, model_dir: str, num_shards: int = 0,
                   precision: str = "auto", spread: bool = True) -> None:
    """Adds the read, tag and write steps for `paths` to `pipeline`.

    Args:
        pipeline: the pipeline to extend.
        paths: input files (see `expand_inputs`).
        output: the output folder (local or any Beam file system).
        options: input and output formats, `batch_chars` and `on_error`
            (`batch_size` and `shard_size` are the runner's business here).
        model_dir, precision: see `NerModelHandler`.
        num_shards: output shards; 0 lets the runner choose.
        spread: reshuffle the records between reading and tagging, so that
            the records of one file are tagged by many workers (see the
            module docstring; `spreads` decides it for a run).
    """
    formats = {path: options.format_of(path) for path in paths}
    corpus.check_formats(list(formats.values()), options.output_format)
    extension = ".conll" if options.output_format == "conll" else ".jsonl"
    read = (pipeline
            | "Inputs" >> beam.Create(list(paths))
            | "Read" >> beam.ParDo(_ReadFile(formats, options.text_field, options.on_error))
            .with_outputs("errors", main="records"))
    records = read.records | "Spread" >> beam.Reshuffle() if spread else read.records
    (records
     | "Tag" >> RunInference(NerModelHandler(model_dir, options.batch_chars, precision,
                                                  options.output_scheme))
     | "Format" >> beam.ParDo(_Format(options))
     | "Write" >> beam.io.WriteToText(FileSystems.join(output, "part"), file_name_suffix=extension,
                                      num_shards=num_shards))
    if options.on_error == "skip":
        (read.errors
         | "FormatErrors" >> beam.Map(_error_line)
         | "WriteErrors" >> beam.io.WriteToText(FileSystems.join(output, "errors"),
                                                file_name_suffix=".jsonl", skip_if_empty=True))


def _counters(result) -> dict[str, int]:
    """The workers' counters in this module's namespace, by name (each summed over steps)."""
    totals: dict[str, int] = {}
    for c in result.metrics().query(
            beam.metrics.MetricsFilter().with_namespace(_NAMESPACE))["counters"]:
        name = c.key.metric.name
        totals[name] = totals.get(name, 0) + (c.committed or c.attempted or 0)
    return totals


def _precisions_used(counters: dict[str, int]) -> list[str]:
    """The precisions the workers tagged in (their `precision_*` counters), sorted."""
    return sorted(name[len("precision_"):] for name, n in counters.items()
                  if name.startswith("precision_") and n)


def _input_error(error: BaseException) -> str | None:
    """The `file:line: reason` of an InputError that failed the job, if one did."""
    for e in (error, error.__cause__, error.__context__):
        if isinstance(e, corpus.InputError):
            return str(e)
    match = _INPUT_ERROR.search(str(error))
    return match.group(1) if match else None


def spreads(pipeline_options: PipelineOptions) -> bool:
    """Whether a run with these Beam options reshuffles records over its workers.

    Every run but one on the in-process runner (no `--runner`) with one
    worker (`--direct_num_workers=1`, Beam's default; 0 means one a core).
    """
    return (pipeline_options.view_as(StandardOptions).runner is not None
            or pipeline_options.view_as(DirectOptions).direct_num_workers != 1)


def _remove_temporary_output(output: str) -> None:
    """Removes the `beam-temp-*` folders a failed run's file sinks leave in a local output."""
    if "://" in output or not os.path.isdir(output):
        return
    for name in os.listdir(output):
        if name.startswith("beam-temp-"):
            shutil.rmtree(os.path.join(output, name), ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ner.beam`; returns the exit status."""
    args, beam_args = _parser().parse_known_args(argv)
    if not args.inputs:
        print("ner.beam: error: name the input: files, folders or globs", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        options = TagOptions(input_format=args.input_format, text_field=args.text_field,
                             entities_field=args.entities_field,
                             output_format=args.output_format, batch_chars=args.batch_chars,
                             on_error=args.on_error, output_scheme=args.output_scheme)
        if "://" not in args.output and os.path.isdir(args.output) and any(
                name.startswith(("part-", "errors-")) for name in os.listdir(args.output)):
            raise ValueError(f"{args.output} holds the output of an earlier run; Beam reruns "
                             "failed work itself, so there is nothing to resume: choose an "
                             "empty or new folder")
        if "://" not in args.model_dir and not os.path.isdir(args.model_dir):
            # Before Beam starts: in a worker it fails with a traceback per bundle.
            raise FileNotFoundError(f"{args.model_dir}: no such folder (--model_dir)")
        paths = expand_inputs(args.inputs, exclude=[args.output] if "://" not in args.output
                              else [])
        if not paths:
            raise ValueError(f"no input files in {' '.join(args.inputs)}")
        pipeline_options = PipelineOptions(beam_args)
        spread = spreads(pipeline_options)
        if pipeline_options.view_as(StandardOptions).runner is None:
            # Beam's DirectRunner would first try to download its Prism runner.
            pipeline_options.view_as(StandardOptions).runner = _IN_PROCESS_RUNNER
            # In this process, a bad record's InputError was logged with Beam's
            # traceback before the one line below says the same; any other
            # failure is re-raised below with its traceback.
            logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
        pipeline = beam.Pipeline(options=pipeline_options)
        build_pipeline(pipeline, paths, args.output, options, args.model_dir, args.num_shards,
                       args.precision, spread)
        result = pipeline.run()
        result.wait_until_finish()
    except (corpus.InputError, FileNotFoundError, ValueError) as e:
        _remove_temporary_output(args.output)
        print(f"ner.beam: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, corpus.InputError) else 2
    except Exception as e:  # the runner wraps what failed in a worker
        _remove_temporary_output(args.output)
        reason = _input_error(e)
        if reason is None:
            raise
        print(f"ner.beam: error: {reason}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    counters = _counters(result)
    documents = counters.get("documents", 0)
    entities = counters.get("entities", 0)
    # The precision the workers tagged in, as ner.tag's line names it: "auto"
    # decides on each worker.
    used = _precisions_used(counters)
    line = (f"ner.beam: tagged {plural(documents, 'document')} with "
            f"{plural(entities, 'entity', 'entities')} in {seconds:.1f} s "
            f"({documents / seconds:,.1f} documents/s{''.join(', ' + p for p in used)})")
    errors = counters.get("errors", 0)
    if errors:
        line += f"; skipped {plural(errors, 'bad record')}"
    print(f"{line} -> {args.output}", file=sys.stderr)
    replaced = counters.get("replaced_fields", 0)
    if replaced:
        print(f"ner.beam: warning: {plural(replaced, 'input record')} had an "
              f"{options.entities_field!r} field, replaced by the predicted entities "
              f"(--entities_field=NAME writes them to another field)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
