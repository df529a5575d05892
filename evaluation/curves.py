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
import math
import os
import sys
from pathlib import Path

from ner import files

# `evaluation.html` is imported where a page is made: it imports the error
# analysis, whose seqeval imports scikit-learn (a second of `--help`).

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


def _evaluations(epochs: list[dict]) -> list[tuple[int, object, float, bool]]:
    """Every dev evaluation in order: (epoch, step, F1 in percent, within the epoch)."""
    out = []
    for e in epochs:
        out += [(e["epoch"], w.get("step"), 100 * w["f1"], True)
                for w in e.get("dev_within_epoch", [])]
        out.append((e["epoch"], e.get("step"), 100 * e["dev"]["f1"], False))
    return out


def _best(epochs: list[dict]) -> tuple[int, object, float, bool]:
    """The evaluation whose weights `model/` holds: the first with the highest F1,
    as training keeps a model only when it scores higher."""
    evaluations = _evaluations(epochs)
    return max(evaluations, key=lambda ev: ev[2])  # max keeps the first of equals


def _verdict(epochs: list[dict], stopped_early: str | None = None) -> str:
    diverged = next((e for e in epochs if not math.isfinite(e.get("loss", 0.0))), None)
    verdict = _scores_verdict(epochs, stopped_early)
    if diverged is None:
        return verdict
    # The loss chart cannot draw nan or inf: said here, or a diverged run looks like a gap.
    return (f"The training loss was {diverged['loss']} at epoch {diverged['epoch']}: the run "
            f"diverged (a lower --learning_rate may help). {verdict}")


def _scores_verdict(epochs: list[dict], stopped_early: str | None) -> str:
    evaluations = _evaluations(epochs)
    epoch, step, f1, within = best = _best(epochs)
    where = f"epoch {epoch}" + (f" (step {step}, an evaluation within the epoch)"
                                if within else "")
    after = len(evaluations) - 1 - evaluations.index(best)
    if stopped_early:
        return (f"Stopped early ({stopped_early}): best dev F1 {f1:.2f} at {where}, the "
                "weights in model/.")
    if len(evaluations) == 1:
        return f"One epoch so far: dev F1 {f1:.2f}."
    if after == 0:
        previous = evaluations[-2][2]
        return (f"Still improving: the last evaluation ({where}) is the best, dev F1 "
                f"{f1:.2f}, {f1 - previous:+.2f} on the one before. More epochs may help.")
    return (f"Best dev F1 {f1:.2f} at {where}; the {after} evaluation{'s' if after != 1 else ''} "
            f"after it did not beat it (last: {evaluations[-1][2]:.2f}).")


def curves_page(epochs: list[dict], *, title: str = "Training curves",
                sources: list[tuple[str, str]] | None = None,
                stopped_early: str | None = None) -> str:
    """The page for the epochs of a log (:func:`read_log`).

    The best evaluation, whose weights ``model/`` holds, is looked for among
    the evaluations within epochs (``--eval_every_steps``) too.

    Args:
        epochs: one dict per epoch as ``ner.train`` logs them.
        title: the page's title.
        sources: ``(what, value)`` pairs shown under the title.
        stopped_early: why the run stopped early (its state's
            ``stopped_early``), or None.

    Returns:
        str, the page.

    Raises:
        MissingExtraError: Jinja2 or matplotlib is missing.
    """
    from evaluation import charts
    from evaluation.html import render_template, require_extra

    require_extra()
    types = sorted({t for e in epochs for t in e.get("dev_types", {})})
    best_epoch, best_step, best_f1, within = _best(epochs)
    rows = [{"epoch": e["epoch"], "best": e["epoch"] == best_epoch,
             "best_within": (f"best: step {best_step}, dev F1 {best_f1:.2f}"
                             if within and e["epoch"] == best_epoch else ""),
             "step": e.get("step", ""),
             "seconds": f"{e['seconds']:.1f}" if "seconds" in e else "",
             "loss": f"{e['loss']:.4f}",
             "learning_rate": f"{e['learning_rate']:.3g}" if "learning_rate" in e else "",
             "dev": [f"{100 * e['dev'][k]:.2f}" for k in ("precision", "recall", "f1")],
             "types": [f"{100 * e['dev_types'][t]:.2f}" if t in e.get("dev_types", {}) else ""
                       for t in types]} for e in epochs]
    return render_template("curves.html.j2", title=title, sources=sources or [],
                           verdict=_verdict(epochs, stopped_early),
                           charts=charts.curve_charts(epochs),
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
    from evaluation.html import require_extra, write_page

    run_dir = Path(run_dir)
    require_extra()
    epochs = read_log(run_dir / LOG_FILE)
    target = Path(output) if output else run_dir / CURVES_FILE
    sources = [("run", str(run_dir)), ("log", str(run_dir / LOG_FILE))]
    try:  # why the run stopped early, if it did (training's state)
        state = files.read_json_object(run_dir / "checkpoints" / "last" / "state.json")
        stopped_early = state.get("stopped_early")
    except (OSError, ValueError):
        stopped_early = None
    write_page(target, curves_page(epochs, title=f"Training curves: {run_dir.resolve().name}",
                                   sources=sources, stopped_early=stopped_early))
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
