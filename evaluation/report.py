"""Evaluates NER output: conlleval scores, strict scores and an error analysis.

Command line (``python -m evaluation.report``), either on another system's
output in CoNLL columns (``word ... gold pred``)::

    python -m evaluation.report --predictions_in=system.txt --output=report.json

or by tagging a CoNLL file with a trained model (``ner.Tagger``; gold tags are
read by ``ner.data.read_conll`` and scored in IOB2)::

    python -m evaluation.report --model_dir=runs/bert --data=data/conll2003/test.txt \\
        --predictions=test.pred.txt --output=report.json

The printed overall and per-type numbers are those ``conlleval.pl`` prints for
the ``--predictions`` file (tags there are IOB2, the scheme every input is
converted to before scoring). Bad input ends with one line on stderr,
``report: error: FILE:LINE: ...``, and exit status 2.

Library use goes through :func:`evaluate`, a plain function returning a
JSON-ready dict; the command line only reads files, calls it and prints.

What the report holds (see :func:`evaluate` for the exact keys):

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
  wrong_type_and_boundary``. Computed on default-mode (conlleval) entities.
* ``confusion`` -- gold type x predicted type over spans present on both
  sides; the ``O`` column counts gold entities with no predicted entity of
  exactly that span, the ``O`` row predicted entities with no gold entity of
  exactly that span. Row sums are the support, column sums the predicted
  counts, the diagonal the true positives.
* ``invalid_transitions`` -- predicted tags the input scheme forbids after
  their predecessor (IOB2: ``I-X`` not after ``B-X``/``I-X``).
* ``missing_predictions`` -- words with no predicted tag (short prediction
  lists, an empty label, a line without its last column). They are scored
  as ``O``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import Counter
from typing import Sequence

from evaluation.metrics import (SCHEME_PREFIXES, SCHEMES, classification_report,
                                conlleval_percentages, format_conlleval, get_entities, parse_tag)

__all__ = [
    "InputError",
    "read_predictions",
    "write_predictions",
    "detect_scheme",
    "to_iob2",
    "invalid_transitions",
    "evaluate",
    "format_report",
    "run",
    "ERROR_CLASSES",
]

_DOCSTART = "-DOCSTART-"
#: The error classes of ``evaluate(...)["errors"]``, besides "correct".
ERROR_CLASSES = ("missed", "spurious", "wrong_type", "wrong_boundary", "wrong_type_and_boundary")


class InputError(ValueError):
    """Bad input file; ``str()`` is ``"FILE:LINE: message"`` (``"FILE: message"``
    when no single line is at fault)."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


@dataclasses.dataclass
class _PredictionFile:
    """A parsed ``word ... gold pred`` file; ``lines[s][i]`` is word i's line number."""
    tokens: list[list[str]]
    gold: list[list[str]]
    pred: list[list[str | None]]
    lines: list[list[int]]


def _read_prediction_file(path: str) -> _PredictionFile:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, raw[:exc.start].count(b"\n") + 1, "not UTF-8 text") from None

    rows: list[tuple[int, list[str] | None]] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        # -DOCSTART- lines separate documents; like a blank line they end a sentence.
        rows.append((number, fields if fields and fields[0] != _DOCSTART else None))
    widths = Counter(len(fields) for _, fields in rows if fields)
    if not widths:
        raise InputError(path, None, "empty file: no token lines")
    # The usual column count (ties: the wider) decides what a line should have;
    # a line one column short lacks its prediction, which is reported, not fatal.
    width = max(widths, key=lambda n: (widths[n], n))
    if width < 3:
        first = next(number for number, fields in rows if fields)
        raise InputError(path, first, f"expected at least 3 columns (word ... gold pred), "
                                      f"got {width}")

    result = _PredictionFile([], [], [], [])
    sentence: list[tuple[int, list[str]]] = []
    for number, fields in [*rows, (0, None)]:
        if fields is not None:
            if len(fields) not in (width, width - 1):
                raise InputError(path, number, f"expected {width} columns (word ... gold pred) "
                                               f"like most lines, got {len(fields)}")
            sentence.append((number, fields))
            continue
        if not sentence:
            continue
        result.tokens.append([f[0] for _, f in sentence])
        result.gold.append([f[width - 2] for _, f in sentence])
        result.pred.append([f[width - 1] if len(f) == width else None for _, f in sentence])
        result.lines.append([n for n, _ in sentence])
        sentence = []

    for name, sequences in (("gold", result.gold), ("predicted", result.pred)):
        for tags, lines in zip(sequences, result.lines):
            for tag, number in zip(tags, lines):
                if tag is None:
                    continue
                try:
                    parse_tag(tag)
                except ValueError as exc:
                    raise InputError(path, number, f"{name} {exc}") from None
    return result


def read_predictions(path: str) -> tuple[list[list[str]], list[list[str]], list[list[str | None]]]:
    """Reads a prediction file in conlleval's input format.

    One word per line, whitespace-separated columns ending in ``gold pred``
    (``word gold pred``, or ``word pos chunk gold pred``); blank lines between
    sentences; ``-DOCSTART-`` lines are skipped (they end a sentence). A line
    with one column fewer than the file's usual count has no prediction.

    Args:
        path: str, file path (UTF-8).

    Returns:
        ``(tokens, gold, pred)``, each a list of sentences of str; in ``pred``
        a word without prediction is ``None``.

    Raises:
        InputError: missing or empty file, a line with a wrong column count or
            a malformed tag, naming the file and line.
    """
    parsed = _read_prediction_file(path)
    return parsed.tokens, parsed.gold, parsed.pred


def write_predictions(path: str, tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                      pred: Sequence[Sequence[str]]) -> None:
    """Writes ``word gold pred`` lines, a blank line after each sentence.

    This is ``conlleval.pl``'s input format: ``perl conlleval.pl < path``
    prints the numbers :func:`format_report` shows.

    Args:
        path: str, output file.
        tokens, gold, pred: lists of sentences of str, equal shapes.
    """
    with open(path, "w", encoding="utf-8") as f:
        for words, gold_tags, pred_tags in zip(tokens, gold, pred):
            for word, g, p in zip(words, gold_tags, pred_tags):
                f.write(f"{word} {g} {p}\n")
            f.write("\n")


def detect_scheme(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]] = ()) -> str:
    """Guesses the tagging scheme of a data set.

    ``BIOES`` if any tag, gold or predicted, has an ``E-`` or ``S-`` prefix.
    Otherwise the GOLD tags decide (predictions may be ill-formed in any
    scheme): ``IOB1`` if some gold ``I-X`` opens an entity (follows ``O`` or
    another type) and no gold ``B-X`` does; else ``IOB2``.

    Args:
        gold, pred: lists of sentences of well-formed str tags.

    Returns:
        str, one of ``"IOB1"``, ``"IOB2"``, ``"BIOES"``.
    """
    prefixes = {parse_tag(tag)[0] for sequences in (gold, pred) for tags in sequences
                for tag in tags}
    if prefixes & {"E", "S"}:
        return "BIOES"
    opens_with_i = opens_with_b = False
    for tags in gold:
        prev_type = None
        for tag in tags:
            prefix, type_ = parse_tag(tag)
            if type_ is not None and type_ != prev_type:
                opens_with_i |= prefix == "I"
                opens_with_b |= prefix == "B"
            prev_type = type_
    return "IOB1" if opens_with_i and not opens_with_b else "IOB2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Rewrites one sentence's tags in IOB2.

    IOB2 input is returned unchanged, orphan ``I-`` tags included, so the
    strict mode and the invalid-transition count still see them. IOB1 and
    BIOES are rewritten from their default-mode (conlleval) entities, which
    keeps the default-mode scores exactly as they were.

    Args:
        tags: list of str, one sentence.
        scheme: str, the scheme ``tags`` are in (one of ``SCHEMES``).

    Returns:
        list of str, same length.
    """
    if scheme == "IOB2":
        return list(tags)
    out = ["O"] * len(tags)
    for type_, start, end in get_entities(tags):
        out[start:end] = [f"B-{type_}"] + [f"I-{type_}"] * (end - start - 1)
    return out


def invalid_transitions(tags: Sequence[str], scheme: str) -> list[int]:
    """Positions where a tag may not follow its predecessor in ``scheme``.

    * IOB2: ``I-X`` not preceded by ``B-X`` or ``I-X``.
    * IOB1: ``B-X`` not preceded by ``B-X`` or ``I-X`` (B only separates
      adjacent entities of one type).
    * BIOES: after ``O``/``E-``/``S-`` (or at the start) only ``O``, ``B-``,
      ``S-``; after ``B-X``/``I-X`` only ``I-X``, ``E-X``; and a sentence must
      not end inside an entity -- that last case is reported at position
      ``len(tags)``.

    Args:
        tags: list of str, one sentence in ``scheme``.
        scheme: str, one of ``SCHEMES``.

    Returns:
        list of int, ascending.
    """
    bad = []
    prev_prefix, prev_type = "O", None
    for i, tag in enumerate(tags):
        prefix, type_ = parse_tag(tag)
        continues = prev_prefix in "BI" and prev_type == type_
        if scheme == "IOB2" and prefix == "I" and not continues:
            bad.append(i)
        elif scheme == "IOB1" and prefix == "B" and not continues:
            bad.append(i)
        elif scheme == "BIOES":
            inside = prev_prefix in "BI"
            if (inside and not (prefix in "IE" and continues)) or (not inside and prefix in "IE"):
                bad.append(i)
        prev_prefix, prev_type = prefix, type_
    if scheme == "BIOES" and prev_prefix in "BI":
        bad.append(len(tags))
    return bad


def _fill_predictions(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str | None]]
                      ) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """Scores missing predictions as "O"; returns the filled tags and their (sentence, word)."""
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


def _check_tags(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str
                ) -> None:
    allowed = SCHEME_PREFIXES[scheme]
    for name, sequences in (("gold", gold), ("predicted", pred)):
        for s, tags in enumerate(sequences):
            for i, tag in enumerate(tags):
                try:
                    prefix, _ = parse_tag(tag)
                except ValueError as exc:
                    raise ValueError(f"sentence {s}, word {i}: {name} {exc}") from None
                if prefix not in allowed:
                    raise ValueError(f"sentence {s}, word {i}: {name} tag {tag!r} is not "
                                     f"allowed in scheme {scheme}")


def _overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


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
        scheme: str, ``"auto"`` (see :func:`detect_scheme`) or one of
            ``SCHEMES``: the scheme of the input tags.
        examples: int, how many examples to keep per error class.

    Returns:
        A JSON-ready dict::

            {"scheme": str,                 # scheme of the input
             "sentences": int, "tokens": int,
             "default": dict,  # classification_report(mode="default") on IOB2 tags
             "strict": dict,   # classification_report(mode="strict", scheme=scheme)
             "conlleval": str, # format_conlleval(default)
             "errors": {"counts": {"correct": int, "missed": int, "spurious": int,
                                   "wrong_type": int, "wrong_boundary": int,
                                   "wrong_type_and_boundary": int},
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
    filled, missing = _fill_predictions(gold, pred)
    if tokens is not None:
        if len(tokens) != len(gold) or any(len(w) != len(g) for w, g in zip(tokens, gold)):
            raise ValueError("tokens must have the same sentences and lengths as gold")
    if scheme == "auto":
        _check_tags(gold, filled, "BIOES")  # every prefix, to get well-formed tags
        scheme = detect_scheme(gold, filled)
    elif scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}: expected auto or one of {', '.join(SCHEMES)}")
    _check_tags(gold, filled, scheme)

    strict = classification_report(gold, filled, mode="strict", scheme=scheme)
    gold2 = [to_iob2(tags, scheme) for tags in gold]
    pred2 = [to_iob2(tags, scheme) for tags in filled]
    default = classification_report(gold2, pred2, mode="default")

    counts = Counter({name: 0 for name in ("correct", *ERROR_CLASSES)})
    found: dict[str, list] = {name: [] for name in ERROR_CLASSES}
    labels = sorted(default["types"]) + ["O"]
    matrix = {g: {p: 0 for p in labels} for g in labels}

    def note(name: str, s: int, g: tuple | None, p: tuple | None) -> None:
        counts[name] += 1
        if len(found[name]) < examples:
            found[name].append(_span_example(s, g, p, tokens[s] if tokens is not None else None))

    for s, (gold_tags, pred_tags) in enumerate(zip(gold2, pred2)):
        gold_spans, pred_spans = get_entities(gold_tags), get_entities(pred_tags)
        pred_by_bounds = {(p[1], p[2]): p for p in pred_spans}
        gold_bounds = {(g[1], g[2]) for g in gold_spans}
        for g in gold_spans:
            same_bounds = pred_by_bounds.get((g[1], g[2]))
            matrix[g[0]][same_bounds[0] if same_bounds else "O"] += 1
            if same_bounds == g:
                counts["correct"] += 1
                continue
            if same_bounds:
                note("wrong_type", s, g, same_bounds)
                continue
            overlapping = [p for p in pred_spans if _overlaps(g, p)]
            same_type = [p for p in overlapping if p[0] == g[0]]
            if same_type:
                note("wrong_boundary", s, g, same_type[0])
            elif overlapping:
                note("wrong_type_and_boundary", s, g, overlapping[0])
            else:
                note("missed", s, g, None)
        for p in pred_spans:
            if (p[1], p[2]) not in gold_bounds:
                matrix["O"][p[0]] += 1
            if not any(_overlaps(g, p) for g in gold_spans):
                note("spurious", s, None, p)

    invalid = []
    for s, tags in enumerate(filled):
        for i in invalid_transitions(tags, scheme):
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
        "sentences": len(gold),
        "tokens": default["tokens"],
        "default": default,
        "strict": strict,
        "conlleval": format_conlleval(default),
        "errors": {"counts": dict(counts), "examples": found},
        "confusion": {"labels": labels, "matrix": matrix},
        "invalid_transitions": {
            "scheme": scheme,
            "count": len(invalid),
            "gold_count": sum(len(invalid_transitions(tags, scheme)) for tags in gold),
            "examples": invalid[:examples],
        },
        "missing_predictions": {"count": len(missing), "examples": missing_examples},
    }


def format_report(result: dict) -> str:
    """Renders :func:`evaluate`'s dict as the text the command line prints.

    Args:
        result: dict from :func:`evaluate`.

    Returns:
        str: the side-by-side default/strict table (percentages, rounded as
        conlleval rounds them), the conlleval block, the error breakdown, the
        confusion matrix, invalid transitions and words without prediction.
    """
    default, strict, scheme = result["default"], result["strict"], result["scheme"]
    out = [f"Input scheme: {scheme} (scored as IOB2). {result['sentences']} sentences, "
           f"{result['tokens']} tokens.",
           "Mode default = conlleval.pl / seqeval default (orphan I- tags start entities); "
           f"mode strict = seqeval mode='strict', scheme {scheme} (ill-formed entities "
           "do not count).", ""]
    width = max([17, *(len(t) for t in default["types"]), *(len(t) for t in strict["types"])])
    cells = f"{'prec':>7} {'rec':>7} {'F1':>7} {'support':>8} {'found':>6}"
    out.append(f"{'':{width}} | {'mode: default (conlleval)':^38} | "
               f"{'mode: strict (' + scheme + ')':^38}")
    out.append(f"{'type':{width}} | {cells} | {cells}")

    def row(scores: dict | None, averaged: bool) -> str:
        if scores is None:
            return f"{'-':>7} {'-':>7} {'-':>7} {0:>8} {0:>6}"
        if averaged:
            p, r, f = (100 * scores[key] for key in ("precision", "recall", "f1"))
        else:
            p, r, f = conlleval_percentages(scores["true_positives"], scores["predicted"],
                                            scores["support"])
        return f"{p:7.2f} {r:7.2f} {f:7.2f} {scores['support']:>8} {scores['predicted']:>6}"

    for type_ in sorted(set(default["types"]) | set(strict["types"])):
        out.append(f"{type_:{width}} | {row(default['types'].get(type_), False)} | "
                   f"{row(strict['types'].get(type_), False)}")
    out.append(f"{'micro avg':{width}} | {row(default['micro avg'], False)} | "
               f"{row(strict['micro avg'], False)}")
    for average in ("macro avg", "weighted avg"):
        out.append(f"{average:{width}} | {row(default[average], True)} | "
                   f"{row(strict[average], True)}")
    out.append(f"{'token accuracy':{width}} | {100 * default['accuracy']:7.2f}")

    out += ["", "conlleval.pl output (mode default):", result["conlleval"].rstrip("\n"), ""]

    errors = result["errors"]
    out.append("Errors (gold entities, except spurious = predicted entities; "
               "default-mode entities):")
    descriptions = {
        "correct": "correct",
        "missed": "missed (no overlapping prediction)",
        "spurious": "spurious (overlaps no gold entity)",
        "wrong_type": "right span, wrong type",
        "wrong_boundary": "right type, wrong boundary",
        "wrong_type_and_boundary": "wrong type and boundary",
    }
    for name, text in descriptions.items():
        out.append(f"  {text:<36} {errors['counts'][name]:>7}")
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


def _describe(span: list | None, text: str | None) -> str:
    if span is None:
        return "-"
    described = f"{span[0]}[{span[1]}:{span[2]}]"
    return f"{described} {text!r}" if text is not None else described


def _check_file_scheme(parsed: _PredictionFile, filled: list[list[str]], scheme: str,
                       path: str) -> str:
    """Resolves "auto" and checks every tag against the scheme, naming the line."""
    if scheme == "auto":
        scheme = detect_scheme(parsed.gold, filled)
    allowed = SCHEME_PREFIXES[scheme]
    for name, sequences in (("gold", parsed.gold), ("predicted", parsed.pred)):
        for tags, lines in zip(sequences, parsed.lines):
            for tag, line in zip(tags, lines):
                if tag is not None and parse_tag(tag)[0] not in allowed:
                    raise InputError(path, line, f"{name} tag {tag!r} is not allowed in "
                                                 f"scheme {scheme}")
    return scheme


def _tag_with_model(model_dir: str, data_path: str, scheme: str
                    ) -> tuple[list[list[str]], list[list[str]], list[list[str]], str]:
    """Tags ``data_path`` with the model in ``model_dir``.

    ``ner.data.read_conll`` reads the gold tags in ``scheme`` and hands them
    back in IOB2; predictions in BIOES (a model trained that way) are
    rewritten to IOB2 too, so the scores use IOB2 throughout.

    Returns:
        ``(tokens, gold, pred, "IOB2")``.
    """
    if not os.path.exists(data_path):
        raise InputError(data_path, None, "no such file")
    if not os.path.isdir(model_dir):
        raise InputError(model_dir, None, "no such model directory")
    # Imported here so that evaluating a prediction file never needs TensorFlow.
    try:
        from ner import Tagger
        from ner import data as ner_data
    except ImportError as exc:
        raise ValueError(f"--model_dir needs ner.Tagger and ner.data: {exc}") from None
    try:
        sentences = ner_data.sentences(ner_data.read_conll(data_path, scheme=scheme))
    except ner_data.ConllFormatError as exc:
        # Its message names the file (and line) already.
        raise ValueError(str(exc)) from None
    if not sentences:
        raise InputError(data_path, None, "empty file: no sentences")
    tokens = [list(sentence.tokens) for sentence in sentences]
    gold = [list(sentence.tags) for sentence in sentences]
    try:
        tagger = Tagger.load(model_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(model_dir, None, f"cannot load model: {exc}") from None
    pred = [list(tags) for tags in tagger.tag_tokens(tokens)]
    if any(parse_tag(tag)[0] in "ES" for tags in pred for tag in tags if tag):
        pred = [to_iob2(tags, "BIOES") for tags in pred]
    return tokens, gold, pred, "IOB2"


def run(*, predictions_in: str | None = None, model_dir: str | None = None,
        data: str | None = None, scheme: str = "auto", examples: int = 3,
        output: str | None = None, predictions: str | None = None) -> dict:
    """What ``python -m evaluation.report`` does, minus the printing.

    Args:
        predictions_in: str, a ``word ... gold pred`` file to evaluate; or
        model_dir, data: str, a trained model and a CoNLL file it tags.
        scheme: str, ``"auto"`` or one of ``SCHEMES``.
        examples: int, examples kept per error class.
        output: str, optional path for the JSON report.
        predictions: str, optional path for ``word gold pred`` lines (IOB2).

    Returns:
        dict from :func:`evaluate`.

    Raises:
        InputError: bad input file. ValueError: bad flags or tags.
    """
    if bool(predictions_in) == bool(model_dir or data):
        raise ValueError("give either --predictions_in=FILE or --model_dir=DIR --data=FILE")
    if predictions_in:
        parsed = _read_prediction_file(predictions_in)
        tokens, gold = parsed.tokens, parsed.gold
        filled, _ = _fill_predictions(parsed.gold, parsed.pred)
        scheme = _check_file_scheme(parsed, filled, scheme, predictions_in)
        pred: list = parsed.pred
    else:
        if not (model_dir and data):
            raise ValueError("--model_dir and --data go together")
        tokens, gold, pred, scheme = _tag_with_model(model_dir, data, scheme)
    result = evaluate(gold, pred, tokens, scheme=scheme, examples=examples)
    if predictions:
        filled, _ = _fill_predictions(gold, pred)
        try:
            write_predictions(predictions, tokens, [to_iob2(t, scheme) for t in gold],
                              [to_iob2(t, scheme) for t in filled])
        except OSError as exc:
            raise InputError(predictions, None, f"cannot write: {exc.strerror}") from None
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise InputError(output, None, f"cannot write: {exc.strerror}") from None
    return result


def _define_flags() -> None:
    # Defined only when run as a program, so importing this module leaves
    # absl's global FLAGS alone (ner.train defines its own).
    from absl import flags
    flags.DEFINE_string("predictions_in", None,
                        "Evaluate this file: CoNLL columns 'word ... gold pred', blank lines "
                        "between sentences.")
    flags.DEFINE_string("model_dir", None, "Trained model to tag --data with.")
    flags.DEFINE_string("data", None, "CoNLL file with gold tags, tagged by --model_dir.")
    flags.DEFINE_enum("scheme", "auto", ["auto", *SCHEMES], "Tagging scheme of the input.")
    flags.DEFINE_string("output", None, "Write the report as JSON here.")
    flags.DEFINE_string("predictions", None,
                        "Write 'word gold pred' lines (IOB2, conlleval's input) here.")
    flags.DEFINE_integer("examples", 3, "Examples shown per error class.", lower_bound=0)


def main(argv: list[str]) -> None:
    """Entry point for ``absl.app.run``: prints the report, or one error line and exits 2."""
    from absl import flags
    options = flags.FLAGS
    try:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
        result = run(predictions_in=options.predictions_in, model_dir=options.model_dir,
                     data=options.data, scheme=options.scheme, examples=options.examples,
                     output=options.output, predictions=options.predictions)
    except (ValueError, OSError) as exc:
        # One line, no traceback: the message names file and line already.
        message = " ".join(str(exc).split())
        print(f"report: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(format_report(result))


if __name__ == "__main__":
    from absl import app
    _define_flags()
    app.run(main)
