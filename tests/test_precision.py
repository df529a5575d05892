"""Inference precisions (`ner.precision`, `BertEncoder.set_precision`, int8 dense layers)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import ner
from ner import bert, checkpoint, precision, shapes
from ner.model import TaggerModel
from tests.tiny_model import write_model_folder

needs_int8 = pytest.mark.skipif(not precision.int8_available(),
                                reason="this TensorFlow build has no oneDNN int8 kernels")

TEXTS = ["John Smith lives in Paris.", "Zoe met the big Acme Corp in New York!",
         "a b c x", "", "Istanbul, Paris and New York."]
DEV = """-DOCSTART- -X- -X- O

john NNP B-NP B-PER
smith NNP I-NP I-PER
lives VBZ B-VP O
in IN B-PP O
paris NNP B-NP B-LOC
. . O O

zoe NNP B-NP B-PER
met VBD B-VP O
acme NNP B-NP B-ORG
corp NNP I-NP I-ORG
. . O O
"""


@pytest.fixture(scope="module")
def rule_folder(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("rules") / "model")


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("random") / "model", rules=None, seed=3)


@pytest.mark.parametrize("name", ["float32", "bfloat16",
                                  pytest.param("int8", marks=needs_int8)])
def test_each_precision_loads_and_tags_like_float32(rule_folder, name):
    want = ner.Tagger.load(rule_folder).tag_batch(TEXTS)
    tagger = ner.Tagger.load(rule_folder, precision=name)
    assert tagger.precision == name
    got = tagger.tag_batch(TEXTS)
    assert [[(e.label, e.start, e.end, e.text) for e in t] for t in got] == \
        [[(e.label, e.start, e.end, e.text) for e in t] for t in want]
    assert sum(map(len, got)) == 8  # John Smith, Paris, Zoe, Acme Corp, New York, Istanbul, ...
    for a, b in zip(sum(got, []), sum(want, [])):
        assert 0 <= a.score <= 1 and abs(a.score - b.score) < 0.02


@pytest.mark.parametrize("name", ["float32", "bfloat16",
                                  pytest.param("int8", marks=needs_int8)])
def test_a_call_of_mixed_lengths_is_one_encoder_batch_attending_in_groups(
        rule_folder, name, monkeypatch):
    """Windows of every length share a batch; attention runs in groups by length."""
    from ner import pipeline

    groups, batches = [], tf.Variable(0)
    original = TaggerModel.potentials

    def counting(self, ids, *args, **kwargs):
        groups.append(kwargs.get("attention_groups"))
        with tf.control_dependencies([batches.assign_add(1)]):  # once per batch run
            return original(self, tf.identity(ids), *args, **kwargs)

    monkeypatch.setattr(TaggerModel, "potentials", counting)
    tagger = ner.Tagger.load(rule_folder, precision=name)
    # 40 short windows and 4 of up to 62 wordpieces: padded to the longest,
    # 44 x 64 cells, over `BATCH_TOKENS`; their real wordpieces fit in one.
    texts = [t for t in TEXTS if t] * 10 + [" ".join(["Paris"] * n) for n in (1, 5, 20, 60)]
    assert len(texts) == 44 and pipeline.BATCH_TOKENS < 44 * 64
    assert sum(map(len, tagger.tag_batch(texts))) > 40
    assert int(batches.numpy()) == 1
    longest = tagger.config.max_seq_length
    assert groups == [[g for g in shapes.size_grid(pipeline.ATTENTION_GROUPS_BITS, longest)
                       if pipeline.ATTENTION_GROUPS_FROM <= g < longest]]


@needs_int8
def test_int8_potentials_stay_close_to_float32(random_folder):
    model = TaggerModel.load(random_folder)
    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(5, 37, size=(3, 12)), tf.int32)
    mask = tf.ones_like(ids)
    starts = tf.constant([list(range(0, 12, 2))] * 3, tf.int32)
    lengths = tf.constant([6, 4, 1], tf.int32)
    want = model.potentials(ids, mask, starts, lengths).numpy()
    model.encoder.set_precision("int8")
    got = model.potentials(ids, mask, starts, lengths).numpy()
    assert model.encoder.precision == "int8"
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.05
    assert not np.allclose(got, want)  # it really ran another arithmetic
    model.encoder.set_precision("float32")  # and goes back
    np.testing.assert_allclose(model.potentials(ids, mask, starts, lengths).numpy(), want,
                               rtol=1e-5, atol=1e-5)


@needs_int8
@pytest.mark.parametrize("shape, low", [((5, 8), -3.0), ((4, 8), 0.5), ((0, 8), -1.0)])
@pytest.mark.parametrize("min_values", [None, 0, 1 << 30])
def test_int8_dense_matches_float_matmul(shape, low, min_values, monkeypatch):
    """Negative minima (the shifted path), all-positive inputs and empty batches; eagerly
    (None) and in a function quantizing through oneDNN's kernel (0) or written-out ops."""
    dense = bert._Dense("d", 8, 6, 0.5)
    dense.bias.assign(tf.linspace(-1.0, 1.0, 6))
    x = tf.random.stateless_uniform(shape, [1, 2], minval=low, maxval=2.0)
    want = tf.nn.bias_add(tf.matmul(x, dense.kernel), dense.bias)
    dense.quantize()
    if min_values is None:
        got = dense(x)
    else:
        monkeypatch.setattr(bert, "ONEDNN_QUANTIZE_MIN_VALUES", min_values)  # read when traced
        got = tf.function(dense)(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=0.05 * (2 - low))


@pytest.mark.parametrize("low", [-3.0, 0.5])
@pytest.mark.parametrize("min_values", [0, 1 << 30])
def test_quantized_codes_stand_for_their_values(low, min_values, monkeypatch):
    """Inside functions an input of at least ONEDNN_QUANTIZE_MIN_VALUES values is quantized
    by oneDNN's kernel, a smaller one by written-out ops: either way code c stands for
    lo + c * (hi - lo) / 255, within half a step of the value it codes, and the codes
    span the range (the smallest value codes 0 when it is negative, the largest 255)."""
    monkeypatch.setattr(bert, "ONEDNN_QUANTIZE_MIN_VALUES", min_values)  # read when traced
    x = tf.random.stateless_uniform([7, 40], [3, 4], minval=low, maxval=2.0)
    codes, lo, hi = tf.function(bert._quantize_input)(x)
    codes = tf.bitcast(codes, tf.uint8).numpy().astype(np.float64)
    step = (hi.numpy() - lo.numpy()) / 255
    assert lo.numpy() <= min(x.numpy().min(), 0) and hi.numpy() >= x.numpy().max()
    np.testing.assert_array_less(np.abs(lo.numpy() + codes * step - x.numpy()), step / 2 + 1e-6)
    assert codes.max() == 255 and (codes.min() == 0) == (low < 0)


@pytest.mark.parametrize("name", [pytest.param("int8", marks=needs_int8), "bfloat16"])
def test_derived_copies_are_never_saved_in_a_model_folder(random_folder, name):
    model = TaggerModel.load(random_folder)
    names = set(model.variables_by_name())
    model.encoder.set_precision(name)
    assert set(model.variables_by_name()) == names
    assert any(f"_{name}" in v.name for v in model.variables)
    saved = checkpoint.read_checkpoint(random_folder / "model.ckpt")
    assert not any(f"_{name}" in saved_name for saved_name in saved)


def test_bfloat16_dense_multiplies_with_its_copy_taken_once():
    dense = bert._Dense("d", 8, 6, 0.5)
    x = tf.cast(tf.random.stateless_uniform((5, 8), [1, 2], minval=-2.0, maxval=2.0),
                tf.bfloat16)
    cast_each_call = dense(x).numpy()
    dense.keep_copy(tf.bfloat16)
    np.testing.assert_array_equal(dense(x).numpy(), cast_each_call)
    dense.kernel.assign(dense.kernel * 2)  # not seen by the copy ...
    np.testing.assert_array_equal(dense(x).numpy(), cast_each_call)
    np.testing.assert_allclose(dense(tf.cast(x, tf.float32)).numpy(),  # ... float32 sees it
                               2 * cast_each_call.astype(np.float32), rtol=0.05, atol=0.05)
    dense.keep_copy(tf.bfloat16)  # a new copy
    assert not np.array_equal(dense(x).numpy(), cast_each_call)
    dense.keep_copy(None)
    assert dense.low is None


def test_unknown_precision_is_refused(rule_folder):
    with pytest.raises(ValueError, match="precision='fp8'"):
        ner.Tagger.load(rule_folder, precision="fp8")


def _check_file(folder, **values):
    (folder / precision.CHECK_FILE).write_text(json.dumps(values))


@pytest.mark.parametrize("content, message", [
    ("[]", "expected a JSON object, got an array"),
    ('{"accepted": "int8"}', '"accepted" must be a list of precision names, got \'int8\''),
    ('{"accepted": [8]}', '"accepted" must be a list of precision names'),
    ('{"seconds": {"float32": "2 s"}}', '"seconds" must map precision names to numbers'),
    ('{"f1": {"int8": true}}', '"f1" must map precision names to numbers'),
    ('{"seconds": [1, 2]}', '"seconds" must map precision names to numbers'),
    ('{"machine": "epyc"}', '"machine" must be a JSON object'),
    ('{"rejected": "int8"}', '"rejected" must map precision names to reasons'),
    ('{"weights_sha256": 12}', '"weights_sha256" must be a string'),
    ('{"int8_ranges": {"l/qkv": [0.5, 2]}}', '"int8_ranges" must map layer names to [lo, hi] '
                                              'with lo <= 0 and lo < hi'),
    ('{"int8_ranges": {"l/qkv": [-1, -2]}}', '"int8_ranges" must map layer names'),
    ('{"int8_ranges": {"l/qkv": [0, "3"]}}', '"int8_ranges" must map layer names'),
    ('{"int8_ranges": [[0, 1]]}', '"int8_ranges" must map layer names'),
])
def test_a_malformed_check_file_is_named_with_its_field(tmp_path, content, message):
    """A hand-edited precision.json is refused naming the file and the field; it
    used to fail with a TypeError inside `choose`, or be misread (an "accepted"
    string is iterable)."""
    (tmp_path / precision.CHECK_FILE).write_text(content)
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / precision.CHECK_FILE}: "
                                                   f"{message}")) as raised:
        precision.read_check(tmp_path)
    assert "run python -m ner.precision" in str(raised.value)


def test_auto_names_a_malformed_check_file(tmp_path):
    folder = write_model_folder(tmp_path / "model")
    _check_file(folder, machine=precision.machine(), accepted=["float32"],
                seconds={"float32": "fast"})
    with pytest.raises(ValueError, match='precision.json: "seconds" must map'):
        ner.Tagger.load(folder, precision="auto")


def test_auto_says_when_the_check_could_not_run_int8(tmp_path, caplog):
    """A check run with oneDNN off rejects int8 unscored; where int8 runs, auto says
    that rerunning the check would consider it, instead of passing it over silently."""
    folder = write_model_folder(tmp_path / "model")
    _check_file(folder, machine=precision.machine(), accepted=["float32"],
                rejected={"int8": precision._INT8_NOT_RUN}, f1={"float32": 90.0})
    with mock.patch("ner.precision.int8_available", return_value=True):
        with caplog.at_level(logging.WARNING, logger="ner.precision"):
            assert ner.Tagger.load(folder, precision="auto").precision == "float32"
    assert "int8 was never scored on dev" in caplog.text
    assert f"run python -m ner.precision --model_dir={folder} here" in caplog.text
    caplog.clear()
    # Where int8 still cannot run, or when int8 was scored and rejected: nothing to say.
    with mock.patch("ner.precision.int8_available", return_value=False):
        with caplog.at_level(logging.WARNING, logger="ner.precision"):
            ner.Tagger.load(folder, precision="auto")
    assert "never scored" not in caplog.text
    _check_file(folder, machine=precision.machine(), accepted=["float32"],
                rejected={"int8": "dev F1 80.00 is 10.00 below float32's 90.00"},
                f1={"float32": 90.0, "int8": 80.0})
    with mock.patch("ner.precision.int8_available", return_value=True):
        with caplog.at_level(logging.WARNING, logger="ner.precision"):
            ner.Tagger.load(folder, precision="auto")
    assert "never scored" not in caplog.text


def test_auto_is_float32_without_a_check(random_folder):
    assert not (random_folder / precision.CHECK_FILE).exists()
    assert ner.Tagger.load(random_folder, precision="auto").precision == "float32"


@needs_int8
def test_auto_picks_the_fastest_accepted_by_this_machines_timings(tmp_path, caplog):
    folder = write_model_folder(tmp_path / "model")
    _check_file(folder, machine=precision.machine(), accepted=["float32", "int8"],
                seconds={"float32": 2.0, "bfloat16": 0.5, "int8": 1.0})
    # bfloat16 was fastest but not accepted: never used by auto.
    with caplog.at_level(logging.INFO, logger="ner.precision"):
        assert ner.Tagger.load(folder, precision="auto").precision == "int8"
    # A check written before calibration: int8 as it judged it, each batch's own range.
    assert "precision.json, written before checks calibrated int8, has no ranges" in caplog.text
    _check_file(folder, machine=precision.machine(), accepted=["float32", "int8"],
                seconds={"float32": 1.0, "int8": 3.0})
    assert ner.Tagger.load(folder, precision="auto").precision == "float32"


@needs_int8
def test_auto_times_the_encoder_when_the_checks_timings_are_too_short(tmp_path, monkeypatch,
                                                                     caplog):
    """A tiny dev set times in hundredths of a second: noise, not a ranking; the
    load says why it takes seconds more."""
    folder = write_model_folder(tmp_path / "model")
    timed = []

    def encoder_seconds(model, p):
        timed.append(p)
        return {"float32": 1.0, "int8": 2.0}[p]

    monkeypatch.setattr(precision, "_encoder_seconds", encoder_seconds)
    short = precision.MIN_TIMED_SECONDS / 10
    _check_file(folder, machine=precision.machine(), accepted=["float32", "int8"],
                seconds={"float32": short, "int8": short / 2})
    with caplog.at_level("WARNING", logger="ner.precision"):
        assert ner.Tagger.load(folder, precision="auto").precision == "float32"
    assert timed == ["float32", "int8"]
    assert "timing the encoder in float32, int8 on this machine" in caplog.text
    caplog.clear()
    timed.clear()  # long enough: the check's own timings decide, nothing is timed
    _check_file(folder, machine=precision.machine(), accepted=["float32", "int8"],
                seconds={"float32": 10 * short, "int8": 5 * short})
    with caplog.at_level("WARNING", logger="ner.precision"):
        assert ner.Tagger.load(folder, precision="auto").precision == "int8" and timed == []
    assert "timing the encoder" not in caplog.text


def test_auto_times_the_encoder_on_another_machine(tmp_path):
    folder = write_model_folder(tmp_path / "model")
    _check_file(folder, machine={"cpu": "elsewhere"}, accepted=["float32", "bfloat16"],
                seconds={"float32": 9.0, "bfloat16": 1.0})
    assert ner.Tagger.load(folder, precision="auto").precision in ("float32", "bfloat16")


def test_check_writes_scores_and_rejects_beyond_the_tolerance(tmp_path, monkeypatch):
    folder = write_model_folder(tmp_path / "model")
    dev = tmp_path / "dev.txt"
    dev.write_text(DEV)
    result = precision.check(folder, dev, precisions=["bfloat16"])
    assert result["f1"]["float32"] == pytest.approx(100.0)
    assert result["accepted"] == ["float32", "bfloat16"]
    assert json.loads((folder / precision.CHECK_FILE).read_text())["f1"] == result["f1"]
    # bfloat16 scored 0.31 points lower, beyond the tolerance of 0.3: rejected, with the reason.
    real = precision._dev_f1
    monkeypatch.setattr(precision, "_dev_f1", lambda tagger, *args, **kwargs: real(
        tagger, *args, **kwargs) - (0.31 if tagger.model.encoder.precision == "bfloat16" else 0))
    result = precision.check(folder, dev, precisions=["bfloat16"], tolerance=0.3)
    assert result["accepted"] == ["float32"]
    assert "dev F1 99.69 is 0.31 below float32's 100.00, beyond the tolerance of 0.3" in \
        result["rejected"]["bfloat16"]
    assert ner.Tagger.load(folder, precision="auto").precision == "float32"


def test_a_check_of_other_weights_is_not_trusted(tmp_path, caplog):
    """precision.json names the weights it checked: copied or retrained over, the
    folder's new weights are tagged in float32 until checked again."""
    import shutil

    from ner.model import weights_digest

    folder = write_model_folder(tmp_path / "model")
    _check_file(folder, machine=precision.machine(), accepted=["float32", "bfloat16"],
                seconds={"float32": 9.0, "bfloat16": 1.0}, weights_sha256=weights_digest(folder))
    assert ner.Tagger.load(folder, precision="auto").precision == "bfloat16"
    other = write_model_folder(tmp_path / "other", rules=None, seed=5)
    for path in other.glob("model.ckpt.*"):
        shutil.copy(path, folder / path.name)
    with caplog.at_level("WARNING", logger="ner.precision"):
        assert ner.Tagger.load(folder, precision="auto").precision == "float32"
    assert "checked other weights than the folder holds now" in caplog.text


def test_check_rejects_what_it_cannot_compare(tmp_path):
    """A dev set without entities scores F1 0 in every precision: no evidence, so
    nothing but float32 is accepted. A name given twice is checked once, and
    the command line's comma-separated form is taken."""
    folder = write_model_folder(tmp_path / "model")
    dev = tmp_path / "dev.txt"
    dev.write_text(re.sub(r"[BI]-(PER|LOC|ORG|MISC)", "O", DEV))
    result = precision.check(folder, dev, precisions="bfloat16,bfloat16")
    assert list(result["f1"]) == ["float32"] and result["accepted"] == ["float32"]
    assert result["rejected"] == {"bfloat16": f"{dev} has no entities: nothing to compare"}
    assert ner.Tagger.load(folder, precision="auto").precision == "float32"
    dev.write_text(DEV)
    result = precision.check(folder, dev, precisions=["bfloat16", "bfloat16"])
    assert result["accepted"] == ["float32", "bfloat16"]


@needs_int8
def test_the_check_calibrates_int8_and_loading_uses_its_ranges(tmp_path, monkeypatch, caplog):
    """The check tags dev once more in float32 to measure every int8 layer's input range,
    scores int8 with those ranges, writes them, and `int8` and `auto` load them; a folder
    whose weights changed since goes back to each batch's own range, saying why."""
    import shutil

    from ner import train as train_lib

    folder = write_model_folder(tmp_path / "model", rules=None, seed=5)
    dev = tmp_path / "dev.txt"
    dev.write_text(DEV)
    real = train_lib.evaluate_split
    seen = []

    def evaluate_split(tagger, sentences, ids, batch_size=None):
        encoder = tagger.model.encoder
        ranged = [d.input_range is not None for d in encoder.int8_sites().values()]
        observing = [d.observed is not None for d in encoder.int8_sites().values()]
        seen.append((encoder.precision, all(ranged) and any(ranged),
                     all(observing) and any(observing)))
        return real(tagger, sentences, ids, batch_size)

    monkeypatch.setattr(train_lib, "evaluate_split", evaluate_split)
    result = precision.check(folder, dev, precisions=["int8"], tolerance=100)
    # float32 scored, float32 observed (calibration), int8 scored with ranges
    assert seen == [("float32", False, False), ("float32", False, True), ("int8", True, False)]
    model = TaggerModel.load(folder)
    model.encoder.set_precision("float32")
    assert set(result["int8_ranges"]) == set(model.encoder.int8_sites()) and \
        len(result["int8_ranges"]) == 4 * len(model.encoder.layers)
    # The ranges are those of the dev inputs: a float32 run observed again gives them.
    model.encoder.observe_int8_ranges()
    tagger = ner.Tagger(model, ner.Tagger.load(folder).tokenizer)
    tagger.tag_tokens([line.split()[0] for line in block.splitlines()]
                      for block in DEV.split("\n\n")[1:])
    again = model.encoder.observe_int8_ranges(False)
    for name, (lo, hi) in again.items():
        assert lo < 0 < hi
        np.testing.assert_allclose(result["int8_ranges"][name], [lo, hi], rtol=1e-5)
    check = json.loads((folder / precision.CHECK_FILE).read_text())
    saved = check["int8_ranges"]
    assert saved == result["int8_ranges"]
    # As if int8 had been the faster on this machine's (longer) dev set:
    check["seconds"] = {"float32": 5.0, "int8": 2.0}
    (folder / precision.CHECK_FILE).write_text(json.dumps(check))
    for asked in ("int8", "auto"):
        tagger = ner.Tagger.load(folder, precision=asked)
        assert tagger.precision == "int8"
        sites = tagger.model.encoder.int8_sites()
        assert set(sites) == set(saved)
        for name, dense in sites.items():
            np.testing.assert_allclose(dense.input_range.numpy(), saved[name], rtol=1e-6)
        assert tagger.int8_ranges == "calibrated"
    assert ner.Tagger.load(folder, precision="float32").int8_ranges is None
    from ner import serve  # what /healthz reports beside the precision
    assert serve.load_tagger(str(folder), "int8")[4:] == ("int8", "calibrated")
    for path in write_model_folder(tmp_path / "other", rules=None, seed=6).glob("model.ckpt.*"):
        shutil.copy(path, folder / path.name)  # retrained over
    with caplog.at_level(logging.WARNING, logger="ner.precision"):
        tagger = ner.Tagger.load(folder, precision="int8")
    assert all(d.input_range is None for d in tagger.model.encoder.int8_sites().values())
    assert tagger.int8_ranges == "each batch's own"
    assert "int8 quantizes each batch over its own range, because precision.json checked " \
        "other weights" in caplog.text
    (folder / precision.CHECK_FILE).unlink()
    with caplog.at_level(logging.INFO, logger="ner.precision"):
        tagger = ner.Tagger.load(folder, precision="int8")
    assert tagger.model.encoder.int8_ranges is None
    assert "int8 quantizes each batch over its own range: the folder has no precision.json " \
        "(python -m ner.precision" in caplog.text


@needs_int8
@pytest.mark.parametrize("min_values", [None, 0, 1 << 30])
def test_a_calibrated_range_makes_a_rows_output_its_own(min_values, monkeypatch):
    """With each call's own range, a row's int8 output moves with the rows beside it; with a
    calibrated range it does not, and values beyond the range are clipped to it. Eagerly
    (None) and in functions quantizing by oneDNN's kernel (0) or written-out ops."""
    monkeypatch.setattr(bert, "ONEDNN_QUANTIZE_MIN_VALUES", min_values or 0)  # read when traced
    dense = bert._Dense("d", 8, 6, 0.5)
    dense.quantize()
    call = dense if min_values is None else tf.function(dense)
    row = tf.random.stateless_uniform([1, 8], [5, 6], minval=-1.0, maxval=1.0)
    wide = tf.fill([1, 8], 40.0)
    alone, beside = call(row), call(tf.concat([row, wide], 0))[:1]
    assert np.abs(alone - beside).max() > 1e-3  # each call's own range: it moved
    dense.input_range = tf.Variable([-1.5, 1.5])
    call = dense if min_values is None else tf.function(dense)  # traced anew
    alone, beside = call(row), call(tf.concat([row, wide], 0))
    np.testing.assert_array_equal(alone.numpy(), beside[:1].numpy())
    clipped = tf.nn.bias_add(tf.matmul(tf.fill([1, 8], 1.5), dense.kernel), dense.bias)
    np.testing.assert_allclose(beside[1:].numpy(), clipped.numpy(), atol=0.05)


@needs_int8
def test_calibrated_int8_tags_a_text_alike_in_any_batch(tmp_path):
    """A text's entities and scores in calibrated int8 do not depend on the texts
    batched with it (with each batch's own range they did: the scores moved)."""
    text = "John Smith lives in Paris."
    others = ["Zoe met the big Acme Corp in New York!", "x " * 40, "Istanbul , Paris ."]
    tagger = ner.Tagger.load(write_model_folder(tmp_path / "model", rules=None, seed=5))
    encoder = tagger.model.encoder
    encoder.observe_int8_ranges()  # calibrated as the check does, on these texts
    ner.Tagger(tagger.model, tagger.tokenizer).tag_batch([text] + others)
    encoder.int8_ranges = encoder.observe_int8_ranges(False)
    encoder.set_precision("int8")
    tagger = ner.Tagger(tagger.model, tagger.tokenizer)
    alone = tagger.tag_batch([text])[0]
    assert alone  # random weights: entities, with scores that any change of codes moves
    for other in others:
        for texts in ([text, other], [other, text]):
            got = tagger.tag_batch(texts)[texts.index(text)]
            assert [(e.label, e.start, e.end) for e in got] == \
                [(e.label, e.start, e.end) for e in alone]
            np.testing.assert_allclose([e.score for e in got], [e.score for e in alone],
                                       rtol=1e-5)
    tagger.model.encoder.int8_ranges = None
    tagger.model.encoder.set_precision("int8")  # each batch's own range
    tagger = ner.Tagger(tagger.model, tagger.tokenizer)
    alone = tagger.tag_batch([text])[0]
    moved = [max(abs(a.score - b.score) for a, b in zip(tagger.tag_batch([text, o])[0], alone))
             for o in others]
    assert max(moved) > 1e-4


def test_check_refuses_what_it_cannot_do_before_tagging(tmp_path, monkeypatch):
    """A nan or negative tolerance, or a folder it cannot write (a read-only mount), is said
    at once: the folder used to fail after all the tagging, with a traceback."""
    folder = write_model_folder(tmp_path / "model")
    dev = tmp_path / "dev.txt"
    dev.write_text(DEV)
    for bad in (float("nan"), -0.5):
        with pytest.raises(ValueError, match=f"tolerance must be a number of F1 points, 0 or "
                                             f"more, got {bad}"):
            precision.check(folder, dev, precisions=["bfloat16"], tolerance=bad)
    tagged = []
    monkeypatch.setattr(precision.os, "access", lambda path, mode: Path(path) != folder)
    monkeypatch.setattr("ner.train.evaluate_split", lambda *a: tagged.append(a))
    with pytest.raises(ValueError, match=r"cannot write precision.json into .*: the folder "
                                         r"is not writable"):
        precision.check(folder, dev, precisions=["bfloat16"])
    assert tagged == [] and not (folder / precision.CHECK_FILE).exists()
    monkeypatch.undo()  # evaluate again; still not writable, but nothing is written
    monkeypatch.setattr(precision.os, "access", lambda path, mode: Path(path) != folder)
    assert precision.check(folder, dev, precisions=[], write=False)["accepted"] == ["float32"]


def test_load_tagger_names_a_bad_precision_before_anything_else(tmp_path):
    from ner.exported import load_tagger

    for bad in ("fp16", "INT8", None):
        with pytest.raises(ValueError, match=re.escape(f"precision={bad!r}: expected one of")):
            load_tagger(tmp_path / "absent", precision=bad)


def test_check_needs_a_dev_file(tmp_path, monkeypatch):
    folder = write_model_folder(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="names no dev file; pass --dev_file"):
        precision.check(folder)
    # The card's path, relative to where training ran, read from elsewhere.
    (folder / "meta.json").write_text(json.dumps({"data": {"dev": {"path": "data/dev.txt"}}}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"dev file data/dev.txt does not exist: the "
                                                r"model card .* current folder \(" +
                                                re.escape(str(tmp_path))):
        precision.check(folder)


def test_check_warns_when_the_dev_set_is_too_small_to_judge(tmp_path, caplog):
    folder = write_model_folder(tmp_path / "model")
    dev = tmp_path / "dev.txt"
    dev.write_text(DEV)
    with caplog.at_level("WARNING", logger="ner.precision"):
        precision.check(folder, dev, precisions=[], tolerance=0.3)
    assert "one more or less moves F1 by about" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ner.precision"):
        precision.check(folder, dev, precisions=[], tolerance=100.0)
    assert "moves F1" not in caplog.text


def test_check_command_prints_the_table(tmp_path, capsys):
    folder = write_model_folder(tmp_path / "model")
    dev = tmp_path / "dev.txt"
    dev.write_text(DEV)
    assert precision.main([f"--model_dir={folder}", f"--dev_file={dev}",
                           "--precisions=bfloat16"]) == 0
    out = capsys.readouterr().out
    assert "bfloat16" in out and "accepted" in out and str(folder / precision.CHECK_FILE) in out
    assert "int8 activation ranges" not in out
    checked = json.loads((folder / precision.CHECK_FILE).read_text())
    # With int8 (whose calibration the check's own tests cover):
    ranges = {f"bert/encoder/layer_{i}/{part}": [-1.0, 1.0] for i in range(2)
              for part in ("attention/self/qkv", "attention/output/dense",
                           "intermediate/dense", "output/dense")}
    with mock.patch.object(precision, "check", return_value={**checked, "int8_ranges": ranges}):
        assert precision.main([f"--model_dir={folder}", f"--dev_file={dev}",
                               "--precisions=int8"]) == 0
    assert "int8 activation ranges: 8 layers, calibrated on the 2 dev sentences\n" in \
        capsys.readouterr().out
    assert precision.main([f"--model_dir={tmp_path / 'none'}", f"--dev_file={dev}"]) == 2
    assert capsys.readouterr().err.startswith(f"ner.precision: error: {tmp_path / 'none'}")


@needs_int8
def _tiny_encoder(hidden_act: str = "gelu") -> bert.BertEncoder:
    tf.random.set_seed(0)
    return bert.BertEncoder(bert.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_act=hidden_act))


def _ops(op_type: str, fn, *args) -> list:
    """The ops of `op_type` in `fn`'s graph for `args` (signatures)."""
    graph = fn.get_concrete_function(*args).graph
    return [op for op in graph.get_operations() if op.type == op_type]


def _cached_matmuls(fn, *args) -> list:
    return [op for op in _ops("_MklNativeFusedMatMul", fn, *args)
            if op.get_attr("is_filter_const")]


def _hidden_states_fn(encoder: bert.BertEncoder, spec: list):
    """The encoder's hidden states as a function of (ids, mask) with signature `spec`."""
    return tf.function(lambda i, m: encoder(i, attention_mask=m).hidden_states,
                       input_signature=spec)


needs_weight_cache = pytest.mark.skipif(not bert.weight_cache_available(),
                                        reason="no oneDNN CPU kernels here")


@needs_weight_cache
@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "silu"])
def test_bfloat16_weight_cache_computes_what_the_plain_ops_do(hidden_act):
    """Every dense layer runs the cached matmul (activation fused where oneDNN has it,
    after it where not) and gives the standard ops' outputs, hidden states included."""
    ids = tf.constant(np.random.default_rng(5).integers(1, 99, size=(3, 9)), tf.int32)
    mask = tf.constant(np.arange(9)[None, :] < np.array([[9], [4], [1]]), tf.int32)
    spec = [tf.TensorSpec([None, None], tf.int32)] * 2
    outputs = {}
    for cache in (False, True):
        encoder = _tiny_encoder(hidden_act)
        encoder.set_precision("bfloat16", weight_cache=cache)
        assert encoder.weight_cache == cache
        fn = _hidden_states_fn(encoder, spec)
        assert len(_cached_matmuls(fn, *spec)) == (8 if cache else 0)  # 4 per layer (q, k, v as one)
        outputs[cache] = fn(ids, mask)
        eager = encoder(ids, attention_mask=mask).hidden_states  # eager: standard ops
        np.testing.assert_allclose(tf.cast(eager[-1], tf.float32),
                                   tf.cast(outputs[cache][-1], tf.float32), atol=2e-2)
    assert len(outputs[True]) == 3
    for a, b in zip(outputs[False], outputs[True]):
        assert a.dtype == b.dtype == tf.bfloat16
        np.testing.assert_allclose(tf.cast(b, tf.float32), tf.cast(a, tf.float32), atol=2e-2)


@needs_weight_cache
def test_bfloat16_weight_cache_a_new_copy_for_new_functions():
    encoder = _tiny_encoder()
    spec = tf.TensorSpec([None, None], tf.int32)
    ids = tf.constant([[5, 6, 7, 8]])
    encoder.set_precision("float32")
    assert not encoder.weight_cache
    encoder.set_precision("bfloat16")
    before = tf.function(lambda i: encoder(i).sequence_output, input_signature=[spec])
    first = before(ids)
    kernel = encoder.layers[0].intermediate.kernel
    kernel.assign(kernel * 3.0)
    np.testing.assert_array_equal(before(ids), first)  # the copy, cached
    encoder.set_precision("bfloat16")  # a new copy for functions traced from now on
    after = tf.function(lambda i: encoder(i).sequence_output, input_signature=[spec])
    assert np.abs(tf.cast(after(ids) - first, tf.float32)).max() > 1e-2
    np.testing.assert_array_equal(before(ids), first)  # the old function keeps its copy


needs_fused_int8 = pytest.mark.skipif(not bert.fused_int8_available(),
                                      reason="no oneDNN int8 CPU kernels here")


def _fused_int8_matmuls(fn, *args) -> list:
    return _ops("_QuantizedMatMul", fn, *args)


@needs_fused_int8
@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "silu"])
def test_int8_fused_matmul_computes_what_the_public_op_does(hidden_act):
    """In int8 every dense layer runs oneDNN's fused int8 matmul (GELU fused, SiLU after
    it), told to keep its kernel packed, and gives the public op's outputs. (Whether
    oneDNN packs a kernel at all depends on the shapes, so that is not checked here.)"""
    ids = tf.constant(np.random.default_rng(6).integers(1, 99, size=(3, 9)), tf.int32)
    mask = tf.constant(np.arange(9)[None, :] < np.array([[9], [5], [2]]), tf.int32)
    spec = [tf.TensorSpec([None, None], tf.int32)] * 2
    outputs = {}
    for cache in (False, True):
        encoder = _tiny_encoder(hidden_act)
        encoder.set_precision("int8", weight_cache=cache)
        assert encoder.weight_cache == cache
        fn = _hidden_states_fn(encoder, spec)
        fused = _fused_int8_matmuls(fn, *spec)
        assert len(fused) == (8 if cache else 0)  # 4 per layer (q, k, v as one)
        assert all(op.get_attr("is_weight_const") and not op.get_attr("is_bias_const")
                   for op in fused)
        activations = [op.get_attr("fused_ops") for op in fused]
        want = [b"GeluExact"] if hidden_act == "gelu" else (
            [b"GeluApproximate"] if hidden_act == "gelu_new" else [])
        assert sum(ops == [b"BiasAdd", *want, b"Dequantize"] for ops in activations) == \
            (2 if want else 8) * cache  # the intermediate layers carry the activation
        outputs[cache] = fn(ids, mask)
    float32 = _tiny_encoder(hidden_act)(ids, attention_mask=mask).hidden_states
    for a, b in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(b, a, atol=1e-5)
    assert np.abs(outputs[True][-1] - float32[-1]).max() > 0  # int8, not float32


def _fused_layer_norms(fn, *args) -> list:
    """oneDNN LayerNorm ops in `fn`'s graph and its functions (the branches of a cond)."""
    graph = fn.get_concrete_function(*args).graph
    library = graph.as_graph_def().library.function
    return (_ops("_MklLayerNorm", fn, *args)
            + [node for f in library for node in f.node_def if node.op == "_MklLayerNorm"])


@pytest.mark.skipif(not bert.fused_layer_norm_available(), reason="no oneDNN CPU kernels here")
@pytest.mark.parametrize("name", ["float32", "bfloat16", "int8"])
@pytest.mark.parametrize("min_rows", [0, 1 << 30])
def test_fused_layer_norm_computes_what_the_written_out_one_does(name, min_rows, monkeypatch):
    """At inference every LayerNorm (embeddings and two per layer) runs oneDNN's fused
    kernel on inputs of at least FUSED_LAYER_NORM_MIN_ROWS rows, the written-out ops
    on fewer, whatever the precision; both give the written-out ops' outputs."""
    monkeypatch.setattr(bert, "FUSED_LAYER_NORM_MIN_ROWS", min_rows)  # read when traced
    ids = tf.constant(np.random.default_rng(7).integers(1, 99, size=(3, 9)), tf.int32)
    mask = tf.constant(np.arange(9)[None, :] < np.array([[9], [6], [3]]), tf.int32)
    spec = [tf.TensorSpec([None, None], tf.int32)] * 2
    outputs = {}
    for cache in (False, True):
        encoder = _tiny_encoder()
        encoder.set_precision(name, weight_cache=cache)
        fn = _hidden_states_fn(encoder, spec)
        assert len(_fused_layer_norms(fn, *spec)) == (5 if cache else 0)
        outputs[cache] = fn(ids, mask)
    for a, b in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(tf.cast(b, tf.float32), tf.cast(a, tf.float32),
                                   atol=2e-2 if name == "bfloat16" else 1e-4)


def test_weight_cache_is_off_where_unavailable(monkeypatch):
    monkeypatch.setattr(bert, "weight_cache_available", lambda: False)
    monkeypatch.setattr(bert, "fused_int8_available", lambda: False)
    monkeypatch.setattr(bert, "fused_layer_norm_available", lambda: False)
    encoder = _tiny_encoder()
    spec = tf.TensorSpec([None, None], tf.int32)
    for precision in ("float32", "bfloat16", "int8"):
        encoder.set_precision(precision)
        assert not encoder.weight_cache
        fn = tf.function(lambda i: encoder(i).sequence_output, input_signature=[spec])
        assert _cached_matmuls(fn, spec) == [] and _fused_int8_matmuls(fn, spec) == []
        assert _fused_layer_norms(fn, spec) == []


def test_training_never_runs_the_cached_matmul():
    """Training builds the encoder in its compute dtype and never calls set_precision:
    no copies, no cached matmul, gradients reach the float32 kernels."""
    tf.random.set_seed(0)
    encoder = bert.BertEncoder(_tiny_encoder().config, compute_dtype=tf.bfloat16)
    assert not encoder.weight_cache
    spec = tf.TensorSpec([None, None], tf.int32)
    step = tf.function(lambda i: encoder(i, training=True).sequence_output,
                       input_signature=[spec])
    assert _cached_matmuls(step, spec) == [] and _fused_layer_norms(step, spec) == []
    kernel = encoder.layers[1].output.kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(step(tf.constant([[5, 6, 7, 8]])), tf.float32))
    assert tape.gradient(loss, kernel) is not None
