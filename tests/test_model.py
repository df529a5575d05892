"""The tagging head and the model folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ner.bert import BertConfig
from ner.model import TaggerConfig, TaggerModel, frozen_groups, select_trainable

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
ENCODER = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, max_position_embeddings=128)


def _model(**head):
    tf.random.set_seed(7)
    config = TaggerConfig(labels=LABELS, do_lower_case=True, encoder=BertConfig(**ENCODER).to_dict(),
                          **head)
    return TaggerModel(config)


def _inputs(rng, batch=5, seq=12, words=7):
    lengths = rng.integers(1, words + 1, size=batch).astype(np.int32)
    seq_lengths = lengths + 2 + rng.integers(0, seq - words - 2, size=batch)
    ids = rng.integers(1, 99, size=(batch, seq)).astype(np.int32)
    mask = (np.arange(seq)[None] < seq_lengths[:, None]).astype(np.int32)
    starts = np.zeros((batch, words), np.int32)
    for b, n in enumerate(lengths):
        starts[b, :n] = np.sort(rng.choice(np.arange(1, seq_lengths[b] - 1), n, replace=False))
    return ids * mask, mask, starts, lengths


@pytest.mark.parametrize("head", [{}, {"bilstm_units": 6}, {"layer_mix": True},
                                  {"bilstm_units": 5, "layer_mix": True}])
def test_potentials_shape_and_padding(head):
    model = _model(**head)
    ids, mask, starts, lengths = _inputs(np.random.default_rng(0))
    pot = model.potentials(ids, mask, starts, lengths).numpy()
    assert pot.shape == (5, 7, len(LABELS))
    for b, n in enumerate(lengths):
        assert np.all(pot[b, n:] == 0)
    # Extra padding words and wordpieces change nothing at real words.
    pad = lambda a, n: np.pad(a, [(0, 0), (0, n)])
    padded = model.potentials(pad(ids, 4), pad(mask, 4), pad(starts, 3), lengths).numpy()
    np.testing.assert_allclose(padded[:, :7], pot, atol=1e-5)
    # Inference on packed rows, whose last encoder block computes the words only.
    model.encoder.set_precision("float32")
    packed = model.potentials(ids, mask, starts, lengths, packed_rows=[1, 2, 4, 8, 16, 32, 64])
    np.testing.assert_allclose(packed.numpy(), pot, atol=1e-5)


def test_no_squashing_before_the_crf():
    model = _model()
    model.dense_kernel.assign(model.dense_kernel * 50.0)
    ids, mask, starts, lengths = _inputs(np.random.default_rng(1))
    pot = model.potentials(ids, mask, starts, lengths).numpy()
    assert np.abs(pot).max() > 5.0  # a tanh would cap every score at 1


def test_variable_names_are_google_for_the_encoder_and_scoped_for_the_head():
    names = set(_model(bilstm_units=4, layer_mix=True).variables_by_name())
    assert "bert/encoder/layer_1/attention/self/query/kernel" in names
    assert {"head/dense/kernel", "head/dense/bias", "head/bilstm/forward/kernel",
            "head/bilstm/backward/recurrent_kernel", "head/layer_mix/weights"} <= names
    assert any(n.startswith("crf/") for n in names)


@pytest.mark.parametrize("pattern, frozen_prefixes", [
    ("", ()),
    ("bert/", ("bert/",)),
    ("bert/embeddings/|bert/encoder/layer_0/", ("bert/embeddings/", "bert/encoder/layer_0/")),
    ("head/|crf/", ("head/", "crf/")),
])
def test_freeze_filter_splits_variables_by_name(pattern, frozen_prefixes):
    variables = _model(bilstm_units=4).trainable_variables
    trained, frozen = select_trainable(variables, pattern)
    # Each variable lands on exactly one side; each side keeps the given order.
    assert [v.name for v in frozen] == [v.name for v in variables
                                        if v.name.startswith(frozen_prefixes)]
    assert [v.name for v in trained] == [v.name for v in variables
                                         if not v.name.startswith(frozen_prefixes)]
    assert all(any(t is v for v in variables) for t in trained + frozen)
    assert bool(frozen) == bool(pattern) and trained


def test_loss_is_finite_and_trains_toward_gold():
    model = _model()
    rng = np.random.default_rng(2)
    ids, mask, starts, lengths = _inputs(rng)
    feats = dict(input_ids=ids, input_mask=mask, word_starts=starts, word_lengths=lengths)
    labels = rng.integers(0, 1, size=starts.shape).astype(np.int32)  # all "O": always valid
    variables = model.trainable_variables
    losses = []
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = model.loss(feats, labels, training=False)
        grads = tape.gradient(loss, variables)
        for v, g in zip(variables, grads):
            v.assign_sub(0.05 * tf.convert_to_tensor(g))
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_save_and_load_round_trip(tmp_path):
    model = _model(bilstm_units=4)
    ids, mask, starts, lengths = _inputs(np.random.default_rng(3))
    model.crf.transitions.assign(tf.random.normal(model.crf.transitions.shape))
    vocab = [f"tok{i}" for i in range(99)]
    model.save(tmp_path / "m", vocab)
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["model.ckpt.data-00000-of-00001", "model.ckpt.index", "tagger_config.json",
                     "vocab.txt"]
    assert (tmp_path / "m" / "vocab.txt").read_text().split("\n")[:2] == ["tok0", "tok1"]
    loaded = TaggerModel.load(tmp_path / "m")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.potentials(ids, mask, starts, lengths),
                                  model.potentials(ids, mask, starts, lengths))
    np.testing.assert_array_equal(loaded.crf.transitions, model.crf.transitions)
    # Saving again replaces the folder whole.
    model.dense_bias.assign(tf.ones_like(model.dense_bias))
    model.save(tmp_path / "m", vocab)
    np.testing.assert_array_equal(TaggerModel.load(tmp_path / "m").dense_bias, np.ones(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folders left


def test_config_round_trips_and_rejects_unknown_fields(tmp_path):
    config = _model(bilstm_units=3).config
    assert TaggerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="x.json: unknown fields \\['colour'\\]"):
        TaggerConfig.from_dict(dict(config.to_dict(), colour="red"), source="x.json")
    with pytest.raises(ValueError, match="missing fields \\['labels'\\]"):
        TaggerConfig.from_dict({"do_lower_case": True, "encoder": {}})


def test_folders_written_before_word_shapes_load_without_them():
    config = _model().config.to_dict()
    assert config["case_features"] is True  # a new model's default
    del config["case_features"]
    assert TaggerConfig.from_dict(config).case_features is False


def test_a_failed_save_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    from ner import checkpoint, files

    model = _model()
    model.save(tmp_path / "m", ["a"] * 99)
    before = sorted((p.name, p.read_bytes()) for p in (tmp_path / "m").iterdir())

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_variables", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m", ["b"] * 99)
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "m").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    # Without `replace` (SavedModel versions) an existing folder is never replaced.
    with pytest.raises(FileExistsError, match="exists already"):
        with files.atomic_folder(tmp_path / "m", replace=False) as tmp:
            (tmp / "x").write_text("new")
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "m").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("one_step", [True, False])
def test_a_folder_taken_while_the_block_ran_is_kept(tmp_path, monkeypatch, one_step):
    """Without `replace`, a target another process made while the block ran is never
    replaced (one `renameat2` step on Linux; elsewhere a check, then a rename
    that fails onto a folder that is not empty); with `next_target`, the new
    folder lands at the next free path instead."""
    from ner import files

    if not one_step:  # a system without renameat2
        monkeypatch.setattr(files, "_renameat2", lambda a, b, flags: None)
    theirs = lambda name: ((tmp_path / name).mkdir(), (tmp_path / name / "x").write_text(name))
    with pytest.raises(FileExistsError, match="exists already"):
        with files.atomic_folder(tmp_path / "1", replace=False) as tmp:
            (tmp / "x").write_text("mine")
            theirs("1")
    # The first path offered is taken too (another process was faster again).
    offered = iter([tmp_path / "3", tmp_path / "4"])
    with files.atomic_folder(tmp_path / "2", replace=False,
                             next_target=lambda: next(offered)) as tmp:
        (tmp / "x").write_text("mine")
        theirs("2")
        theirs("3")
    assert next(offered, None) is None
    assert {p.name: (p / "x").read_text() for p in tmp_path.iterdir()} == {
        "1": "1", "2": "2", "3": "3", "4": "mine"}


def _folder_states(tmp_path, monkeypatch) -> list[list[str]]:
    """What is beside `m` before each rename or swap while `m` is replaced, and after."""
    from ner import files

    seen = []
    real_replace, real_exchange = os.replace, files._exchange

    def look() -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))

    monkeypatch.setattr(os, "replace", lambda a, b: (look(), real_replace(a, b))[1])
    monkeypatch.setattr(files, "_exchange", lambda a, b: (look(), real_exchange(a, b))[1])
    with files.atomic_folder(tmp_path / "m") as tmp:
        (tmp / "x").write_text("new")
    look()
    return seen


def test_a_replaced_folder_exists_at_every_moment(tmp_path, monkeypatch):
    # A kill -9 can land between any two steps: "m" must exist at each.
    from ner import files

    with files.atomic_folder(tmp_path / "m") as tmp:
        (tmp / "x").write_text("old")
    partial = f".m.partial-{os.getpid()}"
    assert _folder_states(tmp_path, monkeypatch) == [[partial, "m"], ["m"]]
    assert (tmp_path / "m" / "x").read_text() == "new"


def test_a_kill_between_two_renames_is_recovered(tmp_path, monkeypatch):
    # Where paths cannot be swapped in one step, a kill between the two
    # renames leaves only m.old; the next writer or reader puts it back.
    from ner import files

    with files.atomic_folder(tmp_path / "m") as tmp:
        (tmp / "x").write_text("old")
    real_replace = os.replace

    def killed_after_first(a, b):
        real_replace(a, b)
        if Path(b).name == "m.old":
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    monkeypatch.setattr(os, "replace", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_folder(tmp_path / "m") as tmp:
            (tmp / "x").write_text("new")
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.old"]
    assert files.recover_folder(tmp_path / "m")
    assert (tmp_path / "m" / "x").read_text() == "old"
    assert not files.recover_folder(tmp_path / "m")  # nothing to recover now
    # A partial folder of a process that no longer runs is deleted by the next writer.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".m.partial-{dead}").mkdir()
    (tmp_path / f".m.partial-{dead}" / "weights").write_text("a killed run's")
    with files.atomic_folder(tmp_path / "m") as tmp:
        (tmp / "x").write_text("newer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_load_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        TaggerModel.load(tmp_path)
    model = _model()
    model.save(tmp_path / "m", ["a"] * 99)
    config = json.loads((tmp_path / "m" / "tagger_config.json").read_text())
    config["bilstm_units"] = 4  # the checkpoint has no LSTM weights
    (tmp_path / "m" / "tagger_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="variables with no weight.*head/bilstm"):
        TaggerModel.load(tmp_path / "m")


def test_frozen_groups_show_what_a_freeze_pattern_matched_by_layer():
    names = ["bert/embeddings/word_embeddings", "bert/embeddings/LayerNorm/gamma"] + [
        f"bert/encoder/layer_{i}/{part}" for i in range(12)
        for part in ("attention/self/query/kernel", "output/dense/kernel")] + ["head/dense/kernel"]
    variables = [tf.Variable(0.0, name=name) for name in names]
    # Searched anywhere: "layer_1" matches layers 10 and 11 too.
    assert frozen_groups(*select_trainable(variables, "bert/embeddings/|layer_1")) == [
        "bert/embeddings/", "bert/encoder/layer_1/", "bert/encoder/layer_10/",
        "bert/encoder/layer_11/"]
    assert frozen_groups(*select_trainable(variables, "layer_[0-1]/|query")) == [
        "bert/encoder/layer_0/", "bert/encoder/layer_1/"] + [
        f"bert/encoder/layer_{i}/ (1 of 2)" for i in range(2, 12)]
    assert frozen_groups(*select_trainable(variables, "")) == []
