"""Per-seed and mean/spread tables of finished training runs, for BENCHMARKS.md.

Reads what `python -m ner.train` leaves in each output folder (the flags it
ran with, `train_log.jsonl`, `dev_report.json`, `test_report.json`), so every
figure in the table comes from the run itself, not from a log read by eye.
Scores are truncated, never rounded, to two decimals.

    python scripts/seed_table.py --group="frozen encoder=runs/frozen_s42,runs/frozen_s43,runs/frozen_s44"

Each --group is `name=folder,folder,...`; the table has a row per run and a
mean row per group. A run's seed comes from its `train.flags`; a folder
written before runs saved their flags names it as `folder@SEED` (the spread is min-max and the sample standard
deviation over the group's runs).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

TYPES = ("PER", "LOC", "ORG", "MISC")


def truncate(x: float) -> str:
    """A percentage with two decimals, truncated toward zero (never rounded up)."""
    return f"{math.floor(x * 100 + 1e-9) / 100:.2f}"


def read_run(folder: str | Path, seed: int | None = None) -> dict:
    """One run's figures: seed, best epoch, dev and test F1 (percent), per-type test F1,
    and the shortest and longest epoch in seconds.

    Raises:
        FileNotFoundError: the folder lacks a file a finished run writes.
    """
    folder = Path(folder)
    need = [folder / n for n in ("train.flags", "train_log.jsonl", "dev_report.json",
                                 "test_report.json")]
    missing = [str(p) for p in need[seed is not None:] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a finished training run (missing {missing})")
    flags = {} if seed is not None else dict(
        line.split("=", 1) for line in need[0].read_text().splitlines()
        if line.startswith("--") and "=" in line)
    log = [json.loads(line) for line in need[1].read_text().splitlines() if line.strip()]
    epochs = [e for e in log if "dev" in e]
    best = max(epochs, key=lambda e: e["dev"]["f1"]) if epochs else {}
    dev = json.loads(need[2].read_text())["default"]
    test = json.loads(need[3].read_text())["default"]
    seconds = [e["seconds"] for e in log if "seconds" in e]
    return {
        "folder": str(folder),
        "seed": seed if seed is not None else int(flags["--seed"]),
        "best_epoch": best.get("epoch"),
        "dev": 100 * dev["micro avg"]["f1"],
        "test": 100 * test["micro avg"]["f1"],
        "types": {t: 100 * test["types"][t]["f1"] for t in TYPES if t in test["types"]},
        "seconds": (min(seconds), max(seconds)) if seconds else None,
    }


def summarize(runs: list[dict]) -> dict:
    """Mean, min, max and sample standard deviation of dev, test and per-type F1."""
    out = {}
    for key in ("dev", "test", *TYPES):
        values = [r[key] if key in r else r["types"].get(key, math.nan) for r in runs]
        out[key] = {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def table(groups: dict[str, list[dict]]) -> str:
    """The markdown table: a row per run, then a mean row per group."""
    lines = ["| run | seed | best epoch | dev F1 | test F1 | PER | LOC | ORG | MISC "
             "| seconds per epoch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, runs in groups.items():
        for r in runs:
            sec = f"{r['seconds'][0]:.0f}-{r['seconds'][1]:.0f}" if r["seconds"] else ""
            lines.append(f"| {name} (`{r['folder']}`) | {r['seed']} | {r['best_epoch']} "
                         f"| {truncate(r['dev'])} | {truncate(r['test'])} | "
                         + " | ".join(truncate(r["types"].get(t, math.nan)) for t in TYPES)
                         + f" | {sec} |")
        s = summarize(runs)
        cell = lambda k: (f"**{truncate(s[k]['mean'])}** ({truncate(s[k]['min'])}-"
                          f"{truncate(s[k]['max'])}, sd {truncate(s[k]['sd'])})")
        lines.append(f"| {name}: mean of {len(runs)} (min-max, sd) | | | {cell('dev')} "
                     f"| {cell('test')} | "
                     + " | ".join(truncate(s[t]["mean"]) for t in TYPES) + " | |")
    return "\n".join(lines)


def _folder_and_seed(spec: str) -> tuple[str, int | None]:
    folder, sep, seed = spec.rpartition("@")
    return (folder, int(seed)) if sep else (spec, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", action="append", required=True,
                        help="name=folder,folder,... (repeatable)")
    args = parser.parse_args(argv)
    groups = {}
    for spec in args.group:
        name, sep, folders = spec.partition("=")
        if not sep or not folders:
            parser.error(f"--group={spec!r}: expected name=folder,folder,...")
        try:
            groups[name] = [read_run(*_folder_and_seed(f)) for f in folders.split(",")]
        except (FileNotFoundError, KeyError, ValueError) as e:
            print(f"seed_table: {e}", file=sys.stderr)
            return 1
    print(table(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
