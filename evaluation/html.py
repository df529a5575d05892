"""HTML pages to look at: the evaluation report, and texts with their entities highlighted.

* :func:`report_page` renders :func:`evaluation.analysis.evaluate`'s dict
  (the same dict the text report and ``--output`` JSON render) with charts,
  the confusion heat map, the error breakdown and every sentence with an
  error, gold and predicted entities highlighted in place, filterable by
  type and error kind, the sentences with most errors first.
  ``python -m evaluation.report ... --html=report.html`` writes it.
* :func:`entities_page` renders tagged texts: ``ner.Tagger`` results
  (``(text, [Entity, ...])`` pairs) or ``python -m ner.tag``'s JSONL records
  (the input's fields plus ``entities: [{label, start, end, text, score}]``),
  each entity highlighted at its character offsets, its score on hover.
  ``python -m evaluation.entities tagged.jsonl`` writes it for ``ner.tag``'s
  output (:mod:`evaluation.entities`).
* The training curves page is :mod:`evaluation.curves`.

Every page is one self-contained file: styles, charts (inline SVG from
:mod:`evaluation.charts`) and the few lines of script that filter the error
examples are inside it; nothing is fetched, and the page's
Content-Security-Policy forbids fetching anything and running any script but
that one. Everything taken from data (words, labels, texts, file names) is
escaped by Jinja2's autoescaping: a token ``<script>`` shows as text.

Jinja2 and matplotlib are in the ``html`` extra: ``pip install
'bert-ner-tf[html]'`` (``pip install -e '.[html]'`` in a checkout).
:func:`require_extra` raises :class:`MissingExtraError` naming it when they
are missing.

Example:
    >>> import ner
    >>> from evaluation.html import entities_page, write_page
    >>> tagger = ner.Tagger.load("runs/default")
    >>> texts = ["Angela Merkel met Emmanuel Macron in Paris."]
    >>> write_page("entities.html", entities_page(zip(texts, tagger.tag_batch(texts))))
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import operator
import os
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from evaluation.analysis import ERROR_CLASSES, input_scheme_label, scheme_label, sentence_errors
from evaluation.render import ERROR_DESCRIPTIONS, ERROR_HEADINGS, score_cells
from ner import cli

__all__ = ["EXTRA", "MissingExtraError", "entities_page", "render_template", "report_page",
           "require_extra", "type_colours", "write_page"]

#: The extra that holds what the pages need.
EXTRA = "html"
_EXTRA_MODULES = ("jinja2", "matplotlib")

# Fills of entity highlights, close to spaCy displaCy's (what users know);
# other types take the rest in order.
_KNOWN_COLOURS = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#feca74", "MISC": "#c7e08a"}
_MORE_COLOURS = ("#ff9561", "#bfe1d9", "#f0b7d4", "#c8d9f0", "#e4e7d2", "#ffd6a5", "#d0c4f7",
                 "#b4e3b0", "#f5c6aa", "#ddd")

# Filters the error examples by kind and type (preset by a link such as
# report.html#examples?type=ORG&kind=missed). Static: no data is ever put
# into a script; the page's Content-Security-Policy allows this script, by
# its hash, and no other.
_FILTER_SCRIPT = """
(function () {
  "use strict";
  var kind = document.getElementById("filter-kind");
  var type = document.getElementById("filter-type");
  var count = document.getElementById("filter-count");
  var note = document.getElementById("filter-note");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.example"));
  function matches(item) {
    return (!kind.value || item.getAttribute("data-kind") === kind.value) &&
      (!type.value || item.getAttribute("data-gold-type") === type.value ||
       item.getAttribute("data-pred-type") === type.value);
  }
  function apply() {
    var shown = 0;
    cards.forEach(function (card) {
      var any = false;
      card.querySelectorAll("li[data-kind]").forEach(function (item) {
        var ok = matches(item);
        item.classList.toggle("dim", !ok);
        any = any || ok;
      });
      card.hidden = !any;
      if (any) { shown += 1; }
    });
    count.textContent = String(shown);
  }
  // The option a link names: its value or its short name ("type" for
  // wrong_type), in any case; null when there is none.
  function option(select, wanted) {
    var lower = wanted.toLowerCase();
    var found = null;
    Array.prototype.forEach.call(select.options, function (o) {
      if (found === null && o.value && (o.value.toLowerCase() === lower ||
          (o.getAttribute("data-alias") || "").toLowerCase() === lower)) { found = o; }
    });
    return found;
  }
  // A link can preselect the filters: report.html#examples?type=ORG&kind=missed,
  // on opening the page and whenever the address's #... changes.
  function fromAddress() {
    var query = location.hash.indexOf("?");
    if (query < 0) { return false; }
    var params = new URLSearchParams(location.hash.slice(query + 1));
    var unknown = [];
    [["type", type], ["kind", kind]].forEach(function (pair) {
      var wanted = params.get(pair[0]) || "";
      var found = wanted ? option(pair[1], wanted) : null;
      pair[1].value = found ? found.value : "";
      if (wanted && !found) { unknown.push(pair[0] + "=" + wanted); }
    });
    note.textContent = unknown.length ? "The link's " + unknown.join(", ") +
      " matches no option on this page, so that filter is off." : "";
    return true;
  }
  // The address follows the filters, so it can be copied as a link.
  function toAddress() {
    var params = new URLSearchParams();
    if (type.value) { params.set("type", type.value); }
    if (kind.value) { params.set("kind", kind.value); }
    var query = params.toString();
    history.replaceState(null, "", "#examples" + (query ? "?" + query : ""));
    note.textContent = "";
  }
  kind.addEventListener("change", function () { toAddress(); apply(); });
  type.addEventListener("change", function () { toAddress(); apply(); });
  window.addEventListener("hashchange", function () {
    if (fromAddress()) { apply(); document.getElementById("examples").scrollIntoView(); }
  });
  var linked = fromAddress();
  apply();
  if (linked) { document.getElementById("examples").scrollIntoView(); }
})();
""".strip()


class MissingExtraError(ImportError):
    """The ``html`` extra (Jinja2, matplotlib) is not installed."""


def require_extra() -> None:
    """Raises :class:`MissingExtraError`, naming the extra and the missing packages, unless
    Jinja2 and matplotlib can be imported."""
    message = cli.missing_extra(EXTRA, _EXTRA_MODULES, "HTML pages")
    if message:
        raise MissingExtraError(message)


def _environment():
    require_extra()
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("evaluation", "templates"),
        autoescape=True,  # every {{ value }} is escaped, whatever the template's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def render_template(template: str, script: str = "", **values: Any) -> str:
    """Renders one of ``evaluation/templates`` with ``values``, every one of them escaped.

    Args:
        template: the template's file name, e.g. "report.html.j2".
        script: the page's script (static text, never data), allowed by the
            page's Content-Security-Policy through its hash; "" for none.
        values: the template's variables.
    """
    from ner import __version__

    return _environment().get_template(template).render(
        script=script, script_hash=_csp_hash(script) if script else "'none'",
        version=__version__, **values)


def write_page(path: str | os.PathLike, page: str) -> None:
    """Writes a page atomically (a reader never sees half of it), as UTF-8."""
    from ner import files

    files.write_text_atomically(path, page)


def type_colours(types: Iterable[str]) -> dict[str, str]:
    """A highlight colour per entity type: fixed for CoNLL's four, the rest in sorted order.

    Beyond the listed colours (OntoNotes has 18 types), light hues a golden
    angle apart: distinct from each other, where the list used to repeat.
    """
    colours = {}
    others = (f"hsl({(137.508 * k) % 360:.0f}, 70%, 82%)" if k >= len(_MORE_COLOURS)
              else _MORE_COLOURS[k] for k in itertools.count())
    for type_ in sorted(set(types)):
        colours[type_] = _KNOWN_COLOURS.get(type_) or next(others)
    return colours


# === The evaluation report ===


def _words_segments(words: Sequence[str], spans: Sequence[Sequence], errors: Mapping) -> list[dict]:
    """A sentence cut into plain runs of words and entities, for highlighting in place."""
    out, position = [], 0
    for label, start, end in sorted(spans, key=lambda span: span[1]):
        if start > position:
            out.append({"text": " ".join(words[position:start])})
        kinds = errors.get((label, start, end), [])
        out.append({"text": " ".join(words[start:end]), "label": label, "start": start,
                    "end": end, "kinds": kinds,
                    "short": " ".join(dict.fromkeys(ERROR_HEADINGS[k] for k in kinds))})
        position = end
    if position < len(words):
        out.append({"text": " ".join(words[position:])})
    return out


# A card shows a sentence of more words than this only around its errors (so
# that a prediction file without blank lines, one sentence, makes a page of
# its errors, not of the whole file), and at most this many of its errors.
_LONG_SENTENCE_WORDS = 150
_CONTEXT_WORDS = 12
_ERRORS_PER_CARD = 100


def _windows(errors: Sequence[dict], sides: Sequence[Sequence], length: int
             ) -> list[tuple[int, int]]:
    """Word ranges of a long sentence shown on its card: each error with its context.

    A range is widened to take whole any entity across its edge, so no entity
    is shown cut.
    """
    def merge(ranges) -> list[list[int]]:
        out: list[list[int]] = []
        for start, end in sorted(ranges):
            # A gap of one word is shown, not replaced by a longer "… 1 words …".
            if out and start <= out[-1][1] + 1:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        return out

    merged = merge((max(0, span[1] - _CONTEXT_WORDS), min(length, span[2] + _CONTEXT_WORDS))
                   for error in errors for span in (error["gold"], error["pred"]) if span)
    spans = [span for side in sides for span in side]
    for window in merged:
        changed = True
        while changed:  # a gold entity's edge may fall in a predicted one, and so on
            changed = False
            for span in spans:
                if span[1] < window[0] < span[2]:
                    window[0], changed = span[1], True
                if span[1] < window[1] < span[2]:
                    window[1], changed = span[2], True
    windows = merge(merged)  # widening may join neighbours
    if windows[0][0] == 1:  # nor at either end of the sentence
        windows[0][0] = 0
    if windows[-1][1] == length - 1:
        windows[-1][1] = length
    return [(start, end) for start, end in windows]


def _shown_segments(words: Sequence[str], spans: Sequence[Sequence], errors: Mapping,
                    windows: list[tuple[int, int]] | None) -> list[dict]:
    """`_words_segments` of the whole sentence, or of its windows, with how many words
    are left out between them."""
    if windows is None:
        return _words_segments(words, spans, errors)
    out: list[dict] = []
    position = 0
    for start, end in windows:
        if start > position:
            out.append({"text": f"\u2026 {start - position:,} words \u2026", "elided": True})
        inside = [(label, s - start, e - start) for label, s, e in spans
                  if start <= s and e <= end]
        shifted = {(label, s - start, e - start): kinds for (label, s, e), kinds in errors.items()
                   if start <= s and e <= end}
        for segment in _words_segments(words[start:end], inside, shifted):
            if "label" in segment:  # word offsets within the sentence, as elsewhere
                segment = {**segment, "start": segment["start"] + start,
                           "end": segment["end"] + start}
            out.append(segment)
        position = end
    if position < len(words):
        out.append({"text": f"\u2026 {len(words) - position:,} words \u2026", "elided": True})
    return out


def _error_position(error: dict) -> tuple[int, int]:
    """Where an error begins in its sentence: its first entity's first word."""
    spans = [span for span in (error["gold"], error["pred"]) if span]
    return min(span[1] for span in spans), min(span[2] for span in spans)


def _error_cards(result: dict, tokens: Sequence[Sequence[str]], gold, pred,
                 limit: int | None) -> tuple[list[dict], int]:
    """Cards of the sentences with errors, the worst first, and how many there are."""
    found = sentence_errors(gold, pred, result["scheme"])
    counted = Counter(e["kind"] for sentence in found for e in sentence["errors"])
    expected = {name: result["errors"]["counts"][name] for name in ERROR_CLASSES}
    if {name: counted[name] for name in ERROR_CLASSES} != expected:
        raise ValueError("the result does not belong to these tags: its error counts "
                         f"{expected} differ from theirs {dict(counted)}")
    # The worst first: most errors, then the earlier sentence.
    found.sort(key=lambda sentence: (-len(sentence["errors"]), sentence["sentence"]))
    cards = []
    for sentence in found[:limit]:
        words = tokens[sentence["sentence"]]
        marks: dict[str, dict] = {"gold": {}, "pred": {}}
        items = []
        # In the order of the words (sentence_errors lists spurious ones last),
        # so that the first errors of a long sentence are of every kind.
        errors = sorted(sentence["errors"], key=_error_position)[:_ERRORS_PER_CARD]
        windows = (_windows(errors, (sentence["gold"], sentence["pred"]), len(words))
                   if len(words) > _LONG_SENTENCE_WORDS else None)

        def text(span: list | None) -> str | None:
            return " ".join(words[span[1]:span[2]]) if span else None

        for error in errors:
            for side in ("gold", "pred"):
                if error[side]:
                    marks[side].setdefault(tuple(error[side]), []).append(error["kind"])
            items.append({
                "kind": error["kind"], "description": ERROR_DESCRIPTIONS[error["kind"]],
                "gold": error["gold"], "pred": error["pred"],
                "gold_text": text(error["gold"]), "pred_text": text(error["pred"]),
            })
        cards.append({"sentence": sentence["sentence"], "errors": items,
                      "error_count": len(sentence["errors"]),
                      "gold": _shown_segments(words, sentence["gold"], marks["gold"], windows),
                      "pred": _shown_segments(words, sentence["pred"], marks["pred"], windows)})
    return cards, len(found)


def report_page(result: dict, tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                pred: Sequence[Sequence[str | None]], *, title: str = "NER evaluation report",
                sources: Sequence[tuple[str, str]] = (), max_examples: int | None = None) -> str:
    """The evaluation report as one self-contained HTML page.

    Args:
        result: dict from :func:`evaluation.analysis.evaluate` on ``gold``
            and ``pred``; every number on the page is taken from it (through
            :func:`evaluation.render.score_cells` where the text report
            formats one), so page, text report and JSON agree.
        tokens: per sentence, its words.
        gold, pred: the tags ``result`` was computed from; the error
            examples are :func:`evaluation.analysis.sentence_errors` of them.
        title: the page's title.
        sources: ``(what, value)`` pairs shown under the title, e.g.
            ``[("model", "runs/default"), ("data", "test.txt")]``.
        max_examples: show at most this many sentences with errors (the
            worst); None for all.

    Returns:
        str, the page.

    Raises:
        MissingExtraError: Jinja2 or matplotlib is missing.
        ValueError: ``result`` does not match ``gold`` and ``pred``.
    """
    from evaluation import charts

    require_extra()
    if len(tokens) != len(gold):
        raise ValueError(f"{len(tokens)} token sentences for {len(gold)} gold sentences")
    default, strict = result["default"], result["strict"]
    types = sorted(set(default["types"]) | set(strict["types"]))
    rows = [{"name": t, "default": score_cells(default["types"].get(t)),
             "strict": score_cells(strict["types"].get(t)), "average": False} for t in types]
    rows.append({"name": "micro avg", "default": score_cells(default["micro avg"]),
                 "strict": score_cells(strict["micro avg"]), "average": True})
    for average in ("macro avg", "weighted avg"):
        rows.append({"name": average, "default": score_cells(default[average], True),
                     "strict": score_cells(strict[average], True), "average": True})
    cards, with_errors = _error_cards(result, tokens, gold, pred, max_examples)
    counts = result["errors"]["counts"]
    return render_template(
        "report.html.j2", script=_FILTER_SCRIPT, title=title, sources=list(sources),
        result=result, scheme=scheme_label(result), input_scheme=input_scheme_label(result),
        rows=rows, types=types, colours=type_colours(types),
        accuracy=f"{100 * default['accuracy']:.2f}",
        micro_default=score_cells(default["micro avg"]),
        micro_strict=score_cells(strict["micro avg"]),
        error_rows=[{"name": n, "description": d, "count": counts[n]}
                    for n, d in ERROR_DESCRIPTIONS.items()],
        error_classes=list(ERROR_CLASSES), headings=ERROR_HEADINGS,
        by_type=result["errors"].get("by_type") or {},
        cards=cards, sentences_with_errors=with_errors,
        scores_svg=charts.scores_chart(result), confusion_svg=charts.confusion_chart(result),
        errors_svg=charts.errors_chart(result))


# === Tagged text ===


def _entity_fields(entity: Any, where: str) -> dict:
    if dataclasses.is_dataclass(entity) and not isinstance(entity, type):
        entity = dataclasses.asdict(entity)
    if not isinstance(entity, Mapping):
        raise ValueError(f"{where}: an entity must be an object with label, start and end, "
                         f"got {type(entity).__name__}")
    missing = [key for key in ("label", "start", "end") if key not in entity]
    if missing:
        raise ValueError(f"{where}: entity lacks {', '.join(missing)}")
    return dict(entity)


def _index(value: Any) -> int:
    """An offset or index from data: an int, not a bool (`operator.index(True)` is 1).

    Raises:
        TypeError: anything else.
    """
    if isinstance(value, bool):
        raise TypeError(f"a bool, {value}, is not an index")
    return operator.index(value)


def _text_segments(text: str, entities: Sequence[Any], where: str) -> list[dict]:
    spans = [_entity_fields(e, f"{where}, entity {i}") for i, e in enumerate(entities)]
    spans.sort(key=lambda e: (e["start"], e["end"]))
    out, position = [], 0
    for i, entity in enumerate(spans):
        label = entity["label"]
        try:
            start, end = _index(entity["start"]), _index(entity["end"])
        except TypeError:
            raise ValueError(f"{where}: entity {label!r} has offsets that are not integers: "
                             f"{entity['start']!r}, {entity['end']!r}") from None
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{where}: entity {label!r} [{start}, {end}) is not a span of the "
                             f"text's {len(text)} characters")
        if start < position:
            raise ValueError(f"{where}: entity {label!r} [{start}, {end}) overlaps the one before")
        if "text" in entity and entity["text"] != text[start:end]:
            raise ValueError(f"{where}: entity text {entity['text']!r} is not the text at "
                             f"[{start}, {end}), {text[start:end]!r}")
        if start > position:
            out.append({"text": text[position:start]})
        score = entity.get("score")
        try:
            if isinstance(score, bool):
                raise TypeError  # float(True) is 1.0
            shown = None if score is None else f"{float(score):.3f}"
        except (TypeError, ValueError):  # a list, a dict; "high"
            raise ValueError(f"{where}: entity {label!r} has a score that is not a number: "
                             f"{score!r}") from None
        out.append({"text": text[start:end], "label": str(label), "start": start, "end": end,
                    "score": shown})
        position = end
    if position < len(text):
        out.append({"text": text[position:]})
    return out


def _words_record(record: Mapping, where: str, entities_field: str = "entities"
                  ) -> tuple[str, list[dict]]:
    """The text and character-offset entities of a record of words, as `python -m
    ner.tag` writes CoNLL input: `sentences` of `words`, and `entities` with a
    `sentence` and word offsets. Words are joined by spaces, sentences by lines."""
    sentences, found = record["sentences"], record.get(entities_field)
    if not isinstance(sentences, list) or not isinstance(found, list):
        raise ValueError(f"{where}: 'sentences' and {entities_field!r} must be lists")
    lines, bounds = [], []  # bounds[i][k]: (start, end) of word k of sentence i in the text
    offset = 0
    for i, sentence in enumerate(sentences):
        words = sentence.get("words") if isinstance(sentence, Mapping) else None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{where}: sentence {i} has no list of string 'words'")
        bounds.append([])
        for word in words:
            bounds[i].append((offset, offset + len(word)))
            offset += len(word) + 1  # the space after it, or the line's end
        offset += not words  # an empty sentence is an empty line
        lines.append(" ".join(words))
    entities = []
    for k, entity in enumerate(found):
        try:
            sentence, start, end = (_index(entity[key]) for key in ("sentence", "start", "end"))
            if not (0 <= sentence < len(bounds) and 0 <= start < end <= len(bounds[sentence])):
                raise IndexError  # (Python's negative indices would pick other words)
            words = bounds[sentence][start:end]
            char_start, char_end = words[0][0], words[-1][1]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{where}: entity {k} does not name a sentence and words in it: "
                             f"{entity!r}") from None
        entities.append({key: value for key, value in entity.items()
                         if key not in ("sentence", "start", "end")}
                        | {"start": char_start, "end": char_end})
    return "\n".join(lines), entities


def entities_page(records: Iterable[Any], *, title: str = "Entities",
                  text_field: str = "text", entities_field: str = "entities",
                  names: Sequence[str] | None = None) -> str:
    """Texts with their entities highlighted, the score on hover, as one HTML page.

    Args:
        records: an iterable of either
            * ``(text, entities)`` pairs, e.g. ``zip(texts, tagger.tag_batch(texts))``,
              where each entity is an ``ner.Entity`` or a dict; or
            * dicts as ``python -m ner.tag`` writes them: ``text_field`` holds
              the text, ``entities`` a list of ``{label, start, end, text?,
              score?}``; other fields (an ``id``) are shown above the text;
              or, for CoNLL input, ``sentences`` of ``words`` and entities
              with a ``sentence`` and word offsets (shown as the words
              joined by spaces, a sentence a line).
            Offsets are character offsets into the text, end exclusive.
        title: the page's title.
        text_field: the key of the text in dict records.
        entities_field: the key of the entities in dict records (as
            ``ner.tag --entities_field``; ``ents`` reads displaCy's format).
        names: how messages name each record (``python -m evaluation.entities``
            names its file and line); default "record N", from 0.

    Returns:
        str, the page.

    Raises:
        MissingExtraError: Jinja2 is missing.
        ValueError: a record without text or entities, an entity outside its
            text, overlapping another, or whose ``text`` is not the text at its
            offsets (naming the record and entity).
    """
    require_extra()
    documents, labels = [], Counter()
    for n, record in enumerate(records):
        where = names[n] if names is not None else f"record {n}"
        if isinstance(record, Mapping):
            if text_field not in record and "sentences" in record:
                # ner.tag's record of CoNLL input: sentences of words
                text, entities = _words_record(record, where, entities_field)
                shown_as_text = "sentences"
            else:
                if not isinstance(record.get(text_field), str):
                    raise ValueError(f"{where}: no string field {text_field!r}")
                if not isinstance(record.get(entities_field), list):
                    raise ValueError(f"{where}: no list field {entities_field!r}")
                text, entities = record[text_field], record[entities_field]
                shown_as_text = text_field
            fields = [(k, v if isinstance(v, str) else repr(v)) for k, v in record.items()
                      if k not in (shown_as_text, entities_field)]
        else:
            try:
                text, entities = record
            except (TypeError, ValueError):
                raise ValueError(f"{where}: expected a (text, entities) pair or a dict, got "
                                 f"{type(record).__name__}") from None
            if not isinstance(text, str):
                raise ValueError(f"{where}: the text must be a str, got {type(text).__name__}")
            fields = []
        segments = _text_segments(text, list(entities), where)
        labels.update(s["label"] for s in segments if "label" in s)
        documents.append({"number": n, "fields": fields, "segments": segments})
    return render_template("entities.html.j2", title=title, documents=documents,
                   labels=sorted(labels.items()), colours=type_colours(labels))
