"""`python -m ner.beam`: the job of `ner.tag` on Apache Beam gives the same records.

The model is the tiny rule model of `tests/tiny_model.py`, exported as a
SavedModel (what the Beam workers load). The pipeline runs on Beam's
in-process runner, once with two worker processes
(`--direct_num_workers=2 --direct_running_mode=multi_processing`).
The reference is `ner.tag` through the same SavedModel
(`ner.exported.ExportedTagger`), whose entities are checked first.
"""

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("apache_beam", reason="the beam extra (pip install -e .[beam])")

from ner import beam as ner_beam  # noqa: E402
from ner import corpus  # noqa: E402
from ner.export import export  # noqa: E402
from ner.exported import ExportedTagger, load_tagger  # noqa: E402
from ner.tag import TagOptions, tag_corpus  # noqa: E402
from ner.tagger import Tagger  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

CONLL = ("-DOCSTART- -X- -X- O\n\njohn B-PER\nsmith I-PER\nlives O\n\nparis B-LOC\n\n"
         "-DOCSTART- -X- -X- O\n\nacme B-ORG\ncorp I-ORG\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_model_folder(tmp_path_factory.mktemp("beam") / "model")


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory) -> Path:
    return export(model_dir, tmp_path_factory.mktemp("beam") / "exported")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("beam_inputs")
    files = {
        "a.txt": "John Smith lives in Paris .\n\nnothing here\n" * 3,
        "b.jsonl": "".join(json.dumps({"id": i, "text": text}) + "\n" for i, text in enumerate(
            ["acme corp and zoe", "Zoë in İstanbul", "new york , new york", ""])),
        "c.conll": CONLL,
        "sub/d.txt": "\n".join(f"doc {i} : john smith met zoe at acme corp" for i in range(20)),
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return corpus.expand_inputs([str(folder)])


@pytest.fixture(scope="module")
def tagged(exported, inputs, tmp_path_factory) -> list[dict]:
    """What ner.tag writes for `inputs` through the SavedModel."""
    # Through the handler, so that in-process pipelines reuse the loaded model.
    tagger = ner_beam.NerModelHandler(str(exported)).load_model()
    assert isinstance(tagger, ExportedTagger)
    out = tmp_path_factory.mktemp("beam_tagged") / "out.jsonl"
    tag_corpus(tagger, inputs, str(out), TagOptions())
    return _records([out])


def _records(paths) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    return sorted(rows, key=lambda r: (r.get("source", ""), r.get("line", 0), r.get("id", -1)))


def _assert_same_records(got: list[dict], want: list[dict]) -> None:
    """Equal records, scores to float32 precision (batches differ between the runs)."""
    def without_scores(rows):
        return [dict(r, entities=[{k: v for k, v in e.items() if k != "score"}
                                  for e in r["entities"]]) for r in rows]

    assert without_scores(got) == without_scores(want)
    scores = lambda rows: [e.get("score", 0.0) for r in rows for e in r["entities"]]
    assert scores(got) == pytest.approx(scores(want), abs=1e-5)


def test_ner_tag_through_the_export(model_dir, exported, tagged):
    # The rule model's entities are known in advance (the export's own
    # equality with ner.Tagger is tests/test_export.py's).
    texts = lambda r: [(e["label"], e["text"]) for e in r["entities"]]
    by_id = {r["id"]: texts(r) for r in tagged if "id" in r}
    assert by_id == {0: [("ORG", "acme corp"), ("PER", "zoe")],
                     1: [("PER", "Zoë"), ("LOC", "İstanbul")],
                     2: [("LOC", "new york"), ("LOC", "new york")], 3: []}
    lines = [texts(r) for r in tagged if r.get("source", "").endswith("a.txt")]
    assert lines == [[("PER", "John Smith"), ("LOC", "Paris")], [], []] * 3
    docs = [r for r in tagged if r.get("source", "").endswith("d.txt")]
    assert len(docs) == 20 and all(texts(r) == [("PER", "john smith"), ("PER", "zoe"),
                                                ("ORG", "acme corp")] for r in docs)
    conll = [r for r in tagged if "sentences" in r]
    assert [[s["labels"] for s in r["sentences"]] for r in conll] == [
        [["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-ORG", "I-ORG"]]]
    assert isinstance(load_tagger(model_dir), Tagger)
    with pytest.raises(FileNotFoundError, match="pass one version folder"):
        load_tagger(exported.parent)
    with pytest.raises(ValueError, match="fixed at export"):
        ner_beam.NerModelHandler(str(exported)).load_model().tag_batch(["paris"], batch_size=4)


def test_beam_with_two_workers_equals_ner_tag(exported, inputs, tagged, tmp_path, capsys):
    out = tmp_path / "out"
    status = ner_beam.main([f"--model_dir={exported}", f"--output={out}", *inputs,
                            "--batch_chars=300", "--direct_num_workers=2",
                            "--direct_running_mode=multi_processing"])
    assert status == 0
    shards = sorted(out.glob("part-*-of-*.jsonl"))
    assert shards
    _assert_same_records(_records(shards), tagged)
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith(f"ner.beam: tagged {len(tagged)} documents with "
                              f"{sum(len(r['entities']) for r in tagged)} entities in ")
    # The precision the workers tagged in, as ner.tag's line says it.
    assert re.search(r" documents/s, float32\) -> ", summary), summary


def test_one_worker_streams_and_others_spread(exported, inputs, tagged, tmp_path, capsys):
    """The default run (in-process, one worker) has no Reshuffle: that runner holds a
    reshuffle's records in memory (about 9 bytes per input byte; BENCHMARKS.md),
    and with one worker there is nobody to spread them to."""
    from apache_beam.options.pipeline_options import PipelineOptions

    for argv, spread in (([], False), (["--direct_num_workers=1"], False),
                         (["--direct_num_workers=2"], True), (["--direct_num_workers=0"], True),
                         (["--runner=DataflowRunner"], True)):
        assert ner_beam.spreads(PipelineOptions(argv)) is spread, argv
        pipeline = ner_beam.beam.Pipeline()  # built, not run
        ner_beam.build_pipeline(pipeline, inputs, str(tmp_path / "unused"), TagOptions(),
                                str(exported), spread=spread)
        assert ("Spread" in _labels(pipeline)) is spread, argv
    # And it tags as ner.tag does.
    out = tmp_path / "out"
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", *inputs]) == 0
    _assert_same_records(_records(sorted(out.glob("part-*-of-*.jsonl"))), tagged)


def _labels(pipeline) -> set[str]:
    """The labels of a pipeline's transforms, composite ones included."""
    labels = set()

    class Visitor(ner_beam.beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.add(node.full_label)

        def visit_transform(self, node):
            labels.add(node.full_label)

    pipeline.visit(Visitor())
    return labels


def test_beam_in_process_conll_output(exported, inputs, tmp_path):
    conll = [p for p in inputs if p.endswith(".conll")]
    out = tmp_path / "out"
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", "--output_format=conll",
                          "--num_shards=1", *conll]) == 0
    text = (out / "part-00000-of-00001.conll").read_text(encoding="utf-8")
    assert text == ("-DOCSTART- -X- -X- O O\n\njohn B-PER B-PER\nsmith I-PER I-PER\n"
                    "lives O O\n\nparis B-LOC B-LOC\n\n-DOCSTART- -X- -X- O O\n\n"
                    "acme B-ORG B-ORG\ncorp I-ORG I-ORG\n")
    # The labels in another scheme than the model's (IOB2 here).
    assert ner_beam.main([f"--model_dir={exported}", f"--output={tmp_path / 'bioes'}",
                          "--output_format=conll", "--output_scheme=iobes", "--num_shards=1",
                          *conll]) == 0
    text = (tmp_path / "bioes" / "part-00000-of-00001.conll").read_text(encoding="utf-8")
    assert text == ("-DOCSTART- -X- -X- O O\n\njohn B-PER B-PER\nsmith I-PER E-PER\n"
                    "lives O O\n\nparis B-LOC S-LOC\n\n-DOCSTART- -X- -X- O O\n\n"
                    "acme B-ORG B-ORG\ncorp I-ORG E-ORG\n")


def test_beam_entities_field(exported, tmp_path, capsys):
    """An input field named like the entities' field: replaced with a warning, or
    kept with --entities_field, as ner.tag does."""
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"text": "paris", "entities": [[0, 5, "LOC"]]}) + "\n"
                    + json.dumps({"text": "zoe"}) + "\n", encoding="utf-8")
    out = tmp_path / "replaced"
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", str(path)]) == 0
    assert [r["entities"][0]["text"] for r in _records(out.glob("part-*"))] == ["paris", "zoe"]
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "ner.beam: warning: 1 input record had an 'entities' field, replaced by the predicted "
        "entities (--entities_field=NAME writes them to another field)")
    out = tmp_path / "kept"
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}",
                          "--entities_field=predicted", str(path)]) == 0
    got = sorted(_records(out.glob("part-*")), key=lambda r: r["text"])
    assert got[0]["entities"] == [[0, 5, "LOC"]] and got[0]["predicted"][0]["label"] == "LOC"
    assert "warning" not in capsys.readouterr().err


def test_beam_bad_input(exported, inputs, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "paris"}\n{"id": 3}\n{"text": "zoe"}\n', encoding="utf-8")
    out = tmp_path / "stop"
    out.mkdir()  # an empty folder is a valid output
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", str(bad)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"ner.beam: error: {bad}:2: no 'text' field"
    assert not list(out.glob("*"))  # no part, no beam-temp-*

    # A failed run's file sink may have begun writing into a beam-temp-*
    # folder (whether it had depends on the order the runner took the work
    # in); the run removes such folders.
    out = tmp_path / "temp"
    (out / "beam-temp-part-0123").mkdir(parents=True)
    (out / "beam-temp-part-0123" / "shard").write_text("{}\n", encoding="utf-8")
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", str(bad)]) == 1
    capsys.readouterr()
    assert out.is_dir() and not list(out.glob("*"))

    # A model folder that does not exist: one line, before Beam starts.
    assert ner_beam.main([f"--model_dir={tmp_path / 'nope'}", f"--output={tmp_path / 'n'}",
                          str(bad)]) == 2
    assert capsys.readouterr().err == \
        f"ner.beam: error: {tmp_path / 'nope'}: no such folder (--model_dir)\n"

    out = tmp_path / "skip"
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", "--on_error=skip",
                          str(bad)]) == 0
    assert [r["text"] for r in _records(out.glob("part-*"))] == ["paris", "zoe"]
    assert _records(out.glob("errors-*")) == [
        {"source": str(bad), "line": 2, "error": "no 'text' field"}]
    assert "skipped 1 bad record " in capsys.readouterr().err

    # A folder holding an earlier run's output is refused; so is standard input.
    assert ner_beam.main([f"--model_dir={exported}", f"--output={out}", str(bad)]) == 2
    assert "holds the output of an earlier run" in capsys.readouterr().err
    assert ner_beam.main([f"--model_dir={exported}", f"--output={tmp_path / 'x'}", "-"]) == 2
    assert "standard input" in capsys.readouterr().err
    # ... and its help does not offer it (ner.tag's does).
    assert "not standard input" in " ".join(ner_beam._parser().format_help().split())


def test_handler_batches_by_characters(exported):
    handler = ner_beam.NerModelHandler(str(exported), batch_chars=1000)
    kwargs = handler.batch_elements_kwargs()
    assert (kwargs["min_batch_size"], kwargs["max_batch_size"]) == (1000, 1000)
    record = corpus.TextRecord({"text": "abc"}, "abc", "f", 1, 4)
    assert kwargs["element_size_fn"](record) == 3
    results = list(handler.run_inference([record], handler.load_model()))
    assert results[0].example is record and results[0].inference == []


def test_the_summary_names_every_precision_the_workers_counted():
    """The summary line's precisions come from the workers' counters, whatever they
    are named: no list of known precisions to keep in step with `ner.precision`."""
    from apache_beam.metrics import Metrics
    from apache_beam.options.pipeline_options import PipelineOptions

    def count(name):
        Metrics.counter("ner", f"precision_{name}").inc()
        return name

    pipeline = ner_beam.beam.Pipeline(options=PipelineOptions(
        [f"--runner={ner_beam._IN_PROCESS_RUNNER}"]))  # as ner.beam runs by default
    _ = pipeline | ner_beam.beam.Create(["int8", "float16", "int8"]) | ner_beam.beam.Map(count)
    result = pipeline.run()
    result.wait_until_finish()
    assert ner_beam._precisions_used(ner_beam._counters(result)) == ["float16", "int8"]
