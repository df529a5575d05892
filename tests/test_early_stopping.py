"""Early stopping (`--patience`), evaluations within epochs (`--eval_every_steps`) and flagfiles.

The dev curve is scripted: the real evaluation runs, then its micro F1 is
replaced by the next value of a list, so where training must stop is known in
advance. The final scoring of the best model (a loaded `Tagger`) is left real.
"""

import functools
import json
import shutil

import pytest
from absl import flags

from ner import train
from tests.helpers import ScriptedDev, train_killed_after_epoch


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory, repo_root):
    """The checked-in sample, as train and dev both (named by --train_file, --dev_file)."""
    path = tmp_path_factory.mktemp("data") / "sample.conll"
    shutil.copy(repo_root / "data" / "conll2003" / "sample.txt", path)
    return path


def _options(sample_file, out, bert_dir, **overrides):
    values = dict(data_dir="/nonexistent", train_file=str(sample_file), dev_file=str(sample_file),
                  output_dir=str(out), bert_dir=str(bert_dir), epochs=6, batch_size=8,
                  learning_rate=1e-3, head_learning_rate=1e-2, max_seq_length=32, seed=3,
                  eval_batch_size=32, patience=2, check_precisions="")
    values.update(overrides)
    return train.TrainOptions(**values)


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _state(out):
    return json.loads((out / "checkpoints" / "last" / "state.json").read_text())


def test_patience_stops_where_the_dev_curve_says_and_a_resumed_run_keeps_counting(
        sample_file, tiny_bert_dir, tmp_path, monkeypatch, capsys):
    curve = [0.1, 0.3, 0.2, 0.25, 0.9, 0.9]  # best at epoch 2; epochs 3 and 4 do not beat it
    out = tmp_path / "out"
    # Killed after epoch 3: one evaluation without improvement is on the counter.
    ScriptedDev(curve[:3]).install(monkeypatch)
    train_killed_after_epoch(3, _options(sample_file, out, tiny_bert_dir))
    state = _state(out)
    assert (state["best_f1"], state["best_epoch"], state["evals_since_best"]) == (0.3, 2, 1)
    assert state["stopped_early"] is None

    # Resumed, 0.25 is no improvement on the saved best 0.3 and the second in
    # a row: the run stops after epoch 4, as the curve says (a run that lost
    # the counter or the best score would go on to 0.9).
    scripted = ScriptedDev(curve[3:])
    scripted.install(monkeypatch)
    summary = train.train(_options(sample_file, out, tiny_bert_dir, resume=True))
    assert scripted.calls == 1
    assert [e["epoch"] for e in _log(out)] == [1, 2, 3, 4]
    assert [e["dev"]["f1"] for e in _log(out)] == [0.1, 0.3, 0.2, 0.25]
    assert summary["best_epoch"] == 2 and "--patience=2" in summary["stopped_early"]
    err = capsys.readouterr().err
    assert "resumed after epoch 3 (step 12, best dev F1 0.3000, 1 evaluation(s) since)" in err
    assert ("stopping early at epoch 4, step 16: dev F1 has not improved on 30.00 (epoch 2, "
            "step 8) in 2 evaluation(s), --patience=2; the model kept is epoch 2's (step 8)") in err
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert meta["training"]["best_epoch"] == 2 and meta["training"]["epochs_run"] == 4
    assert meta["data"]["train"]["path"] == str(sample_file)
    assert meta["data"]["dev"]["file"] == "sample.conll" and "test" not in meta["data"]

    # A stopped run stays stopped: --resume only completes its reports.
    scripted = ScriptedDev([])
    scripted.install(monkeypatch)
    train.train(_options(sample_file, out, tiny_bert_dir, resume=True))
    assert scripted.calls == 0 and len(_log(out)) == 4
    assert "had stopped early" in capsys.readouterr().err


class _DiesAtEvaluation(ScriptedDev):
    """`ScriptedDev` that kills the run at the evaluation after its scripted ones."""

    def __call__(self, tagger, sents, documents):
        if not self.f1s:
            raise KeyboardInterrupt("killed during an evaluation")
        return super().__call__(tagger, sents, documents)


def test_a_model_saved_within_an_epoch_stays_the_best_after_a_kill(
        sample_file, tiny_bert_dir, tmp_path, monkeypatch, capsys):
    # 4 steps an epoch, evaluated at 3, 4 | 6, 8: the model saved at step 6
    # (0.7) is newer than the checkpoint of epoch 1 (best 0.5, step 4), and
    # the run dies at step 8, before epoch 2's checkpoint.
    killed = tmp_path / "killed"
    options = functools.partial(_options, sample_file, bert_dir=tiny_bert_dir, epochs=2,
                                eval_every_steps=3, patience=5)
    _DiesAtEvaluation([0.1, 0.5, 0.7]).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train.train(options(out=killed))
    assert (_state(killed)["best_f1"], _state(killed)["best_step"]) == (0.5, 4)
    meta = json.loads((killed / "model" / "meta.json").read_text())
    assert (meta["training"]["best_epoch"], meta["training"]["best_step"]) == (2, 6)
    capsys.readouterr()

    # The replay scores step 6 lower (as with another learning rate): the
    # model of step 6 stays the best, and both evaluations count for patience.
    out = tmp_path / "lower"
    shutil.copytree(killed, out)
    ScriptedDev([0.6, 0.65]).install(monkeypatch)
    summary = train.train(options(out=out, resume=True))
    assert "the model in " in capsys.readouterr().err
    state = _state(out)
    assert (state["best_f1"], state["best_step"], state["evals_since_best"]) == (0.7, 6, 2)
    assert (summary["best_epoch"], summary["best_step"]) == (2, 6)
    assert json.loads((out / "model" / "meta.json").read_text())["training"]["best_step"] == 6

    # The replay scores it the same (the same run, replayed): the model is
    # saved again and the counter starts over there, as without the kill.
    out = tmp_path / "same"
    shutil.copytree(killed, out)
    ScriptedDev([0.7, 0.65]).install(monkeypatch)
    train.train(options(out=out, resume=True))
    err = capsys.readouterr().err
    assert ("was saved after the checkpoint (epoch 2, step 6, dev F1 70.00): it stays the best "
            "so far") in err
    assert [line.endswith("(best so far)") for line in err.splitlines()
            if line.startswith("epoch 2 step 6: ")] == [True]
    state = _state(out)
    assert (state["best_f1"], state["best_step"], state["evals_since_best"]) == (0.7, 6, 1)


def test_eval_every_steps_evaluates_within_epochs_and_can_stop_there(
        sample_file, tiny_bert_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    # 4 steps an epoch; every 3 steps and at epoch ends: 3, 4 | 6, 8 | 9, 12 | 15 ...
    scripted = ScriptedDev([0.1, 0.5, 0.4, 0.6, 0.3, 0.2, 0.1, 0.0])
    scripted.install(monkeypatch)
    options = _options(sample_file, out, tiny_bert_dir, eval_every_steps=3, patience=3)
    summary = train.train(options)
    log = _log(out)
    # Step 12 ends epoch 3 and is evaluated once, as its end. Scores: 3: .1,
    # 4: .5, 6: .4, 8: .6 (best), 9: .3, 12: .2, 15: .1, the third in a row
    # without improvement: the run stops at step 15, inside epoch 4.
    assert [e["step"] for e in log] == [4, 8, 12, 15]
    assert [[w["step"] for w in e.get("dev_within_epoch", [])] for e in log] == [
        [3], [6], [9], [15]]
    assert scripted.calls == 7 and scripted.f1s == [0.0]
    assert (summary["best_epoch"], summary["best_step"]) == (2, 8)
    assert "stopping early at epoch 4, step 15: " in capsys.readouterr().err
    assert _state(out)["stopped_early"].startswith("dev F1 has not improved on 60.00 (epoch 2, "
                                                   "step 8) in 3 evaluation(s)")

    # The run's flags, as a flagfile beside the model, give back the same options.
    text = (out / train.FLAGS_FILE).read_text()
    assert "--eval_every_steps=3\n" in text and "--nodocument_context\n" in text
    assert _parse([f"--flagfile={out / train.FLAGS_FILE}"]) == options
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert [line for line in text.splitlines() if not line.startswith("#")] == \
        meta["training"]["command"].split(" ")[3:]


def _parse(argv):
    """TrainOptions from a command line, through absl as `python -m ner.train` parses it."""
    values = flags.FlagValues()
    train._define_flags(values)
    values(["ner.train", *argv])
    return train.options_from_flags(values)


def test_a_flagfile_gives_the_options_of_the_same_flags_on_the_command_line(tmp_path, repo_root):
    path = tmp_path / "run.flags"
    path.write_text("# a comment\n--train_file=my/train.jsonl\n--patience=3\n"
                    "--eval_every_steps=50\n--document_context\n--nocase_features\n"
                    "--freeze=bert/embeddings/|bert/encoder/layer_[0-2]/\n--bert_dir=\n")
    from_file = _parse([f"--flagfile={path}"])
    assert from_file == _parse(["--train_file=my/train.jsonl", "--patience=3",
                                "--eval_every_steps=50", "--document_context",
                                "--nocase_features",
                                "--freeze=bert/embeddings/|bert/encoder/layer_[0-2]/"])
    assert from_file.patience == 3 and from_file.freeze.endswith("[0-2]/")
    # A flag after the file overrides it.
    assert _parse([f"--flagfile={path}", "--patience=1"]).patience == 1
    # The casing: unset (decided from the checkpoint folder), set or unset.
    assert from_file.do_lower_case is None and "lower_case" not in train.flagfile_text(from_file)
    for flag, value in (("--do_lower_case", True), ("--nodo_lower_case", False)):
        options = _parse([flag])
        assert options.do_lower_case is value
        assert f"\n{flag}\n" in train.flagfile_text(options)
        assert _parse([flag, "--flagfile=/dev/null"]) == options
    # The committed example parses and uses the flags the README describes.
    example = _parse([f"--flagfile={repo_root / 'docs' / 'example.flags'}"])
    assert example.train_file.endswith("train.jsonl") and example.patience > 0
    assert example.eval_every_steps > 0
    # Its files are in the repository (data/my_corpus), so the command runs as written.
    files = train.data_files(train.TrainOptions(**{
        k: str(repo_root / getattr(example, k)) for k in ("train_file", "dev_file", "test_file")}))
    assert all(path.stat().st_size > 0 for path in files.values())
    frozen = _parse([f"--flagfile={repo_root / 'docs' / 'frozen_encoder.flags'}"])
    assert (frozen.freeze, frozen.layer_mix, frozen.bilstm_units) == ("bert/", True, 256)


def test_bad_early_stopping_options_are_errors():
    with pytest.raises(ValueError, match="--patience must be 0"):
        train.TrainOptions(patience=-1)
    with pytest.raises(ValueError, match="--eval_every_steps must be 0"):
        train.TrainOptions(eval_every_steps=-5)


def test_named_data_files_override_the_data_dir(tmp_path):
    (tmp_path / "train.txt").write_text("x O\n")
    (tmp_path / "dev.txt").write_text("x O\n")
    other = tmp_path / "mine.jsonl"
    other.write_text("{}\n")
    options = train.TrainOptions(data_dir=str(tmp_path), dev_file=str(other))
    assert train.data_files(options) == {"train": tmp_path / "train.txt", "dev": other,
                                         "test": None}
    # --data_dir's test set is the test file only beside its train and dev sets.
    (tmp_path / "test.txt").write_text("x O\n")
    assert train.data_files(train.TrainOptions(data_dir=str(tmp_path)))["test"] \
        == tmp_path / "test.txt"
    for own in ({"train_file": str(other)}, {"dev_file": str(other)}):
        assert train.data_files(train.TrainOptions(data_dir=str(tmp_path), **own))["test"] \
            is None
    assert train.data_files(train.TrainOptions(
        data_dir=str(tmp_path), train_file=str(other), test_file=str(other)))["test"] == other
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl: not found \(--test_file\)"):
        train.data_files(train.TrainOptions(data_dir=str(tmp_path),
                                            test_file=str(tmp_path / "nope.jsonl")))
