"""What a process pays before its first entities: import, load, and the first `tag` call.

    python scripts/first_call.py --model_dir=runs/default --precision=int8 --rounds=3
    python scripts/first_call.py --model_dir=runs/default --against=/path/to/other/checkout

Each round starts a fresh Python process (`sys.executable`) that imports
`ner.tagger` (TensorFlow with it), loads the model with `Tagger.load`, and
tags one sentence twice. The first call traces the pipeline's `entities`
function into a graph, has Grappler optimise it and runs it; the second only
runs it. The child also counts the ops of the traced graph, nested functions
(loops, conditions) included. With `--against`, rounds alternate between this
checkout and the one named (put first on `PYTHONPATH`), so a shared machine's
slow moments fall on both alike.

Printed per round: seconds of each phase; then the median per phase and
checkout. `--output` also writes every round as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import REPO

_CHILD = r"""
import json, sys, time
start = time.perf_counter()
import ner.tagger
imported = time.perf_counter()
tagger = ner.tagger.Tagger.load(sys.argv[1], precision=sys.argv[2])
loaded = time.perf_counter()
tagger.tag("Peter Blackburn lives in Berlin and works for the European Commission.")
first = time.perf_counter()
tagger.tag("Peter Blackburn lives in Berlin.")
second = time.perf_counter()

def ops(graph_def):
    return len(graph_def.node) + sum(len(f.node_def) for f in graph_def.library.function)

graph = tagger.pipeline.entities.get_concrete_function().graph.as_graph_def()
print(json.dumps({"ner": ner.__file__, "import_s": imported - start, "load_s": loaded - imported,
                  "first_call_s": first - loaded, "second_call_s": second - first,
                  "graph_ops": ops(graph)}))
"""

_PHASES = ("import_s", "load_s", "first_call_s", "second_call_s")


def _round(checkout: Path, model_dir: str, precision: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(checkout)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    run = subprocess.run([sys.executable, "-c", _CHILD, model_dir, precision], cwd=checkout,
                         env=env, capture_output=True, text=True, timeout=600)
    if run.returncode:
        raise SystemExit(f"the child process in {checkout} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if Path(result["ner"]).resolve().parent.parent != checkout.resolve():
        raise SystemExit(f"the child in {checkout} imported {result['ner']}, another checkout's ner")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="model folder (or training output folder)")
    parser.add_argument("--precision", default="float32",
                        help="inference precision (float32, bfloat16, int8, auto)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per checkout")
    parser.add_argument("--against", default="",
                        help="another checkout of this repository, timed in turns with this one")
    parser.add_argument("--output", default="", help="also write every round here as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    model_dir = str(Path(args.model_dir).resolve())
    checkouts = [REPO] + ([Path(args.against).resolve()] if args.against else [])
    for checkout in checkouts[1:]:
        if not (checkout / "ner" / "tagger.py").is_file():
            parser.error(f"--against={checkout}: not a checkout of this repository (no ner/tagger.py)")
        if checkout == REPO:
            parser.error(f"--against={checkout}: this checkout itself; name another one")

    rounds: dict[str, list[dict]] = {str(c): [] for c in checkouts}
    for number in range(1, args.rounds + 1):
        for checkout in checkouts:
            result = _round(checkout, model_dir, args.precision)
            rounds[str(checkout)].append(result)
            print(f"round {number} {checkout}: " + ", ".join(
                f"{p} {result[p]:.2f}" for p in _PHASES) + f", graph_ops {result['graph_ops']}",
                flush=True)
    for checkout, results in rounds.items():
        print(f"median of {len(results)}, {checkout} ({args.precision}): " + ", ".join(
            f"{p} {statistics.median(r[p] for r in results):.2f}" for p in _PHASES)
            + f", graph_ops {results[0]['graph_ops']}")
    if args.output:
        Path(args.output).write_text(json.dumps({
            "model_dir": model_dir, "precision": args.precision, "rounds": rounds},
            indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
