"""Training curves: a run's ``train_log.jsonl`` as one self-contained HTML page.

``python -m ner.train`` writes ``train_curves.html`` into its output folder at
the end of a run; for any run folder, at any time (a run still training
included)::

    python -m evaluation.curves --run_dir=runs/default   # writes runs/default/train_curves.html
    python -m evaluation.curves --run_dir=runs/default --output=curves.html

The page plots, per epoch, the training loss, the encoder's learning rate,
dev precision, recall and F1, and dev F1 per type (the last two where the log
has them: logs written before they were logged lack them), says at the top
whether the run was still improving, and lists every epoch in a table.

Needs the ``html`` extra (Jinja2, matplotlib), like :mod:`evaluation.html`.
Bad input ends with one line on stderr, ``curves: error: ...``, and exit
status 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from evaluation.html import render_template, require_extra, write_page

__all__ = ["CURVES_FILE", "LOG_FILE", "curves_page", "read_log", "write_curves"]

LOG_FILE = "train_log.jsonl"
CURVES_FILE = "train_curves.html"


def read_log(path: str | os.PathLike) -> list[dict]:
    """The epochs of a ``train_log.jsonl``, in order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not a JSON object with ``epoch``, ``loss``
            and ``dev`` (naming file and line), or no epoch at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (a run writes it after its first epoch)")
    epochs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not valid JSON: {e.msg}") from None
        if not isinstance(record, dict) or not {"epoch", "loss", "dev"} <= set(record):
            raise ValueError(f"{path}:{number}: expected an object with epoch, loss and dev")
        epochs.append(record)
    if not epochs:
        raise ValueError(f"{path}: no epoch logged yet")
    return epochs


def _verdict(epochs: list[dict]) -> str:
    f1 = [100 * e["dev"]["f1"] for e in epochs]
    best = max(range(len(f1)), key=lambda i: f1[i])
    last = len(f1) - 1
    if len(f1) == 1:
        return f"One epoch so far: dev F1 {f1[0]:.2f}."
    if best == last:
        return (f"Still improving: the last epoch ({epochs[last]['epoch']}) is the best, dev F1 "
                f"{f1[last]:.2f}, {f1[last] - f1[last - 1]:+.2f} on the epoch before. More epochs "
                "may help.")
    return (f"Best dev F1 {f1[best]:.2f} at epoch {epochs[best]['epoch']}; the "
            f"{last - best} epoch{'s' if last - best != 1 else ''} after it did not beat it "
            f"(last: {f1[last]:.2f}).")


def curves_page(epochs: list[dict], *, title: str = "Training curves",
                sources: list[tuple[str, str]] | None = None) -> str:
    """The page for the epochs of a log (:func:`read_log`).

    Args:
        epochs: one dict per epoch as ``ner.train`` logs them.
        title: the page's title.
        sources: ``(what, value)`` pairs shown under the title.

    Returns:
        str, the page.

    Raises:
        MissingExtraError: Jinja2 or matplotlib is missing.
    """
    from evaluation import charts

    require_extra()
    types = sorted({t for e in epochs for t in e.get("dev_types", {})})
    best = max(epochs, key=lambda e: e["dev"]["f1"])["epoch"]
    rows = [{"epoch": e["epoch"], "best": e["epoch"] == best, "step": e.get("step", ""),
             "seconds": f"{e['seconds']:.1f}" if "seconds" in e else "",
             "loss": f"{e['loss']:.4f}",
             "learning_rate": f"{e['learning_rate']:.3g}" if "learning_rate" in e else "",
             "dev": [f"{100 * e['dev'][k]:.2f}" for k in ("precision", "recall", "f1")],
             "types": [f"{100 * e['dev_types'][t]:.2f}" if t in e.get("dev_types", {}) else ""
                       for t in types]} for e in epochs]
    return render_template("curves.html.j2", title=title, sources=sources or [],
                           verdict=_verdict(epochs), charts=charts.curve_charts(epochs),
                           rows=rows, types=types)


def write_curves(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Writes the curves page of a training output folder.

    Args:
        run_dir: the folder ``python -m ner.train --output_dir`` wrote.
        output: the page's path; ``run_dir/train_curves.html`` when None.

    Returns:
        The path written (atomically).

    Raises:
        MissingExtraError: the ``html`` extra is missing.
        FileNotFoundError, ValueError: see :func:`read_log`.
    """
    run_dir = Path(run_dir)
    require_extra()
    epochs = read_log(run_dir / LOG_FILE)
    target = Path(output) if output else run_dir / CURVES_FILE
    sources = [("run", str(run_dir)), ("log", str(run_dir / LOG_FILE))]
    write_page(target, curves_page(epochs, title=f"Training curves: {run_dir.resolve().name}",
                                   sources=sources))
    return target


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("run_dir", None, "Training output folder (holds train_log.jsonl).")
    flags.DEFINE_string("output", None, "Where to write the page; default "
                                        f"RUN_DIR/{CURVES_FILE}.")
    flags.mark_flag_as_required("run_dir")


def main(argv: list[str]) -> None:
    """Entry point for ``absl.app.run``: writes the page and prints its path."""
    from absl import flags

    try:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
        target = write_curves(flags.FLAGS.run_dir, flags.FLAGS.output)
    except (ValueError, OSError, ImportError) as exc:
        print(f"curves: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    print(target)


if __name__ == "__main__":
    from ner import cli

    _define_flags()
    cli.run_absl(main)
