"""Inference precision: float32, bfloat16 or int8, each checked against float32 on dev.

    python -m ner.precision --model_dir=runs/default

tags the model's dev set in float32 and in each lower precision this machine
can run, and writes `precision.json` into the model folder (atomically): F1
and seconds per precision, the tolerance, and which precisions keep F1 within
it. `--precision=auto` (`ner.Tagger.load`, `python -m ner.tag`,
`python -m ner.serve`) then picks the fastest precision that passed on this
folder, measured on the CPU or GPU at hand; a folder without the file, or
whose lower precisions lost accuracy, is tagged in float32. Training writes
the file at the end of a run, so its folders are checked from the start.

The precisions (`ner.bert.BertEncoder.set_precision`):

* `float32`: as trained.
* `bfloat16`: the encoder computes in bf16 (LayerNorm, softmax, the head and
  the CRF stay float32). Fast where the hardware multiplies bf16: GPUs and
  CPUs with AMX; elsewhere TensorFlow emulates it, several times slower.
* `int8`: every dense layer of the encoder multiplies int8 activations by
  int8 weights (one scale per output column), through TensorFlow's oneDNN
  int8 kernels (AVX2, AVX512-VNNI and AMX-INT8 code paths). The int8
  weights are derived from the float32 ones at load in well under a second,
  deterministically, so the model folder keeps one copy of the weights; an
  exported SavedModel carries them (`python -m ner.export --precision=int8`).
  The activations' scales are static: the check calibrates each dense
  layer's input range on the dev set in float32 (`int8_ranges` in the file),
  so a text's labels hardly depend on the texts batched with it (1-5 of
  the 3,453 CoNLL-2003 test sentences moved between batchings, against
  65-75 before; BENCHMARKS.md). A folder whose file has no ranges for its
  weights (checked before calibration, or not at all) quantizes each batch
  over its own range (dynamic), and its labels move more with the batch.

Measured on the default model (BENCHMARKS.md, "Inference precision").
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ner import cli

# F1 points on dev a lower precision may lose against float32 and still be used
# by `auto`.
TOLERANCE = 0.3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ner.precision",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True,
                        help="model folder, or a training output folder holding model/")
    parser.add_argument("--dev_file",
                        help="CoNLL or JSONL span dev file (default: the one in the model card)")
    parser.add_argument("--precisions", default="bfloat16,int8",
                        help="comma-separated lower precisions to check")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="dev F1 points a precision may lose against float32 and still "
                             "be picked by --precision=auto")
    parser.add_argument("--batch_size", type=int, default=128, help="windows per encoder batch")
    return parser


cli.answer_help_first(__name__, parser=_parser)  # before TensorFlow: see ner.cli

import tensorflow as tf

from ner import files

logger = logging.getLogger("ner.precision")

__all__ = ["PRECISIONS", "CHOICES", "CHECK_FILE", "TOLERANCE", "cpu_has_fast_bfloat16",
           "training_dtype", "int8_available", "read_check", "choose", "check",
           "check_name"]

PRECISIONS = ("float32", "bfloat16", "int8")
CHOICES = ("auto",) + PRECISIONS
CHECK_FILE = "precision.json"
# `auto` uses a check's timings only when tagging its dev set in float32 took
# at least this long; shorter ones are noise (a 25-sentence dev set took
# 0.05-0.08 s per precision on the EPYC Zen 4, and the order came out at
# random). Otherwise it times the encoder where it runs (`_encoder_seconds`).
MIN_TIMED_SECONDS = 1.0
# CPU flags that decide which precision is fast, recorded with the check.
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_fast_bfloat16(cpuinfo: str | None = None) -> bool:
    """True when the CPU has AMX, whose bf16 tile multiplies make bf16 training pay.

    `auto` training precision weighs speed against F1, measured (BENCHMARKS.md):
    * without bf16 instructions TensorFlow emulates bf16 matmuls, several times
      slower than float32 (a Xeon with `avx512f` only: 30 against 217 GFLOP/s);
    * with AVX512-BF16 but no AMX (a 2-core AMD EPYC) a bf16 matmul ran 1.68x
      faster than float32 but a training epoch only 1.11x, while two seeds each
      gave float32 0.43 more test F1 on average (within seed noise, but no
      gain to pay for it), so float32 stays the default there;
    * AMX multiplies bf16 about 5x faster than float32 (1,697 against 344
      GFLOP/s on a Xeon with AMX).

    Args:
        cpuinfo: the text of `/proc/cpuinfo` (read when None).
    """
    return bool(re.search(r"\bamx_bf16\b", _cpuinfo() if cpuinfo is None else cpuinfo))


def training_dtype(precision: str) -> tf.DType:
    """The encoder's compute dtype for training at `--precision` (auto, float32, bfloat16)."""
    if precision == "float32":
        return tf.float32
    if precision == "bfloat16":
        return tf.bfloat16
    if tf.config.list_physical_devices("GPU"):
        return tf.bfloat16
    return tf.bfloat16 if cpu_has_fast_bfloat16() else tf.float32


def machine() -> dict[str, Any]:
    """What decides which precision is fast here: CPU model and flags, GPUs."""
    info = _cpuinfo()
    name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    present = set(flags.group(1).split()) if flags else set()
    return {"cpu": name.group(1).strip() if name else "unknown",
            "cpu_flags": [f for f in _FLAGS if f in present],
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


_INT8: bool | None = None
# Why int8 cannot run here, for messages.
INT8_MISSING = ("TensorFlow's oneDNN int8 kernels, which are off here (TF_ENABLE_ONEDNN_OPTS=0 "
                "turns them off; builds without oneDNN, e.g. for ARM, lack them)")
# `check`'s reason for int8 where it could not run it: not scored, not judged.
_INT8_NOT_RUN = f"needs {INT8_MISSING}"


def _weights_sha256(model_dir: str | os.PathLike) -> str | None:
    """The digest of a model folder's checkpoint files (as its card's `version`)."""
    from ner.model import weights_digest
    from ner.tagger import resolve_model_dir

    try:
        return weights_digest(resolve_model_dir(Path(model_dir)))
    except OSError:
        return None


def int8_available() -> bool:
    """Whether this TensorFlow build has the oneDNN int8 matmul `int8` needs.

    Linux x86 wheels have it; builds without oneDNN (e.g. for ARM) do not.
    """
    global _INT8
    if _INT8 is None:
        from ner import bert

        dense = bert._Dense("probe", 4, 2, 0.02)
        dense.quantize()
        try:
            dense(tf.ones([1, 4]))
            _INT8 = True
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError,
                tf.errors.UnimplementedError):
            _INT8 = False
    return _INT8


def check_name(precision: str, allowed: Sequence[str] = CHOICES) -> None:
    """Raises ValueError naming `precision` unless it is one of `allowed`."""
    if precision not in allowed:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(allowed)}")


def read_check(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's `precision.json` (`check`), or None when it has none.

    Raises:
        ValueError: the file is not a JSON object of the fields `choose` reads
            (the message names the file).
    """
    path = Path(model_dir) / CHECK_FILE
    if not path.is_file():
        return None
    rewrite = f"run python -m ner.precision --model_dir={model_dir} again to rewrite it"
    try:
        found = files.read_json_object(path)
    except ValueError as e:
        raise ValueError(f"{e}; {rewrite}") from None
    problem = _malformed(found)
    if problem:
        raise ValueError(f"{path}: {problem}; {rewrite}")
    return found


def _malformed(found: dict[str, Any]) -> str | None:
    """What is wrong with a `precision.json`'s content, as `choose` reads it; None if nothing.

    A hand-edited or foreign file is named here rather than failing later
    with a TypeError deep in `choose`, or being read as something else (an
    "accepted" string is iterable: "int8" would accept "i", "n", "t", "8").
    """
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    accepted = found.get("accepted", [])
    if not (isinstance(accepted, list) and all(isinstance(p, str) for p in accepted)):
        return f'"accepted" must be a list of precision names, got {accepted!r}'
    for key in ("f1", "seconds"):
        value = found.get(key, {})
        if not (isinstance(value, dict) and all(number(v) for v in value.values())):
            return f'"{key}" must map precision names to numbers, got {value!r}'
    rejected = found.get("rejected", {})
    if not (isinstance(rejected, dict) and all(isinstance(v, str) for v in rejected.values())):
        return f'"rejected" must map precision names to reasons, got {rejected!r}'
    if not isinstance(found.get("machine", {}), dict):
        return f'"machine" must be a JSON object, got {found["machine"]!r}'
    digest = found.get("weights_sha256")
    if digest is not None and not isinstance(digest, str):
        return f'"weights_sha256" must be a string, got {digest!r}'
    ranges = found.get("int8_ranges", {})
    if not (isinstance(ranges, dict) and all(
            isinstance(r, list) and len(r) == 2 and all(number(v) and math.isfinite(v) for v in r)
            and r[0] <= 0 and r[0] < r[1] for r in ranges.values())):
        return f'"int8_ranges" must map layer names to [lo, hi] with lo <= 0 and lo < hi, got {ranges!r}'
    return None


def _int8_ranges(found: dict[str, Any] | None) -> dict[str, tuple[float, float]] | None:
    """The calibrated int8 input ranges of a check (`check`), None where it has none."""
    ranges = (found or {}).get("int8_ranges")
    return {name: (float(r[0]), float(r[1])) for name, r in ranges.items()} if ranges else None


def _checked(model_dir: str | os.PathLike | None, why: str) -> dict[str, Any] | None:
    """The folder's check if it is of the weights the folder holds now, else None
    (warning that `why`, a clause, follows from it)."""
    found = read_check(model_dir) if model_dir is not None else None
    if found and found.get("weights_sha256") not in (None, _weights_sha256(model_dir)):
        logger.warning("%s, because %s checked other weights than the folder holds now (it "
                       "was copied or retrained over); run python -m ner.precision "
                       "--model_dir=%s again", why, CHECK_FILE, model_dir)
        return None
    return found


def _encoder_seconds(model, precision: str, rows: int = 32, length: int = 48) -> float:
    """Best of 3 timed encoder calls on one batch of windows, at `precision`."""
    from ner.pipeline import traced_once_per_object

    model.encoder.set_precision(precision)
    ids = tf.fill([rows, length], min(1000, model.encoder.config.vocab_size - 1))
    run = traced_once_per_object(tf.function(lambda ids: model.encoder(ids).sequence_output))
    run(ids).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run(ids).numpy()
        best = min(best, time.perf_counter() - start)
    return best


def choose(precision: str, model, model_dir: str | os.PathLike | None) -> str:
    """The precision to tag with, and sets the model's encoder to it.

    Args:
        precision: one of `CHOICES`. A named precision is used as asked (int8
            raises where the build lacks its kernels). `auto` picks among
            float32 and the precisions the folder's check accepted (`check`):
            by the check's timings when it ran on a machine like this one
            and its dev set took at least `MIN_TIMED_SECONDS` in float32,
            else by timing the encoder here; float32 when nothing else passed.
        model: a loaded `TaggerModel`.
        model_dir: its folder (for `precision.json`); None: nothing checked.

    Raises:
        ValueError: an unknown precision, or int8 on a build without it.
    """
    check_name(precision)
    if precision == "int8" and not int8_available():
        raise ValueError(f"precision=int8 needs {INT8_MISSING}; use float32 or bfloat16")
    if precision != "auto":
        if precision == "int8":
            found = _checked(model_dir, "int8 quantizes each batch over its own range")
            model.encoder.int8_ranges = _int8_ranges(found)
            _say_why_dynamic(model, found, model_dir)
        model.encoder.set_precision(precision)
        return precision
    found = _checked(model_dir, "precision auto: float32")
    # A check without ranges judged int8 with each batch's own (dynamic).
    model.encoder.int8_ranges = _int8_ranges(found)
    if found and found.get("rejected", {}).get("int8") == _INT8_NOT_RUN and int8_available():
        # The check ran where int8 could not (oneDNN off); it was never judged.
        logger.warning("precision auto: int8 is not considered: %s was written where "
                       "TensorFlow could not run int8, so int8 was never scored on dev; this "
                       "TensorFlow can: run python -m ner.precision --model_dir=%s here to "
                       "check it", CHECK_FILE, model_dir)
    passed = [p for p in (found or {}).get("accepted", []) if p in PRECISIONS and p != "float32"]
    passed = [p for p in passed if p != "int8" or int8_available()]
    if not passed:
        model.encoder.set_precision("float32")
        return "float32"
    candidates = ["float32"] + passed
    timings = (found or {}).get("seconds", {})
    if (found.get("machine") == machine() and all(p in timings for p in candidates)
            and timings["float32"] >= MIN_TIMED_SECONDS):
        source = f"{CHECK_FILE}'s timings on this machine"
    else:
        logger.warning("precision auto: timing the encoder in %s on this machine, a few "
                       "seconds at every load: %s has no timings of this machine over at "
                       "least %g s (python -m ner.precision here, with a dev set that long, "
                       "records them)", ", ".join(candidates), CHECK_FILE, MIN_TIMED_SECONDS)
        timings = {p: _encoder_seconds(model, p) for p in candidates}
        source = "timing the encoder here"
    best = min(candidates, key=lambda p: timings[p])
    logger.info("precision auto: %s (%s; checked on dev: %s)", best, source, ", ".join(candidates))
    if best == "int8":
        _say_why_dynamic(model, found, model_dir)
    model.encoder.set_precision(best)
    return best


def _say_why_dynamic(model, found: dict[str, Any] | None,
                     model_dir: str | os.PathLike | None) -> None:
    """For int8 without calibrated ranges: says (INFO) why it quantizes each batch over
    its own range, and how to calibrate. `found`: the folder's check, None when it has
    none or one of other weights (which `_checked` warned of already)."""
    if model.encoder.int8_ranges is not None or model_dir is None:
        return
    if found is not None:
        why = f"{CHECK_FILE}, written before checks calibrated int8, has no ranges"
    elif not (Path(model_dir) / CHECK_FILE).is_file():
        why = f"the folder has no {CHECK_FILE}"
    else:
        return  # a check of other weights: warned
    logger.info("int8 quantizes each batch over its own range: %s (python -m ner.precision "
                "--model_dir=%s calibrates it)", why, model_dir)


def check(model_dir: str | os.PathLike, dev_file: str | os.PathLike | None = None,
          precisions: Sequence[str] = ("bfloat16", "int8"), tolerance: float = TOLERANCE,
          batch_size: int = 128, write: bool = True) -> dict[str, Any]:
    """Tags the dev set in float32 and in each of `precisions`; writes `precision.json`.

    A precision is accepted when its dev F1 is at most `tolerance` points
    below float32's. int8 is calibrated first (`_calibrate`): its layers'
    input ranges, measured on dev, are written into the file for
    `choose` and scored with.
    Precisions this machine cannot run (int8 without oneDNN) are skipped and
    said so; a dev set without entities accepts only float32.

    Args:
        model_dir: a model folder or a training output folder holding `model/`.
        dev_file: CoNLL or JSONL span file (`ner.spans`); default: the dev
            file named in the model card.
        precisions: lower precisions to check.
        tolerance: F1 points.
        batch_size: windows per encoder batch.
        write: write the result into the model folder.

    Returns:
        {"dev_file", "sentences", "tolerance", "machine", "f1": {precision:
        F1 in points}, "seconds": {precision: tagging seconds}, "accepted":
        [precisions], "rejected": {precision: reason}, "weights_sha256",
        "int8_ranges": {layer: [lo, hi]} when int8 was scored}.

    Raises:
        FileNotFoundError: no dev file given and none in the model card, or it is missing.
    """
    from ner import data, schemes
    from ner.model import TaggerModel, read_meta
    from ner.tagger import Tagger, resolve_model_dir
    from ner.tokenization import Tokenizer
    from ner.train import read_documents

    if isinstance(precisions, str):  # "bfloat16,int8", as the command line takes it
        precisions = [p for p in precisions.split(",") if p]
    precisions = tuple(dict.fromkeys(precisions))  # each checked once
    for p in precisions:
        check_name(p, PRECISIONS)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a number of F1 points, 0 or more, got {tolerance}")
    folder = resolve_model_dir(Path(model_dir))
    if write and not os.access(folder, os.W_OK):  # said before the minutes of tagging
        raise ValueError(f"cannot write {CHECK_FILE} into {folder}: the folder is not "
                         f"writable; check a writable copy of it")
    from_card = dev_file is None
    if from_card:
        meta = read_meta(folder) or {}
        dev_file = meta.get("data", {}).get("dev", {}).get("path")
        if not dev_file:
            raise FileNotFoundError(f"{folder}: the model card names no dev file; pass --dev_file")
    if not Path(dev_file).is_file():
        if from_card:
            raise FileNotFoundError(
                f"dev file {dev_file} does not exist: the model card ({folder / 'meta.json'}) "
                f"names it as training saw it, and a relative path is read from the current "
                f"folder ({os.getcwd()}); run from there, or pass --dev_file")
        raise FileNotFoundError(f"dev file {dev_file} does not exist")
    model = TaggerModel.load(folder)
    tokenizer = Tokenizer(folder / "vocab.txt", do_lower_case=model.config.do_lower_case)
    documents = read_documents(Path(dev_file), tokenizer)  # CoNLL, or JSONL spans
    sentences, ids = data.sentences(documents), data.document_ids(documents)
    entities = sum(len(schemes.chunks(s.tags)) for s in sentences)
    if entities and 100.0 / entities > tolerance:
        # One entity found or lost moves F1 by about 100 / entities points.
        logger.warning("%s has %d entities: one more or less moves F1 by about %.2f points, "
                       "more than the tolerance of %g, so accepting or rejecting a precision "
                       "on it is mostly chance; pass a larger --dev_file", dev_file, entities,
                       100.0 / entities, tolerance)
    result: dict[str, Any] = {"model_dir": str(folder), "dev_file": str(dev_file), "sentences": len(sentences),
                              "tolerance": tolerance, "machine": machine(), "f1": {},
                              "seconds": {}, "accepted": ["float32"], "rejected": {},
                              # `auto` trusts the check only for these very weights.
                              "weights_sha256": _weights_sha256(folder)}
    for precision in ("float32",) + tuple(p for p in precisions if p != "float32"):
        if precision == "int8" and not int8_available():
            result["rejected"][precision] = _INT8_NOT_RUN
            continue
        if precision != "float32" and not entities:
            # F1 0.00 in every precision would accept them all on no evidence.
            result["rejected"][precision] = f"{dev_file} has no entities: nothing to compare"
            continue
        if precision == "int8":
            ranges = _calibrate(model, tokenizer, sentences, ids, batch_size)
            result["int8_ranges"] = {name: list(r) for name, r in ranges.items()}
            model.encoder.int8_ranges = ranges
        model.encoder.set_precision(precision)
        tagger = Tagger(model, tokenizer, batch_size=batch_size)
        tagger.tag_tokens([list(s.tokens) for s in sentences[:64]])  # trace and warm up
        start = time.perf_counter()
        f1 = _dev_f1(tagger, sentences, ids)
        seconds = time.perf_counter() - start
        result["f1"][precision], result["seconds"][precision] = f1, seconds
        loss = round(result["f1"]["float32"], 2) - round(f1, 2)  # as printed
        if precision != "float32":
            if round(loss, 2) <= tolerance:
                result["accepted"].append(precision)
            else:
                result["rejected"][precision] = (
                    f"dev F1 {f1:.2f} is {loss:.2f} below float32's "
                    f"{result['f1']['float32']:.2f}, beyond the tolerance of {tolerance}")
        logger.info("%s: dev F1 %.2f in %.1f s", precision, f1, seconds)
    if result["seconds"]["float32"] < MIN_TIMED_SECONDS:
        logger.info("the dev set took %.2f s in float32, too little to time precisions by "
                    "(under %g s): --precision=auto will time the encoder where it runs",
                    result["seconds"]["float32"], MIN_TIMED_SECONDS)
    if write:
        files.write_json_atomically(folder / CHECK_FILE, result)
    return result


def _dev_f1(tagger, sentences, ids, batch_size: int | None = None) -> float:
    """Micro F1 in points (mode default) of `tagger` on the dev sentences, as training
    scores; `batch_size` windows per encoder batch (None: the tagger's)."""
    from ner.train import evaluate_split

    scores, _ = evaluate_split(tagger, sentences, ids, batch_size)
    return 100 * float(scores["default"]["micro avg"]["f1"])


def _calibrate(model, tokenizer, sentences, ids, batch_size: int
               ) -> dict[str, tuple[float, float]]:
    """int8's input ranges: the lowest and highest input of each int8 layer
    (`BertEncoder.int8_sites`) over the dev sentences, tagged in float32.

    The whole dev set, not a sample: a value beyond its layer's range is
    clipped, so the ranges should hold what text of the kind ever gives.
    Before, int8 took each batch's own range, and its dev F1 moved with the
    batch size (an audit measured -0.36, -0.28, -0.28, -0.57 and -0.57
    against float32 at 16, 32, 64, 128 and 256 windows on one model).
    """
    from ner.tagger import Tagger

    model.encoder.set_precision("float32")
    model.encoder.observe_int8_ranges()
    try:
        _dev_f1(Tagger(model, tokenizer, batch_size=batch_size), sentences, ids)
    finally:
        ranges = model.encoder.observe_int8_ranges(False)
    logger.info("int8: input ranges of %d layers calibrated on %d dev sentences",
                len(ranges), len(sentences))
    return ranges


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = check(args.model_dir, args.dev_file, args.precisions, args.tolerance,
                       args.batch_size)
    except (FileNotFoundError, ValueError) as e:
        print(f"ner.precision: error: {e}", file=sys.stderr)
        return 2
    base = result["f1"]["float32"]
    print(f"{'precision':10s} {'dev F1':>7s} {'vs fp32':>8s} {'seconds':>8s}  verdict")
    for p, f1 in result["f1"].items():
        verdict = "accepted" if p in result["accepted"] else "rejected: " + result["rejected"][p]
        print(f"{p:10s} {f1:7.2f} {f1 - base:+8.2f} {result['seconds'][p]:8.2f}  {verdict}")
    for p, reason in result["rejected"].items():
        if p not in result["f1"]:
            print(f"{p:10s} skipped: {reason}")
    if "int8_ranges" in result:
        print(f"int8 activation ranges: {len(result['int8_ranges'])} layers, calibrated on "
              f"the {result['sentences']} dev sentences")
    print(f"written: {Path(result['model_dir']) / CHECK_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
