"""`python -m ner.average`: the mean of several models' weights, as one model folder."""

import json
import subprocess
import sys

import numpy as np
import pytest

import ner
from ner import checkpoint
from ner import model as model_lib
from ner.average import average
from tests.test_model_card import _minimal_meta
from tests.tiny_model import write_model_folder


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    folders = [write_model_folder(root / f"seed{s}", rules=None, seed=s) for s in (1, 2, 3)]
    for folder in folders:
        model_lib.write_meta(folder, dict(_minimal_meta(name=folder.name),
                                          scores={"dev": None}))
    return folders


def test_the_average_holds_the_mean_of_every_weight_and_tags(members, tmp_path):
    out = average(members, tmp_path / "soup")
    weights = [checkpoint.read_checkpoint(f / "model.ckpt") for f in members]
    got = checkpoint.read_checkpoint(out / "model.ckpt")
    assert set(got) == set(weights[0]) and len(got) > 10
    for name, value in got.items():
        want = np.mean([w[name] for w in weights], axis=0)
        np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-6, err_msg=name)
    assert any(not np.allclose(weights[0][n], weights[1][n]) for n in got)  # members differ
    tagger = ner.Tagger.load(out)
    assert len(tagger.tag_batch(["John Smith lives in Paris .", ""])) == 2
    meta = model_lib.read_meta(out)
    assert meta["name"] == "soup" and "scores" not in meta
    assert [s["path"] for s in meta["averaged_from"]] == [str(f) for f in members]
    assert [s["version"] for s in meta["averaged_from"]] == \
        [model_lib.read_meta(f)["version"] for f in members]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Averaged" in card and "The mean of the weights of 3 models" in card
    assert all(f"* `{f}`, version `" in card for f in members), card


def test_models_of_another_configuration_or_vocabulary_are_refused(members, tmp_path):
    other = write_model_folder(tmp_path / "long", rules=None, seed=1, max_seq_length=32)
    with pytest.raises(ValueError, match=r"long/tagger_config.json: max_seq_length is 32, but "
                                         r".*seed1/tagger_config.json has 16"):
        average([members[0], other], tmp_path / "out")
    vocab = (members[0] / "vocab.txt").read_text(encoding="utf-8").splitlines()
    words = write_model_folder(tmp_path / "words", rules=None, seed=1,
                               vocab=vocab[:-1] + ["zzz"])
    with pytest.raises(ValueError, match=r"words/vocab.txt differs from .*seed1/vocab.txt"):
        average([members[0], words], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_calls_write_nothing(members, tmp_path):
    with pytest.raises(ValueError, match="at least two models, got 1"):
        average(members[:1], tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="exists already"):
        average(members, tmp_path / "taken")
    assert list((tmp_path / "taken").iterdir()) == []
    with pytest.raises(FileNotFoundError):
        average([members[0], tmp_path / "nope"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli(members, tmp_path, repo_root):
    run = subprocess.run([sys.executable, "-m", "ner.average", f"--output_dir={tmp_path / 'a'}",
                          *map(str, members[:2])], cwd=repo_root, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"written: {tmp_path / 'a'}" in run.stdout
    assert json.loads((tmp_path / "a" / "tagger_config.json").read_text())["labels"]
    bad = subprocess.run([sys.executable, "-m", "ner.average", f"--output_dir={tmp_path / 'a'}",
                          *map(str, members[:2])], cwd=repo_root, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "average: error:" in bad.stderr and "exists" in bad.stderr
