"""The HTML pages: the evaluation report, tagged text and training curves.

Every page is parsed with html5lib (the WHATWG parsing algorithm browsers
use), and its numbers are compared with the JSON report and the text report,
its highlights with the words or characters at their offsets, and hostile
tokens (a `<script>` element, quotes, `&`, an `onmouseover=` attribute) must
come out as text: no element, attribute or script the page did not write.
Synthetic data only: no licensed CoNLL text.
"""

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from xml.etree import ElementTree

import pytest

html5lib = pytest.importorskip("html5lib")
pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

from evaluation import html as html_lib  # noqa: E402
from evaluation.analysis import ERROR_CLASSES  # noqa: E402
from evaluation.curves import curves_page, read_log, write_curves  # noqa: E402
from evaluation.render import format_report  # noqa: E402
from evaluation.report import run  # noqa: E402
from ner import cli, schemes  # noqa: E402
from tests.helpers import (EXAMPLE_GOLD, EXAMPLE_PRED, EXAMPLE_TOKENS,  # noqa: E402
                           prediction_file, run_report_cli, write_text_file)

SVG = "{http://www.w3.org/2000/svg}"  # html5lib puts inline SVG in its namespace
HOSTILE_TYPE = 'X&"<b>'  # a type whose name is markup, a quote and an ampersand
HOSTILE_WORDS = ["<script>alert(1)</script>", '"onmouseover=alert(2)', "Tom&Jerry", "&amp;",
                 "</mark>", "{{7*7}}"]

# word gold pred; sentences with every error class, and hostile tokens in entities
# and outside them.
PREDICTIONS = prediction_file(EXAMPLE_TOKENS, EXAMPLE_GOLD, EXAMPLE_PRED) + f"""
<script>alert(1)</script> B-PER B-PER
"onmouseover=alert(2) I-PER O
met O O
Tom&Jerry B-{HOSTILE_TYPE} B-{HOSTILE_TYPE}
&amp; I-{HOSTILE_TYPE} I-{HOSTILE_TYPE}
</mark> O B-ORG
{{{{7*7}}}} B-MISC O

a B-PER O
b I-PER O
c O O
d B-LOC B-ORG
e I-LOC I-ORG
f O I-ORG
g O B-MISC
h B-ORG O

nothing O O
wrong O O
"""


def _words_gold_pred():
    sentences = [block.splitlines() for block in PREDICTIONS.split("\n\n")[1:] if block.strip()]
    rows = [[line.rsplit(" ", 2) for line in block] for block in sentences]
    return ([[r[0] for r in s] for s in rows], [[r[1] for r in s] for s in rows],
            [[r[2] for r in s] for s in rows])


def _parse(page: str):
    return html5lib.parse(page, namespaceHTMLElements=False)


def _text(element) -> str:
    return "".join(element.itertext())


def _assert_safe(tree, page: str, scripts: int) -> None:
    """No script, event handler or fetch the page did not write itself."""
    found = tree.findall(".//script")
    assert len(found) == scripts
    csp = tree.find(".//meta[@http-equiv='Content-Security-Policy']").get("content")
    assert "default-src 'none'" in csp
    for script in found:
        assert script.text == html_lib._FILTER_SCRIPT  # static text, never data
        digest = base64.b64encode(hashlib.sha256(script.text.encode()).digest()).decode()
        assert csp.endswith(f"script-src 'sha256-{digest}'")  # this script and no other
    if not scripts:
        assert "script-src 'none'" in csp
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name, value)
            if name in ("src", "href", "xlink:href") or name.endswith("}href"):
                # Nothing fetched: a fragment, or an inline image (the heat map's pixels).
                assert value.startswith(("#", "data:image/png;base64,")), (element.tag, name)
    assert tree.find(".//link") is None and tree.find(".//iframe") is None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html_report")
    path = write_text_file(folder, PREDICTIONS)
    result = run(predictions_in=path, output=str(folder / "report.json"),
                 html=str(folder / "report.html"))
    page = (folder / "report.html").read_text(encoding="utf-8")
    return result, json.loads((folder / "report.json").read_text()), page, _parse(page)


def _assert_tables_are_labelled(tree) -> None:
    """Every table has a caption, column headers with scope, and each body row
    starts with its row header (`th scope=row`): what a screen reader reads out
    beside each number ("PER, F1, 85.00" rather than "85.00")."""
    tables = tree.findall(".//table")
    assert tables
    for table in tables:
        name = table.get("id")
        assert _text(table.find("caption")).strip(), name
        assert all(th.get("scope") in ("col", "colgroup")
                   for th in table.findall("thead/tr/th")), name
        for row in table.findall("tbody/tr"):
            assert row[0].tag == "th" and row[0].get("scope") == "row", (name, _text(row))
            assert not row.findall("td[@scope]") and len(row.findall("th")) == 1, name


def test_report_numbers_are_the_json_reports(report):
    result, saved, page, tree = report
    table = tree.findall(".//table[@id='scores-table']/tbody/tr")
    rows = {row.get("data-type"): row for row in table if row.get("data-type")}
    types = sorted(saved["default"]["types"])
    assert HOSTILE_TYPE in types
    assert set(rows) == {*types, "micro avg", "macro avg", "weighted avg"}
    text_report = format_report(result).splitlines()
    for name, row in rows.items():
        for mode in ("default", "strict"):
            scores = saved[mode]["types"].get(name) if name in types else saved[mode][name]
            cells = {td.get("data-key"): td.text for td in row.findall(f"td[@data-mode='{mode}']")}
            for key in ("precision", "recall", "f1"):
                # conlleval rounds its own way; the value is the JSON's to the last digit shown.
                assert abs(float(cells[key]) - 100 * scores[key]) <= 0.005 + 1e-9, (name, mode, key)
            assert int(cells["support"]) == scores["support"]
            assert int(cells["found"]) == scores["predicted"]
        # The text report prints the same ten numbers on its row.
        html_cells = [td.text for td in row.findall("td[@data-mode]")]
        text_row = next(line for line in text_report if line.split(" | ")[0].strip() == name)
        assert re.findall(r"[-\d.]+", text_row.split("|", 1)[1]) == html_cells, name
    tiles = tree.find(".//*[@id='f1-default']").text, tree.find(".//*[@id='f1-strict']").text
    assert tiles == (rows["micro avg"].find("td[@data-key='f1']").text,
                     rows["micro avg"].findall("td[@data-key='f1']")[1].text)

    errors = {row.get("data-kind"): int(row.find("td").text)
              for row in tree.findall(".//table[@id='errors-table']/tbody/tr")}
    assert errors == saved["errors"]["counts"]
    assert errors["missed"] and errors["spurious"] and errors["wrong_type_and_boundary"]
    by_type = {row.get("data-type"): {td.get("data-kind"): int(td.text)
                                      for td in row.findall("td[@data-kind]")}
               for row in tree.findall(".//table[@id='errors-by-type']/tbody/tr")}
    assert by_type == saved["errors"]["by_type"]
    matrix = {row.get("data-gold"): {td.get("data-pred"): int(td.text)
                                     for td in row.findall("td[@data-pred]")}
              for row in tree.findall(".//table[@id='confusion-table']/tbody/tr")}
    assert matrix == saved["confusion"]["matrix"]
    assert int(tree.find(".//*[@id='invalid-count']").text) == saved["invalid_transitions"]["count"]
    _assert_tables_are_labelled(tree)
    assert len(tree.findall(f".//{SVG}svg")) == 3  # scores, errors, confusion: inline, not fetched


def test_report_highlights_every_error_sentence_in_place(report):
    result, _, _, tree = report
    words, gold, pred = _words_gold_pred()
    cards = tree.findall(".//article[@class='example']")
    with_errors = [s for s in range(len(gold))
                   if schemes.chunks(gold[s]) != schemes.chunks(pred[s])]
    assert sorted(int(card.get("data-sentence")) for card in cards) == with_errors
    errors_shown = [len(card.findall(".//li[@data-kind]")) for card in cards]
    assert errors_shown == sorted(errors_shown, reverse=True)  # the worst first
    kinds = [li.get("data-kind") for li in tree.findall(".//article//li[@data-kind]")]
    assert {k: kinds.count(k) for k in ERROR_CLASSES} == {
        k: result["errors"]["counts"][k] for k in ERROR_CLASSES}
    for card in cards:
        s = int(card.get("data-sentence"))
        for side, tags in (("gold", gold[s]), ("pred", pred[s])):
            paragraph = card.find(f".//p[@class='{side}']")
            marks = paragraph.findall("mark")
            assert [(m.get("data-label"), int(m.get("data-start")), int(m.get("data-end")))
                    for m in marks] == schemes.chunks(tags)
            for mark in marks:
                start, end = int(mark.get("data-start")), int(mark.get("data-end"))
                assert _text(mark) == " ".join(words[s][start:end])
            assert _text(paragraph) == " ".join(words[s])  # the sentence, whole and in order
    # An error's entity is outlined and its kind named; a correct one is not.
    first = next(c for c in cards if c.get("data-sentence") == "0")
    marks = {_text(m): m for m in first.findall(".//p[@class='pred']/mark")}
    assert "err" not in marks["John Smith"].get("class")
    assert "err" in marks["New York"].get("class") and marks["New York"].get("data-err") == "type"


def test_report_escapes_hostile_tokens_and_types(report):
    _, _, page, tree = report
    _assert_safe(tree, page, scripts=1)
    assert "<script>alert" not in page
    assert all(b.get("id") for b in tree.iter("b"))  # the type's "<b>" made no element
    card = next(c for c in tree.findall(".//article[@class='example']")
                if c.get("data-sentence") == "2")
    gold = {m.get("data-label"): _text(m) for m in card.findall(".//p[@class='gold']/mark")}
    assert gold["PER"] == '<script>alert(1)</script> "onmouseover=alert(2)'
    assert gold[HOSTILE_TYPE] == "Tom&Jerry &amp;"
    assert gold["MISC"] == "{{7*7}}"  # not evaluated by the template engine
    assert _text(card.find(".//p[@class='gold']")) == " ".join(_words_gold_pred()[0][2])
    options = [o.get("value") for o in tree.findall(".//select[@id='filter-type']/option")]
    assert HOSTILE_TYPE in options
    # The hostile type is drawn as text in the charts too.
    assert any(_text(t) == HOSTILE_TYPE for t in tree.iter(f"{SVG}text"))


def test_text_from_the_data_is_isolated_and_wraps(report):
    # A bidi override (U+202E) in a word must not reorder the labels and
    # words after it, and a long word must not widen the page: every piece
    # of data text is a <bdi>, and its boxes wrap anywhere.
    _, _, page, tree = report
    for kind in ("gold", "pred"):
        for p in tree.findall(f".//p[@class='{kind}']"):
            assert p.text is None or not p.text.strip()
            for child in p:
                if child.tag == "mark":
                    assert [c.tag for c in child] == ["bdi"]
                else:
                    assert child.tag == "bdi", child.tag
                    assert not (child.tail or "").strip()
    # In the error lists too: each type and each quoted text is a <bdi>.
    items = tree.findall(".//ul[@class='errors']/li")
    assert items and all(child.tag in ("span", "bdi") for li in items for child in li)
    assert all(len(li.findall("bdi")) == (2 if li.get("data-kind") in (
        "wrong_type", "wrong_boundary", "wrong_type_and_boundary") else 1) * 2 for li in items)
    # The labels drawn after entities (CSS generated text) are isolated as well.
    assert "mark.ent::after { content: attr(data-label); unicode-bidi: isolate;" in page
    assert ".row p, ul.errors, article.doc p.text { overflow-wrap: anywhere; }" in page
    text = "Zoe \u202eevil"
    page = html_lib.entities_page([{"text": text, "entities": [
        {"label": "PER", "start": 0, "end": 3}]}])
    paragraph = _parse(page).find(".//article[@class='doc']/p[@class='text']")
    assert [(c.tag, _text(c)) for c in paragraph] == [("mark", "Zoe"), ("bdi", " \u202eevil")]


def test_report_page_refuses_a_result_of_other_tags(report):
    result, _, _, _ = report
    words, gold, pred = _words_gold_pred()
    with pytest.raises(ValueError, match="does not belong"):
        html_lib.report_page(result, words, gold, gold)


def test_report_cli_writes_the_page(tmp_path, repo_root):
    path = write_text_file(tmp_path, PREDICTIONS)
    done = run_report_cli(f"--predictions_in={path}", f"--html={tmp_path / 'r.html'}",
                          cwd=repo_root)
    assert done.returncode == 0, done.stderr
    tree = _parse((tmp_path / "r.html").read_text(encoding="utf-8"))
    micro = next(r for r in tree.findall(".//table[@id='scores-table']/tbody/tr")
                 if r.get("data-type") == "micro avg")
    f1 = micro.find("td[@data-key='f1']").text
    assert re.search(rf"^micro avg\s*\|\s*\S+\s+\S+\s+{re.escape(f1)}\s", done.stdout, re.M)


def test_the_page_stays_bounded_for_long_sentences_and_many_errors(tmp_path):
    from evaluation.analysis import evaluate

    # One sentence of 3,000 words (a file without blank lines) with an error
    # every 10 words: the card shows its first 100 errors, each with some
    # words around it, and says how many words it leaves out.
    words = [f"w{i}" for i in range(3000)]
    gold = ["O"] * 3000
    pred = ["O"] * 3000
    for i in range(0, 3000, 10):
        gold[i] = "B-PER"
        pred[i] = "B-LOC"
    gold[2995], gold[2996] = "B-ORG", "I-ORG"  # far from the shown errors
    pred[5] = "B-ORG"  # spurious: listed in word order, not after every gold-side error
    result = evaluate([gold], [pred], [words])
    page = html_lib.report_page(result, [words], [gold], [pred])
    card = _parse(page).find(".//article[@class='example']")
    assert "302 errors (100 shown)" in _text(card.find("header"))
    kinds = [li.get("data-kind") for li in card.findall(".//li")]
    assert len(kinds) == 100 and kinds[:2] == ["wrong_type", "spurious"]
    shown = _text(card.find(".//p[@class='gold']"))
    assert "w0 " in shown and "w992 " in shown and "w993 " not in shown
    assert "w2995" not in shown
    elided = [_text(e) for e in card.findall(".//p[@class='gold']/span[@class='elided']")]
    assert elided == ["\u2026 2,007 words \u2026"]  # w993 to w2999
    # Every shown entity is whole, at its offsets in the sentence.
    for mark in card.findall(".//p[@class='gold']/mark"):
        start, end = int(mark.get("data-start")), int(mark.get("data-end"))
        assert _text(mark).startswith(" ".join(words[start:end]))
    # Windows around errors are widened to take whole an entity across an edge.
    errors = [{"gold": ("PER", 100, 102), "pred": None}, {"gold": None, "pred": ("LOC", 500, 501)}]
    sides = ([("ORG", 85, 90), ("PER", 100, 102)], [("LOC", 500, 501), ("ORG", 510, 520)])
    assert html_lib._windows(errors, sides, 1000) == [(85, 114), (488, 520)]
    # --html_sentences: at most that many sentences with errors, the worst first.
    sentences = [[f"x{i}", "y"] for i in range(30)]
    golds = [["B-PER", "O"] for _ in range(30)]
    preds = [["O", "O"] for _ in range(30)]
    path = tmp_path / "many.txt"
    path.write_text("\n\n".join("\n".join(f"{w} {g} {p}" for w, g, p in zip(*row))
                                for row in zip(sentences, golds, preds)) + "\n")
    run(predictions_in=str(path), html=str(tmp_path / "r.html"), html_sentences=7)
    tree = _parse((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(tree.findall(".//article[@class='example']")) == 7
    assert "(7 of 30 shown)" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_missing_extra_is_a_clear_error_before_any_work(monkeypatch, tmp_path):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(html_lib.MissingExtraError,
                       match=r"'html' extra.*missing: matplotlib.*bert-ner-tf\[html\]"):
        run(predictions_in=str(tmp_path / "not-read.txt"), html=str(tmp_path / "r.html"))
    assert not (tmp_path / "r.html").exists()


# === Tagged text ===

TEXTS = ['<script>alert(1)</script> John Smith & "Zoe" met in Paris.\n\tNew York & Acme Corp.',
         "", "nothing here"]


def _check_entity_page(page: str, texts: list[str], entities: list[list[dict]]) -> None:
    tree = _parse(page)
    _assert_safe(tree, page, scripts=0)
    docs = tree.findall(".//article[@class='doc']")
    assert len(docs) == len(texts)
    for doc, text, found in zip(docs, texts, entities):
        paragraph = doc.find("p[@class='text']")
        assert _text(paragraph) == text  # every character, whitespace included
        marks = paragraph.findall("mark")
        assert len(marks) == len(found)
        for mark, entity in zip(marks, found):
            start, end = int(mark.get("data-start")), int(mark.get("data-end"))
            assert (mark.get("data-label"), start, end) == (
                entity["label"], entity["start"], entity["end"])
            assert _text(mark) == text[start:end]
            if entity.get("score") is not None:
                assert mark.get("tabindex") == "0"  # the score on focus too, not on hover only
                assert mark.get("data-score") == f"{entity['score']:.3f}"
                assert f"score {entity['score']:.3f}" in mark.get("title")


def test_entities_page_of_tagger_results(tmp_path):
    from ner.tagger import Tagger
    from tests.tiny_model import write_model_folder

    tagger = Tagger.load(write_model_folder(tmp_path / "model"))
    results = tagger.tag_batch(TEXTS)
    assert [e.label for e in results[0]] == ["PER", "PER", "LOC", "LOC", "ORG"]
    page = html_lib.entities_page(zip(TEXTS, results), title="<i>tagged</i>")
    _check_entity_page(page, TEXTS, [[e.__dict__ for e in found] for found in results])
    assert _parse(page).find(".//h1").text == "<i>tagged</i>"


def test_entities_page_of_ner_tag_records():
    # What `python -m ner.tag` writes: the input's fields plus entities.
    text = 'Q&A: "<b>Acme</b>" & Zoe'
    acme, zoe = text.index("<b>"), text.index("Zoe")
    records = [{"id": "doc-<1>", "text": text, "entities": [
        {"label": "ORG", "start": acme, "end": acme + 11, "text": "<b>Acme</b>", "score": 0.25},
        {"label": HOSTILE_TYPE, "start": zoe, "end": zoe + 3, "text": "Zoe", "score": 0.9999}]}]
    page = html_lib.entities_page(records)
    _check_entity_page(page, [text], [records[0]["entities"]])
    header = _parse(page).find(".//article[@class='doc']/header")
    assert "id: doc-<1>" in _text(header)
    # Another text field name, as `ner.tag --text_field` allows.
    page = html_lib.entities_page([{"body": "Zoe", "entities": [
        {"label": "PER", "start": 0, "end": 3}]}], text_field="body")
    _check_entity_page(page, ["Zoe"], [[{"label": "PER", "start": 0, "end": 3}]])


def test_entities_command_renders_ner_tag_output(tmp_path, capsys):
    """`python -m evaluation.entities`: ner.tag's JSONL (files or a folder of
    shards) as one page, the first --max_records records of a large input."""
    from evaluation import entities as command

    def record(i):
        text = f"Zoe {i} met John Smith in Paris."
        return {"id": f"doc-{i}", "text": text, "entities": [
            {"label": "PER", "start": 0, "end": 3, "text": "Zoe", "score": 0.5},
            {"label": "LOC", "start": text.index("Paris"), "end": text.index("Paris") + 5}]}

    shards = tmp_path / "tagged"  # as ner.tag --output=tagged/ writes them
    shards.mkdir()
    for k, ids in enumerate(([0, 1], [2, 3])):
        (shards / f"part-{k:05d}.jsonl").write_text(
            "".join(json.dumps(record(i)) + "\n" for i in ids) + "\n", encoding="utf-8")
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps(record(4)) + "\n", encoding="utf-8")
    assert command.main([str(shards), str(more)]) == 0
    page = (tmp_path / "tagged.html").read_text(encoding="utf-8")  # beside the first input
    records = [record(i) for i in range(5)]
    _check_entity_page(page, [r["text"] for r in records], [r["entities"] for r in records])
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'tagged.html'}: 5 records, 10 entities"

    out = tmp_path / "first.html"
    assert command.main([str(shards), str(more), f"--output={out}", "--max_records=3"]) == 0
    tree = _parse(out.read_text(encoding="utf-8"))
    assert len(tree.findall(".//article[@class='doc']")) == 3
    assert _text(tree.find(".//h1")).endswith("(the first 3 of 5 records)")
    assert "3 of 5 records, 6 entities; --max_records=0 shows all" in capsys.readouterr().err


@pytest.mark.parametrize("lines, message", [
    (['{"text": "Zoe", "entities": []}', "not json"],
     "bad.jsonl:2: not JSON: Expecting value (column 1)"),
    (['["Zoe", []]'], "bad.jsonl:1: an array where a JSON object was expected"),
    (["", '{"text": "Zoe", "entities": [{"label": "PER", "start": 0, "end": 9}]}'],
     "bad.jsonl:2: entity 'PER' [0, 9) is not a span of the text's 3 characters"),
    (['{"body": "Zoe", "entities": []}'], "bad.jsonl:1: no string field 'text'"),
    (['{"text": "Zoe", "entities": [{"label": "PER", "start": 0, "end": 3, "score": [1]}]}'],
     "bad.jsonl:1: entity 'PER' has a score that is not a number: [1]"),
    (['{"text": "Zoe", "entities": [{"label": "PER", "start": 0, "end": 3, "score": "high"}]}'],
     "bad.jsonl:1: entity 'PER' has a score that is not a number: 'high'"),
    (['{"text": "Zoe", "entities": [{"label": "PER", "start": false, "end": true}]}'],
     "bad.jsonl:1: entity 'PER' has offsets that are not integers"),
    # Python's negative indices would have picked the last words, silently.
    (['{"sentences": [{"words": ["zoe", "x"]}], "entities": '
      '[{"label": "PER", "sentence": 0, "start": -1, "end": 2}]}'],
     "bad.jsonl:1: entity 0 does not name a sentence and words in it"),
    (['{"sentences": [{"words": ["zoe", "x"]}], "entities": '
      '[{"label": "PER", "sentence": -1, "start": 0, "end": 1}]}'],
     "bad.jsonl:1: entity 0 does not name a sentence and words in it"),
])
def test_entities_command_names_the_line_of_a_bad_record(tmp_path, capsys, lines, message):
    from evaluation import entities as command

    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert command.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluation.entities: error: ") and message in err, err
    assert not (tmp_path / "bad.html").exists()  # nothing written
    assert command.main(["-"]) == 2
    assert "--output is needed when the input is standard input" in capsys.readouterr().err


def test_entities_command_never_replaces_an_input_and_names_bad_bytes_and_paths(
        tmp_path, capsys, monkeypatch):
    from evaluation import entities as command

    record = '{"text": "Zoe", "ents": [{"label": "PER", "start": 0, "end": 3}]}'
    tagged = tmp_path / "tagged.jsonl"
    tagged.write_bytes(b"\xef\xbb\xbf" + record.encode() + b"\n")  # a byte-order mark first
    # The input itself as --output, or an input named .html: refused, the input kept.
    as_html = tmp_path / "tagged.html"
    as_html.write_text(record + "\n", encoding="utf-8")
    for argv in ([str(tagged), f"--output={tagged}"], [str(as_html)]):
        assert command.main(argv) == 2
        assert "is an input: writing the page there would replace it" in capsys.readouterr().err
    assert as_html.read_text(encoding="utf-8") == record + "\n"
    for output, message in ((tmp_path, "is a folder"), (tmp_path / "no" / "x.html", "no folder")):
        assert command.main([str(tagged), f"--output={output}"]) == 2
        err = capsys.readouterr().err
        assert message in err and ".partial" not in err, err
    # displaCy's field name; the page to standard output.
    assert command.main([str(tagged), "--entities_field=ents", "--output=-"]) == 0
    out, err = capsys.readouterr()
    assert "<mark" in out and err.strip() == "standard output: 1 record, 1 entity"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(((record + "\n") * 300).encode() + b'{"text": "\xff"}\n')
    assert command.main([str(bad), "--max_records=0"]) == 2
    assert f"{bad}:301: invalid UTF-8 (byte 11 of the line: b'\\xff')" in \
        capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    assert command.main([str(empty)]) == 0
    assert f"warning: no records in {empty}" in capsys.readouterr().err


def test_entities_page_of_ner_tag_records_of_conll_input(tmp_path, repo_root):
    """`ner.tag --input_format=conll` writes words, not a text: the page shows them
    joined by spaces, a sentence a line, with the entities on their words."""
    from tests.tiny_model import write_model_folder

    model = write_model_folder(tmp_path / "model")
    conll = tmp_path / "in.conll"
    conll.write_text("-DOCSTART- -X- -X- O\n\njohn NNP B-NP B-PER\nsmith NNP I-NP I-PER\n"
                     "lives VBZ B-VP O\nin IN B-PP O\nparis NNP B-NP B-LOC\n\n"
                     "hello UH O O\n\nacme NNP B-NP B-ORG\n\n", encoding="utf-8")
    tagged = subprocess.run([sys.executable, "-m", "ner.tag", f"--model_dir={model}",
                             "--input_format=conll", "--quiet", str(conll)],
                            capture_output=True, text=True, cwd=repo_root, timeout=300)
    assert tagged.returncode == 0, tagged.stderr
    record = json.loads(tagged.stdout)
    assert "text" not in record and [e["text"] for e in record["entities"]] == \
        ["john smith", "paris", "acme"]
    page = html_lib.entities_page([record])
    text = "john smith lives in paris\nhello\nacme"
    _check_entity_page(page, [text], [[{"label": "PER", "start": 0, "end": 10},
                                       {"label": "LOC", "start": 20, "end": 25},
                                       {"label": "ORG", "start": 32, "end": 36}]])
    with pytest.raises(ValueError, match="entity 0 does not name a sentence and words in it"):
        html_lib.entities_page([dict(record, entities=[
            {"label": "PER", "sentence": 7, "start": 0, "end": 1}])])


@pytest.mark.parametrize("record, message", [
    ({"text": "Zoe", "entities": [{"label": "PER", "start": 0, "end": 4}]}, "not a span"),
    ({"text": "Zoe", "entities": [{"label": "PER", "start": 0, "end": 3, "text": "Zo"}]},
     "is not the text at"),
    ({"text": "Zoe Smith", "entities": [{"label": "PER", "start": 0, "end": 5},
                                         {"label": "PER", "start": 4, "end": 9}]}, "overlaps"),
    ({"text": "Zoe", "entities": [{"label": "PER", "start": "0", "end": 3}]}, "not integers"),
    ({"text": "Zoe", "entities": [{"start": 0, "end": 3}]}, "lacks label"),
    ({"entities": []}, "no string field 'text'"),
    ({"text": "Zoe"}, "no list field 'entities'"),
    ("just a string", "expected a"),
])
def test_entities_page_rejects_bad_records(record, message):
    with pytest.raises(ValueError, match=message):
        html_lib.entities_page([{"text": "fine", "entities": []}, record])


# === Training curves ===

LOG = [
    {"epoch": 1, "step": 10, "seconds": 12.5, "loss": 9.5, "learning_rate": 1e-4,
     "dev": {"precision": 0.5, "recall": 0.4, "f1": 0.4444},
     "dev_types": {"PER": 0.6, HOSTILE_TYPE: 0.1}},
    {"epoch": 2, "step": 20, "seconds": 11.0, "loss": 4.25, "learning_rate": 5e-5,
     "dev": {"precision": 0.7, "recall": 0.6, "f1": 0.6462},
     "dev_types": {"PER": 0.8, HOSTILE_TYPE: 0.3}},
    {"epoch": 3, "step": 30, "seconds": 11.2, "loss": 3.0, "learning_rate": 0.0,
     "dev": {"precision": 0.6, "recall": 0.6, "f1": 0.6},
     "dev_types": {"PER": 0.7, HOSTILE_TYPE: 0.2}},
]


def test_curves_page_plots_and_lists_every_epoch(tmp_path):
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG))
    target = write_curves(tmp_path)
    assert target == tmp_path / "train_curves.html"
    page = target.read_text(encoding="utf-8")
    tree = _parse(page)
    _assert_safe(tree, page, scripts=0)
    assert [f.get("id") for f in tree.findall(".//figure")] == [
        "chart-loss", "chart-learning_rate", "chart-dev", "chart-dev_types"]
    assert all(f.find(f"{SVG}svg") is not None for f in tree.findall(".//figure"))
    rows = tree.findall(".//table[@id='epochs-table']/tbody/tr")
    cells = [[_text(cell).strip() for cell in row] for row in rows]  # the row's th, then tds
    # The best epoch starred; per-type columns in sorted order (PER, then the hostile one).
    assert cells[1] == ["2 \u2605", "20", "11.0", "4.2500", "5e-05", "70.00", "60.00", "64.62",
                        "80.00", "30.00"]
    _assert_tables_are_labelled(tree)
    headings = [_text(th) for th in tree.findall(".//table[@id='epochs-table']/thead/tr/th")]
    assert headings[-2:] == ["F1 PER", f"F1 {HOSTILE_TYPE}"]  # markup in a type name is text
    assert "did not beat it" in _text(tree.find(".//*[@id='verdict']"))
    assert any(_text(t) == HOSTILE_TYPE for t in tree.iter(f"{SVG}text"))  # legend, as text


def test_every_type_gets_its_own_colour():
    """18 OntoNotes-like types: the colour list used to repeat after 14."""
    colours = html_lib.type_colours([f"TYPE{i:02d}" for i in range(40)] + ["PER", "LOC"])
    assert len(set(colours.values())) == len(colours) == 42
    assert colours["PER"] == "#aa9cfc"  # CoNLL's four keep displaCy's colours


def test_a_gap_of_one_word_is_shown_not_elided():
    """Around errors of a long sentence, a left-out word was replaced by the longer
    "… 1 words …"; it is shown, and only wider gaps are elided."""
    context = html_lib._CONTEXT_WORDS  # words shown either side of an error

    def shown(length: int, *starts: int) -> list[str]:
        errors = [{"gold": ("PER", k, k + 1), "pred": None} for k in starts]
        windows = html_lib._windows(errors, ([e["gold"] for e in errors], []), length)
        words = [f"w{i}" for i in range(length)]
        return [seg["text"] for seg in html_lib._shown_segments(words, [], {}, windows)]

    # Windows [1, 2c+2) and [2c+3, 4c+4) of 4c+5 words: each gap is one word.
    length = 4 * context + 5
    assert " ".join(shown(length, context + 1, 3 * context + 3)) == " ".join(
        f"w{i}" for i in range(length))
    # Windows [0, c+1) and [c+4, 3c+5) of 3c+7 words: gaps of 3 and 2 words.
    assert shown(3 * context + 7, 0, 2 * context + 4) == [
        " ".join(f"w{i}" for i in range(context + 1)), "\u2026 3 words \u2026",
        " ".join(f"w{i}" for i in range(context + 4, 3 * context + 5)),
        "\u2026 2 words \u2026"]


def test_charts_are_images_with_a_text_for_screen_readers(report):
    """Without a role and a label a screen reader reads out every tick label."""
    pages = [report[3], _parse(curves_page(LOG))]
    svgs = [svg for tree in pages for svg in tree.iter("{http://www.w3.org/2000/svg}svg")]
    assert len(svgs) >= 6
    for svg in svgs:
        assert svg.get("role") == "img"
        assert re.search(r"^(Bar|Line) charts? of |^Heat map of ", svg.get("aria-label"))
        assert re.search(r"; the tables? (below|beside them) holds? the ", svg.get("aria-label"))


def test_curves_page_says_when_the_loss_diverged():
    """The loss chart cannot draw nan or inf, so the verdict says it."""
    log = [dict(LOG[0]), dict(LOG[1], loss=float("nan"))]
    verdict = _text(_parse(curves_page(log)).find(".//*[@id='verdict']"))
    assert verdict.startswith("The training loss was nan at epoch 2: the run diverged")
    assert "diverged" not in _text(_parse(curves_page(LOG[:2])).find(".//*[@id='verdict']"))


def test_charts_slant_many_types_and_say_when_there_are_no_entities(tmp_path):
    """18 OntoNotes-like types: names slanted (they ran together); no entity at
    all: said, instead of an empty axis from -0.045 to 0.045."""
    from evaluation import charts

    types = [f"TYPE{i:02d}" for i in range(18)]
    gold = [[f"B-{t}", "O"] for t in types]
    pred = [[f"B-{t}", f"B-{types[0]}"] for t in types]
    many = run(predictions_in=write_text_file(tmp_path, "".join(
        f"w{i} {g} {p}\nv{i} O {q}\n\n" for i, ((g, _), (p, q)) in enumerate(zip(gold, pred)))))
    few = run(predictions_in=write_text_file(tmp_path, "a B-PER B-PER\nb O B-LOC\n\n"))
    for chart in (charts.scores_chart, charts.errors_chart):
        assert "rotate(-45" in chart(many) and "rotate(-45" not in chart(few)
    empty = run(predictions_in=write_text_file(tmp_path, "a O O\nb O O\n\n"))
    assert "no entities, gold or predicted" in charts.errors_chart(empty)
    assert "no entities" not in charts.errors_chart(few)


def test_error_counts_in_thousands_keep_their_ticks_apart(tmp_path):
    """5,588 missed entities: the class chart's 2-inch axis had 9 ticks, 0 to
    6400, whose labels ran together ("1600240032004000")."""
    from evaluation import charts

    lines = "".join(f"w{i} B-PER O\n\n" for i in range(5588)) + "x B-LOC B-LOC\n\n"
    svg = ElementTree.fromstring(charts.errors_chart(run(predictions_in=write_text_file(
        tmp_path, lines))))
    axis = next(g for g in svg.iter(f"{SVG}g") if g.get("id") == "errors-matplotlib.axis_1")
    ticks = [g for g in axis if (g.get("id") or "").startswith("errors-xtick_")]
    labels = [_text(t).strip() for t in ticks]
    assert 3 <= len(ticks) <= 6 and labels[0] == "0", labels
    assert all(label.isdigit() for label in labels), labels


# A minimal DOM for the filter script under Node: the cards, their error
# items, the two selects, the address and its history.
_FAKE_DOM = r"""
const items = (specs) => specs.map(([kind, gold, pred]) => {
  const classes = new Set();
  return {attrs: {"data-kind": kind, "data-gold-type": gold, "data-pred-type": pred},
          getAttribute(n) { return this.attrs[n]; },
          classList: {toggle(c, on) { on ? classes.add(c) : classes.delete(c); },
                      has(c) { return classes.has(c); }}};
});
const cards = [items([["missed", "ORG", ""], ["spurious", "", "PER"]]),
               items([["wrong_type", "LOC", "ORG"]]), items([["missed", "PER", ""]])]
  .map((lis) => ({hidden: false, lis, querySelectorAll() { return lis; }}));
const select = (values, aliases) => ({value: "", addEventListener(e, f) { this.listener = f; },
  options: values.map((v, i) => ({value: v, getAttribute() { return aliases[i]; }}))});
const els = {"filter-kind": select(["", "missed", "spurious", "wrong_type"],
                                   [null, "missed", "spurious", "type"]),
             "filter-type": select(["", "LOC", "ORG", "PER"], [null, null, null, null]),
             "filter-count": {textContent: ""}, "filter-note": {textContent: ""},
             "examples": {scrollIntoView() {}}};
const handlers = {};
globalThis.document = {getElementById: (id) => els[id], querySelectorAll: () => cards};
globalThis.location = {hash: process.argv[2] || ""};
globalThis.history = {replaceState(s, t, url) { location.hash = url; }};
globalThis.window = {addEventListener(e, f) { handlers[e] = f; }};
const state = () => [els["filter-type"].value, els["filter-kind"].value,
  els["filter-count"].textContent, els["filter-note"].textContent, location.hash,
  cards.map((c) => c.hidden ? 0 : 1).join("")];
const out = {};
eval(require("fs").readFileSync(0, "utf8"));
out.opened = state();
els["filter-kind"].value = "wrong_type"; els["filter-kind"].listener();
out.chosen = state();
location.hash = "#examples?type=per&kind=MISSED"; handlers.hashchange();
out.hashchange = state();
location.hash = "#examples?type=NOPE"; handlers.hashchange();
out.unknown = state();
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the script")
def test_filter_script_follows_the_address_and_writes_it(tmp_path):
    """The page's own script, run under Node on a fake DOM: a link presets the
    filters when opened and when its #... changes later, in any case and by
    the short kind names; a choice is written to the address; an unknown value
    is said, not silently ignored."""
    harness = tmp_path / "harness.js"
    harness.write_text(_FAKE_DOM, encoding="utf-8")
    run_ = subprocess.run(["node", str(harness), "#examples?type=ORG&kind=missed"],
                          input=html_lib._FILTER_SCRIPT, capture_output=True, text=True,
                          timeout=60)
    assert run_.returncode == 0, run_.stderr
    out = json.loads(run_.stdout)
    assert out["opened"] == ["ORG", "missed", "1", "", "#examples?type=ORG&kind=missed", "100"]
    assert out["chosen"] == ["ORG", "wrong_type", "1", "",
                             "#examples?type=ORG&kind=wrong_type", "010"]
    assert out["hashchange"] == ["PER", "missed", "1", "", "#examples?type=per&kind=MISSED",
                                 "001"]
    assert out["unknown"][:3] == ["", "", "3"]
    assert out["unknown"][3] == ("The link's type=NOPE matches no option on this page, so "
                                 "that filter is off.")


def test_curves_page_of_an_older_log_and_a_run_still_improving():
    old = [{k: v for k, v in r.items() if k not in ("learning_rate", "dev_types")} for r in LOG[:2]]
    tree = _parse(curves_page(old))
    assert [f.get("id") for f in tree.findall(".//figure")] == ["chart-loss", "chart-dev"]
    assert "Still improving" in _text(tree.find(".//*[@id='verdict']"))
    assert "written before they were logged" in _text(tree.find(".//main"))


def test_curves_page_finds_the_best_evaluation_within_an_epoch_and_an_early_stop(tmp_path):
    # --eval_every_steps: the model holds step 25's weights (F1 70.00), scored
    # within epoch 3, not epoch 2's end (64.62); the run then stopped early.
    log = [dict(r) for r in LOG]
    log[2]["dev_within_epoch"] = [
        {"step": 25, "precision": 0.7, "recall": 0.7, "f1": 0.7},
        {"step": 28, "precision": 0.7, "recall": 0.7, "f1": 0.7}]  # equal: not an improvement
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    state = tmp_path / "checkpoints" / "last" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"stopped_early": "no better dev F1 in 2 evaluations"}))
    tree = _parse(write_curves(tmp_path).read_text(encoding="utf-8"))
    assert _text(tree.find(".//*[@id='verdict']")) == (
        "Stopped early (no better dev F1 in 2 evaluations): best dev F1 70.00 at epoch 3 "
        "(step 25, an evaluation within the epoch), the weights in model/.")
    rows = tree.findall(".//table[@id='epochs-table']/tbody/tr")
    assert [_text(row.find("th")).strip() for row in rows] == [
        "1", "2", "3 \u2605 (best: step 25, dev F1 70.00)"]
    # The chart's points are the epochs' ends, and its label says so.
    assert any(_text(t) == "best epoch-end F1 64.62" for t in tree.iter(f"{SVG}text"))
    # Named in the legend, which finds a free corner: as a note beside the
    # point it covered the recall line below it.
    legend = next(g for g in tree.iter(f"{SVG}g") if g.get("id") == "dev-legend_1")
    assert "best epoch-end F1 64.62" in [_text(t) for t in legend.iter(f"{SVG}text")]
    state.unlink()
    verdict = _text(_parse(curves_page(log)).find(".//*[@id='verdict']"))
    assert verdict == ("Best dev F1 70.00 at epoch 3 (step 25, an evaluation within the epoch); "
                       "the 2 evaluations after it did not beat it (last: 60.00).")


def test_read_log_names_the_bad_line(tmp_path):
    path = tmp_path / "train_log.jsonl"
    path.write_text(json.dumps(LOG[0]) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"train_log.jsonl:2: not valid JSON"):
        read_log(path)
    path.write_text("")
    with pytest.raises(ValueError, match="no epoch logged yet"):
        read_log(path)
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "absent.jsonl")


def test_curves_cli(tmp_path, repo_root):
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG))
    out = tmp_path / "c.html"
    done = subprocess.run([sys.executable, "-m", "evaluation.curves", f"--run_dir={tmp_path}",
                           f"--output={out}"], cwd=repo_root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == str(out), done.stderr
    done = subprocess.run([sys.executable, "-m", "evaluation.curves",
                           f"--run_dir={tmp_path / 'absent'}"], cwd=repo_root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("curves: error: ")
