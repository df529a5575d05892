"""Where tagging's time goes: TensorFlow op types, and the cost of small calls.

    python scripts/profile_ops.py --model_dir=runs/default --precision=int8 --sentences=1200
    python scripts/profile_ops.py --model_dir=runs/default --calls_of=170 --sentences=1200
    python scripts/profile_ops.py --model_dir=runs/default --call_sizes=3453,1000,256,170,64
    python scripts/profile_ops.py --model_dir=runs/default --call_sizes=3453,204 --against_padded
    python scripts/profile_ops.py --model_dir=runs/default --call_sizes=1,8 --against=ner.bert.FUSED_LAYER_NORM_MIN_ROWS=0
    python scripts/profile_ops.py --model_dir=runs/default --call_sizes=3453,204 --threads=1,2

The first two run `Tagger.tag_batch` on the first `--sentences` CoNLL-2003
test sentences (as raw text) under TensorFlow's profiler, in one call or in
calls of `--calls_of`, and print the self time per op type (summed over
threads). `--call_sizes` instead times tagging all sentences in calls of each
size, twice, and prints wall and CPU seconds. With `--against_padded` it
times two taggers in turns, each traced for itself, `--rounds` times: the
tagger as it is, and one that computes as the code before 8e4b99e did (dense
layers on padded batches, query, key and value as three products); with
`--against=MODULE.NAME=VALUE` the other tagger is traced while a module
constant has another value. `--threads=1,2` times each call size also with
its calls spread over two threads at once (as `python -m ner.serve` runs
batches, `--tagging_threads`).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import glob
import json
import tempfile
import time

from _common import default_data


def _op_types(logdir: str) -> tuple[collections.Counter, collections.Counter]:
    """(self time in microseconds, runs) per op type of the profile in `logdir`."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    trace = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    out, _ = plugin.xspace_to_tools_data(trace, "framework_op_stats", {})
    table = json.loads(out)
    table = table[0] if isinstance(table, list) else table
    columns = [c["label"] if isinstance(c, dict) else c for c in table["cols"]]
    kind, self_time = columns.index("Operation Type"), columns.index("Total self-time (us)")
    occurrences = columns.index("#Occurrences")
    totals: collections.Counter = collections.Counter()
    runs: collections.Counter = collections.Counter()
    for row in table["rows"]:
        values = [c.get("v") for c in row["c"]]
        totals[values[kind]] += values[self_time]
        runs[values[kind]] += int(values[occurrences] or 0)
    return totals, runs


def _tagger_with(args):
    """A tagger whose functions are traced while `args.against` (MODULE.NAME=VALUE) holds."""
    import ast
    import importlib

    import ner

    target, value = args.against.split("=", 1)
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise SystemExit(f"--against: {module_name} has no {name}")
    saved = getattr(module, name)
    setattr(module, name, ast.literal_eval(value))
    try:
        tagger = ner.Tagger.load(args.model_dir, precision=args.precision)
        tagger.tag_batch(["Traced while the setting holds ."])  # the one function timed
    finally:
        setattr(module, name, saved)
    return tagger


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default="runs/default")
    parser.add_argument("--data", default=str(default_data()), help="CoNLL file to tag")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--sentences", type=int, default=0, help="first N sentences (0: all)")
    parser.add_argument("--calls_of", type=int, default=0, help="texts per call (0: one call)")
    parser.add_argument("--call_sizes", help="comma-separated call sizes to time instead")
    parser.add_argument("--top", type=int, default=25, help="op types to print")
    other = parser.add_mutually_exclusive_group()  # one tagger to time against
    other.add_argument("--against_padded", action="store_true",
                        help="with --call_sizes: also time a tagger without packed rows and "
                             "without query, key and value side by side, in turns")
    other.add_argument("--against", metavar="MODULE.NAME=VALUE",
                        help="with --call_sizes: also time, in turns, a tagger traced while a "
                             "module constant has another value, e.g. "
                             "ner.bert.FUSED_LAYER_NORM_MIN_ROWS=0 (constants read when the "
                             "pipeline's functions are traced)")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes of --call_sizes")
    parser.add_argument("--threads", default="1",
                        help="with --call_sizes: comma-separated numbers of threads that make "
                             "the calls at once (the calls taken in turn)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    import ner
    from ner import data

    texts = [" ".join(s.tokens) for s in data.sentences(data.read_conll(args.data))]
    texts = texts[:args.sentences] if args.sentences else texts
    tagger = ner.Tagger.load(args.model_dir, precision=args.precision)
    tagger.tag_batch(texts[:256])  # trace and warm up
    taggers = {"": tagger}
    if args.against_padded:
        padded = ner.Tagger.load(args.model_dir, precision=args.precision)
        padded.pipeline._packed_grid = None  # before its functions are traced
        padded.model.encoder.query_key_value_apart()
        taggers = {"packed, q/k/v as one: ": tagger, "padded, q/k/v apart: ": padded}
    if args.against:
        taggers = {"as it is: ": tagger, f"{args.against}: ": _tagger_with(args)}

    def tag(size: int, tagger=tagger, threads: int = 1) -> None:
        calls = [texts[first:first + size] for first in range(0, len(texts), size)]
        if threads == 1:
            for call in calls:
                tagger.tag_batch(call)
            return
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            # Each thread takes the next call when it is done with one.
            list(pool.map(tagger.tag_batch, calls))

    if args.call_sizes:
        sizes = [int(n) for n in args.call_sizes.split(",")]
        thread_counts = [int(n) for n in args.threads.split(",")]
        if min(thread_counts) < 1:
            parser.error("--threads must be positive")
        if len(taggers) > 1:  # every shape traced before the clock runs
            for each in taggers.values():
                for size in sizes:
                    tag(size, each)
        for round_ in range(args.rounds):
            names = list(taggers) if round_ % 2 == 0 else list(taggers)[::-1]
            for name in names:
                for size in sizes:
                    for threads in thread_counts:
                        cpu, start = time.process_time(), time.perf_counter()
                        tag(size, taggers[name], threads)
                        spread = f" from {threads} threads" if threads > 1 else ""
                        print(f"{name}{tagger.precision}, calls of {size}{spread}: "
                              f"{time.perf_counter() - start:.2f} s wall, "
                              f"{time.process_time() - cpu:.2f} CPU-s", flush=True)
        return
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        tag(args.calls_of or len(texts))
        tf.profiler.experimental.stop()
        totals, runs = _op_types(logdir)
    total = sum(totals.values())
    print(f"{len(texts)} sentences, {tagger.precision}, calls of {args.calls_of or len(texts)}: "
          f"{sum(runs.values())} op runs, {(total - totals['IDLE']) / 1e3:.1f} ms of op time")
    for name, micros in totals.most_common(args.top):
        print(f"{name:40s} {micros / 1e3:9.1f} ms {100 * micros / total:5.1f}% "
              f"{runs[name]:8d} runs")


if __name__ == "__main__":
    main()
