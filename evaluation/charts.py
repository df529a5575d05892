"""The charts of the HTML pages, drawn by matplotlib as inline SVG.

Each function takes plain data (an :func:`evaluation.analysis.evaluate` dict,
training log records) and returns one ``<svg>`` element as a string, ready to
be placed in an HTML page: no file, no network, no JavaScript. Text stays
text (``svg.fonttype: none``), so the page can be searched and the numbers
read by a parser; matplotlib escapes it (a type named ``<script>`` is drawn as
those characters), and math parsing is off, so a ``$`` in a label is a dollar.

matplotlib is in the ``html`` extra (``pip install 'bert-ner-tf[html]'``);
:func:`evaluation.html.require_extra` names it when it is missing.

Percentages are the report's (:func:`evaluation.render.score_cells`), so a
bar ends where the table's number says.
"""

from __future__ import annotations

import contextlib
import html
import io
from typing import Any, Iterator, Sequence

from evaluation.analysis import ERROR_CLASSES, scheme_label
from evaluation.render import ERROR_HEADINGS, score_cells

__all__ = ["confusion_chart", "curve_charts", "errors_chart", "scores_chart"]

# Okabe and Ito's colour-blind-safe palette: precision, recall, F1 and the
# error classes keep one colour on every page.
_SERIES = {"precision": "#56B4E9", "recall": "#E69F00", "f1": "#009E73"}
_ERROR_COLOURS = {"missed": "#999999", "spurious": "#CC79A7", "wrong_type": "#D55E00",
                  "wrong_boundary": "#0072B2", "wrong_type_and_boundary": "#E69F00"}
_LINES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")

# What each chart shows, for screen readers; the numbers are in the page's tables.
_ALT = {
    "scores": "Bar chart of precision, recall and F1 per entity type and micro average, mode "
              "default and mode strict; the table below holds the numbers.",
    "confusion": "Heat map of gold types (rows) against predicted types (columns) for "
                 "exact-span entities; the table below holds the counts.",
    "errors": "Bar charts of errors by class, and by entity type stacked by class; the "
              "tables beside them hold the counts.",
}


@contextlib.contextmanager
def _chart(width: float, height: float, salt: str,
           alt: str) -> Iterator[tuple[Any, list[str]]]:
    """Yields a matplotlib Figure and a list; the figure's ``<svg>`` is appended on exit.

    No pyplot: no global figure state and no GUI backend. The settings hold
    while the figure is built and saved, and only then. ``alt`` says what the
    chart shows, for screen readers (``role="img"``): a fixed text, never data,
    which would otherwise be read out as a stream of tick labels.
    """
    import matplotlib
    from matplotlib.figure import Figure

    rc = {
        "svg.fonttype": "none",  # text as <text>, not paths
        "svg.hashsalt": salt,  # ids differ between the charts of one page
        "text.parse_math": False,  # "$" in a label from data is a dollar
        "font.family": "DejaVu Sans",  # ships with matplotlib
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 10,
    }
    out: list[str] = []
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(width, height), layout="constrained")
        yield fig, out
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # no XML prolog or doctype inside HTML
    text = text.replace("<svg", f'<svg role="img" aria-label="{html.escape(alt)}"', 1)
    # matplotlib numbers its groups alike in every figure ("figure_1"): one
    # prefix per chart keeps the ids of a page unique. Text from data cannot
    # match: matplotlib escapes its quotes.
    for old in (' id="', 'url(#', 'xlink:href="#'):
        text = text.replace(old, f"{old}{salt}-")
    out.append(text)


def _percent(scores: dict | None, averaged: bool = False) -> tuple[float, float, float]:
    cells = score_cells(scores, averaged)
    return tuple(float(c) if c != "-" else 0.0 for c in cells[:3])  # type: ignore[return-value]


# More entity types than this get slanted names on the charts' axes.
_MANY_TYPES = 8


def _type_ticks(ax, names: Sequence[str], many: bool) -> None:
    """Entity types as x tick labels, slanted when there are `many`."""
    if many:
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right",
                      rotation_mode="anchor", fontsize=7)
    else:
        ax.set_xticks(range(len(names)), names)


def scores_chart(result: dict) -> str:
    """Precision, recall and F1 per type and micro average, default and strict mode side by side.

    Args:
        result: dict from :func:`evaluation.analysis.evaluate`.

    Returns:
        str, an ``<svg>`` element.
    """
    types = sorted(set(result["default"]["types"]) | set(result["strict"]["types"]))
    rows = [*types, "micro avg"]
    width = 0.26
    # Beyond 8 types (OntoNotes has 18) level names and values ran together:
    # slanted names, upright values, a taller figure.
    many = len(types) > _MANY_TYPES
    with _chart(9.5, 4.2 if many else 3.2, "scores", _ALT["scores"]) as (fig, svg):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, mode in zip(axes, ("default", "strict")):
            report = result[mode]
            values = [_percent(report["types"].get(t)) for t in types] + [
                _percent(report["micro avg"])]
            for k, (series, colour) in enumerate(_SERIES.items()):
                xs = [i + (k - 1) * width for i in range(len(rows))]
                bars = ax.bar(xs, [v[k] for v in values], width, color=colour,
                              label={"f1": "F1"}.get(series, series))
                if series == "f1":
                    ax.bar_label(bars, labels=[f"{v[2]:.2f}" for v in values], padding=2,
                                 fontsize=6 if many else 7, rotation=90 if many else 0)
            _type_ticks(ax, rows, many)
            ax.set_ylim(0, 125 if many else 109)
            ax.set_yticks(range(0, 101, 20))
            ax.grid(axis="y", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.set_title("mode default (conlleval)" if mode == "default"
                         else f"mode strict ({scheme_label(result)})")
        axes[0].set_ylabel("percent")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    return svg[0]


def confusion_chart(result: dict) -> str:
    """The type confusion matrix as a heat map: colour = share of the row, text = count.

    Rows are gold types, columns predicted ones; ``O`` is "no entity of
    exactly that span on that side" (see :mod:`evaluation.analysis`).

    Args:
        result: dict from :func:`evaluation.analysis.evaluate`.

    Returns:
        str, an ``<svg>`` element.
    """
    labels = result["confusion"]["labels"]
    matrix = result["confusion"]["matrix"]
    counts = [[matrix[g][p] for p in labels] for g in labels]
    shares = [[n / max(1, sum(row)) for n in row] for row in counts]
    size = 1.0 + 0.62 * len(labels)
    with _chart(size + 1.4, size, "confusion", _ALT["confusion"]) as (fig, svg):
        ax = fig.subplots()
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i, row in enumerate(counts):
            for j, n in enumerate(row):
                ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                        color="white" if shares[i][j] > 0.6 else "#222222")
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > _MANY_TYPES else 0)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.spines[:].set_visible(False)
        fig.colorbar(image, ax=ax, shrink=0.8).set_label("share of the gold row")
    return svg[0]


def errors_chart(result: dict) -> str:
    """The error breakdown: counts per class, and per type stacked by class.

    Args:
        result: dict from :func:`evaluation.analysis.evaluate`.

    Returns:
        str, an ``<svg>`` element.
    """
    from matplotlib.ticker import MaxNLocator

    counts = result["errors"]["counts"]
    by_type = result["errors"].get("by_type") or {}
    names = list(ERROR_CLASSES)
    with _chart(9.5, 2.9, "errors", _ALT["errors"]) as (fig, svg):
        left, right = fig.subplots(1, 2, width_ratios=(1, 1.25))
        bars = left.barh(range(len(names)), [counts[n] for n in names],
                         color=[_ERROR_COLOURS[n] for n in names])
        left.bar_label(bars, padding=3, fontsize=8)
        left.set_yticks(range(len(names)), [n.replace("_", " ") for n in names])
        left.invert_yaxis()
        left.set_xlim(0, max(1, *(counts[n] for n in names)) * 1.18)
        left.set_title("errors by class")
        left.set_xlabel("entities")
        # Whole entities; at most about 5 ticks: the axis is 2 inches wide, and
        # 9 four-digit labels (0 to 6400) ran together.
        left.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        left.grid(axis="x", color="#dddddd", linewidth=0.6)
        left.set_axisbelow(True)
        types = list(by_type)
        if types:
            _errors_by_type(right, by_type, names)
        else:  # no entity on either side: an empty axis had ticks at -0.045
            right.set_axis_off()
            right.text(0.5, 0.5, "no entities, gold or predicted", ha="center", va="center",
                       color="#59636e", transform=right.transAxes)
    return svg[0]


def _errors_by_type(ax, by_type: dict, names: Sequence[str]) -> None:
    """Bars per type, stacked by error class."""
    from matplotlib.ticker import MaxNLocator

    types = list(by_type)
    bottoms = [0] * len(types)
    for name in names:
        values = [by_type[t][name] for t in types]
        ax.bar(range(len(types)), values, 0.6, bottom=bottoms, color=_ERROR_COLOURS[name],
               label=ERROR_HEADINGS[name])
        bottoms = [b + v for b, v in zip(bottoms, values)]
    _type_ticks(ax, types, len(types) > _MANY_TYPES)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole entities
    ax.set_title("errors by type (spurious: predicted type)")
    ax.set_ylabel("entities")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _line(ax, xs: Sequence[float], ys: Sequence[float], label: str, colour: str) -> None:
    ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.5, color=colour, label=label)


def curve_charts(epochs: Sequence[dict]) -> list[tuple[str, str]]:
    """The training curves of a run, one chart per quantity the log holds.

    Args:
        epochs: the records of ``train_log.jsonl`` (one dict per epoch with
            ``epoch``, ``loss``, ``dev`` and, in logs written since they
            exist, ``learning_rate`` and ``dev_types``), at least one.

    Returns:
        ``(name, svg)`` pairs: "loss", "learning_rate" (when logged), "dev"
        (micro precision, recall and F1 per epoch) and "dev_types" (F1 per
        type, when logged and the dev set has entity types).
    """
    xs = [r["epoch"] for r in epochs]
    charts = []

    @contextlib.contextmanager
    def chart(name: str, title: str):
        alt = f"Line chart of the {title} by epoch; the table below holds the values."
        with _chart(4.6, 2.8, name, alt) as (fig, svg):
            ax = fig.subplots()
            ax.grid(color="#e5e5e5", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.set_xlabel("epoch")
            if len(xs) <= 20:
                ax.set_xticks(xs)
            ax.set_title(title)
            yield ax
        charts.append((name, svg[0]))

    with chart("loss", "training loss (mean per window)") as ax:
        _line(ax, xs, [r["loss"] for r in epochs], "loss", _LINES[0])
    if all("learning_rate" in r for r in epochs):
        with chart("learning_rate", "encoder learning rate at the end of each epoch") as ax:
            _line(ax, xs, [r["learning_rate"] for r in epochs], "encoder", _LINES[1])
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
            ax.set_ylim(bottom=0)
    with chart("dev", "dev precision, recall, F1 (micro, percent)") as ax:
        for series, colour in _SERIES.items():
            _line(ax, xs, [100 * r["dev"][series] for r in epochs],
                  {"f1": "F1"}.get(series, series), colour)
        best = max(epochs, key=lambda r: r["dev"]["f1"])
        # The points are the epochs' ends; with evaluations within epochs the
        # best model may be none of them (the page's verdict names it).
        within = any(r.get("dev_within_epoch") for r in epochs)
        # A ring round the best point, named in the legend: a note beside the
        # point covered the recall line or the axis below it.
        ax.plot([best["epoch"]], [100 * best["dev"]["f1"]], linestyle="none", marker="o",
                markersize=10, markerfacecolor="none", markeredgecolor=_SERIES["f1"],
                label=f"best {'epoch-end ' if within else ''}F1 {100 * best['dev']['f1']:.2f}")
        ax.legend(fontsize=8)
    # (No chart of types for data without entities: it would be empty.)
    if all("dev_types" in r for r in epochs) and any(r["dev_types"] for r in epochs):
        with chart("dev_types", "dev F1 per type (percent)") as ax:
            types = sorted({t for r in epochs for t in r["dev_types"]})
            for i, type_ in enumerate(types):
                _line(ax, xs, [100 * r["dev_types"].get(type_, 0.0) for r in epochs], type_,
                      _LINES[i % len(_LINES)])
            ax.legend(fontsize=8)
    return charts
