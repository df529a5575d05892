"""The analysis behind the evaluation report: scores, errors, confusion, invalid transitions.

:func:`evaluate` is a plain function returning a JSON-ready dict; training's
dev and test scores and ``python -m evaluation.report`` both call it, and
:func:`evaluation.render.format_report` renders it. What the dict holds:

* ``default`` and ``strict`` -- :func:`evaluation.metrics.classification_report`
  in both modes. They differ on orphan ``I-`` tags, which a softmax tagger
  produces and a CRF with transition constraints does not.
* ``errors`` -- every gold entity that was not found exactly falls in one
  class: ``wrong_type`` (a predicted entity has the same span),
  ``wrong_boundary`` (an overlapping predicted entity of the same type),
  ``wrong_type_and_boundary`` (only overlapping predicted entities of other
  types and spans) or ``missed`` (nothing predicted overlaps it).
  ``spurious`` counts predicted entities that overlap no gold entity. So
  ``support == correct + missed + wrong_type + wrong_boundary +
  wrong_type_and_boundary``. Computed on default-mode (conlleval) entities
  by :func:`classify_spans`; ``by_type`` splits the counts by the gold
  entity's type (the predicted one's for ``spurious``), and
  :func:`sentence_errors` lists every error in its sentence.
* ``confusion`` -- gold type x predicted type over spans present on both
  sides; the ``O`` column counts gold entities with no predicted entity of
  exactly that span, the ``O`` row predicted entities with no gold entity of
  exactly that span. Row sums are the support, column sums the predicted
  counts, the diagonal the true positives.
* ``invalid_transitions`` -- predicted tags the input scheme forbids after
  their predecessor (:func:`ner.schemes.invalid_transitions`; IOB2: ``I-X``
  not after ``B-X``/``I-X``).
* ``missing_predictions`` -- words with no predicted tag (short prediction
  lists, an empty label, a line without its last column). They are scored
  as ``O``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from typing import Sequence

from evaluation.metrics import classification_report, format_conlleval, strict_entities
from ner import schemes

__all__ = ["ERROR_CLASSES", "classify_spans", "evaluate", "fill_predictions", "input_scheme_label",
           "scheme_label", "sentence_errors"]

#: The error classes of ``evaluate(...)["errors"]``, besides "correct".
ERROR_CLASSES = ("missed", "spurious", "wrong_type", "wrong_boundary", "wrong_type_and_boundary")


def fill_predictions(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str | None]]
                      ) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """Fills in the words without prediction with "O", as :func:`evaluate` scores them.

    Args:
        gold: list of sentences of str tags.
        pred: list of sentences of str tags aligned with ``gold``; a sentence
            may be shorter, a tag None or blank.

    Returns:
        ``(filled, missing)``: ``pred`` with one str tag per gold word, and
        the ``(sentence, word)`` of each word that had none.

    Raises:
        ValueError: different sentence counts, or a predicted sentence
            longer than its gold one.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    filled, missing = [], []
    for s, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        pred_tags = list(pred_tags or [])
        if len(pred_tags) > len(gold_tags):
            raise ValueError(f"sentence {s}: {len(pred_tags)} predicted tags for "
                             f"{len(gold_tags)} words")
        row = []
        for i in range(len(gold_tags)):
            tag = pred_tags[i] if i < len(pred_tags) else None
            if tag is None or not tag.strip():
                missing.append((s, i))
                tag = "O"
            row.append(tag)
        filled.append(row)
    return filled, missing


def _check_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                scheme: str | None) -> None:
    for name, sequences in (("gold", gold), ("predicted", pred)):
        for s, tags in enumerate(sequences):
            try:
                schemes.parse_tags(tags, scheme)
            except schemes.TagError as exc:
                raise ValueError(f"sentence {s}, word {exc.index}: {name} {exc.reason}") from None


def _overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def classify_spans(gold_spans: Sequence[tuple[str, int, int]],
                   pred_spans: Sequence[tuple[str, int, int]]
                   ) -> list[tuple[str, tuple | None, tuple | None]]:
    """The class of each gold entity of a sentence, then each spurious prediction.

    Args:
        gold_spans, pred_spans: ``(type, start, end)`` entities of one
            sentence (end exclusive), as :func:`ner.schemes.chunks` gives them.

    Returns:
        ``(class, gold, pred)`` triples: one per gold entity, in order, with
        class ``"correct"`` or an error class of :data:`ERROR_CLASSES` and the
        predicted entity it was judged against (None for ``missed``); then
        one ``("spurious", None, pred)`` per predicted entity that overlaps
        no gold entity, in order. The module docstring defines the classes.
    """
    pred_by_bounds = {(p[1], p[2]): p for p in pred_spans}
    overlapping_preds = _overlap_finder(pred_spans)
    overlapping_golds = _overlap_finder(gold_spans)
    out: list[tuple[str, tuple | None, tuple | None]] = []
    for g in gold_spans:
        same_bounds = pred_by_bounds.get((g[1], g[2]))
        if same_bounds == g:
            out.append(("correct", g, same_bounds))
        elif same_bounds:
            out.append(("wrong_type", g, same_bounds))
        else:
            overlapping = overlapping_preds(g)
            same_type = [p for p in overlapping if p[0] == g[0]]
            if same_type:
                out.append(("wrong_boundary", g, same_type[0]))
            elif overlapping:
                out.append(("wrong_type_and_boundary", g, overlapping[0]))
            else:
                out.append(("missed", g, None))
    for p in pred_spans:
        if not overlapping_golds(p):
            out.append(("spurious", None, p))
    return out


def _overlap_finder(spans: Sequence[tuple[str, int, int]]
                    ) -> Callable[[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """span -> the spans of `spans` it overlaps, in their order.

    Entities of one side of a sentence (`ner.schemes.chunks`) are in order and
    disjoint, so those overlapping a span are a run found by bisection: time
    linear in a sentence's entities, where comparing every pair made one long
    sentence (a file without blank lines) quadratic. Other input is searched
    pair by pair.
    """
    ends = [span[2] for span in spans]
    ordered = all(a[2] <= b[1] for a, b in zip(spans, spans[1:])) and all(
        span[1] < span[2] for span in spans)
    if not ordered:
        return lambda other: [span for span in spans if _overlaps(other, span)]

    def find(other: tuple[str, int, int]) -> list[tuple[str, int, int]]:
        found = []
        for i in range(bisect.bisect_right(ends, other[1]), len(spans)):
            if spans[i][1] >= other[2]:
                break
            found.append(spans[i])
        return found

    return find


def _as_iob2(gold: Sequence[Sequence[str]], filled: Sequence[Sequence[str]], scheme: str
             ) -> tuple[list[list[str]], list[list[str]]]:
    # IOB2 input stays as it is, orphan I- tags included, so that accuracy is
    # conlleval's; IOB1 and BIOES are rewritten from their conlleval chunks,
    # which keeps the default-mode entities as they were.
    return ([schemes.convert(tags, scheme, "IOB2", strict=False) for tags in gold],
            [schemes.convert(tags, scheme, "IOB2", strict=False) for tags in filled])


def input_scheme_label(result: dict) -> str:
    """How a report's header names what it read: `scheme_label`, or, where a
    model's report read its data file in another scheme and converted it
    (``result["model"]["data_scheme"]``), e.g. "IOB1, converted to IOB2 on reading"."""
    data = (result.get("model") or {}).get("data_scheme")
    if not data or data == result["scheme"]:
        return scheme_label(result)
    what = "character-offset spans" if data == "spans" else data
    return f"{what}, converted to {result['scheme']} on reading"


def scheme_label(result: dict) -> str:
    """How a report names the input's scheme: "IOB2", or "IOB1 gold, IOB2 predictions"."""
    predicted = result.get("predicted_scheme", result["scheme"])
    if predicted == result["scheme"]:
        return result["scheme"]
    return f"{result['scheme']} gold, {predicted} predictions"


def sentence_errors(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str | None]],
                    scheme: str) -> list[dict]:
    """Every sentence with an entity error, with all its entities: what error browsers show.

    The same entities and classes :func:`evaluate` counts (default-mode,
    :func:`classify_spans`), kept whole rather than a few per class.

    Args:
        gold, pred: as for :func:`evaluate`.
        scheme: the input's scheme, e.g. ``evaluate(...)["scheme"]`` (not "auto").

    Returns:
        One dict per sentence with at least one error, in sentence order::

            {"sentence": int,
             "gold": [[type, start, end], ...], "pred": [[type, start, end], ...],
             "errors": [{"kind": str, "gold": [type, start, end] | None,
                         "pred": [type, start, end] | None}, ...]}
    """
    filled, _ = fill_predictions(gold, pred)
    scheme = schemes.scheme_name(scheme)
    out = []
    for s, (gold_tags, pred_tags) in enumerate(zip(*_as_iob2(gold, filled, scheme))):
        gold_spans, pred_spans = schemes.chunks(gold_tags), schemes.chunks(pred_tags)
        errors = [{"kind": name, "gold": list(g) if g else None, "pred": list(p) if p else None}
                  for name, g, p in classify_spans(gold_spans, pred_spans) if name != "correct"]
        if errors:
            out.append({"sentence": s, "gold": [list(g) for g in gold_spans],
                        "pred": [list(p) for p in pred_spans], "errors": errors})
    return out


def _span_example(s: int, gold: tuple | None, pred: tuple | None,
                  words: Sequence[str] | None) -> dict:
    example: dict = {"sentence": s, "gold": list(gold) if gold else None,
                     "pred": list(pred) if pred else None}
    if words is not None:
        for key, span in (("gold_text", gold), ("pred_text", pred)):
            if span:
                example[key] = " ".join(words[span[1]:span[2]])
    return example


def evaluate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str | None]],
             tokens: Sequence[Sequence[str]] | None = None, *, scheme: str = "auto",
             examples: int = 3) -> dict:
    """Scores predicted tags against gold tags and analyses the errors.

    Args:
        gold: list of sentences, each a list of str tags.
        pred: list of sentences of str tags, aligned with ``gold``. A sentence
            may be shorter than its gold one and a tag may be ``None`` or
            ``""``: those words have no prediction, are counted in
            ``missing_predictions`` and scored as ``O``.
        tokens: optional list of sentences of str words, for example texts.
        scheme: str, ``"auto"`` (:func:`ner.schemes.detect_scheme`, the
            predictions counting only for BIOES) or a scheme name: the scheme
            of the input tags. With ``"auto"``, predictions that are plainly
            in the other of IOB1 and IOB2 (an IOB2 tagger scored on IOB1
            gold) are read in their own scheme in strict mode and for invalid
            transitions; see :func:`scheme_label`.
        examples: int, how many examples to keep per error class.

    Returns:
        A JSON-ready dict::

            {"scheme": str,                 # scheme of the input (the gold tags)
             "predicted_scheme": str,       # the predictions' (see scheme)
             "sentences": int, "tokens": int,
             "default": dict,  # classification_report(mode="default") on IOB2 tags
             "strict": dict,   # classification_report(mode="strict", scheme=scheme)
             "conlleval": str, # format_conlleval(default)
             "errors": {"counts": {"correct": int, "missed": int, "spurious": int,
                                   "wrong_type": int, "wrong_boundary": int,
                                   "wrong_type_and_boundary": int},
                        "by_type": {type: {class: int}},  # the counts by type
                        "examples": {class: [{"sentence": int,
                                              "gold": [type, start, end] | None,
                                              "pred": [type, start, end] | None,
                                              "gold_text"?: str, "pred_text"?: str}]}},
             "confusion": {"labels": [types..., "O"],
                           "matrix": {gold_label: {pred_label: int}}},
             "invalid_transitions": {"scheme": str, "count": int, "gold_count": int,
                                     "examples": [{"sentence", "position",
                                                   "previous", "tag", "word"?}]},
             "missing_predictions": {"count": int,
                                     "examples": [{"sentence", "position", "word"?}]}}

        Spans are ``[type, start, end)`` word offsets within their sentence.

    Raises:
        ValueError: different sentence counts, a predicted sentence longer
            than its gold one, ``tokens`` of another shape, a malformed tag or
            one the scheme does not allow (naming sentence and word).
    """
    filled, missing = fill_predictions(gold, pred)
    if tokens is not None:
        if len(tokens) != len(gold) or any(len(w) != len(g) for w, g in zip(tokens, gold)):
            raise ValueError("tokens must have the same sentences and lengths as gold")
    if scheme == "auto":
        _check_tags(gold, filled, None)  # every prefix, to get well-formed tags
        scheme = schemes.detect_scheme(gold, predicted=filled)
        # CoNLL-2003 comes in IOB1 and taggers write IOB2 (ours always): the
        # predictions are read in their own scheme when theirs is plainly the
        # other one, or every B-X after O would be an ill-formed entity.
        if scheme in ("IOB1", "IOB2"):
            predicted_scheme = schemes.detect_scheme(filled, undecided=scheme)
        elif schemes.detect_scheme(gold) == "BIOES":
            # BIOES gold and, often, a tagger's IOB2 (`ner.tag` writes IOB2
            # beside any gold column): read as BIOES, its every "B-X I-X"
            # would be an unfinished entity.
            predicted_scheme = schemes.detect_scheme(filled)
        else:  # BIOES predictions on IOB gold: BIOES allows every prefix
            predicted_scheme = scheme
    else:
        predicted_scheme = scheme = schemes.scheme_name(scheme)
    scheme = schemes.scheme_name(scheme)
    _check_tags(gold, filled, scheme)

    if predicted_scheme == scheme:
        strict = classification_report(gold, filled, mode="strict", scheme=scheme)
    else:
        # Each column's well-formed entities in its own scheme, spelled in
        # IOB2, for seqeval's strict IOB2 to count as they are.
        def well_formed(sequences, own):
            return [schemes.spell(strict_entities(tags, own), len(tags), "IOB2")
                    for tags in sequences]
        strict = classification_report(well_formed(gold, scheme),
                                       well_formed(filled, predicted_scheme),
                                       mode="strict", scheme="IOB2")
    gold2, pred2 = _as_iob2(gold, filled, scheme)
    default = classification_report(gold2, pred2, mode="default")

    counts = Counter({name: 0 for name in ("correct", *ERROR_CLASSES)})
    found: dict[str, list] = {name: [] for name in ERROR_CLASSES}
    labels = sorted(default["types"]) + ["O"]
    matrix = {g: {p: 0 for p in labels} for g in labels}
    by_type = {t: {name: 0 for name in ("correct", *ERROR_CLASSES)} for t in labels[:-1]}

    for s, (gold_tags, pred_tags) in enumerate(zip(gold2, pred2)):
        gold_spans, pred_spans = schemes.chunks(gold_tags), schemes.chunks(pred_tags)
        pred_by_bounds = {(p[1], p[2]): p for p in pred_spans}
        gold_bounds = {(g[1], g[2]) for g in gold_spans}
        for g in gold_spans:
            same_bounds = pred_by_bounds.get((g[1], g[2]))
            matrix[g[0]][same_bounds[0] if same_bounds else "O"] += 1
        for p in pred_spans:
            if (p[1], p[2]) not in gold_bounds:
                matrix["O"][p[0]] += 1
        for name, g, p in classify_spans(gold_spans, pred_spans):
            counts[name] += 1
            by_type[(g or p)[0]][name] += 1
            if name != "correct" and len(found[name]) < examples:
                words = tokens[s] if tokens is not None else None
                found[name].append(_span_example(s, g, p, words))

    invalid = []
    for s, tags in enumerate(filled):
        for i in schemes.invalid_transitions(tags, predicted_scheme):
            example = {"sentence": s, "position": i,
                       "previous": tags[i - 1] if i > 0 else None,
                       "tag": tags[i] if i < len(tags) else None}
            if tokens is not None and i < len(tags):
                example["word"] = tokens[s][i]
            invalid.append(example)
    missing_examples = []
    for s, i in missing[:examples]:
        example = {"sentence": s, "position": i}
        if tokens is not None:
            example["word"] = tokens[s][i]
        missing_examples.append(example)

    return {
        "scheme": scheme,
        "predicted_scheme": predicted_scheme,
        "sentences": len(gold),
        "tokens": default["tokens"],
        "default": default,
        "strict": strict,
        "conlleval": format_conlleval(default),
        "errors": {"counts": dict(counts), "by_type": by_type, "examples": found},
        "confusion": {"labels": labels, "matrix": matrix},
        "invalid_transitions": {
            "scheme": predicted_scheme,
            "count": len(invalid),
            "gold_count": sum(len(schemes.invalid_transitions(tags, scheme)) for tags in gold),
            "examples": invalid[:examples],
        },
        "missing_predictions": {"count": len(missing), "examples": missing_examples},
    }
