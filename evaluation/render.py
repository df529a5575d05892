"""Renders :func:`evaluation.analysis.evaluate`'s dict as the text the report prints.

Percentages next to ``conlleval.pl``'s are computed as the Perl script
computes them (:func:`evaluation.metrics.conlleval_percentages`), so they
round alike.
"""

from __future__ import annotations

from evaluation.analysis import ERROR_CLASSES, input_scheme_label, scheme_label
from evaluation.metrics import conlleval_percentages

__all__ = ["ERROR_DESCRIPTIONS", "ERROR_HEADINGS", "format_report", "score_cells"]

#: How the report names each class of ``evaluate(...)["errors"]["counts"]``.
ERROR_DESCRIPTIONS = {
    "correct": "correct",
    "missed": "missed (no overlapping prediction)",
    "spurious": "spurious (overlaps no gold entity)",
    "wrong_type": "right span, wrong type",
    "wrong_boundary": "right type, wrong boundary",
    "wrong_type_and_boundary": "wrong type and boundary",
}

#: Short column headings for the same classes.
ERROR_HEADINGS = {"correct": "correct", "missed": "missed", "spurious": "spurious",
                  "wrong_type": "type", "wrong_boundary": "boundary",
                  "wrong_type_and_boundary": "both"}


def score_cells(scores: dict | None, averaged: bool = False) -> tuple[str, str, str, str, str]:
    """A row of the score table as the report prints it: P, R, F1 (percent), support, found.

    Every rendering (text, HTML) takes its numbers from here, so they agree
    to the last digit.

    Args:
        scores: one type's or average's dict of a ``classification_report``
            (``evaluate(...)["default"]["types"]["PER"]``, ``["micro avg"]``),
            or None for a type the mode does not have.
        averaged: True for the macro and weighted averages, whose percentages
            are not recomputed from counts.

    Returns:
        Five strings, e.g. ``("89.80", "90.61", "90.20", "5648", "5700")``;
        ``("-", "-", "-", "0", "0")`` for None. Percentages of single types
        and the micro average are conlleval's, rounded as it rounds.
    """
    if scores is None:
        return "-", "-", "-", "0", "0"
    if averaged:
        p, r, f = (100 * scores[key] for key in ("precision", "recall", "f1"))
    else:
        p, r, f = conlleval_percentages(scores["true_positives"], scores["predicted"],
                                        scores["support"])
    return f"{p:.2f}", f"{r:.2f}", f"{f:.2f}", str(scores["support"]), str(scores["predicted"])


def format_report(result: dict) -> str:
    """Renders :func:`evaluation.analysis.evaluate`'s dict as the text the CLI prints.

    Args:
        result: dict from :func:`evaluation.analysis.evaluate`.

    Returns:
        str: the side-by-side default/strict table (percentages, rounded as
        conlleval rounds them), the conlleval block, the error breakdown, the
        confusion matrix, invalid transitions and words without prediction.
    """
    default, strict, scheme = result["default"], result["strict"], scheme_label(result)
    sentences, tokens = result["sentences"], result["tokens"]
    out = [f"Input scheme: {input_scheme_label(result)} (scored as IOB2). {sentences} "
           f"sentence{'s' if sentences != 1 else ''}, {tokens} token{'s' if tokens != 1 else ''}.",
           "Mode default = conlleval.pl / seqeval default (orphan I- tags start entities); "
           f"mode strict = seqeval mode='strict', scheme {scheme} (ill-formed entities "
           "do not count).", ""]
    width = max([17, *(len(t) for t in default["types"]), *(len(t) for t in strict["types"])])
    cells = f"{'prec':>7} {'rec':>7} {'F1':>7} {'support':>8} {'found':>6}"
    out.append(f"{'':{width}} | {'mode: default (conlleval)':^38} | "
               f"{'mode: strict (' + _short(scheme) + ')':^38}")
    out.append(f"{'type':{width}} | {cells} | {cells}")

    def row(scores: dict | None, averaged: bool) -> str:
        p, r, f, support, found = score_cells(scores, averaged)
        return f"{p:>7} {r:>7} {f:>7} {support:>8} {found:>6}"

    for type_ in sorted(set(default["types"]) | set(strict["types"])):
        out.append(f"{type_:{width}} | {row(default['types'].get(type_), False)} | "
                   f"{row(strict['types'].get(type_), False)}")
    out.append(f"{'micro avg':{width}} | {row(default['micro avg'], False)} | "
               f"{row(strict['micro avg'], False)}")
    for average in ("macro avg", "weighted avg"):
        out.append(f"{average:{width}} | {row(default[average], True)} | "
                   f"{row(strict[average], True)}")
    out.append(f"{'token accuracy':{width}} | {100 * default['accuracy']:7.2f}")

    out += ["", "conlleval.pl output (mode default):", result["conlleval"].rstrip("\n")]
    docstarts, counted = result.get("docstart_lines", (0, True))
    if docstarts and counted:
        # conlleval.pl reads a -DOCSTART- line as one more token, O O.
        tokens = default["tokens"] + docstarts
        accuracy = 100 * (default["correct_tags"] + docstarts) / tokens
        out.append(f"(conlleval.pl on the input file also counts its {docstarts} -DOCSTART- "
                   f"lines as tokens: processed {tokens} tokens, accuracy: {accuracy:6.2f}%; "
                   "the entities are the same.)")
    elif docstarts:
        out.append(f"(The input's {docstarts} -DOCSTART- lines are not tokens here. "
                   "conlleval.pl reads each as a token, but these lack the token lines' column "
                   "count or end in two different tags: it refuses the input file or counts "
                   "them otherwise.)")
    out.append("")

    errors = result["errors"]
    out.append("Errors (gold entities, except spurious = predicted entities; "
               "default-mode entities):")
    for name, text in ERROR_DESCRIPTIONS.items():
        out.append(f"  {text:<36} {errors['counts'][name]:>7}")
    by_type = errors.get("by_type")  # absent from reports written before it existed
    if by_type:
        names = ("correct", *ERROR_CLASSES)
        width = max(6, *(len(t) for t in by_type))
        out.append("  By type (spurious: the predicted type):")
        out.append(f"    {'type':<{width}}" + "".join(f" {ERROR_HEADINGS[n]:>10}" for n in names))
        for type_, row_counts in by_type.items():
            out.append(f"    {type_:<{width}}" + "".join(f" {row_counts[n]:>10}" for n in names))
    for name in ERROR_CLASSES:
        for example in errors["examples"][name]:
            out.append(f"    {name}: sentence {example['sentence']}: "
                       f"gold {_describe(example['gold'], example.get('gold_text'))} -> "
                       f"pred {_describe(example['pred'], example.get('pred_text'))}")
    out.append("")

    labels = result["confusion"]["labels"]
    matrix = result["confusion"]["matrix"]
    column = max(6, *(len(label) for label in labels))
    out.append("Confusion of exact-span entities (rows gold, columns predicted; "
               "O = no entity with that span on that side):")
    corner = "gold \\ pred"
    out.append(f"  {corner:<{column + 4}}" + "".join(f"{p:>{column + 1}}" for p in labels))
    for g in labels:
        out.append(f"  {g:<{column + 4}}" + "".join(f"{matrix[g][p]:>{column + 1}}"
                                                   for p in labels))
    out.append("")

    invalid = result["invalid_transitions"]
    out.append(f"Invalid transitions in predictions ({invalid['scheme']} rules): "
               f"{invalid['count']} (gold: {invalid['gold_count']})")
    for example in invalid["examples"]:
        word = f" {example['word']!r}" if "word" in example else ""
        out.append(f"    sentence {example['sentence']}, word {example['position']}{word}: "
                   f"{example['previous'] or '<start>'} -> {example['tag'] or '<end>'}")
    missing = result["missing_predictions"]
    out.append(f"Words without prediction (scored as O): {missing['count']}")
    for example in missing["examples"]:
        word = f" {example['word']!r}" if "word" in example else ""
        out.append(f"    sentence {example['sentence']}, word {example['position']}{word}")
    return "\n".join(line.rstrip() for line in out) + "\n"


def _short(scheme_label: str) -> str:
    """A scheme label within a column of 38: "IOB1 gold/IOB2 pred"."""
    return scheme_label.replace(", ", "/").replace(" predictions", " pred")


def _describe(span: list | None, text: str | None) -> str:
    if span is None:
        return "-"
    described = f"{span[0]}[{span[1]}:{span[2]}]"
    return f"{described} {text!r}" if text is not None else described
