"""The model card: meta.json and README.md in every model folder written by training.

A tiny training run (the checked-in sample, a tiny random BERT) writes the
card; its scores must be the run's reports, its flags must reproduce the run,
`Tagger.load(...).meta` must return it, the export must carry it and the
server's health endpoint must report it. Folders without a card load as before.
"""

import dataclasses
import hashlib
import json
import shlex
from pathlib import Path

import pytest

from ner import model as model_lib
from ner import cli, train
from ner.tagger import Tagger
from tests.tiny_model import write_model_folder


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory, repo_root):
    """The checked-in sample as train, dev and test (dev and test cut short: distinct files)."""
    folder = tmp_path_factory.mktemp("card_data")
    text = (repo_root / "data" / "conll2003" / "sample.txt").read_text(encoding="utf-8")
    (folder / "train.txt").write_text(text, encoding="utf-8")
    blocks = text.split("\n\n")
    (folder / "dev.txt").write_text("\n\n".join(blocks[: len(blocks) * 2 // 3]) + "\n",
                                    encoding="utf-8")
    (folder / "test.txt").write_text("\n\n".join(blocks[len(blocks) // 3:]), encoding="utf-8")
    return folder


def _options(data_dir, out, bert_dir, **overrides):
    values = dict(data_dir=str(data_dir), output_dir=str(out), bert_dir=str(bert_dir), epochs=4,
                  batch_size=8, learning_rate=1e-3, head_learning_rate=3e-2, max_seq_length=48,
                  seed=3, eval_batch_size=16, check_precisions="")
    values.update(overrides)
    return train.TrainOptions(**values)


@pytest.fixture(scope="module")
def run(sample_data, tiny_bert_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("card_run") / "tiny-run"
    options = _options(sample_data, out, tiny_bert_dir)
    summary = train.train(options)
    return out, options, summary


def _read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_writes_a_card_whose_scores_are_the_reports(run, sample_data):
    out, options, summary = run
    folder = out / "model"
    assert (folder / "meta.json").is_file() and (folder / "README.md").is_file()
    meta = _read(folder / "meta.json")
    test_report, dev_report = _read(out / "test_report.json"), _read(out / "dev_report.json")
    for mode in ("default", "strict"):
        assert meta["scores"]["test"][mode] == test_report[mode]
        assert meta["scores"]["dev"][mode] == dev_report[mode]
    assert meta["scores"]["test"]["default"]["micro avg"]["f1"] == summary["test_f1"]
    assert summary["test_f1"] > 0  # the comparisons mean something: entities were found

    config = _read(folder / "tagger_config.json")
    assert meta["labels"] == config["labels"] and meta["scheme"] == config["scheme"] == "IOB2"
    assert meta["entity_types"] == sorted({label[2:] for label in config["labels"] if label != "O"})
    assert meta["name"] == "tiny-run"
    assert meta["encoder"]["layers"] == 2 and meta["encoder"]["hidden_size"] == 32
    assert meta["encoder"]["do_lower_case"] is config["do_lower_case"]
    assert meta["encoder"]["name"] == Path(options.bert_dir).name
    assert meta["library"]["tensorflow"].startswith("2.21")
    assert meta["library"]["tensorflow_text"].startswith("2.21")

    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    training = meta["training"]
    assert training["epochs_run"] == 4 == len(training["seconds_per_epoch"])
    assert training["seconds_per_epoch"] == [round(e["seconds"], 2) for e in log]
    assert training["best_epoch"] == summary["best_epoch"]
    # The log has what the curves page plots.
    assert all(set(e["dev_types"]) == set(dev_report["default"]["types"]) for e in log)
    assert log[0]["learning_rate"] > 0 and all(e["learning_rate"] >= 0 for e in log)

    for split in ("train", "dev", "test"):
        info = meta["data"][split]
        assert info["file"] == f"{split}.txt"
        assert info["sha256"] == _sha256(sample_data / f"{split}.txt")
    assert meta["data"]["test"]["sentences"] == test_report["sentences"]
    assert meta["data"]["dev"]["sentences"] == dev_report["sentences"]

    # The version is the weights' digest, computed here independently.
    digest = hashlib.sha256()
    for path in sorted(folder.glob("model.ckpt.*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    assert meta["version"] == digest.hexdigest()[:12]

    card = (folder / "README.md").read_text(encoding="utf-8")
    micro = test_report["default"]["micro avg"]
    assert f"| micro avg | {100 * micro['precision']:.2f} | {100 * micro['recall']:.2f} | " \
           f"{100 * micro['f1']:.2f} | {micro['support']} |" in card
    assert meta["version"] in card and meta["data"]["test"]["sha256"] in card

    assert Tagger.load(out).meta == meta
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))


def test_the_cards_flags_reproduce_the_run(run, tmp_path):
    out, options, _ = run
    meta = _read(out / "model" / "meta.json")
    flags = meta["training"]["flags"]
    assert flags == dataclasses.asdict(options)

    # The command line sets every flag to the card's value.
    words = shlex.split(meta["training"]["command"])
    assert words[:3] == ["python", "-m", "ner.train"]
    parsed = {}
    for word in words[3:]:
        name, _, value = word[2:].partition("=")
        if not _:
            parsed[name[2:]] = False if name.startswith("no") and name[2:] in flags else True
            if name in flags:
                parsed[name] = True
                parsed.pop(name[2:], None)
        else:
            parsed[name] = value
    # Unset (None) booleans are left out: the casing, decided from the encoder's folder.
    assert flags["do_lower_case"] is None
    assert set(parsed) == set(flags) - {"do_lower_case"}
    for name in parsed:
        value = flags[name]
        expected = value if isinstance(value, bool) else ("" if value is None else str(value))
        assert parsed[name] == expected, name

    # The same flags, into another folder: the same model and the same scores.
    again = train.TrainOptions(**dict(flags, output_dir=str(tmp_path / "again")))
    train.train(again)
    again, first = _read(tmp_path / "again" / "test_report.json"), _read(out / "test_report.json")
    # The same scores; each names its own model folder.
    assert again["model"].pop("model_dir") == str(tmp_path / "again" / "model")
    assert first["model"].pop("model_dir") == str(out / "model")
    assert again == first
    other = _read(tmp_path / "again" / "model" / "meta.json")
    assert other["scores"] == meta["scores"] and other["version"] == meta["version"]


def test_training_writes_the_curves_page(run):
    html5lib = pytest.importorskip("html5lib")
    out, _, _ = run
    page = (out / "train_curves.html").read_text(encoding="utf-8")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    rows = tree.findall(".//table[@id='epochs-table']/tbody/tr")
    assert [row.get("data-epoch") for row in rows] == ["1", "2", "3", "4"]


def test_folders_without_a_card_load_as_before(tmp_path):
    folder = write_model_folder(tmp_path / "old")
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index", "tagger_config.json", "vocab.txt"]
    tagger = Tagger.load(folder)
    assert tagger.meta is None
    assert [e.label for e in tagger.tag("john smith lives in paris .")] == ["PER", "LOC"]


def _minimal_meta(name="tiny", labels=("O", "B-PER", "I-PER"), data=None):
    config = model_lib.TaggerConfig(labels=list(labels), do_lower_case=True,
                                    encoder={"num_hidden_layers": 2, "hidden_size": 32,
                                             "num_attention_heads": 4, "intermediate_size": 37,
                                             "vocab_size": 40})
    return model_lib.model_card(
        name=name, config=config, flags={"bert_dir": None, "epochs": 1, "resume": False},
        data=data or {}, dev=None, test=None, seconds_per_epoch=[1.0], best_epoch=1,
        compute_dtype="float32", parameters={"trainable": 10, "frozen": 0}, encoder_parameters=8)


def test_write_meta_replaces_the_card_and_keeps_the_weights(tmp_path):
    folder = write_model_folder(tmp_path / "model")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    hostile = '<script>alert(1)</script> & "quotes" | pipes'
    model_lib.write_meta(folder, _minimal_meta(name=hostile))
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before
    meta = model_lib.read_meta(folder)
    assert meta["name"] == hostile and meta["encoder"]["name"] == "all-MiniLM-L6-v2"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "<script>" not in card and "&lt;script&gt;" in card and "\\| pipes" in card
    assert not [p for p in tmp_path.iterdir() if p.name != "model"]  # nothing left beside it
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        model_lib.write_meta(tmp_path / "absent", meta)


def test_paths_in_the_card_are_code_shown_as_they_are():
    """Inside backticks Markdown shows a backslash or an entity literally, so a
    path of an averaged model is not escaped as text is (runs/e10\\_s42 showed)."""
    meta = _minimal_meta()
    meta["averaged_from"] = [{"path": "runs/e10_s42/model", "version": "ab12"},
                             {"path": "odd`name&<x>|y", "version": "cd34"}]
    card = model_lib.render_card(meta)
    assert "* `runs/e10_s42/model`, version `ab12`" in card
    assert "* ``odd`name&<x>|y``, version `cd34`" in card


@pytest.mark.parametrize("text, message", [
    ("{not json", r"meta.json:1: not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format_version": 99}', "format_version 99 is newer"),
])
def test_a_bad_card_is_an_error_naming_the_file(tmp_path, text, message):
    folder = write_model_folder(tmp_path / "model")
    (folder / "meta.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        Tagger.load(folder)


def test_export_carries_the_card_into_the_assets(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from ner import export

    folder = write_model_folder(tmp_path / "model")
    data = {split: {"file": f"{split}.txt", "path": f"/data/{split}.txt", "sentences": n,
                    "sha256": split * 3} for split, n in (("train", 9), ("dev", 5), ("test", 4))}
    model_lib.write_meta(folder, _minimal_meta(data=data))
    target = export.export(folder, tmp_path / "exported")
    assets = target / "assets"
    assert json.loads((assets / "meta.json").read_text()) == model_lib.read_meta(folder)
    # What a client of tag_wordpieces tokenizes with, as the model folder has it.
    for name in ("vocab.txt", "tagger_config.json"):
        assert (assets / name).read_bytes() == (folder / name).read_bytes()
    assert json.loads((assets / "export.json").read_text())["precision"] == "float32"
    card = (assets / "README.md").read_text()
    folder_card = (folder / "README.md").read_text()
    # The SavedModel's card shows how to call the SavedModel, not Tagger.load on it.
    assert "tf.saved_model.load(" in card and "ner.Tagger.load(" not in card
    assert "ner.Tagger.load(" in folder_card
    # Both in training's split order, though meta.json's keys come back sorted.
    for text in (card, folder_card):
        rows = [line.split(" | ")[0] for line in text.splitlines() if line.endswith("` |")]
        assert rows == ["| train", "| dev", "| test"], rows
    loaded = tf.saved_model.load(str(target))  # still a valid SavedModel
    assert "serving_default" in loaded.signatures


def test_health_endpoint_reports_the_card(tmp_path):
    pytest.importorskip("fastapi")
    from ner.serve import create_app
    from tests.test_serve import OPTIONS, _Server, call

    folder = write_model_folder(tmp_path / "model")
    model_lib.write_meta(folder, _minimal_meta(name="conll-tiny"))
    tagger = Tagger.load(folder)
    with _Server(create_app(tagger.tag_batch, OPTIONS, tagger.entity_types, meta=tagger.meta),
                 OPTIONS) as server:
        status, health = call(server.port, "GET", "/healthz")
    assert status == 200
    assert health["model"] == {"name": "conll-tiny", "version": tagger.meta["version"],
                               "labels": ["O", "B-PER", "I-PER"],
                               "created": tagger.meta["created"],
                               "library_version": tagger.meta["library"]["version"]}
    with _Server(create_app(tagger.tag_batch, OPTIONS, tagger.entity_types), OPTIONS) as server:
        assert call(server.port, "GET", "/healthz")[1]["model"] is None


def test_training_without_the_html_extra_skips_the_curves_page_and_says_so(
        tmp_path, monkeypatch, capsys):
    from evaluation import html as html_lib

    (tmp_path / "train_log.jsonl").write_text(json.dumps(
        {"epoch": 1, "loss": 1.0, "dev": {"precision": 0.5, "recall": 0.5, "f1": 0.5}}) + "\n")
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "jinja2" else real(name, *a))
    train._write_curves(tmp_path)
    assert not (tmp_path / "train_curves.html").exists()
    err = capsys.readouterr().err
    assert "train_curves.html not written" in err and "'html' extra" in err
