"""Entity-level precision, recall and F1, as CoNLL's ``conlleval`` scores them.

Two ways to read entities out of a tag sequence live here:

* :func:`get_entities` -- the lenient *default* mode. It follows the chunk
  rules of ``conlleval.pl`` (CoNLL-2000/2003) and ``seqeval``'s default mode:
  a chunk starts at ``B-X`` (or ``S-X``), and also at an ``I-X``/``E-X`` whose
  predecessor is ``O``, a closed chunk (``E-``/``S-``) or of another type. So
  an orphan ``I-X`` still counts as an entity, and IOB1, IOB2 and BIOES input
  are all read without knowing the scheme. For input made of ``B-``, ``I-``
  and ``O`` tags only, the result is exactly what ``conlleval.pl`` counts.
  (``conlleval.pl`` predates BIOES: it has no rule for ``S-`` and reads
  ``E-`` as IOE. For ``E-``/``S-`` tags we follow ``seqeval``, which closes a
  chunk after every ``E-``/``S-``; convert BIOES to IOB2 first when the
  numbers must match the Perl script, as ``evaluation.report`` does.)
* :func:`strict_entities` -- ``seqeval``'s ``mode='strict'``: only chunks
  that are well formed in the named scheme count. In IOB2 an ``I-X`` without
  a ``B-X`` in front is not an entity, and in BIOES a ``B-X`` that is never
  closed by ``E-X`` is not one either.

Both return ``(type, start, end)`` tuples with an EXCLUSIVE end, the one span
convention used throughout this project (``seqeval.get_entities`` uses an
inclusive end; add 1 when comparing).

:func:`classification_report` turns gold and predicted tag sequences into
per-type and averaged scores; :func:`format_conlleval` prints such a report
in ``conlleval.pl``'s layout, to two decimals, so numbers can be compared with
published CoNLL results character by character.

Example:
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> strict_entities(["B-PER", "I-PER", "O", "I-LOC"], "IOB2")
    [('PER', 0, 2)]
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

__all__ = [
    "SCHEMES",
    "SCHEME_PREFIXES",
    "parse_tag",
    "get_entities",
    "strict_entities",
    "classification_report",
    "format_conlleval",
    "conlleval_percentages",
]

Span = tuple[str, int, int]

#: Tagging schemes understood by :func:`strict_entities` (and by the report).
SCHEMES = ("IOB1", "IOB2", "BIOES")

#: Prefixes each scheme may use ("O" is the outside tag and carries no type).
SCHEME_PREFIXES = {"IOB1": "BIO", "IOB2": "BIO", "BIOES": "BIOES"}


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Splits a tag into its prefix and entity type.

    The type is everything after the first hyphen, so ``B-ORG-X`` has type
    ``ORG-X`` (conlleval does the same since 2004).

    Args:
        tag: str, ``"O"`` or ``"<prefix>-<type>"`` with prefix one of
            ``B``, ``I``, ``E``, ``S``.

    Returns:
        ``(prefix, type)``; ``("O", None)`` for the outside tag.

    Raises:
        ValueError: if the tag has another shape (``"PER"``, ``"B-"``,
            ``"X-PER"``, ``""``). conlleval would silently read such tags as
            typeless chunks; we refuse them so a wrong column shows up at once.
    """
    if tag == "O":
        return "O", None
    prefix, sep, type_ = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not type_:
        raise ValueError(
            f"malformed tag {tag!r}: expected 'O' or PREFIX-TYPE with PREFIX one of B, I, E, S")
    return prefix, type_


def _chunk_ends(prev_prefix: str, prev_type: str | None, prefix: str, type_: str | None) -> bool:
    """Whether a chunk ended between the previous and the current word.

    conlleval's ``endOfChunk``, extended with the BIOES rule that ``E-`` and
    ``S-`` always close their chunk.
    """
    if prev_prefix in "ES":
        return True
    if prev_prefix in "BI" and prefix in "BSO":
        return True
    # A change of type closes any open chunk (I-PER I-LOC is two chunks).
    return prev_prefix != "O" and prev_type != type_


def _chunk_starts(prev_prefix: str, prev_type: str | None, prefix: str, type_: str | None) -> bool:
    """Whether a chunk started at the current word (conlleval's ``startOfChunk``)."""
    if prefix in "BS":
        return True
    # An inside/end tag right after O or a closed chunk opens a new one: this
    # is what makes orphan I- tags (and IOB1) count as entities.
    if prefix in "IE" and prev_prefix in "OES":
        return True
    return prefix != "O" and prev_type != type_


def get_entities(tags: Sequence[str]) -> list[Span]:
    """Reads entities with conlleval's lenient chunk rules (default mode).

    Args:
        tags: the tags of ONE sentence, e.g. ``["B-PER", "I-PER", "O"]``; any
            mix of IOB1, IOB2 and BIOES prefixes.

    Returns:
        ``[(type, start, end), ...]`` in order of ``start``; ``end`` is
        exclusive, so ``tags[start:end]`` are the entity's tags.

    Raises:
        ValueError: for a malformed tag, naming its position.

    Example:
        >>> get_entities(["I-PER", "I-LOC", "B-LOC", "O"])
        [('PER', 0, 1), ('LOC', 1, 2), ('LOC', 2, 3)]
    """
    spans = []
    prev_prefix, prev_type = "O", None
    begin = 0
    # A trailing "O" closes whatever chunk is still open at the end.
    for i, tag in enumerate([*tags, "O"]):
        try:
            prefix, type_ = parse_tag(tag)
        except ValueError as exc:
            raise ValueError(f"position {i}: {exc}") from None
        if _chunk_ends(prev_prefix, prev_type, prefix, type_):
            spans.append((prev_type, begin, i))
        if _chunk_starts(prev_prefix, prev_type, prefix, type_):
            begin = i
        prev_prefix, prev_type = prefix, type_
    return spans


# seqeval's strict mode, as literal tables. Each rule is (previous prefixes,
# current prefixes, relation between the two types): "same", "diff" or "any".
# The outside tag has type None, so O -> O counts as "same".
#   start:  the current word opens an entity;
#   inside: the current word continues the entity the previous word is in;
#   end:    the entity that ran up to the previous word was properly closed
#           (checked at the first word that is not "inside"; an entity whose
#           end check fails is dropped).
_ANY = "BIOES"
_STRICT_RULES: dict[str, dict[str, frozenset[tuple[str, str, str]]]] = {
    "IOB2": {
        "start": frozenset({(_ANY, "B", "any")}),
        "inside": frozenset({("B", "I", "same"), ("I", "I", "same")}),
        "end": frozenset({
            ("I", "O", "any"), ("I", "I", "diff"), ("I", "B", "any"),
            ("B", "O", "any"), ("B", "I", "diff"), ("B", "B", "any"),
        }),
    },
    # IOB1: entities open with I-; B- only separates two adjacent entities of
    # the same type, so a B-X after O or another type is malformed.
    "IOB1": {
        "start": frozenset({
            ("O", "I", "any"), ("I", "I", "diff"), ("B", "I", "any"),
            ("I", "B", "same"), ("B", "B", "same"),
        }),
        "inside": frozenset({("B", "I", "same"), ("I", "I", "same")}),
        "end": frozenset({
            ("I", "I", "diff"), ("I", "O", "any"), ("I", "B", "any"),
            ("B", "O", "any"), ("B", "I", "diff"), ("B", "B", "same"),
        }),
    },
    "BIOES": {
        "start": frozenset({(_ANY, "B", "any"), (_ANY, "S", "any")}),
        "inside": frozenset({
            ("B", "I", "same"), ("B", "E", "same"), ("I", "I", "same"), ("I", "E", "same"),
        }),
        "end": frozenset({("S", _ANY, "any"), ("E", _ANY, "any")}),
    },
}


def _matches(rules: frozenset[tuple[str, str, str]], prev: tuple[str, str | None],
             cur: tuple[str, str | None]) -> bool:
    for prev_prefixes, cur_prefixes, relation in rules:
        if prev[0] in prev_prefixes and cur[0] in cur_prefixes:
            if (relation == "any" or (relation == "same") == (prev[1] == cur[1])):
                return True
    return False


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")


def _parse_for_scheme(tags: Sequence[str], scheme: str) -> list[tuple[str, str | None]]:
    allowed = SCHEME_PREFIXES[scheme]
    parsed = []
    for i, tag in enumerate(tags):
        try:
            prefix, type_ = parse_tag(tag)
        except ValueError as exc:
            raise ValueError(f"position {i}: {exc}") from None
        if prefix not in allowed:
            raise ValueError(f"position {i}: tag {tag!r} is not allowed in scheme {scheme}")
        parsed.append((prefix, type_))
    return parsed


def strict_entities(tags: Sequence[str], scheme: str = "IOB2") -> list[Span]:
    """Reads only the entities that are well formed in ``scheme``.

    Same results as ``seqeval`` with ``mode='strict'`` and the matching
    ``seqeval.scheme`` class (``IOB1``, ``IOB2``, ``IOBES``).

    Args:
        tags: the tags of ONE sentence.
        scheme: str, one of :data:`SCHEMES`.

    Returns:
        ``[(type, start, end), ...]`` with exclusive ``end``.

    Raises:
        ValueError: for an unknown scheme, a malformed tag, or a prefix the
            scheme does not use (``E-PER`` in IOB2).

    Example:
        >>> strict_entities(["O", "I-PER", "B-PER", "I-PER"], "IOB2")
        [('PER', 2, 4)]
        >>> strict_entities(["B-LOC", "I-LOC", "O", "S-PER"], "BIOES")
        [('PER', 3, 4)]
    """
    _check_scheme(scheme)
    rules = _STRICT_RULES[scheme]
    outside = ("O", None)
    # The appended outside word lets the last entity meet its end rule.
    words = _parse_for_scheme(tags, scheme) + [outside]
    spans = []
    i = 0
    while i < len(words):
        prev = words[i - 1] if i > 0 else outside
        if not _matches(rules["start"], prev, words[i]):
            i += 1
            continue
        end = i + 1
        # Never runs off the end: nothing continues into the final outside word.
        while _matches(rules["inside"], words[end - 1], words[end]):
            end += 1
        if _matches(rules["end"], words[end - 1], words[end]):
            spans.append((words[i][1], i, end))
        # Resume at the word that stopped the entity; it may open the next one.
        i = end
    return spans


def _scores(tp: int, predicted: int, support: int) -> dict[str, float | int]:
    # 0/0 is scored 0, as conlleval and seqeval(zero_division=0) do.
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "support": support, "predicted": predicted, "true_positives": tp}


def classification_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], *,
                          mode: str = "default", scheme: str = "IOB2") -> dict:
    """Entity-level scores per type and averaged, plus token accuracy.

    An entity is correct when type, start and end all match. ``mode="default"``
    reads entities with :func:`get_entities` and gives the numbers
    ``conlleval.pl`` and ``seqeval``'s default mode give; ``mode="strict"``
    uses :func:`strict_entities` with ``scheme`` (``seqeval`` strict mode).

    Args:
        gold: list of sentences, each a list of str tags (reference).
        pred: list of sentences, each a list of str tags (system output), with
            the same number of sentences and words as ``gold``.
        mode: str, ``"default"`` or ``"strict"``.
        scheme: str, one of :data:`SCHEMES`; used by the strict mode only
            (the default mode reads every scheme the same way).

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

    Raises:
        ValueError: if the number of sentences differs, if a gold and a
            predicted sentence differ in length (naming the sentence index),
            for a malformed tag, or for an unknown mode or scheme.
    """
    if mode not in ("default", "strict"):
        raise ValueError(f"unknown mode {mode!r}: expected 'default' or 'strict'")
    _check_scheme(scheme)
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")

    def entities(tags: Sequence[str]) -> list[Span]:
        return get_entities(tags) if mode == "default" else strict_entities(tags, scheme)

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

    types = {t: _scores(tp[t], predicted[t], support[t]) for t in sorted(support | predicted)}
    total_support = sum(support.values())
    totals = {"support": total_support, "predicted": sum(predicted.values()),
              "true_positives": sum(tp.values())}
    macro = dict(totals)
    weighted = dict(totals)
    for key in ("precision", "recall", "f1"):
        values = [scores[key] for scores in types.values()]
        macro[key] = sum(values) / len(values) if values else 0.0
        weighted[key] = (sum(scores[key] * scores["support"] for scores in types.values())
                         / total_support if total_support else 0.0)
    return {
        "mode": mode,
        "scheme": scheme if mode == "strict" else None,
        "sentences": len(gold),
        "tokens": tokens,
        "correct_tags": correct_tags,
        "accuracy": correct_tags / tokens if tokens else 0.0,
        "types": types,
        "micro avg": _scores(totals["true_positives"], totals["predicted"], total_support),
        "macro avg": _order_like_scores(macro),
        "weighted avg": _order_like_scores(weighted),
    }


def _order_like_scores(scores: dict) -> dict:
    keys = ("precision", "recall", "f1", "support", "predicted", "true_positives")
    return {key: scores[key] for key in keys}


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
