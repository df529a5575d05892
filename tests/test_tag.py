"""`python -m ner.tag`: every input format, outputs, resuming, bad input.

The model is the tiny rule model of `tests/tiny_model.py`, whose entities
are known in advance ("john smith" PER, "paris" LOC, "acme corp" ORG, ...);
every output is also compared with what `Tagger.tag_batch` or `tag_tokens`
gives for the same texts, so ner.tag adds nothing of its own to the
entities. No licensed data is used.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ner import corpus, tag
from ner.data import count_docstart_lines, read_predictions
from ner.tag import TagOptions, tag_corpus
from ner.tagger import Tagger
from tests.tiny_model import write_model_folder

# Lines of text; entity words of the rule model mixed with others, one empty
# line, non-ASCII text and lengths that make several batches.
TEXTS = [
    "John Smith lives in Paris .",
    "",
    "Zoë met Zoe at Acme Corp in New York , and the big Acme Corp is in Istanbul !",
    "nothing to see here",
    "x " * 40 + "john smith",
    "東京 and Paris\tand   new york",
    "Acme Corp . John Smith . Zoe . Paris .",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_model_folder(tmp_path_factory.mktemp("tag") / "model")


@pytest.fixture(scope="module")
def tagger(model_dir) -> Tagger:
    return Tagger.load(model_dir)


def _write(path: Path, data: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def _read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _entities(found) -> list[dict]:
    return [{"label": e.label, "start": e.start, "end": e.end, "text": e.text, "score": e.score}
            for e in found]


def _same(got: list[dict], want: list[dict]) -> None:
    assert [{k: e[k] for k in ("label", "start", "end", "text")} for e in got] == \
        [{k: e[k] for k in ("label", "start", "end", "text")} for e in want]
    assert [e["score"] for e in got] == pytest.approx([e["score"] for e in want], abs=1e-5)


# === Reading (no model) ===


def test_lines_crlf_bom_and_empty_lines():
    data = b"\xef\xbb\xbfone\r\n\ntwo\n  three  "
    records = list(corpus.read_records(io.BytesIO(data), "f.txt", "lines"))
    assert [(r.line, r.text) for r in records] == [(1, "one"), (2, ""), (3, "two"),
                                                   (4, "  three  ")]
    assert records[0].fields == {"source": "f.txt", "line": 1, "text": "one"}
    assert sum(r.size for r in records) == len(data) - 3  # the BOM is not a document's


def test_conll_documents_keep_their_lines():
    data = ("\n-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
            "Peter NNP B-NP B-PER\n\n-DOCSTART- -X- -X- O\n\nx\tO\n")
    records = list(corpus.read_records(io.BytesIO(data.encode()), "f.conll", "conll"))
    assert [r.docstart for r in records] == ["-DOCSTART- -X- -X- O"] * 2
    assert [r.sentences for r in records] == [(("EU", "rejects"), ("Peter",)), (("x",),)]
    assert [r.line for r in records] == [2, 10]
    assert records[0].lines == ("-DOCSTART- -X- -X- O", "", "EU NNP B-NP B-ORG",
                                "rejects VBZ B-VP O", "", "", "Peter NNP B-NP B-PER", "")
    out = corpus.output_text(records[1], [["B-LOC"]], "conll")
    assert out == "-DOCSTART- -X- -X- O O\n\nx\tO\tB-LOC"


def test_conll_without_docstart_is_read_in_bounded_documents(tagger, tmp_path, monkeypatch):
    sentences = [f"john NNP\nsmith{i} NNP" for i in range(7)]
    data = "\n" + "\n\n".join(sentences[:4]) + "\n\n\n" + "\n\n".join(sentences[4:]) + "\n"
    path = _write(tmp_path / "plain.conll", data)
    whole = tmp_path / "whole.conll"
    tag_corpus(tagger, [path], str(whole), TagOptions(output_format="conll", quiet=True))
    monkeypatch.setattr(corpus, "SENTENCES_PER_UNMARKED_DOCUMENT", 3)
    with open(path, "rb") as f:
        records = list(corpus.read_records(f, path, "conll"))
    assert [len(r.sentences) for r in records] == [3, 3, 1]
    assert [r.line for r in records] == [2, 11, 21] and {r.docstart for r in records} == {None}
    pieces = tmp_path / "pieces.conll"
    tag_corpus(tagger, [path], str(pieces), TagOptions(output_format="conll", quiet=True))
    assert pieces.read_text() == whole.read_text()  # the same lines, labels and blank lines
    assert len(whole.read_text().splitlines()) == len(data.splitlines()) - 1  # leading blank


def test_format_from_extension():
    assert [corpus.format_for(p) for p in ("a.jsonl", "b.NDJSON", "g.json", "c.conll", "d.iob",
                                           "e.txt", "f")] == ["jsonl", "jsonl", "jsonl", "conll",
                                                              "conll", "lines", "lines"]


def test_expand_inputs(tmp_path):
    a = _write(tmp_path / "in" / "b.txt", "x")
    b = _write(tmp_path / "in" / "sub" / "a.txt", "x")
    _write(tmp_path / "in" / ".hidden", "x")
    _write(tmp_path / "in" / ".git" / "c.txt", "x")
    out = _write(tmp_path / "in" / "out" / "part-00000.jsonl", "x")
    c = _write(tmp_path / "c.jsonl", "x")
    found = corpus.expand_inputs([str(tmp_path / "in"), str(tmp_path / "*.jsonl"), a, "-"],
                                 exclude=[tmp_path / "in" / "out"])
    assert found == [a, b, c, "-"]
    assert out not in found
    with pytest.raises(corpus.InputError, match="no such file or folder"):
        corpus.expand_inputs([str(tmp_path / "missing.txt")])
    with pytest.raises(corpus.InputError, match="no file matches"):
        corpus.expand_inputs([str(tmp_path / "*.nothing")])


# === Tagging ===


def test_lines_equal_tag_batch_in_many_batches(tagger, tmp_path):
    path = _write(tmp_path / "in.txt", "\n".join(TEXTS) + "\n")
    want = tagger.tag_batch(TEXTS)
    for options in (TagOptions(), TagOptions(batch_size=2), TagOptions(batch_chars=30)):
        out = tmp_path / "out.jsonl"
        summary = tag_corpus(tagger, [path], str(out), options)
        got = _read_jsonl(out)
        assert [r["text"] for r in got] == TEXTS
        assert [r["line"] for r in got] == list(range(1, len(TEXTS) + 1))
        assert {r["source"] for r in got} == {path}
        for record, found in zip(got, want):
            _same(record["entities"], _entities(found))
        assert summary.documents == len(TEXTS)
        assert summary.entities == sum(map(len, want)) > 10
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_jsonl_fields_survive(tagger, tmp_path, capsys):
    rows = [{"id": "a", "body": "john smith in paris", "meta": {"n": [1, 2]}, "entities": "old"},
            {"body": "lone \ud800 surrogate and acme corp", "id": 7, "entities": "older"}]
    lines = [json.dumps(row) for row in rows]
    path = _write(tmp_path / "in.jsonl", lines[0] + "\n\n" + lines[1] + "\n")
    out = tmp_path / "out.jsonl"
    # An input field named like the entities' field: kept under another name...
    tag_corpus(tagger, [path], str(out), TagOptions(text_field="body", quiet=True,
                                                    entities_field="predicted"))
    got = _read_jsonl(out)
    assert [r["entities"] for r in got] == ["old", "older"]
    assert [e["text"] for e in got[0]["predicted"]] == ["john smith", "paris"]
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="entities_field must name a field other than"):
        TagOptions(text_field="body", entities_field="body")
    # ... or replaced, with one warning naming the first such record.
    tag_corpus(tagger, [path], str(out), TagOptions(text_field="body", quiet=True))
    assert capsys.readouterr().err == (
        f"ner.tag: warning: {path}:1: the input has an 'entities' field; the predicted "
        "entities replace it in the output (--entities_field=NAME writes them to another "
        "field)\n")
    got = _read_jsonl(out)
    assert [r["id"] for r in got] == ["a", 7]
    assert got[0]["meta"] == {"n": [1, 2]} and list(got[0])[:3] == ["id", "body", "meta"]
    want = tagger.tag_batch([row["body"] for row in rows])
    for record, found in zip(got, want):
        _same(record["entities"], _entities(found))
    assert [e["text"] for e in got[0]["entities"]] == ["john smith", "paris"]
    assert got[1]["body"] == rows[1]["body"]  # the surrogate, escaped, reads back the same


def test_text_format_one_document_per_file(tagger, tmp_path):
    text = "John Smith lives in Paris .\n\nAcme Corp is big .\n"
    path = _write(tmp_path / "doc.md", text)
    out = tmp_path / "out.jsonl"
    tag_corpus(tagger, [path], str(out), TagOptions(input_format="text"))
    (got,) = _read_jsonl(out)
    assert got["text"] == text and got["source"] == path
    _same(got["entities"], _entities(tagger.tag(text)))


def test_output_scheme_spells_conll_labels_in_the_scheme_asked_for(tmp_path):
    """A BIOES model writes BIOES labels unless --output_scheme names another
    scheme; the entities are the same in every spelling."""
    labels = ("O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC",
              "B-ORG", "I-ORG", "E-ORG", "S-ORG")
    rules = {"john": "B-PER", "smith": "E-PER", "zoe": "S-PER", "paris": "S-LOC",
             "acme": "B-ORG", "corp": "E-ORG"}
    model = write_model_folder(tmp_path / "model", labels=labels, rules=rules, scheme="BIOES")
    path = _write(tmp_path / "gold.conll", CONLL)
    predicted, entities = {}, {}
    for flag in (None, "bio", "IOB1", "bioes"):
        out = tmp_path / f"{flag}.conll"
        argv = [f"--model_dir={model}", "--output_format=conll", f"--output={out}", "--quiet",
                path] + ([f"--output_scheme={flag}"] if flag else [])
        assert tag.main(argv) == 0
        predicted[flag] = read_predictions(out)[2]
        jsonl = tmp_path / f"{flag}.jsonl"
        assert tag.main([a for a in argv if not a.startswith(("--output_format", "--output="))]
                        + [f"--output={jsonl}"]) == 0
        entities[flag] = [r["entities"] for r in _read_jsonl(jsonl)]
    assert predicted[None] == predicted["bioes"] == [
        ["B-PER", "E-PER", "O", "O", "S-LOC"], ["B-ORG", "E-ORG"], ["S-PER"]]
    assert predicted["bio"] == [["B-PER", "I-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"],
                                ["B-PER"]]
    assert predicted["IOB1"] == [["I-PER", "I-PER", "O", "O", "I-LOC"], ["I-ORG", "I-ORG"],
                                 ["I-PER"]]
    assert entities[None][0][0]["text"] == "john smith"
    assert all(found == entities[None] for found in entities.values())
    with pytest.raises(ValueError, match="output_scheme: unknown tag scheme 'BILOU'"):
        TagOptions(output_scheme="BILOU")


def test_displacy_output(tagger, tmp_path):
    path = _write(tmp_path / "in.txt", "John Smith lives in Paris .\n")
    out = tmp_path / "out.jsonl"
    tag_corpus(tagger, [path], str(out), TagOptions(output_format="displacy"))
    assert _read_jsonl(out) == [{"text": "John Smith lives in Paris .", "ents": [
        {"start": 0, "end": 10, "label": "PER"}, {"start": 20, "end": 25, "label": "LOC"}]}]


CONLL = """-DOCSTART- -X- -X- O

john NNP B-NP B-PER
smith NNP I-NP I-PER
lives VBZ B-VP O
in IN B-PP O
paris NNP B-NP B-LOC

acme NNP B-NP B-ORG
corp NNP I-NP O


-DOCSTART- -X- -X- O

zoe NNP B-NP B-PER
"""


def test_conll_output_is_the_input_with_a_tag_column(tagger, tmp_path):
    path = _write(tmp_path / "gold.conll", CONLL)
    out = tmp_path / "pred.conll"
    tag_corpus(tagger, [path], str(out), TagOptions(output_format="conll"))
    lines = out.read_text(encoding="utf-8").split("\n")
    assert [line.rsplit(" ", 1)[0] for line in lines] == CONLL.split("\n")
    # Every line has one column count, as conlleval.pl requires: the
    # -DOCSTART- lines too, with O predicted.
    assert {len(line.split()) for line in lines if line} == {5}
    assert [line for line in lines if line.startswith("-DOCSTART-")] == [
        "-DOCSTART- -X- -X- O O"] * 2
    assert count_docstart_lines(out) == (2, True)
    # What evaluation.report --predictions_in reads: word ... gold pred.
    tokens, gold, pred = read_predictions(out)
    sentences = [["john", "smith", "lives", "in", "paris"], ["acme", "corp"], ["zoe"]]
    assert tokens == sentences
    assert pred == tagger.tag_tokens(sentences, documents=[0, 0, 1])
    assert pred[1] == ["B-ORG", "I-ORG"] and gold[1] == ["B-ORG", "O"]


def test_conll_to_jsonl(tagger, tmp_path):
    path = _write(tmp_path / "gold.conll", CONLL)
    out = tmp_path / "out.jsonl"
    summary = tag_corpus(tagger, [path], str(out), TagOptions())
    first, second = _read_jsonl(out)
    assert first["docstart"] == "-DOCSTART- -X- -X- O" and first["line"] == 1
    assert [s["words"] for s in first["sentences"]] == [
        ["john", "smith", "lives", "in", "paris"], ["acme", "corp"]]
    assert [s["labels"] for s in first["sentences"]] == tagger.tag_tokens(
        [s["words"] for s in first["sentences"]], documents=[0, 0])
    assert first["entities"] == [
        {"label": "PER", "sentence": 0, "start": 0, "end": 2, "text": "john smith"},
        {"label": "LOC", "sentence": 0, "start": 4, "end": 5, "text": "paris"},
        {"label": "ORG", "sentence": 1, "start": 0, "end": 2, "text": "acme corp"}]
    assert second["sentences"] == [{"words": ["zoe"], "labels": ["B-PER"]}]
    assert summary.entities == 4


def test_conll_columns_read_as_lines_are_warned_of(tagger, tmp_path, capsys):
    # CoNLL data is often named .txt, which reads as one text per line.
    conll = _write(tmp_path / "test.txt", CONLL)
    tag_corpus(tagger, [conll], str(tmp_path / "a.jsonl"), TagOptions(quiet=True))
    err = capsys.readouterr().err
    assert err.count("its lines look like CoNLL columns") == 1, err
    assert f"{conll}: its lines look like CoNLL columns (word ... tag)" in err
    assert "--input_format=conll" in err
    # Text, even short lines, and a CoNLL file read as CoNLL: no warning.
    text = _write(tmp_path / "text.txt", "john smith lives in paris\nO\nacme corp B-ORG\n" * 3)
    tag_corpus(tagger, [text], str(tmp_path / "b.jsonl"), TagOptions(quiet=True))
    tag_corpus(tagger, [conll], str(tmp_path / "c.jsonl"),
               TagOptions(quiet=True, input_format="conll"))
    assert "CoNLL columns" not in capsys.readouterr().err


def test_formats_that_do_not_fit(tagger, tmp_path):
    text = _write(tmp_path / "in.txt", "paris\n")
    conll = _write(tmp_path / "in.conll", CONLL)
    with pytest.raises(ValueError, match="needs CoNLL input"):
        tag_corpus(tagger, [text], None, TagOptions(output_format="conll"))
    with pytest.raises(ValueError, match="displacy needs text"):
        tag_corpus(tagger, [conll], None, TagOptions(output_format="displacy"))


def test_stdin_to_stdout(tagger, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        b'{"id": 1, "text": "acme corp"}\n{"id": 2, "text": "zoe"}\n')))
    summary = tag_corpus(tagger, ["-"], None, TagOptions(input_format="jsonl"))
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], [e["text"] for e in r["entities"]]) for r in got] == [
        (1, ["acme corp"]), (2, ["zoe"])]
    assert summary.output == "standard output"


def test_folder_and_glob_inputs(tagger, tmp_path):
    _write(tmp_path / "in" / "b.txt", "paris\nzoe\n")
    _write(tmp_path / "in" / "a" / "x.jsonl", '{"text": "acme corp"}\n')
    _write(tmp_path / "in" / ".partial.txt", "john\n")
    _write(tmp_path / "more" / "c.txt", "john smith\n")
    paths = corpus.expand_inputs([str(tmp_path / "in"), str(tmp_path / "more" / "*.txt")])
    out = tmp_path / "out.jsonl"
    tag_corpus(tagger, paths, str(out), TagOptions())
    assert [[e["text"] for e in r["entities"]] for r in _read_jsonl(out)] == [
        ["acme corp"], ["paris"], ["zoe"], ["john smith"]]


def test_progress_bar_on_request(tagger, tmp_path, capsys):
    path = _write(tmp_path / "in.txt", "john smith\nparis\n")
    tag_corpus(tagger, [path], str(tmp_path / "out.jsonl"), TagOptions(progress=True))
    err = capsys.readouterr().err
    assert "ner.tag" in err and "2 docs" in err and "docs/s" in err and "2 entities" in err


def test_progress_lines_when_standard_error_is_not_a_terminal(tagger, tmp_path, capsys,
                                                               monkeypatch):
    path = _write(tmp_path / "in.txt", "john smith\nparis\nzoe\n")
    monkeypatch.setattr(tag, "PROGRESS_LINE_SECONDS", 0.0)  # a line per batch
    tag_corpus(tagger, [path], str(tmp_path / "out.jsonl"), TagOptions(batch_size=2))
    lines = [line for line in capsys.readouterr().err.splitlines() if "read;" in line]
    size = os.path.getsize(path) / 2**20
    assert lines[-1].startswith(f"ner.tag: {size:,.1f} MiB of {size:,.1f} MiB (100%, 0 s left) "
                                "read; 3 docs, ")
    assert len(lines) == 2 and lines[-1].endswith(" docs/s, 3 entities")
    monkeypatch.setattr(tag, "PROGRESS_LINE_SECONDS", 60.0)
    tag_corpus(tagger, [path], str(tmp_path / "out.jsonl"), TagOptions(batch_size=2))
    assert "read;" not in capsys.readouterr().err  # no line before a minute has passed
    monkeypatch.setattr(tag, "PROGRESS_LINE_SECONDS", 0.0)
    tag_corpus(tagger, [path], str(tmp_path / "out.jsonl"), TagOptions(progress=False))
    assert "read;" not in capsys.readouterr().err  # --noprogress: none


# === Folders of shards: resuming ===


class _Killed(Exception):
    pass


class _DiesAfter:
    """A tagger that dies after `calls` tag_batch calls, like a killed process."""

    def __init__(self, tagger, calls: int):
        self.tagger, self.calls = tagger, calls
        self.texts: list[str] = []

    def tag_batch(self, texts, batch_size=None):
        if self.calls == 0:
            raise _Killed()
        self.calls -= 1
        self.texts += texts
        return self.tagger.tag_batch(texts)


def test_resume_skips_complete_shards(tagger, tmp_path):
    path = _write(tmp_path / "in.txt", "\n".join(TEXTS) + "\n")  # 7 documents
    options = TagOptions(shard_size=2, batch_size=1)
    clean = tmp_path / "clean"
    tag_corpus(tagger, [path], f"{clean}/", options)
    names = sorted(p.name for p in clean.iterdir())
    assert names == ["inputs.sha256", "job.json", "part-00000.jsonl", "part-00001.jsonl",
                     "part-00002.jsonl", "part-00003.jsonl", "summary.json"]
    assert [r["text"] for n in names[2:6] for r in _read_jsonl(clean / n)] == TEXTS
    assert json.loads((clean / "summary.json").read_text()) == {
        "documents": 7, "errors": 0, "shards": 4, "precision": tagger.precision}
    assert tagger.precision in ("float32", "bfloat16", "int8")

    out = tmp_path / "out"
    with pytest.raises(_Killed):
        tag_corpus(_DiesAfter(tagger, 5), [path], f"{out}/", options)
    # Two complete shards; the third holds one document and does not look finished.
    assert sorted(p.name for p in out.iterdir()) == [
        "inputs.sha256", "job.json", "part-00000.jsonl", "part-00001.jsonl",
        "part-00002.jsonl.partial"]
    assert len(_read_jsonl(out / "part-00002.jsonl.partial")) == 1
    (out / "part-00000.jsonl").write_text('{"kept": true}\n')  # must not be rewritten

    again = _DiesAfter(tagger, 100)
    summary = tag_corpus(again, [path], str(out), options)
    assert again.texts == TEXTS[4:]  # only the documents of shards 2 and 3
    assert (summary.documents, summary.resumed_shards, summary.resumed_documents) == (3, 2, 4)
    assert _read_jsonl(out / "part-00000.jsonl") == [{"kept": True}]
    for name in names[3:6]:
        assert (out / name).read_bytes() == (clean / name).read_bytes()
    assert not list(out.glob("*.partial"))

    # A rerun with other options is refused, not mixed in.
    with pytest.raises(ValueError, match="another job: output_format changed"):
        tag_corpus(tagger, [path], str(out), TagOptions(shard_size=2, output_format="displacy"))
    with pytest.raises(ValueError, match="another job: inputs changed"):
        tag_corpus(tagger, [path, path], str(out), options)


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))


def test_a_rerun_from_standard_input_resumes_only_the_same_input(tagger, tmp_path, monkeypatch):
    # Standard input has no size or time to compare: each complete shard's
    # input is hashed, and a rerun that reads other records there is refused.
    out = tmp_path / "out"
    options = TagOptions(shard_size=2, batch_size=1)
    _stdin(monkeypatch, "\n".join(TEXTS) + "\n")
    with pytest.raises(_Killed):
        tag_corpus(_DiesAfter(tagger, 5), ["-"], f"{out}/", options)
    assert [line.split()[0] for line in (out / "inputs.sha256").read_text().splitlines()] == [
        "part-00000.jsonl", "part-00001.jsonl"]

    _stdin(monkeypatch, "\n".join(["Paris", *TEXTS[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"another job: the input of part-00000.jsonl "
                                         r"\(documents 1-2\) is not the one it was tagged from"):
        tag_corpus(tagger, ["-"], str(out), options)
    # Fewer documents than the complete shards hold.
    _stdin(monkeypatch, "\n".join(TEXTS[:2]) + "\n")
    with pytest.raises(ValueError, match=r"another job: part-00001.jsonl and 0 more lie beyond "
                                         r"the end of this input \(2 documents\)"):
        tag_corpus(tagger, ["-"], str(out), options)

    _stdin(monkeypatch, "\n".join(TEXTS) + "\n")
    again = _DiesAfter(tagger, 100)
    summary = tag_corpus(again, ["-"], str(out), options)
    assert again.texts == TEXTS[4:]
    assert (summary.documents, summary.resumed_documents) == (3, 4)
    assert [r["text"] for n in range(4) for r in _read_jsonl(out / f"part-{n:05d}.jsonl")] == TEXTS


def test_a_torn_digest_line_is_skipped(tmp_path):
    # A kill while appending leaves a torn last line: that shard is not yet
    # complete, and the line is ignored rather than failing the rerun.
    digest = "ab" * 32
    (tmp_path / "inputs.sha256").write_text(
        f"part-00000.jsonl {digest}\npart-00001.jsonl {'cd' * 32}\npart-00002.jsonl ab12",
        encoding="ascii")
    assert tag._read_digests(tmp_path / "inputs.sha256") == {
        "part-00000.jsonl": digest, "part-00001.jsonl": "cd" * 32}
    assert tag._read_digests(tmp_path / "absent") == {}


def test_a_file_changed_in_place_is_caught_by_its_contents(tagger, tmp_path):
    # Same size, same modification time: only the contents tell.
    path = tmp_path / "in.txt"
    _write(path, "\n".join(TEXTS) + "\n")
    stat = path.stat()
    out = tmp_path / "out"
    tag_corpus(tagger, [str(path)], f"{out}/", TagOptions(shard_size=2))
    _write(path, "\n".join([TEXTS[0].replace("Paris", "Lyons"), *TEXTS[1:]]) + "\n")
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(ValueError, match="the input of part-00000.jsonl"):
        tag_corpus(tagger, [str(path)], str(out), TagOptions(shard_size=2))


@pytest.mark.parametrize("name", ["part-00000.jsonl", "part-00003.jsonl.partial",
                                  "errors-00001.jsonl", "summary.json", "inputs.sha256"])
def test_a_folder_with_output_but_no_job_description_is_refused(tagger, tmp_path, name):
    path = _write(tmp_path / "in.txt", "\n".join(TEXTS) + "\n")
    out = tmp_path / "out"
    _write(out / name, '{"text": "another corpus"}\n')
    _write(out / "notes.txt", "a user's own file\n")
    with pytest.raises(ValueError, match=rf"out holds output of an unknown job \({name}\) and "
                                         "no job.json to check it against"):
        tag_corpus(tagger, [path], str(out), TagOptions(shard_size=2))
    assert not (out / "job.json").exists()
    (out / name).unlink()
    tag_corpus(tagger, [path], str(out), TagOptions(shard_size=2))  # only the user's file
    assert (out / "notes.txt").exists() and (out / "part-00003.jsonl").exists()


class _As:
    """`tagger` reporting another precision and model card."""

    def __init__(self, tagger, precision, meta):
        self.tagger, self.precision, self.meta = tagger, precision, meta

    def tag_batch(self, texts, batch_size=None):
        return self.tagger.tag_batch(texts)


def test_a_rerun_with_another_precision_or_model_version_is_refused(tagger, tmp_path):
    path = _write(tmp_path / "in.txt", "\n".join(TEXTS) + "\n")
    options = TagOptions(shard_size=2)
    out = tmp_path / "out"
    tag_corpus(_As(tagger, "float32", {"version": "aaaa"}), [path], f"{out}/", options)
    job = json.loads((out / "job.json").read_text())
    assert (job["precision"], job["model_version"]) == ("float32", "aaaa")
    tag_corpus(_As(tagger, "float32", {"version": "aaaa"}), [path], str(out), options)  # same
    with pytest.raises(ValueError, match=r"another job: precision changed since .*; to "
                                         r"resume, pass --precision=float32, what they were"):
        tag_corpus(_As(tagger, "int8", {"version": "aaaa"}), [path], str(out), options)
    with pytest.raises(ValueError, match="another job: model_version changed") as refused:
        tag_corpus(_As(tagger, "float32", {"version": "bbbb"}), [path], str(out), options)
    assert "--precision" not in str(refused.value)  # no hint where it would not help
    # A job begun before these were recorded resumes.
    del job["precision"], job["model_version"]
    (out / "job.json").write_text(json.dumps(job))
    tag_corpus(_As(tagger, "int8", {"version": "bbbb"}), [path], str(out), options)


def test_file_output_is_replaced_only_when_complete(tagger, tmp_path):
    path = _write(tmp_path / "in.txt", "\n".join(TEXTS) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(_Killed):
        tag_corpus(_DiesAfter(tagger, 1), [path], str(out), TagOptions(batch_size=2))
    assert out.read_text() == "old\n"
    assert len(_read_jsonl(tmp_path / "out.jsonl.partial")) == 2


# === Bad input ===

BAD_INPUTS = {
    # name: (file name, content, line of the error, words of the reason)
    "invalid UTF-8": ("a.txt", b"paris\nzoe \xff\xfe here\n", 2, "invalid UTF-8"),
    "invalid UTF-8 in a text file": ("a.md", b"paris\n\nzoe \xc3(\n", 3, "invalid UTF-8"),
    "invalid UTF-8 in CoNLL": ("a.conll", b"paris B-LOC\n\nzo\xe9 O\n", 3, "invalid UTF-8"),
    "not JSON": ("a.jsonl", b'{"text": "paris"}\n{"text": "zoe"\n', 2, "not JSON"),
    "a JSON array": ("a.json", b'[{"text": "paris"}, {"text": "zoe"}]\n', 1,
                     "an array where a JSON object was expected; is the file one JSON array? "
                     "One JSON object per line is expected (JSON Lines): convert with "
                     "jq -c '.[]' FILE.json > FILE.jsonl"),
    "not an object": ("a.jsonl", b'{"text": "paris"}\n["zoe"]\n', 2,
                      "an array where a JSON object was expected"),
    "missing text": ("a.jsonl", b'{"text": "paris"}\n{"body": "zoe"}\n', 2, "no 'text' field"),
    "text not a string": ("a.jsonl", b'{"text": "paris"}\n{"text": 3}\n', 2,
                          "the 'text' field is a number, not a string"),
    "empty file": ("a.txt", b"", None, "empty file"),
    "a gzip file": ("a.txt.gz", b"\x1f\x8b\x08\x00\x9a\x0b\nrest", 1,
                    "invalid UTF-8 (byte 2 of the line: b'\\x8b'); the file looks "
                    "gzip-compressed, which is not read: decompress it first "
                    "(`zcat FILE | python -m ner.tag -`)"),
    "a zip file in text format": ("a.md", b"PK\x03\x04\x14\x00\xff", 1,
                                  "invalid UTF-8 (byte 7 of the line: b'\\xff'); the file "
                                  "looks zip-compressed"),
    "empty JSONL": ("a.jsonl", b"\n\n", None, "no JSON objects"),
}


def _bad_input(tmp_path, name) -> tuple[str, str, list[str]]:
    file_name, content, line, reason = BAD_INPUTS[name]
    fmt = "text" if file_name.endswith(".md") else None
    good = _write(tmp_path / "0-good.txt", "john smith\nacme corp\n")
    bad = _write(tmp_path / file_name, content)
    where = f"{bad}:{line}: " if line else f"{bad}: "
    return fmt, where + reason, [good, bad]


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_stops_naming_file_and_line(tagger, tmp_path, name):
    fmt, message, paths = _bad_input(tmp_path, name)
    out = tmp_path / "out.jsonl"
    with pytest.raises(corpus.InputError) as raised:
        tag_corpus(tagger, paths, str(out), TagOptions(input_format=fmt, batch_size=100))
    assert str(raised.value).startswith(message)
    assert "out.jsonl.partial" in str(raised.value)
    assert not out.exists()
    # The documents before it are tagged and written, not lost.
    written = _read_jsonl(tmp_path / "out.jsonl.partial")
    assert [e["text"] for r in written[:2] for e in r["entities"]] == ["john smith", "acme corp"]


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_skipped_is_recorded(tagger, tmp_path, name):
    fmt, message, paths = _bad_input(tmp_path, name)
    out = tmp_path / "out.jsonl"
    summary = tag_corpus(tagger, paths, str(out), TagOptions(input_format=fmt, on_error="skip"))
    (error,) = _read_jsonl(tmp_path / "out.errors.jsonl")
    assert error["source"] == paths[1]
    line = f":{error['line']}" if error["line"] else ""
    assert f"{error['source']}{line}: {error['error']}".startswith(message)
    assert summary.errors == 1
    got = _read_jsonl(out)
    assert got[0]["entities"][0]["text"] == "john smith"
    assert not any(r.get("source") == paths[1] and r.get("line") == error["line"] for r in got)


def test_skipped_errors_go_to_their_shard(tagger, tmp_path):
    good = _write(tmp_path / "a.jsonl", '{"text": "paris"}\n[1]\n{"text": "zoe"}\n'
                                        '{"text": "acme corp"}\n{}\n')
    out = tmp_path / "out"
    summary = tag_corpus(tagger, [good], f"{out}/", TagOptions(shard_size=2, on_error="skip"))
    assert summary.errors == 2 and summary.documents == 3
    assert [e["line"] for e in _read_jsonl(out / "errors-00000.jsonl")] == [2]
    assert [e["line"] for e in _read_jsonl(out / "errors-00001.jsonl")] == [5]
    assert json.loads((out / "summary.json").read_text())["errors"] == 2


# === The command line ===


def test_main_errors(model_dir, tmp_path, capsys):
    bad = _write(tmp_path / "bad.jsonl", '"x"\n{"text": "paris"}\n')
    assert tag.main([f"--model_dir={model_dir}", bad]) == 1
    err = capsys.readouterr().err
    assert f"ner.tag: error: {bad}:1: a string where a JSON object was expected" in err
    assert tag.main([f"--model_dir={model_dir}"]) == 2
    assert "name the input" in capsys.readouterr().err
    assert tag.main([f"--model_dir={tmp_path / 'none'}", bad]) == 2
    assert "no such model folder" in capsys.readouterr().err
    assert tag.main([f"--model_dir={model_dir}", str(tmp_path / "missing.txt")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_command_line(model_dir, tmp_path, repo_root):
    path = _write(tmp_path / "in.txt", "John Smith lives in Paris .\nAcme Corp\n")
    out = tmp_path / "out.jsonl"
    run = subprocess.run([sys.executable, "-m", "ner.tag", f"--model_dir={model_dir}",
                          f"--output={out}", path], capture_output=True, text=True,
                         cwd=repo_root, env={**os.environ, "PYTHONPATH": str(repo_root)})
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]  # not a terminal: one summary line
    assert last.startswith("ner.tag: tagged 2 documents with 3 entities in ")
    assert last.endswith(f"documents/s, float32) -> {out}")  # what auto picked
    assert [[e["text"] for e in r["entities"]] for r in _read_jsonl(out)] == [
        ["John Smith", "Paris"], ["Acme Corp"]]
