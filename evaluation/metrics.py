"""Entity-level precision, recall and F1 (from ``seqeval``) in ``conlleval``'s layout.

Two ways to read entities out of a tag sequence:

* the lenient *default* mode, ``conlleval.pl``'s chunk rules
  (:func:`ner.schemes.chunks`): an orphan ``I-X`` still counts as an entity,
  and IOB1, IOB2 and BIOES read alike. For ``B-``, ``I-`` and ``O`` tags the
  counts are exactly what ``conlleval.pl`` counts; for ``E-``/``S-`` tags,
  which the Perl script predates, they are ``seqeval``'s (convert BIOES to
  IOB2 first when the numbers must match the Perl script, as
  ``evaluation.analysis`` does).
* :func:`strict_entities` -- ``seqeval``'s ``mode='strict'``: only chunks
  that are well formed in the named scheme count. In IOB2 an ``I-X`` without
  a ``B-X`` in front is not an entity, and in BIOES a ``B-X`` that is never
  closed by ``E-X`` is not one either.

:func:`classification_report` takes precision, recall and F1 from ``seqeval``
(``zero_division=0``) and adds what ``seqeval`` lacks: the entity counts
behind them and token accuracy. :func:`format_conlleval` prints such a report
in ``conlleval.pl``'s layout, to two decimals, so numbers can be compared with
published CoNLL results character by character.

Spans are ``(type, start, end)`` with an EXCLUSIVE end (see ``ner.schemes``).

Example:
    >>> strict_entities(["B-PER", "I-PER", "O", "I-LOC"], "IOB2")
    [('PER', 0, 2)]
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import seqeval.metrics
import seqeval.scheme

from ner import schemes

__all__ = [
    "strict_entities",
    "classification_report",
    "format_conlleval",
    "conlleval_percentages",
]

_SEQEVAL_SCHEMES = {"IOB1": seqeval.scheme.IOB1, "IOB2": seqeval.scheme.IOB2,
                    "BIOES": seqeval.scheme.IOBES}
_AVERAGES = ("micro avg", "macro avg", "weighted avg")


def strict_entities(tags: Sequence[str], scheme: str = "IOB2") -> list[schemes.Span]:
    """Reads only the entities that are well formed in ``scheme``.

    ``seqeval``'s ``mode='strict'`` with the matching ``seqeval.scheme``
    class (``IOB1``, ``IOB2``, ``IOBES``), after checking the tags.

    Args:
        tags: the tags of ONE sentence.
        scheme: str, a scheme name (see :func:`ner.schemes.scheme_name`).

    Returns:
        ``[(type, start, end), ...]`` with exclusive ``end``.

    Raises:
        ValueError: for an unknown scheme, a malformed tag, or a prefix the
            scheme does not use (``E-PER`` in IOB2), naming its position.

    Example:
        >>> strict_entities(["O", "I-PER", "B-PER", "I-PER"], "IOB2")
        [('PER', 2, 4)]
        >>> strict_entities(["B-LOC", "I-LOC", "O", "S-PER"], "BIOES")
        [('PER', 3, 4)]
    """
    scheme = schemes.scheme_name(scheme)
    schemes.parse_tags(tags, scheme)
    found = []
    for start, end in _runs_without_o([tags]):
        tokens = seqeval.scheme.Tokens(list(tags[start:end]), _SEQEVAL_SCHEMES[scheme])
        found += [(e.tag, start + e.start, start + e.end) for e in tokens.entities]
    return found


def _runs_without_o(sequences: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """`[start, end)` of the runs of the sentence where no sequence has an "O".

    seqeval reads a strict entity by copying the rest of the sentence
    (`Tokens._forward` slices it at each entity), so one long sentence costs
    time quadratic in its length. An "O" in every sequence ends every entity
    and follows none, in each scheme, as a sentence's start and end do: cut
    there, seqeval finds the same entities in time linear in the sentence.
    """
    runs, start = [], None
    for i, tags in enumerate(zip(*sequences)):
        if all(tag == "O" for tag in tags):
            if start is not None:
                runs.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        runs.append((start, len(sequences[0])))
    return runs


def classification_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], *,
                          mode: str = "default", scheme: str = "IOB2") -> dict:
    """Entity-level scores per type and averaged, plus token accuracy.

    An entity is correct when type, start and end all match. ``mode="default"``
    reads entities as ``conlleval.pl`` and ``seqeval``'s default mode do;
    ``mode="strict"`` uses :func:`strict_entities` with ``scheme`` (``seqeval``
    strict mode). Precision, recall and F1 are ``seqeval``'s.

    Args:
        gold: list of sentences, each a list of str tags (reference).
        pred: list of sentences, each a list of str tags (system output), with
            the same number of sentences and words as ``gold``.
        mode: str, ``"default"`` or ``"strict"``.
        scheme: str, one of ``ner.schemes.SCHEMES``; used by the strict mode
            only (the default mode reads every scheme the same way).

    Returns:
        A JSON-ready dict::

            {"mode": "default", "scheme": "IOB2" or None (default mode),
             "sentences": int, "tokens": int,
             "correct_tags": int,   # words whose full tag string matches
             "accuracy": float,     # correct_tags / tokens (0.0 if no tokens)
             "types": {TYPE: {"precision", "recall", "f1",  # floats in [0, 1]
                              "support",          # gold entities
                              "predicted",        # predicted entities
                              "true_positives"}}, # exact matches
             "micro avg": {... same keys, over all entities},
             "macro avg": {... unweighted mean of the per-type P/R/F1;
                           counts are totals},
             "weighted avg": {... P/R/F1 weighted by support}}

        ``types`` holds every type seen in gold or predicted entities, sorted.
        Without any entity every score is 0.0 (``seqeval`` would average over
        no types).

    Raises:
        ValueError: if the number of sentences differs, if a gold and a
            predicted sentence differ in length (naming the sentence index),
            for a malformed tag, or for an unknown mode or scheme.
    """
    if mode not in ("default", "strict"):
        raise ValueError(f"unknown mode {mode!r}: expected 'default' or 'strict'")
    scheme = schemes.scheme_name(scheme)
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")

    def entities(tags: Sequence[str]) -> list[schemes.Span]:
        return schemes.chunks(tags) if mode == "default" else strict_entities(tags, scheme)

    support, predicted, tp = Counter(), Counter(), Counter()
    tokens = correct_tags = 0
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"sentence {index}: gold has {len(gold_tags)} tags "
                             f"but pred has {len(pred_tags)}")
        try:
            gold_spans = set(entities(gold_tags))
            pred_spans = set(entities(pred_tags))
        except ValueError as exc:
            raise ValueError(f"sentence {index}: {exc}") from None
        support.update(span[0] for span in gold_spans)
        predicted.update(span[0] for span in pred_spans)
        tp.update(span[0] for span in gold_spans & pred_spans)
        tokens += len(gold_tags)
        correct_tags += sum(g == p for g, p in zip(gold_tags, pred_tags))

    types = sorted(support | predicted)
    if types:
        if mode == "strict":
            # Sentences cut where both sides have an "O" (`_runs_without_o`).
            runs = [(g, p, start, end) for g, p in zip(gold, pred)
                    for start, end in _runs_without_o([g, p])]
            theirs = seqeval.metrics.classification_report(
                [list(g[start:end]) for g, _, start, end in runs],
                [list(p[start:end]) for _, p, start, end in runs], output_dict=True,
                zero_division=0, mode="strict", scheme=_SEQEVAL_SCHEMES[scheme])
        else:
            theirs = seqeval.metrics.classification_report(
                [list(tags) for tags in gold], [list(tags) for tags in pred], output_dict=True,
                zero_division=0)
    else:
        theirs = {name: {"precision": 0.0, "recall": 0.0, "f1-score": 0.0} for name in _AVERAGES}
    totals = (sum(tp.values()), sum(predicted.values()), sum(support.values()))

    def scores(name: str, counts: tuple[int, int, int]) -> dict[str, float | int]:
        return {"precision": float(theirs[name]["precision"]),
                "recall": float(theirs[name]["recall"]),
                "f1": float(theirs[name]["f1-score"]),
                "support": counts[2], "predicted": counts[1], "true_positives": counts[0]}

    return {
        "mode": mode,
        "scheme": scheme if mode == "strict" else None,
        "sentences": len(gold),
        "tokens": tokens,
        "correct_tags": correct_tags,
        "accuracy": correct_tags / tokens if tokens else 0.0,
        "types": {t: scores(t, (tp[t], predicted[t], support[t])) for t in types},
        **{name: scores(name, totals) for name in _AVERAGES},
    }


def conlleval_percentages(tp: int, found: int, support: int) -> tuple[float, float, float]:
    """Precision, recall and FB1 in percent, computed as ``conlleval.pl`` does.

    The Perl script divides ``100 * correct`` by the count and takes FB1 from
    the two percentages. ``100 * (tp / found)`` can differ from that in the
    last bit, which is enough to flip a two-decimal rounding now and then, so
    everything printed next to conlleval's numbers goes through here.

    Args:
        tp: int, exactly matched entities.
        found: int, predicted entities.
        support: int, gold entities.

    Returns:
        ``(precision, recall, fb1)`` as floats in [0, 100]; 0.0 where undefined.
    """
    precision = 100 * tp / found if found > 0 else 0.0
    recall = 100 * tp / support if support > 0 else 0.0
    fb1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, fb1


def format_conlleval(report: dict) -> str:
    """Prints a report the way ``conlleval.pl`` does (its default, non-LaTeX output).

    Percentages are recomputed from the integer counts with the Perl script's
    order of operations (``100 * correct / found``; FB1 from the two
    percentages), so the two-decimal rounding agrees with it digit for digit.

    Args:
        report: a dict from :func:`classification_report` (normally
            ``mode="default"``, the mode conlleval implements).

    Returns:
        str, newline-terminated, e.g.::

            processed 13 tokens with 5 phrases; found: 6 phrases; correct: 2.
            accuracy:  61.54%; precision:  33.33%; recall:  40.00%; FB1:  36.36
                          LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  2

        The last number on a type's line is the count of PREDICTED entities of
        that type (conlleval prints ``found``, not the support). As in
        conlleval, the accuracy line is left out when there are no tokens.
    """
    micro = report["micro avg"]
    lines = [f"processed {report['tokens']} tokens with {micro['support']} phrases; "
             f"found: {micro['predicted']} phrases; correct: {micro['true_positives']}."]
    if report["tokens"] > 0:
        precision, recall, fb1 = conlleval_percentages(
            micro["true_positives"], micro["predicted"], micro["support"])
        accuracy = 100 * report["correct_tags"] / report["tokens"]
        lines.append(f"accuracy: {accuracy:6.2f}%; precision: {precision:6.2f}%; "
                     f"recall: {recall:6.2f}%; FB1: {fb1:6.2f}")
    for type_, scores in report["types"].items():
        precision, recall, fb1 = conlleval_percentages(
            scores["true_positives"], scores["predicted"], scores["support"])
        lines.append(f"{type_:>17s}: precision: {precision:6.2f}%; recall: {recall:6.2f}%; "
                     f"FB1: {fb1:6.2f}  {scores['predicted']}")
    return "\n".join(lines) + "\n"
