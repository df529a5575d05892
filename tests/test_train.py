"""Training runs end to end: smoke, freezing, determinism, resume, distribution."""

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ner import checkpoint, precision, train
from ner.model import TaggerModel
from ner.tagger import Tagger
from tests.helpers import ScriptedDev, train_killed_after_epoch
from tests.tiny_model import write_model_folder

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory, repo_root):
    """The checked-in sample as train, dev and test."""
    folder = tmp_path_factory.mktemp("sample_data")
    for split in ("train", "dev", "test"):
        shutil.copy(repo_root / "data" / "conll2003" / "sample.txt", folder / f"{split}.txt")
    return folder


def _options(data_dir, out, bert_dir, **overrides):
    values = dict(data_dir=str(data_dir), output_dir=str(out), bert_dir=str(bert_dir), epochs=2,
                  batch_size=8, learning_rate=1e-3, head_learning_rate=1e-2, max_seq_length=48,
                  seed=3, eval_batch_size=16, check_precisions="")
    values.update(overrides)
    return train.TrainOptions(**values)


def _weights(folder):
    return checkpoint.read_checkpoint(Path(folder) / "model.ckpt")


def test_smoke_run_writes_a_complete_model_folder(sample_data, tiny_bert_dir, tmp_path, capsys):
    summary = train.train(_options(sample_data, tmp_path / "out", tiny_bert_dir,
                                   check_precisions="bfloat16,int8"))
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "model").iterdir()) == [
        "README.md", "meta.json", "model.ckpt.data-00000-of-00001", "model.ckpt.index",
        "precision.json", "tagger_config.json", "vocab.txt"]
    checked = json.loads((out / "model" / "precision.json").read_text())
    assert checked["f1"]["float32"] == pytest.approx(100 * summary["dev_f1"])
    assert set(summary["precisions"]) <= {"float32", "bfloat16", "int8"}
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))
    config = json.loads((out / "model" / "tagger_config.json").read_text())
    assert config["labels"][0] == "O" and "B-PER" in config["labels"]
    assert config["do_lower_case"] is True and config["max_seq_length"] == 48
    report = json.loads((out / "test_report.json").read_text())
    assert report["missing_predictions"] == 0 or report["missing_predictions"]["count"] == 0
    assert 0.0 <= summary["test_f1"] <= 1.0 and len(summary["epoch_seconds"]) == 2
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
    assert list((out / "tensorboard").iterdir())
    printed = capsys.readouterr()
    assert "micro" in printed.out.lower()
    assert "0 words dropped" in printed.err
    # A second run into the same folder must not clobber it silently.
    with pytest.raises(FileExistsError, match="--resume"):
        train.train(_options(sample_data, out, tiny_bert_dir))


def test_same_seed_same_result(sample_data, tiny_bert_dir, tmp_path):
    a = train.train(_options(sample_data, tmp_path / "a", tiny_bert_dir, epochs=1))
    b = train.train(_options(sample_data, tmp_path / "b", tiny_bert_dir, epochs=1))
    assert a["dev_f1"] == b["dev_f1"] and a["test_f1"] == b["test_f1"]
    wa, wb = _weights(tmp_path / "a" / "model"), _weights(tmp_path / "b" / "model")
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


@pytest.mark.parametrize("pattern, frozen_prefixes", [
    ("bert/", ("bert/",)),
    ("bert/embeddings/|bert/encoder/layer_0/", ("bert/embeddings/", "bert/encoder/layer_0/")),
])
def test_frozen_variables_stay_bit_identical(sample_data, tiny_bert_dir, tmp_path, pattern,
                                             frozen_prefixes, capsys):
    options = _options(sample_data, tmp_path / "out", tiny_bert_dir, epochs=1, freeze=pattern,
                       bilstm_units=8 if pattern == "bert/" else 0, layer_mix=pattern == "bert/")
    train.train(options)
    before = checkpoint.read_checkpoint(tiny_bert_dir / "bert_model.ckpt")
    after = _weights(tmp_path / "out" / "model")
    state = checkpoint.read_checkpoint(tmp_path / "out" / "checkpoints" / "last" / "train.ckpt")
    changed = 0
    for name, value in before.items():
        if name.startswith(frozen_prefixes):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
            assert f"optimizer/m/{name}" not in state  # no optimizer slots
        else:
            changed += not np.array_equal(after[name], value)
            assert f"optimizer/m/{name}" in state
    assert changed > 0 or pattern == "bert/"
    assert any(k.startswith("optimizer/m/head/") for k in state)
    assert "frozen" in capsys.readouterr().err


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_interrupted_run_resumes_to_the_same_weights(sample_data, tiny_bert_dir, tmp_path,
                                                     monkeypatch, ema_decay):
    options = functools.partial(_options, ema_decay=ema_decay)
    straight = tmp_path / "straight"
    train.train(options(sample_data, straight, tiny_bert_dir, epochs=3))

    resumed = tmp_path / "resumed"
    train_killed_after_epoch(1, options(sample_data, resumed, tiny_bert_dir, epochs=3))
    assert json.loads((resumed / "checkpoints" / "last" / "state.json").read_text())["epoch"] == 1

    with pytest.raises(ValueError, match="differ from the saved run") as refused:
        train.train(options(sample_data, resumed, tiny_bert_dir, epochs=3, seed=4, resume=True))
    assert "cannot be made longer" not in str(refused.value)
    with pytest.raises(ValueError, match=r"\{'epochs': '3 -> 4'\}; the learning rate decays "
                                         r"to 0 at the run's last step .* train a new run"):
        train.train(options(sample_data, resumed, tiny_bert_dir, epochs=4, resume=True))
    other = tmp_path / "other_data"
    shutil.copytree(sample_data, other)
    with open(other / "train.txt", "a", encoding="utf-8") as f:
        f.write("\nparis NNP B-NP B-LOC\n")
    with pytest.raises(ValueError, match=r"other data than the saved run's: the contents of the "
                                         rf"train file \({other / 'train.txt'}\) changed"):
        train.train(options(other, resumed, tiny_bert_dir, epochs=3, resume=True))
    # The same encoder folder, named relative to the working folder this time.
    monkeypatch.chdir(tiny_bert_dir.parent)
    train.train(options(sample_data, resumed, tiny_bert_dir.name, epochs=3, resume=True))
    log = [json.loads(line)["epoch"] for line in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]  # epoch 1 was not repeated
    a = checkpoint.read_checkpoint(straight / "checkpoints" / "last" / "train.ckpt")
    b = checkpoint.read_checkpoint(resumed / "checkpoints" / "last" / "train.ckpt")
    assert sorted(a) == sorted(b)
    assert any(n.startswith("weight_average/") for n in a) == bool(ema_decay)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-6, err_msg=name)


def test_a_frozen_run_saved_before_head_shapes_resumes_without_them(sample_data, tiny_bert_dir,
                                                                      tmp_path, monkeypatch,
                                                                      capsys):
    out = tmp_path / "old_frozen"
    # HEAD_CASE_SIZE = 0 builds what earlier versions built: no shapes at all.
    monkeypatch.setattr(train, "HEAD_CASE_SIZE", 0)
    train_killed_after_epoch(1, _options(sample_data, out, tiny_bert_dir, epochs=2,
                                         freeze="bert/"))
    monkeypatch.undo()
    config = json.loads((out / "model" / "tagger_config.json").read_text())
    assert (config["case_features"], config["head_case_size"]) == (False, 0)
    capsys.readouterr()

    train.train(_options(sample_data, out, tiny_bert_dir, epochs=2, freeze="bert/", resume=True))
    assert "case features: off, as in the saved run" in capsys.readouterr().err
    config = json.loads((out / "model" / "tagger_config.json").read_text())
    assert (config["case_features"], config["head_case_size"]) == (False, 0)
    log = [json.loads(line)["epoch"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log == [1, 2]


@pytest.mark.parametrize("jit_compile", [True, False])
def test_weight_average_follows_its_schedule_and_swaps_back(jit_compile):
    import tensorflow as tf

    a = tf.Variable([1.0, 2.0])
    b = tf.Variable([[3.0]])
    average = train.WeightAverage({"x/a": a, "x/b": b}, decay=0.99, jit_compile=jit_compile)
    assert sorted(average.variables_by_name()) == ["weight_average/x/a", "weight_average/x/b"]
    expected_a, expected_b = np.array([1.0, 2.0]), np.array([[3.0]])
    for step, (va, vb) in enumerate([([5.0, 6.0], [[7.0]]), ([-1.0, 0.0], [[2.0]]),
                                     ([4.0, 4.0], [[0.5]])], 1):
        a.assign(va)
        b.assign(vb)
        average.update(step)
        d = min(0.99, (1 + step) / (10 + step))
        expected_a = d * expected_a + (1 - d) * np.array(va)
        expected_b = d * expected_b + (1 - d) * np.array(vb)
    named = average.variables_by_name()
    np.testing.assert_allclose(named["weight_average/x/a"].numpy(), expected_a, rtol=1e-6)
    np.testing.assert_allclose(named["weight_average/x/b"].numpy(), expected_b, rtol=1e-6)
    with average.swapped_in():
        np.testing.assert_allclose(a.numpy(), expected_a, rtol=1e-6)
        np.testing.assert_allclose(b.numpy(), expected_b, rtol=1e-6)
    np.testing.assert_array_equal(a.numpy(), [4.0, 4.0])  # the trained values, exactly
    np.testing.assert_array_equal(b.numpy(), [[0.5]])
    np.testing.assert_allclose(named["weight_average/x/a"].numpy(), expected_a, rtol=1e-6)


def test_only_runs_that_repay_it_compile_the_weight_update():
    threshold = train.XLA_UPDATE_MIN_STEPS
    assert 20 < threshold <= 1000  # above the test suite's runs, below a CoNLL-2003 run's
    assert not train.compile_update(threshold - 1)
    assert train.compile_update(threshold)
    assert not train.compile_update(threshold, replicas=2)


def test_the_compiled_and_the_plain_weight_update_train_alike(sample_data, tiny_bert_dir,
                                                              tmp_path, monkeypatch):
    """The same run with the update (and the weights' average) compiled by XLA and not."""
    decided = []  # compile_update's answers: the optimizer's update's, then the average's
    real = train.compile_update
    monkeypatch.setattr(train, "compile_update",
                        lambda *a, **k: decided.append(real(*a, **k)) or decided[-1])
    plain = tmp_path / "plain"
    train.train(_options(sample_data, plain, tiny_bert_dir, epochs=2, ema_decay=0.9))
    monkeypatch.setattr(train, "XLA_UPDATE_MIN_STEPS", 0)
    compiled = tmp_path / "compiled"
    train.train(_options(sample_data, compiled, tiny_bert_dir, epochs=2, ema_decay=0.9))
    assert decided == [False, False, True, True]
    a = checkpoint.read_checkpoint(plain / "checkpoints" / "last" / "train.ckpt")
    b = checkpoint.read_checkpoint(compiled / "checkpoints" / "last" / "train.ckpt")
    assert sorted(a) == sorted(b) and any(n.startswith("weight_average/") for n in a)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-5, err_msg=name)


def test_ema_run_saves_the_average_it_scored(sample_data, tiny_bert_dir, tmp_path):
    out = tmp_path / "ema"
    summary = train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, ema_decay=0.9))
    # One epoch: its evaluation is the best, so model/ holds the average of
    # the last step, and the run's state both the average and the trained weights.
    saved = _weights(out / "model")
    state = checkpoint.read_checkpoint(out / "checkpoints" / "last" / "train.ckpt")
    averaged = [n for n in state if n.startswith("weight_average/")]
    assert averaged
    differs = 0
    for name in averaged:
        variable = name[len("weight_average/"):]
        np.testing.assert_array_equal(saved[variable], state[name], err_msg=name)
        differs += not np.array_equal(saved[variable], state[variable])
    assert differs > 0  # the average is not the last weights
    assert f"ema_decay={0.9}" in " ".join((out / "train.flags").read_text().split())
    assert 0.0 <= summary["dev_f1"] <= 1.0

    with pytest.raises(ValueError, match="with --ema_decay"):
        train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, resume=True))


def test_a_freeze_pattern_that_matches_nothing_or_everything_is_an_error(
        sample_data, tiny_bert_dir, tmp_path):
    # A typo would otherwise mean full fine-tuning, and the opposite no training.
    with pytest.raises(ValueError, match=r"--freeze='nomatch/' matches no variable.*"
                                         r"bert/encoder/layer_0/attention/self/query/kernel"):
        train.train(_options(sample_data, tmp_path / "a", tiny_bert_dir, freeze="nomatch/"))
    with pytest.raises(ValueError, match=r"--freeze='\.' matches every variable"):
        train.train(_options(sample_data, tmp_path / "b", tiny_bert_dir, freeze="."))


@pytest.mark.parametrize("flag, value", [
    ("learning_rate", -1.0), ("learning_rate", 0.0), ("head_learning_rate", -1e-3),
    ("warmup_proportion", 1.5), ("warmup_proportion", -0.1), ("weight_decay", -0.01),
    ("max_steps", -5), ("train_limit", -5), ("eval_batch_size", 0), ("batch_size", 0)])
def test_out_of_range_optimizer_flags_are_errors(flag, value):
    with pytest.raises(ValueError, match=f"--{flag} must be"):
        train.TrainOptions(**{flag: value})


def test_ema_decay_must_be_below_one():
    with pytest.raises(ValueError, match="--ema_decay"):
        train.TrainOptions(ema_decay=1.0)
    with pytest.raises(ValueError, match="--ema_decay"):
        train.TrainOptions(ema_decay=-0.1)


def test_wordpiece_masking_masks_real_pieces_only_and_keeps_their_shapes():
    import tensorflow as tf

    from ner import casing

    vocab, cls, sep, mask_id = 100, 2, 3, 4
    rng = np.random.default_rng(0)
    rows, width = 64, 40
    lengths = rng.integers(3, width, size=rows)
    real = (np.arange(width) < lengths[:, None]).astype(np.int32)
    pieces = rng.integers(5, vocab, size=(rows, width)).astype(np.int32) * real
    shapes = rng.integers(1, casing.NUM_SHAPES, size=(rows, width)).astype(np.int32) * real
    pieces[:, 0] = cls
    pieces[np.arange(rows), lengths - 1] = sep
    shapes[:, 0] = shapes[np.arange(rows), lengths - 1] = casing.NONE
    packed = pieces + vocab * shapes
    seed = tf.constant([7, 11], tf.int64)

    def masked(ids, step_seed=seed, **kw):
        return train.mask_wordpieces(ids, real, 0.3, step_seed, mask_id, (cls, sep), **kw).numpy()

    out = masked(packed, vocab_size=vocab)
    np.testing.assert_array_equal(out // vocab, shapes)  # shapes kept
    changed = out % vocab != pieces
    assert changed.any() and np.all(out[changed] % vocab == mask_id)
    eligible = (real == 1) & (pieces != cls) & (pieces != sep)
    assert not changed[~eligible].any()  # never padding, [CLS] or [SEP]
    assert 0.25 < changed[eligible].mean() < 0.35
    # A function of (run seed, step): resumed runs mask as uninterrupted ones.
    np.testing.assert_array_equal(masked(packed, vocab_size=vocab), out)
    assert (masked(packed, tf.constant([7, 12], tf.int64), vocab_size=vocab) != out).any()
    # Plain ids: the same draw, the same places.
    np.testing.assert_array_equal(masked(pieces), out % vocab)


def test_wordpiece_masking_reaches_the_training_step(sample_data, tiny_bert_dir, tmp_path):
    plain = tmp_path / "plain"
    noisy = tmp_path / "noisy"
    train.train(_options(sample_data, plain, tiny_bert_dir, epochs=1, max_steps=2))
    train.train(_options(sample_data, noisy, tiny_bert_dir, epochs=1, max_steps=2,
                         wordpiece_masking=0.5))
    a, b = _weights(plain / "model"), _weights(noisy / "model")
    assert a.keys() == b.keys()
    assert any(not np.array_equal(a[n], b[n]) for n in a)
    assert "wordpiece_masking=0.5" in " ".join((noisy / "train.flags").read_text().split())


def test_layer_decay_gives_lower_layers_smaller_rates(tiny_bert_dir):
    from ner.tokenization import Tokenizer

    options = train.TrainOptions(bert_dir=str(tiny_bert_dir), learning_rate=1e-3,
                                 head_learning_rate=1e-2, layer_decay=0.5)
    trainer = train.Trainer(options, ["O", "B-PER", "I-PER"],
                            Tokenizer.from_pretrained(str(tiny_bert_dir)),
                            train.choose_strategy("default"))
    rates = {v.name.split(":")[0]: lr for v, lr in zip(trainer.trained, trainer.learning_rates)}
    layers = trainer.config.encoder["num_hidden_layers"]
    assert layers == 2
    for name, lr in rates.items():
        if name.startswith("bert/encoder/layer_1/"):
            assert lr == pytest.approx(1e-3), name  # the top layer: --learning_rate
        elif name.startswith("bert/encoder/layer_0/"):
            assert lr == pytest.approx(5e-4), name
        elif name.startswith("bert/embeddings/") or "case_embeddings" in name:
            assert lr == pytest.approx(2.5e-4), name
        else:
            assert lr == pytest.approx(1e-2), name  # the head and CRF keep theirs
    assert any(n.startswith("bert/encoder/layer_0/") for n in rates)
    assert any("case_embeddings" in n for n in rates)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="--layer_decay"):
            train.TrainOptions(layer_decay=bad)


def test_wordpiece_masking_must_be_a_share():
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="--wordpiece_masking"):
            train.TrainOptions(wordpiece_masking=bad)


def test_resume_checks_the_options_that_saved_runs_hold():
    # state.json of the runs saved so far holds these keys; a key added later
    # (do_lower_case, scheme) reads as its default in a state without it.
    assert sorted(train._RESUME_KEYS) == sorted((
        "bert_dir", "max_seq_length", "bilstm_units", "layer_mix", "document_context", "freeze",
        "case_features", "batch_size", "epochs", "seed", "train_limit", "max_steps",
        "do_lower_case", "scheme", "tag_scheme"))


def test_scheme_reads_conll_files_in_the_scheme_named(tmp_path):
    # B- tags make it look like IOB2, where an I- after O is an error.
    path = tmp_path / "iob1.txt"
    path.write_text("John NNP B-NP B-PER\nSmith NNP I-NP I-PER\nmet VBD B-VP O\n"
                    "Mary NNP B-NP I-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"iob1.txt:4: 'I-PER' after 'O' .*--scheme=IOB1"):
        train.read_documents(path, None)
    assert [s.tags for d in train.read_documents(path, None, scheme="IOB1")
            for s in d.sentences] == [("B-PER", "I-PER", "O", "B-PER")]
    with pytest.raises(ValueError, match="--scheme: unknown tag scheme 'IOB3'; expected one "
                                         "of 'IOB1', 'IOB2', 'BIOES', 'BIO', 'IOBES'"):
        train.TrainOptions(scheme="IOB3")
    # The names ner.schemes takes, in any case, as the library's own readers do.
    assert [train.TrainOptions(scheme=name).scheme for name in ("bio", "IOBES", "Auto")] == [
        "IOB2", "BIOES", "auto"]


def test_tag_scheme_takes_the_schemes_a_model_can_tag_in():
    assert [train.TrainOptions(tag_scheme=name).tag_scheme for name in ("bio", "iobes")] == [
        "IOB2", "BIOES"]
    with pytest.raises(ValueError, match="--tag_scheme=IOB1: a model tags in IOB2 or BIOES"):
        train.TrainOptions(tag_scheme="IOB1")
    with pytest.raises(ValueError, match="--tag_scheme: unknown tag scheme 'BILOU'"):
        train.TrainOptions(tag_scheme="BILOU")


def test_a_bioes_run_learns_bioes_labels_and_is_scored_in_iob2(sample_data, tiny_bert_dir,
                                                              tmp_path):
    from evaluation import report as report_lib
    from ner import data, schemes
    from ner.exported import ExportedTagger
    from ner.export import export

    out = tmp_path / "out"
    summary = train.train(_options(sample_data, out, tiny_bert_dir, tag_scheme="BIOES",
                                   epochs=3, head_learning_rate=3e-2, max_seq_length=24))
    docs = data.read_conll(sample_data / "dev.txt")
    config = json.loads((out / "model" / "tagger_config.json").read_text())
    assert config["scheme"] == "BIOES"
    assert config["labels"] == data.label_list(docs, "BIOES") == [
        "O", *(f"{p}-{t}" for t in data.entity_types(docs) for p in "BIES")]
    # The training targets are the IOB2 tags spelled in BIOES.
    index = {label: i for i, label in enumerate(config["labels"])}
    sents, _, ids = train.read_split(sample_data / "train.txt", index, scheme="BIOES")
    assert [[config["labels"][i] for i in row] for row in ids] == [
        schemes.convert(s.tags, "IOB2", "BIOES") for s in sents]
    assert any(label[0] in "ES" for row in ids for label in (config["labels"][i] for i in row))

    tagger = Tagger.load(out / "model")
    tokens = [list(s.tokens) for s in data.sentences(docs)]
    bioes = tagger.tag_tokens(tokens)
    assert all(schemes.invalid_transitions(tags, "BIOES") == [] for tags in bioes)
    assert any(tag[0] in "ES" for tags in bioes for tag in tags)  # it learned the scheme
    iob2 = tagger.tag_tokens(tokens, scheme="IOB2")
    assert iob2 == [schemes.convert(tags, "BIOES", "IOB2") for tags in bioes]
    # Training's dev score is the report's, which reads the gold in IOB2.
    result = report_lib.run(model_dir=str(out), data=str(sample_data / "dev.txt"))
    assert summary["dev_f1"] == pytest.approx(result["default"]["micro avg"]["f1"])
    assert summary["dev_f1"] > 0
    # An exported model knows its scheme, and spells in the one asked for.
    exported = ExportedTagger.load(export(out / "model", tmp_path / "exported"))
    assert exported.scheme == "BIOES"
    assert exported.tag_tokens(tokens) == bioes
    assert exported.tag_tokens(tokens, scheme="IOB2") == iob2


def test_options_mirror_the_model_options_and_flags():
    from ner.model import ModelOptions, TaggerConfig

    options = train.TrainOptions(bilstm_units=3, dropout=0.2)
    assert options.model_options() == dict(max_seq_length=128, document_context=False,
                                           bilstm_units=3, layer_mix=False, dropout=0.2,
                                           case_features=True)
    model_fields = {f.name for f in dataclasses.fields(ModelOptions)}
    assert model_fields <= {f.name for f in dataclasses.fields(TaggerConfig)}
    assert all(f.metadata["help"] for f in dataclasses.fields(train.TrainOptions))


def test_mirrored_strategy_on_two_logical_cpus(sample_data, tiny_bert_dir, tmp_path):
    """Two logical CPU devices must be configured before TF starts: a subprocess."""
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ner import train
options = train.TrainOptions(data_dir={str(sample_data)!r}, output_dir={str(tmp_path / 'out')!r},
    bert_dir={str(tiny_bert_dir)!r}, epochs=1, batch_size=8, max_seq_length=48,
    strategy="mirrored", learning_rate=1e-3, head_learning_rate=1e-2, check_precisions="")
summary = train.train(options)
print("REPLICAS", train.choose_strategy("mirrored").num_replicas_in_sync, summary["dev_f1"])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS 2" in result.stdout
    assert "2 replica(s)" in result.stderr
    assert TaggerModel.load(tmp_path / "out" / "model").config.labels[0] == "O"


def test_cli_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ner.train", f"--data_dir={tmp_path}", f"--output_dir={tmp_path}/o"],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert f"train: error: {tmp_path}/train.txt: not found" in result.stderr
    assert not (tmp_path / "o").exists()  # no empty output folder left behind


def test_a_vocabulary_that_does_not_fit_the_encoder_is_refused_before_training(
        sample_data, tiny_bert_dir, tmp_path):
    bert = tmp_path / "bert"
    shutil.copytree(tiny_bert_dir, bert)
    with open(bert / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("".join(f"extra{i}\n" for i in range(100)))
    with pytest.raises(ValueError, match=rf"{bert / 'vocab.txt'}: 30,622 wordpieces, more than "
                                         rf"the encoder's vocab_size 30,522 \({bert}/bert_config"):
        train.train(_options(sample_data, tmp_path / "out", bert))
    assert not (tmp_path / "out").exists()


def test_windows_longer_than_the_encoders_positions_are_refused_before_training(
        sample_data, tiny_bert_dir, tmp_path):
    # The tiny encoder has 128 positions; a short-sentence corpus would train
    # and only fail when tagging a long text.
    with pytest.raises(ValueError, match=r"--max_seq_length=256 exceeds the encoder's "
                                         r"max_position_embeddings \(128, "):
        train.train(_options(sample_data, tmp_path / "out", tiny_bert_dir, max_seq_length=256))
    assert not (tmp_path / "out").exists()


def test_training_data_without_entities_is_warned_of(tiny_bert_dir, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in ("train", "dev"):
        (data_dir / f"{name}.txt").write_text("the O\ncat O\n\nsat O\n.\tO\n")
    summary = train.train(_options(data_dir, tmp_path / "out", tiny_bert_dir, epochs=1))
    err = capsys.readouterr().err
    assert f"warning: {data_dir / 'train.txt'} has no entity tags, only O" in err
    assert summary["dev_f1"] == 0.0


def test_a_model_folder_with_windows_longer_than_its_positions_is_refused_at_load(tmp_path):
    folder = write_model_folder(tmp_path / "model")
    config = json.loads((folder / "tagger_config.json").read_text())
    config["max_seq_length"] = config["encoder"]["max_position_embeddings"] + 1
    (folder / "tagger_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="exceeds the encoder's max_position_embeddings"):
        Tagger.load(folder)


def test_a_folder_with_a_model_and_no_checkpoint_is_not_trained_over(sample_data,
                                                                      tiny_bert_dir, tmp_path,
                                                                      capsys):
    # --resume with nothing to resume from starts a new run, and says so.
    out = tmp_path / "out"
    train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, resume=True))
    assert f"--resume: nothing to resume in {out}" in capsys.readouterr().err
    # A run stopped within its first epoch leaves a model and no checkpoint:
    # not trained over by another run, or without --resume...
    shutil.rmtree(out / "checkpoints")
    for overrides in ({"resume": False}, {"resume": True, "seed": 4}):
        with pytest.raises(FileExistsError, match="holds a model but no checkpoint"):
            train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, **overrides))
    capsys.readouterr()
    # ...but the same run resumed (as `make train` reruns it) starts again.
    train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, resume=True))
    assert "holds a model saved within the first epoch of this run" in capsys.readouterr().err
    assert (out / "checkpoints" / "last" / "state.json").exists()


def test_a_finished_run_resumed_with_other_flags_keeps_the_flags_it_was_trained_with(
        sample_data, tiny_bert_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    train_killed_after_epoch(1, _options(sample_data, out, tiny_bert_dir))
    capsys.readouterr()
    # Resumed mid-run with another learning rate: allowed, and said.
    train.train(_options(sample_data, out, tiny_bert_dir, resume=True, learning_rate=5e-4))
    assert ("--resume with other flags than the run so far (--learning_rate=0.0005)"
            in capsys.readouterr().err)
    flags_file = (out / "train.flags").read_text()
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert "--learning_rate=0.0005" in flags_file
    assert meta["training"]["flags"]["learning_rate"] == 5e-4
    # The finished run resumed again with other flags trains nothing: its
    # train.flags and card still name what it was trained with.
    train.train(_options(sample_data, out, tiny_bert_dir, resume=True, learning_rate=1e-2,
                         dropout=0.3))
    assert (out / "train.flags").read_text() == flags_file
    assert json.loads((out / "model" / "meta.json").read_text())["training"]["flags"] == \
        meta["training"]["flags"]


def test_a_kill_between_the_renames_of_a_folder_is_recovered_on_resume(
        sample_data, tiny_bert_dir, tmp_path, capsys, monkeypatch):
    # Where a folder cannot be swapped in one step, a kill between its two
    # renames leaves only model.old (or checkpoints/last.old).
    out = tmp_path / "out"
    train.train(_options(sample_data, out, tiny_bert_dir, epochs=1))
    for folder in (out / "model", out / "checkpoints" / "last"):
        folder.rename(folder.with_name(folder.name + ".old"))
    summary = train.train(_options(sample_data, out, tiny_bert_dir, epochs=1, resume=True))
    err = capsys.readouterr().err
    assert f"recovered {out / 'model'} from model.old" in err
    assert f"recovered {out / 'checkpoints' / 'last'} from last.old" in err
    assert summary["best_epoch"] == 1 and (out / "model" / "meta.json").exists()
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(FileExistsError, match="a_file is a file, not a folder"):
        train.train(_options(sample_data, tmp_path / "a_file", tiny_bert_dir, epochs=1))
    # (root writes anywhere, so the check is seen through os.access)
    monkeypatch.setattr(train.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(PermissionError, match=f"new/out: {tmp_path} is not writable"):
        train.train(_options(sample_data, tmp_path / "new" / "out", tiny_bert_dir, epochs=1))


def test_a_damaged_checkpoint_state_is_named_on_resume(sample_data, tiny_bert_dir, tmp_path):
    last = tmp_path / "out" / "checkpoints" / "last"
    last.mkdir(parents=True)
    (last / "state.json").write_text('{"epoch": 1,\n "step": }')  # hand-edited, say
    with pytest.raises(ValueError, match=r"last/state.json:2: not valid JSON"):
        train.train(_options(sample_data, tmp_path / "out", tiny_bert_dir, epochs=1, resume=True))
    (last / "state.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"last/state.json: expected a JSON object, got an array"):
        train.train(_options(sample_data, tmp_path / "out", tiny_bert_dir, epochs=1, resume=True))


def test_an_interrupted_command_says_how_to_resume(tmp_path):
    (tmp_path / "checkpoints" / "last").mkdir(parents=True)
    (tmp_path / "checkpoints" / "last" / "state.json").write_text('{"epoch": 2}')
    script = ("import sys; from absl import app; from ner import train\n"
              "def interrupted(options): raise KeyboardInterrupt\n"
              "train.train = interrupted; train._define_flags()\n"
              "app.run(train.main, argv=['train', *sys.argv[1:]])\n")
    for folder, advice in ((tmp_path, "run the same command with --resume to continue from the "
                                      "end of epoch 2"),
                           (tmp_path / "new", "no epoch had finished, so there is nothing to "
                                               "resume from")):
        result = subprocess.run([sys.executable, "-c", script, f"--output_dir={folder}"],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        assert result.returncode == 130
        assert result.stderr.strip().splitlines()[-1] == f"train: interrupted; {advice}"


def test_bad_data_leaves_no_output_folder(sample_data, tiny_bert_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    with open(data / "dev.txt", "a") as f:
        f.write("\nrejects VBZ B-VP\n")  # three columns
    with pytest.raises(ValueError, match="dev.txt:.*expected 4 columns"):
        train.train(_options(data, tmp_path / "out", tiny_bert_dir))
    assert not (tmp_path / "out").exists()


def test_smoke_training_on_real_conll_sentences(conll_dir, tmp_path):
    """A few steps of the default encoder on 300 real sentences learns something."""
    from ner import data

    for split, n in (("train", 300), ("dev", 150), ("test", 150)):
        docs = data.read_conll(conll_dir / f"{split}.txt")
        data.write_conll(train._limit_documents(docs, n), tmp_path / f"{split}.txt")
    options = train.TrainOptions(data_dir=str(tmp_path), output_dir=str(tmp_path / "out"),
                                 epochs=1, max_steps=30, batch_size=16, check_precisions="")
    summary = train.train(options)
    assert summary["dev_f1"] > 0.05, summary


@pytest.mark.parametrize("flags, expected", [
    ("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni", False),   # no bf16 instructions
    ("flags\t\t: avx512f avx512_bf16 avx512_vnni", False),     # AVX512-BF16 only: float32 pays
    ("flags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile", True),
    ("flags\t\t: avx512f xamx_bf16y", False),                  # whole flags only
])
def test_auto_precision_picks_bf16_only_on_cpus_with_amx(flags, expected):
    assert precision.cpu_has_fast_bfloat16(f"processor\t: 0\n{flags}\n") is expected


def test_explicit_precision_overrides_the_cpu_check():
    import tensorflow as tf

    assert precision.training_dtype("float32") == tf.float32
    assert precision.training_dtype("bfloat16") == tf.bfloat16
    with pytest.raises(ValueError, match="precision"):
        train.TrainOptions(precision="fp16")


def test_printed_scores_are_the_reports_to_every_digit(sample_data, tiny_bert_dir, tmp_path,
                                                       repo_root):
    """`python -m ner.train` prints the F1 that `python -m evaluation.report --model_dir` prints.

    Both tag through `Tagger.tag_tokens` with each sentence's document, so a
    `--document_context` model is scored with its neighbours in both.
    """
    import re

    from evaluation import report as report_lib
    from evaluation.render import format_report
    from ner import data

    docs = data.read_conll(sample_data / "train.txt")
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(sample_data / "train.txt", folder / "train.txt")
    data.write_conll(docs[1:], folder / "dev.txt")
    # Test in IOB1: the report's header says it was converted, and so must training's.
    data.write_conll(docs[:2], folder / "test.txt", scheme="IOB1")
    assert data.read_conll(folder / "test.txt")[0].scheme == "IOB1"
    out = tmp_path / "out"
    trained = subprocess.run(
        [sys.executable, "-m", "ner.train", f"--data_dir={folder}", f"--output_dir={out}",
         f"--bert_dir={tiny_bert_dir}", "--epochs=3", "--batch_size=8", "--learning_rate=1e-3",
         "--head_learning_rate=3e-2", "--max_seq_length=24", "--document_context", "--seed=3",
         "--check_precisions="],
        capture_output=True, text=True, cwd=repo_root, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]

    def report(split: str) -> str:
        # What `python -m evaluation.report --model_dir --data` prints (its
        # main is these two calls), in this process: two interpreters fewer.
        return format_report(report_lib.run(model_dir=str(out), data=str(folder / f"{split}.txt")))

    # Test: training prints the whole text report; the report CLI prints the same.
    assert trained.stdout.strip() == report("test").strip()
    # Dev: the line for the best model against the report's micro average.
    printed = re.search(r"best model \(epoch \d\).*: dev P/R/F1 ([\d.]+)/([\d.]+)/([\d.]+)",
                        trained.stderr)
    assert printed, trained.stderr[-3000:]
    micro = re.search(r"^micro avg\s*\|\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)", report("dev"), re.M)
    assert printed.groups() == micro.groups()
    # The comparison means something: the model found entities on dev.
    assert float(micro.group(3)) > 0, micro.group(0)


def test_the_best_model_is_scored_with_its_saved_weights_in_the_pipeline_traced_for_dev(
        sample_data, tiny_bert_dir, tmp_path, monkeypatch, capsys):
    """The final scores read the saved best weights back into the tagger that scored dev.

    One pipeline is built (and traced) per run; the weights it scores with at
    the end are the folder's, not the last epoch's, and its scores are those
    of the folder loaded afresh.
    """
    from evaluation import report as report_lib
    from ner import tagger as tagger_module

    pipelines = []
    real_pipeline = tagger_module.Pipeline
    monkeypatch.setattr(tagger_module, "Pipeline",
                        lambda *a, **k: pipelines.append(real_pipeline(*a, **k)) or pipelines[-1])
    weights = []  # the weights of every evaluation, in order

    class Recorded(ScriptedDev):
        def __call__(self, tagger, sents, documents):
            weights.append({n: v.numpy() for n, v in tagger.model.variables_by_name().items()})
            return super().__call__(tagger, sents, documents)

    # Epoch 1 is the best, so the last weights are not the saved ones.
    Recorded([0.9, 0.1]).install(monkeypatch)
    out = tmp_path / "out"
    summary = train.train(_options(sample_data, out, tiny_bert_dir, epochs=2))
    assert "best model (epoch 1)" in capsys.readouterr().err
    assert len(pipelines) == 1 and len(weights) == 4  # dev twice, then the best on dev and test
    saved = _weights(out / "model")
    assert any(not np.array_equal(weights[1][n], saved[n]) for n in saved)  # epoch 2 differs
    for scored in weights[2:]:
        assert sorted(scored) == sorted(saved)
        for name in saved:
            np.testing.assert_array_equal(scored[name], saved[name], err_msg=name)
    monkeypatch.undo()
    # The folder loaded afresh, as `python -m evaluation.report --model_dir` scores it.
    fresh = report_lib.run(model_dir=str(out), data=str(sample_data / "dev.txt"))
    assert summary["dev_f1"] == fresh["default"]["micro avg"]["f1"]


def test_training_on_span_files_with_a_custom_label_set(tiny_bert_dir, tmp_path, capsys):
    """JSONL spans (README's example lines) as train, dev and test, named by --*_file."""
    lines = [
        {"text": "Take 5 mg aspirin daily.", "entities": [[5, 9, "Dose"], [10, 17, "Drug"]]},
        {"text": "No dose here.", "spans": [{"start": 0, "end": 2, "label": "Negation"}]},
        {"text": "Ibuprofen, 200 mg.", "label": [[0, 9, "Drug"], [11, 17, "Dose"]]},
    ]
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines * 3))
    out = tmp_path / "out"
    summary = train.train(_options(tmp_path / "none", out, tiny_bert_dir, epochs=1,
                                   train_file=str(path), dev_file=str(path),
                                   test_file=str(path)))
    config = json.loads((out / "model" / "tagger_config.json").read_text())
    assert config["labels"] == ["O", "B-Dose", "I-Dose", "B-Drug", "I-Drug", "B-Negation",
                                "I-Negation"]
    meta = json.loads((out / "model" / "meta.json").read_text())
    assert {split: info["file"] for split, info in meta["data"].items()} == {
        "train": "notes.jsonl", "dev": "notes.jsonl", "test": "notes.jsonl"}
    assert meta["data"]["train"]["sentences"] == 9 and "test_f1" in summary
    predictions = (out / "test_predictions.txt").read_text().splitlines()
    assert predictions[:2] == ["Take O " + predictions[0].split()[-1],
                               "5 B-Dose " + predictions[1].split()[-1]]
    assert "9 train / 9 dev / 9 test sentences, 7 labels" in capsys.readouterr().err
