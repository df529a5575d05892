"""Export a trained tagger as a SavedModel that tags raw strings.

    python -m ner.export --model_dir=runs/default --export_dir=exported/ner

writes `exported/ner/1/` (the next free version number: the layout TF
Serving watches). Loading it needs `tensorflow` and `tensorflow_text` only:

    >>> import tensorflow as tf, tensorflow_text  # registers the text ops
    >>> tag = tf.saved_model.load("exported/ner/1").signatures["serving_default"]
    >>> out = tag(texts=tf.constant(["Alice Smith lives in Paris."]))
    >>> out["labels"][0, :out["num_entities"][0]]        # e.g. [b"PER", b"LOC"]

Signatures
----------
`serving_default(texts: string [B])`, raw UTF-8 text in; everything
`ner.Tagger.tag` does happens in the graph: word splitting, sentence
splitting, WordPiece, windowing of long sentences, encoder, constrained CRF
Viterbi, entity chunking and span scores. Per text, padded to the batch's
largest entity count E:

* `labels` string [B, E]: entity type ("PER"; never "B-PER"), "" as padding;
* `char_starts`, `char_ends` int64 [B, E]: Unicode code point offsets, end
  exclusive: what Python's `str` indexing and `Tagger.tag` use;
* `byte_starts`, `byte_ends` int64 [B, E]: UTF-8 byte offsets, end
  exclusive: `text.encode()[byte_start:byte_end]`, for clients in languages
  that index bytes (Go, Rust, C++);
* `entity_texts` string [B, E]: the entity's text;
* `scores` float32 [B, E]: CRF probability of the whole span's labelling;
* `num_entities` int32 [B]: how many of the E columns are real. Padding
  offsets are -1, padding scores 0.

`tag_wordpieces(input_ids, input_mask, segment_ids: int32 [B, S],
word_starts: int32 [B, W], word_lengths: int32 [B])`: for clients that
tokenize for themselves (loading still needs the TensorFlow Text ops, as all
signatures share one graph). The client tokenizes (BERT's `tokenization.py`
gives the same ids as our tokenizer, with `assets/vocab.txt` and the
`do_lower_case` of `assets/tagger_config.json`), builds `[CLS] ... [SEP]`
windows of at most its `max_seq_length`, and passes the position of each
word's first wordpiece. Inputs are checked (shapes, ranges), and a mistake
is named. Returns `potentials` float32
[B, W, K], and, treating each row as one whole sentence, the Viterbi
`label_ids` int32 [B, W] and `labels` string [B, W] ("" beyond a row's
length). `segment_ids` must be all zero (the model was trained on single
segments); it is accepted because BERT clients always send it. A model
trained with `case_features` (the default) expects packed ids: each
wordpiece's id plus `vocab_size` times its word's shape (`ner.casing.SHAPES`:
1 lower, 2 Title, 3 UPPER, 4 mixed, 5 digits, 6 other; `[CLS]`, `[SEP]`
and padding 0, so their ids stay as they are).

`tag_words(words: string [N], sentence_lengths: int64 [S], documents:
int64 [S])`: pre-split words (CoNLL-style) in, one tag per word out:
`label_ids` int32 [N] and `labels` string [N]; consecutive sentences with
the same document id are each other's context for a `document_context`
model. This is what `Tagger.tag_tokens` runs.

`decode(potentials: float32 [B, W, K], lengths: int32 [B])`: constrained
Viterbi over potentials a client put back together from several windows of
a long sentence; returns `label_ids` and `labels`.

The graph
---------
The signatures are `ner.pipeline.Pipeline`'s functions, the code `ner.Tagger`
and training's evaluation run, so the SavedModel's entities are
`Tagger.tag`'s by construction. Windows are sorted by length and run through
the encoder in batches of at most `window_batch_size` windows and
`ner.pipeline.BATCH_TOKENS` real wordpieces, so one huge request does not
become one huge tensor, and memory and time grow linearly with the text.

Shapes: B texts, N words of the whole batch (flattened), S sentences (or
wordpieces in the wordpiece signature), V windows, L wordpieces of a window,
W words, K tags, E entities.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ner import cli


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Trained model folder (or a training output folder).")
    flags.DEFINE_string("export_dir", None,
                        "Versioned SavedModel folder; writes <export_dir>/<n>/.")
    flags.DEFINE_integer("version", None, "Version subfolder (default: the next free number).",
                         lower_bound=1)
    flags.DEFINE_integer("window_batch_size", 128, "Windows per encoder call in the graph.",
                         lower_bound=1)
    flags.DEFINE_enum("precision", "float32", ["auto", "float32", "bfloat16", "int8"],
                      "How the exported encoder computes (python -m ner.precision): bfloat16 pays "
                      "on GPUs and CPUs with AMX, int8 on CPUs with VNNI or AMX; auto picks the "
                      "fastest that the model folder's accuracy check accepted, on this machine.")
    flags.mark_flags_as_required(["model_dir", "export_dir"])


cli.answer_help_first(__name__, define_flags=_define_flags)  # before TensorFlow: see ner.cli

import tensorflow as tf

from ner import files
from ner.exported import EXPORT_FILE, INT8_NOTE, SAVED_MODEL_FILE, exported_precision
from ner.model import CONFIG_FILE, VOCAB_FILE
from ner.pipeline import Pipeline
from ner.tagger import Tagger, resolve_model_dir

__all__ = ["ExportModule", "drop_unread_variables", "export", "next_version_dir", "save"]


class ExportModule(Pipeline):
    """What a SavedModel holds: the `ner.pipeline.Pipeline` of a model.

    Its signatures (`signatures()`) are the pipeline's own functions, so the
    exported graph is the code `ner.Tagger` runs.

    Args:
        model: the trained model.
        tokenizer: its tokenizer.
        window_batch_size: windows per encoder batch inside `serving_default`
            and `tag_words`.
    """

    def __init__(self, model, tokenizer, window_batch_size: int = 128):
        if window_batch_size < 1:
            raise ValueError(f"window_batch_size must be at least 1, got {window_batch_size}")
        super().__init__(model, tokenizer, batch_size=window_batch_size)
        # The functions `ner.Tagger` calls in process are not part of the
        # SavedModel: `tf.saved_model.save` writes every tf.function attribute
        # of the module, tracing each, and these three would store the
        # pipeline's graph a second time beside the signatures, which hold all
        # a SavedModel's users call (about a third of a small model's export
        # time, and of its saved_model.pb; BENCHMARKS.md, "Sizes at fd130a3").
        for name in _IN_PROCESS_ONLY:
            delattr(self, name)


# Pipeline functions that only in-process callers (`ner.Tagger`) use.
_IN_PROCESS_ONLY = ("entities", "word_tags", "sentences")


def next_version_dir(export_dir: str | os.PathLike) -> Path:
    """`export_dir/<n>` for the smallest n above every existing numeric version (1 if none)."""
    export_dir = Path(export_dir)
    versions = [int(p.name) for p in export_dir.iterdir() if p.name.isdigit()] \
        if export_dir.is_dir() else []
    return export_dir / str(max(versions, default=0) + 1)


def export(model_dir: str | os.PathLike, export_dir: str | os.PathLike, version: int | None = None,
           window_batch_size: int = 128, precision: str = "float32") -> Path:
    """Writes the SavedModel of a trained model folder.

    Args:
        model_dir: a model folder or a training output folder holding `model/`.
        export_dir: the versioned folder TF Serving watches.
        version: the version subfolder; None for the next free number (1 in
            a new folder) when the SavedModel is complete, so that two exports
            into one folder at once both land (see `save`).
        window_batch_size: windows per encoder call inside the graph.
        precision: how the exported encoder computes, fixed in the graph
            (`ner.precision`): float32, bfloat16, int8 (the SavedModel then
            also carries the int8 weights), or auto (chosen on this machine,
            for serving on the same kind of machine).

    Returns:
        The version folder written, e.g. `export_dir/1`.

    Raises:
        FileNotFoundError: `model_dir` is not a model folder.
        FileExistsError: `export_dir/<version>` exists already.
        ValueError: the model folder is invalid, or `version` < 1.
    """
    _version_dir(export_dir, version)  # fails before the slow part
    folder = resolve_model_dir(Path(model_dir))
    tagger = Tagger.load(folder, precision=precision)
    # No weight-cached matmul: it is a oneDNN kernel that also needs the
    # weights to stay put between calls. (int8's QuantizedMatMulWithBiasAndDequantize
    # is a oneDNN CPU kernel too: see INT8_NOTE.)
    tagger.model.encoder.set_precision(tagger.precision, weight_cache=False)
    module = ExportModule(tagger.model, tagger.tokenizer, window_batch_size=window_batch_size)
    drop_unread_variables(module)
    settings = {"precision": tagger.precision, "window_batch_size": window_batch_size}
    if tagger.int8_ranges:
        settings["int8_ranges"] = tagger.int8_ranges
    return save(module, export_dir, version=version, meta=tagger.meta, settings=settings,
                model_files=[folder / CONFIG_FILE, folder / VOCAB_FILE])


def drop_unread_variables(module: ExportModule) -> list[str]:
    """Untracks the model's variables that none of `module`'s signatures reads.

    `tf.saved_model.save` writes every variable the module tracks, and
    inference reads derived copies of some: query, key and value side by
    side (`ner.bert._Dense.side_by_side`), and in int8 or bfloat16 the dense
    layers' int8 or bfloat16 copies instead of their float32 weights. Without
    this the default model's SavedModel held 108.7 MB instead of 97.9 in
    float32, 123.5 instead of 66.9 in int8 (BENCHMARKS.md, issue 16). The
    signatures are traced here, as `tf.saved_model.save` traces them, to see
    what they read, and saving then reuses these graphs; it refuses a graph
    that reads a variable the module no longer tracks, so a weight dropped
    while still read fails the export loudly. The model is changed for good:
    call it only on a model made for the export (`export` does).

    Returns:
        The names of the variables dropped.
    """
    read = set()
    # Traced in the context `tf.saved_model.save` traces in (part of a
    # trace's cache key), so saving reuses these graphs instead of tracing
    # them all again (about 30% of an export's time; BENCHMARKS.md,
    # "Export time").
    with _as_saving():
        for function in module.signatures().values():
            read.update(v.ref() for v in function.get_concrete_function().variables)
    dropped = []
    for owner in [module.model, *module.model.submodules]:
        for name, value in list(vars(owner).items()):
            if name.startswith("_"):
                continue  # tracking state, not an attribute of the model
            if isinstance(value, tf.Variable) and value.ref() not in read:
                dropped.append(value.name)
                delattr(owner, name)
            elif isinstance(value, Mapping):  # e.g. `_Dense.int8`
                unread = [k for k, item in value.items()
                          if isinstance(item, tf.Variable) and item.ref() not in read]
                if unread:
                    dropped += [value[k].name for k in unread]
                    # A new dict: deleting keys of a tracked one leaves them
                    # in the checkpoint.
                    setattr(owner, name, {k: v for k, v in value.items() if k not in unread})
    left = [v.name for v in module.model.variables if v.ref() not in read]
    if left:  # held somewhere this walk does not look: kept, so saving stays correct
        raise RuntimeError(f"variables no signature reads are still tracked: {left[:5]}")
    return dropped


def _as_saving():
    """The context `tf.saved_model.save` traces functions in, with the options `save` gives it
    (none: the defaults). TensorFlow has no public way to enter it."""
    from tensorflow.python.saved_model import save_context, save_options

    return save_context.save_context(save_options.SaveOptions())


def save(module: ExportModule, export_dir: str | os.PathLike, version: int | None = None,
         meta: dict | None = None, settings: dict | None = None,
         model_files: Sequence[Path] = ()) -> Path:
    """Writes `module` with its signatures as `export_dir/<version>`; see `export`.

    `meta`, the model's card (`Tagger.meta`), goes into the SavedModel's
    `assets/` as `meta.json` and `README.md`, so an exported model still says
    what it is; None (a model folder without a card) writes neither.
    `settings` (what `export` fixed in the graph: precision, windows per
    batch) goes to `assets/export.json`. `model_files` are copied into
    `assets/` as they are: `export` copies the model folder's
    `tagger_config.json` and `vocab.txt`, what a client of `tag_wordpieces`,
    which tokenizes for itself, needs (the vocabulary, `max_seq_length`,
    `do_lower_case`, `case_features`, the labels).

    With `version` None the SavedModel takes the next free number when it is
    complete: if another export took the number chosen at the start in the
    meantime, this one lands at the number after it.
    """
    target = _version_dir(export_dir, version)
    landed = [target]

    def next_free() -> Path:
        landed.append(next_version_dir(export_dir))
        return landed[-1]

    # Atomic, so TF Serving, which watches the folder, never loads a
    # half-written version; and a version is never replaced.
    with files.atomic_folder(target, replace=False,
                             next_target=next_free if version is None else None) as tmp:
        with _quiet_tensorflow():
            tf.saved_model.save(module, str(tmp), signatures=module.signatures())
        assets = tmp / "assets"
        for path in model_files:
            assets.mkdir(exist_ok=True)
            shutil.copyfile(path, assets / path.name)
        if settings is not None:
            assets.mkdir(exist_ok=True)
            (assets / EXPORT_FILE).write_text(files.json_text(settings), encoding="utf-8")
        if meta is not None:
            from ner.model import CARD_FILE, META_FILE, render_card

            assets.mkdir(exist_ok=True)
            (assets / META_FILE).write_text(files.json_text(meta), encoding="utf-8")
            (assets / CARD_FILE).write_text(render_card(meta, export=settings or {}),
                                            encoding="utf-8")
    return landed[-1]


def _version_dir(export_dir: str | os.PathLike, version: int | None) -> Path:
    if version is not None and version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    _check_export_dir(Path(export_dir))
    # A killed export's partial version goes with the next export, of any version.
    files.remove_stale_partials(export_dir)
    target = next_version_dir(export_dir) if version is None else Path(export_dir) / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists already; choose another --version")
    return target


def _check_export_dir(export_dir: Path) -> None:
    """Refuses a folder that cannot hold versions: a version would be written
    inside another SavedModel or a model folder, where TF Serving never finds it."""
    if export_dir.exists() and not export_dir.is_dir():
        raise ValueError(f"{export_dir} is a file; --export_dir is the folder that holds the "
                         f"SavedModel versions (1/, 2/, ...)")
    if (export_dir / SAVED_MODEL_FILE).is_file():
        raise ValueError(f"{export_dir} is a SavedModel version folder; give the folder that "
                         f"holds the versions ({export_dir.parent}), where the next one goes")
    if (export_dir / CONFIG_FILE).is_file() or (export_dir / "model" / CONFIG_FILE).is_file():
        raise ValueError(f"{export_dir} is a model folder (or a training output folder); export "
                         f"into a folder of its own, e.g. --export_dir=exported/ner")


@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's INFO lines off while saving: a line per signature listing ~90
    renamed inputs, sharding timings and the temporary folder's path say
    nothing to whoever exports. Its warnings still show."""
    # A filter, not a level: saving sets absl's logger level back to INFO.
    loggers = [tf.get_logger(), logging.getLogger("absl")]  # TensorFlow logs through both
    warnings_up = lambda record: record.levelno >= logging.WARNING
    for logger in loggers:
        logger.addFilter(warnings_up)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(warnings_up)


def main(argv: list[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        print(f"export: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    options = flags.FLAGS
    try:
        target = export(options.model_dir, options.export_dir, options.version,
                        options.window_batch_size, options.precision)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        sys.exit(2)
    if exported_precision(target) == "int8":
        print(f"export: note: {INT8_NOTE}", file=sys.stderr)
    print(target)


if __name__ == "__main__":
    from ner import cli

    _define_flags()
    cli.run_absl(main)
