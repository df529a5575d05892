"""Encoder tests: Google names, checkpoint loading, and parity with Hugging Face.

Unit tests use BERT-tester sizes (vocab 99, hidden 32, 4 heads, intermediate
37, 2 layers): mutually distinct, so a transposed axis cannot pass silently.
The parity tests compare every hidden state with the independent reference,
`transformers.BertModel` in PyTorch, on the default weights and real CoNLL
sentences.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from ner import checkpoint
from ner.bert import BertConfig, BertEncoder, skip_random_init
from ner.model import select_trainable

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)

LAYER_0_NAMES = {
    "bert/encoder/layer_0/attention/self/query/kernel": (32, 32),
    "bert/encoder/layer_0/attention/self/query/bias": (32,),
    "bert/encoder/layer_0/attention/self/key/kernel": (32, 32),
    "bert/encoder/layer_0/attention/self/key/bias": (32,),
    "bert/encoder/layer_0/attention/self/value/kernel": (32, 32),
    "bert/encoder/layer_0/attention/self/value/bias": (32,),
    "bert/encoder/layer_0/attention/output/dense/kernel": (32, 32),
    "bert/encoder/layer_0/attention/output/dense/bias": (32,),
    "bert/encoder/layer_0/attention/output/LayerNorm/gamma": (32,),
    "bert/encoder/layer_0/attention/output/LayerNorm/beta": (32,),
    "bert/encoder/layer_0/intermediate/dense/kernel": (32, 37),
    "bert/encoder/layer_0/intermediate/dense/bias": (37,),
    "bert/encoder/layer_0/output/dense/kernel": (37, 32),
    "bert/encoder/layer_0/output/dense/bias": (32,),
    "bert/encoder/layer_0/output/LayerNorm/gamma": (32,),
    "bert/encoder/layer_0/output/LayerNorm/beta": (32,),
}
EMBEDDING_NAMES = {
    "bert/embeddings/word_embeddings": (99, 32),
    "bert/embeddings/token_type_embeddings": (2, 32),
    "bert/embeddings/position_embeddings": (64, 32),
    "bert/embeddings/LayerNorm/gamma": (32,),
    "bert/embeddings/LayerNorm/beta": (32,),
}


def _tiny_encoder(**overrides):
    tf.random.set_seed(0)
    return BertEncoder(BertConfig(**dict(TINY, **overrides)))


def _random_batch(rng, batch=13, seq=7, vocab=99):
    ids = rng.integers(1, vocab, size=(batch, seq))
    lengths = rng.integers(1, seq + 1, size=batch)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    return ids * mask, mask


def test_variables_carry_google_names():
    names = {n: tuple(v.shape) for n, v in _tiny_encoder().variables_by_name().items()}
    expected = dict(EMBEDDING_NAMES, **LAYER_0_NAMES,
                    **{k.replace("layer_0", "layer_1"): s for k, s in LAYER_0_NAMES.items()})
    assert names == expected


def test_skip_random_init_builds_zero_weights_only_inside_it():
    with skip_random_init():
        skipped = BertEncoder(BertConfig(**TINY))
    drawn = _tiny_encoder()
    kernels = [n for n in skipped.variables_by_name() if n.endswith(("kernel", "embeddings"))]
    assert len(kernels) == 15  # 3 tables, 6 dense layers in each of 2 blocks
    for name in kernels:
        assert not np.any(skipped.variables_by_name()[name].numpy()), name
        assert np.std(drawn.variables_by_name()[name].numpy()) > 0.01, name
    # LayerNorm scales are ones either way: nothing random to skip.
    np.testing.assert_array_equal(skipped.embedding_norm.gamma, np.ones(32))


def test_freeze_regex_selects_layers_by_name():
    encoder = _tiny_encoder()
    _, frozen_vars = select_trainable(encoder.trainable_variables,
                                      r"bert/embeddings/|bert/encoder/layer_0/")
    frozen = [v.name for v in frozen_vars]
    assert len(frozen) == len(EMBEDDING_NAMES) + len(LAYER_0_NAMES)
    assert not any("layer_1" in n for n in frozen)


@pytest.mark.parametrize("key, name", [
    ("embeddings.word_embeddings.weight", "bert/embeddings/word_embeddings"),
    ("bert.embeddings.position_embeddings.weight", "bert/embeddings/position_embeddings"),
    ("embeddings.LayerNorm.weight", "bert/embeddings/LayerNorm/gamma"),
    ("embeddings.LayerNorm.bias", "bert/embeddings/LayerNorm/beta"),
    ("encoder.layer.11.attention.self.value.weight",
     "bert/encoder/layer_11/attention/self/value/kernel"),
    ("encoder.layer.0.attention.output.LayerNorm.bias",
     "bert/encoder/layer_0/attention/output/LayerNorm/beta"),
    ("bert.encoder.layer.2.intermediate.dense.bias", "bert/encoder/layer_2/intermediate/dense/bias"),
    ("encoder.layer.5.output.dense.weight", "bert/encoder/layer_5/output/dense/kernel"),
    ("pooler.dense.weight", "bert/pooler/dense/kernel"),
    ("cls.predictions.bias", "cls/predictions/bias"),
    ("cls.predictions.transform.LayerNorm.weight", "cls/predictions/transform/LayerNorm/gamma"),
    ("cls.seq_relationship.weight", "cls/seq_relationship/kernel"),
])
def test_hf_to_google_name(key, name):
    assert checkpoint.hf_to_google_name(key) == name


def test_config_round_trips_through_json(tmp_path):
    config = BertConfig(**TINY, hidden_act="gelu_new", layer_norm_eps=1e-6)
    config.to_json_file(tmp_path / "config.json")
    assert BertConfig.from_json_file(tmp_path / "config.json") == config


def test_google_config_gelu_means_tanh_approximation(tmp_path):
    values = dict(TINY, hidden_act="gelu")
    (tmp_path / "bert_config.json").write_text(json.dumps(values))
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert BertConfig.from_json_file(tmp_path / "bert_config.json").hidden_act == "gelu_new"
    assert BertConfig.from_json_file(tmp_path / "config.json").hidden_act == "gelu"


def test_config_errors_name_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 32,\n "vocab_size": }')
    with pytest.raises(ValueError, match=r"config.json:2: not valid JSON"):
        BertConfig.from_json_file(path)
    # Not an object, or not UTF-8: named too (the first was an AttributeError).
    path.write_text("[32, 2]")
    with pytest.raises(ValueError, match=r"config.json: expected a JSON object, got an array"):
        BertConfig.from_json_file(path)
    path.write_bytes(b'{"hidden_size": 32,\n "model_type": "b\xe9rt"}')
    with pytest.raises(ValueError, match=r"config.json:2: not UTF-8 text"):
        BertConfig.from_json_file(path)
    # A byte-order mark, as some editors write, is not an error.
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(TINY).encode())
    assert BertConfig.from_json_file(path).hidden_size == TINY["hidden_size"]
    path.write_text(json.dumps(dict(TINY, position_embedding_type="relative_key")))
    with pytest.raises(ValueError, match="config.json: position_embedding_type"):
        BertConfig.from_json_file(path)
    path.write_text(json.dumps(dict(TINY, model_type="roberta")))
    with pytest.raises(ValueError, match="config.json: model_type='roberta': not a BERT"):
        BertConfig.from_json_file(path)
    for field, value in (("hidden_size", "32"), ("num_hidden_layers", 0),
                         ("vocab_size", 99.5), ("hidden_dropout_prob", "0.1")):
        path.write_text(json.dumps(dict(TINY, **{field: value})))
        with pytest.raises(ValueError, match=rf"config.json: {field}={value!r}: expected"):
            BertConfig.from_json_file(path)


def test_output_shapes_for_several_lengths():
    encoder = _tiny_encoder()
    rng = np.random.default_rng(0)
    for seq in (1, 2, 7, 64):
        ids, mask = _random_batch(rng, seq=seq)
        out = encoder(ids, attention_mask=mask)
        assert out.sequence_output.shape == (13, seq, 32)
        assert len(out["hidden_states"]) == 3
        assert all(h.shape == (13, seq, 32) for h in out.hidden_states)
        np.testing.assert_array_equal(out.sequence_output, out.hidden_states[-1])


def test_padding_does_not_change_real_positions():
    encoder = _tiny_encoder()
    rng = np.random.default_rng(1)
    ids, mask = _random_batch(rng, seq=7)
    segments = rng.integers(0, 2, size=ids.shape) * mask
    base = encoder(ids, attention_mask=mask, token_type_ids=segments).hidden_states
    pad = lambda a: np.pad(a, [(0, 0), (0, 9)])
    padded = encoder(pad(ids), attention_mask=pad(mask), token_type_ids=pad(segments)).hidden_states
    real = mask.astype(bool)
    for a, b in zip(base, padded):
        np.testing.assert_allclose(np.asarray(a)[real], np.asarray(b)[:, :7][real], atol=1e-5)


PACKED_GRID = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]


@pytest.mark.parametrize("precision, atol", [("float32", 1e-5), ("bfloat16", 0.0),
                                             ("int8", 0.05)])
def test_packed_rows_give_the_padded_values_at_real_positions(precision, atol):
    """Inference on real wordpieces only: the same outputs, zeros at padding.

    In bfloat16 the dense layers round alike row by row, so the values are
    identical; int8 takes its activation range without the padding rows.
    """
    encoder = _tiny_encoder()
    encoder.set_precision(precision)
    rng = np.random.default_rng(5)
    ids, mask = _random_batch(rng, seq=9)  # 13 rows of 1-9 real pieces, 35 cells of padding
    spec = tf.TensorSpec([None, None], tf.int32)
    states = lambda **kw: tf.function(
        lambda i, m: [tf.cast(h, tf.float32) for h in encoder(i, attention_mask=m, **kw).hidden_states],
        input_signature=[spec, spec])(ids.astype(np.int32), mask)
    padded, packed = states(), states(packed_rows=PACKED_GRID)
    real = mask.astype(bool)
    assert (~real).sum() > 0
    assert len(packed) == 3
    for a, b in zip(padded, packed):
        np.testing.assert_allclose(np.asarray(b)[real], np.asarray(a)[real], atol=atol)
        np.testing.assert_array_equal(np.asarray(b)[~real], 0.0)
    assert np.abs(np.asarray(padded[-1])[~real]).max() > 0  # the padding rows did differ


def test_packed_rows_round_up_to_the_grid_and_copy_a_real_row():
    from ner.bert import _Packing

    mask = tf.constant([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]])  # 6 real of 12 cells
    packing = _Packing(mask, [1, 2, 4, 8, 16])
    assert packing.rows.numpy().tolist() == [0, 1, 2, 4, 5, 8, 8, 8]
    assert _Packing(mask, [1, 2, 4]).rows.numpy().tolist() == [0, 1, 2, 4, 5, 8]  # beyond the grid: N
    bools = _Packing(tf.cast(mask, tf.bool), [1, 2, 4, 8, 16])  # the encoder takes either
    assert bools.rows.numpy().tolist() == packing.rows.numpy().tolist()
    x = tf.reshape(tf.range(24, dtype=tf.float32), [3, 4, 2])
    np.testing.assert_array_equal(packing.unpack(packing.pack(x)),
                                  x * tf.cast(mask, tf.float32)[:, :, tf.newaxis])
    empty = _Packing(tf.zeros([0, 5], tf.int32), [1, 2, 4])
    assert empty.rows.shape == (0,)
    assert empty.unpack(tf.zeros([0, 3])).shape == (0, 5, 3)


@pytest.mark.parametrize("precision, atol", [("float32", 1e-5), ("bfloat16", 0.05),
                                             ("int8", 0.05)])
def test_inference_multiplies_query_key_value_side_by_side(precision, atol):
    """`set_precision` adds one [H, 3H] layer per block: same outputs, never saved."""
    encoder = _tiny_encoder()
    ids, mask = _random_batch(np.random.default_rng(7))
    names = set(encoder.variables_by_name())
    encoder.set_precision("int8")
    encoder.set_precision(precision)  # drops the int8 layers' state
    assert encoder.precision == precision
    assert all(layer.qkv is not None for layer in encoder.layers)
    assert encoder.layers[0].qkv.kernel.shape == (32, 96)
    assert set(encoder.variables_by_name()) == names  # a model folder holds no copies
    assert not any("fused" in v.name for v in encoder.trainable_variables)
    for layer in encoder.layers:  # inference reads qkv only: no copies of the three
        assert layer.qkv.use_int8 == (precision == "int8")
        assert (layer.qkv.low is not None) == (precision == "bfloat16")
        for dense in (layer.query, layer.key, layer.value):
            assert dense.int8 is None and dense.low is None and not dense.use_int8
    run = tf.function(lambda i, m: encoder(i, attention_mask=m).sequence_output)
    fused = run(ids, mask)
    encoder.query_key_value_apart()  # the three apart, in the same precision
    assert encoder.precision == precision
    for layer in encoder.layers:
        assert layer.qkv is None
        for dense in (layer.query, layer.key, layer.value):
            assert dense.use_int8 == (precision == "int8")
            assert (dense.low is not None) == (precision == "bfloat16")
    separate = tf.function(lambda i, m: encoder(i, attention_mask=m).sequence_output)(ids, mask)
    np.testing.assert_allclose(fused, separate, atol=atol)


def test_packed_rows_are_for_inference_only():
    encoder = _tiny_encoder()
    ids, mask = _random_batch(np.random.default_rng(6))
    with pytest.raises(ValueError, match="inference only"):
        encoder(ids, attention_mask=mask, training=True, packed_rows=PACKED_GRID)
    with pytest.raises(ValueError, match="word_starts and attention_groups need packed_rows"):
        encoder(ids, attention_mask=mask, word_starts=np.zeros([13, 1], np.int32),
                word_lengths=np.ones([13], np.int32))
    with pytest.raises(ValueError, match="word_starts and attention_groups need packed_rows"):
        encoder(ids, attention_mask=mask, attention_groups=[2, 4])


def _words_of(mask, rng):
    """Random first pieces of 0..n words per row, in order, inside the real pieces."""
    real = mask.sum(1)
    count = rng.integers(0, real + 1)
    width = int(count.max()) + 2  # two more columns of padding words
    starts = np.zeros([len(mask), width], np.int32)
    for row, (n, k) in enumerate(zip(real, count)):
        starts[row, :k] = np.sort(rng.choice(n, size=k, replace=False))
        starts[row, k:] = rng.integers(0, mask.shape[1], size=width - k)  # read nowhere
    return starts, count.astype(np.int32)


@pytest.mark.parametrize("precision, atol", [("float32", 1e-5), ("bfloat16", 0.0),
                                             ("int8", 0.05)])
def test_word_outputs_are_the_full_outputs_at_the_words(precision, atol):
    """With `word_starts` every output is at the words, as the full computation gives it
    there, and 0 beyond a row's words."""
    encoder = _tiny_encoder()
    encoder.set_precision(precision)
    rng = np.random.default_rng(8)
    ids, mask = _random_batch(rng, seq=9)
    starts, lengths = _words_of(mask, rng)
    assert lengths.min() == 0 and (lengths < mask.sum(1)).any()  # rows without words, unlabelled pieces
    matrix = tf.TensorSpec([None, None], tf.int32)
    full = tf.function(lambda i, m: [tf.cast(h, tf.float32) for h in encoder(
        i, attention_mask=m, packed_rows=PACKED_GRID).hidden_states],
        input_signature=[matrix, matrix])(ids.astype(np.int32), mask)
    words = tf.function(lambda i, m, s, n: [tf.cast(h, tf.float32) for h in encoder(
        i, attention_mask=m, packed_rows=PACKED_GRID, word_starts=s, word_lengths=n).hidden_states],
        input_signature=[matrix, matrix, matrix, tf.TensorSpec([None], tf.int32)])(
        ids.astype(np.int32), mask, starts, lengths)
    labelled = np.arange(starts.shape[1])[None, :] < lengths[:, None]
    assert len(words) == len(full) == 3
    for a, b in zip(full, words):
        assert b.shape == (13, starts.shape[1], 32)
        at_words = np.take_along_axis(np.asarray(a), starts[:, :, None], axis=1)
        np.testing.assert_allclose(np.asarray(b)[labelled], at_words[labelled], atol=atol)
        np.testing.assert_array_equal(np.asarray(b)[~labelled], 0.0)


def _mixed_batch(rng, seq=20):
    """Rows of 0..seq real pieces (two rows of none), shuffled: every attention group met."""
    lengths = rng.permutation(np.concatenate([[0, 0], np.arange(1, seq + 1), [seq, 3, 1]]))
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    return rng.integers(1, 99, size=mask.shape) * mask, mask


GROUPS = [2, 4, 8, 12]  # five groups: 1-2, 3-4, 5-8, 9-12 and 13-20 real pieces


@pytest.mark.parametrize("precision, atol", [("float32", 1e-5), ("bfloat16", 0.0),
                                             ("int8", 0.05)])
@pytest.mark.parametrize("at_words", [False, True])
def test_attention_in_groups_gives_the_padded_values(precision, atol, at_words):
    """Attention in groups of rows by length: every output as padded attention gives it."""
    encoder = _tiny_encoder()
    encoder.set_precision(precision)
    rng = np.random.default_rng(10)
    ids, mask = _mixed_batch(rng)
    starts, lengths = _words_of(mask, rng)
    matrix = tf.TensorSpec([None, None], tf.int32)
    words = dict(word_starts=starts, word_lengths=lengths) if at_words else {}
    states = lambda **kw: tf.function(
        lambda i, m: [tf.cast(h, tf.float32) for h in encoder(
            i, attention_mask=m, packed_rows=PACKED_GRID, **words, **kw).hidden_states],
        input_signature=[matrix, matrix])(ids.astype(np.int32), mask)
    padded, grouped = states(), states(attention_groups=GROUPS)
    real = mask.astype(bool)
    if at_words:
        real = np.arange(starts.shape[1])[None, :] < lengths[:, None]
    assert len(grouped) == 3
    for a, b in zip(padded, grouped):
        np.testing.assert_allclose(np.asarray(b)[real], np.asarray(a)[real], atol=atol)
        np.testing.assert_array_equal(np.asarray(b)[~real], 0.0)


def test_attention_groups_hold_each_row_once_padded_to_their_own_length():
    from ner.bert import _GROUP_LENGTHS, _GROUP_ROWS, _Groups, _Packing, _Words

    rng = np.random.default_rng(11)
    _, mask = _mixed_batch(rng)
    starts, word_lengths = _words_of(mask, rng)
    heads = 4
    packing = _Packing(mask, PACKED_GRID)
    words = _Words(packing, tf.constant(starts), tf.constant(word_lengths), PACKED_GRID)
    groups = _Groups(packing, mask, GROUPS, heads, words)
    lengths = mask.sum(1)
    slots = np.asarray(packing.slots).reshape(mask.shape)
    assert len(groups.groups) == len(GROUPS) + 1
    # A group's heads are rows of the packed query-key-value rows read as
    # [M * 3 * N, D]: head n of part p of packed row r is row (3r + p)N + n.
    slot_of = lambda at: np.asarray(at) // (3 * heads)
    part_of = lambda at: np.asarray(at) // heads % 3
    head_of = lambda at: np.asarray(at) % heads
    seen = []
    for low, high, group in zip([0] + GROUPS, GROUPS + [20], groups.groups):
        rows = [r for r in range(len(mask)) if low < lengths[r] <= high]
        qkv = np.asarray(group["qkv"])  # [3, m, N, L]
        m, width = qkv.shape[1], qkv.shape[3]
        assert qkv.shape[:3] == (3, m, heads)
        assert width == max(lengths[rows])  # the grid holds every length up to 16; 20 is S
        assert m == next(g for g in _GROUP_ROWS if g >= len(rows))
        assert group["bias"].shape == (m, 1, 1, width)
        for p in range(3):
            assert (part_of(qkv[p]) == p).all()
            assert (head_of(qkv[p]) == np.arange(heads)[:, None]).all()
            assert (slot_of(qkv[p]) == slot_of(qkv[0])[:, :1]).all()  # one row per head
        cells = slot_of(qkv[0, :, 0])  # [m, L]
        # Each of the group's rows once, the rest copies of its last.
        found = [r for r in rows if any((cells[:, :lengths[r]] == slots[r, :lengths[r]]).all(1))]
        assert found == rows
        seen += rows
        # The last block's queries: the words' first pieces, as many columns
        # as the most words of a row of the group (on the length grid).
        queries = np.asarray(group["queries"])  # [m, N, w]
        most = max(word_lengths[rows])
        assert queries.shape == (m, heads, next(g for g in _GROUP_LENGTHS if g >= max(most, 1)))
        assert (part_of(queries) == 0).all() and (head_of(queries) == np.arange(heads)[:, None]).all()
        for r in rows:
            i = next(i for i in range(m) if (cells[i, :lengths[r]] == slots[r, :lengths[r]]).all())
            np.testing.assert_array_equal(slot_of(queries[i, 0, :word_lengths[r]]),
                                          slots[r, starts[r, :word_lengths[r]]])
    assert sorted(seen) == [r for r in range(len(mask)) if lengths[r] > 0]
    # Gathering every packed row's heads back from the groups' contexts ([m,
    # N, L] rows of D each, concatenated) puts each cell and head in place.
    slot = np.concatenate([slot_of(g["qkv"][0]).reshape(-1) for g in groups.groups])
    head = np.concatenate([head_of(g["qkv"][0]).reshape(-1) for g in groups.groups])
    index = np.asarray(groups.index)  # [M, N]
    real = np.asarray(packing.rows)
    np.testing.assert_array_equal(slot[index], np.repeat(slots.reshape(-1)[real][:, None], heads, 1))
    np.testing.assert_array_equal(head[index], np.broadcast_to(np.arange(heads), index.shape))
    slot = np.concatenate([slot_of(g["queries"]).reshape(-1) for g in groups.groups])
    head = np.concatenate([head_of(g["queries"]).reshape(-1) for g in groups.groups])
    word_index = np.asarray(groups.word_index)  # [M', N]
    first = np.asarray(words.sources)  # [M'] each word's first piece's packed row
    np.testing.assert_array_equal(slot[word_index], np.repeat(first[:, None], heads, 1))
    np.testing.assert_array_equal(head[word_index], np.broadcast_to(np.arange(heads), word_index.shape))


def test_the_last_block_computes_the_words_rows_only():
    """Its attention output and feed-forward layers see one row per word (rounded up to
    the grid), the blocks below one per real wordpiece."""
    encoder = _tiny_encoder()
    encoder.set_precision("float32")
    rng = np.random.default_rng(9)
    ids, mask = _random_batch(rng, seq=9)
    starts, lengths = _words_of(mask, rng)
    seen = {}

    def recording(dense, key):
        def call(x, *args, **kwargs):
            seen[key] = x.shape[0]
            return dense(x, *args, **kwargs)
        return call

    for index, layer in enumerate(encoder.layers):
        for part in ("attention_output", "intermediate"):
            setattr(layer, part, recording(getattr(layer, part), (index, part)))
    encoder(ids, attention_mask=mask, packed_rows=PACKED_GRID, word_starts=starts,
            word_lengths=lengths)
    grid_ceil = lambda n: next(g for g in PACKED_GRID if g >= n)
    assert seen[(0, "attention_output")] == seen[(0, "intermediate")] == grid_ceil(mask.sum())
    assert seen[(1, "attention_output")] == seen[(1, "intermediate")] == grid_ceil(lengths.sum())
    assert lengths.sum() < mask.sum()


def test_dropout_only_in_training():
    encoder = _tiny_encoder()
    ids, mask = _random_batch(np.random.default_rng(2))
    a = encoder(ids, attention_mask=mask).sequence_output
    b = encoder(ids, attention_mask=mask).sequence_output
    c = encoder(ids, attention_mask=mask, training=True).sequence_output
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(c)).max() > 1e-3


def test_bfloat16_compute_stays_close_to_float32():
    encoder = _tiny_encoder()
    ids, mask = _random_batch(np.random.default_rng(3))
    full = encoder(ids, attention_mask=mask).sequence_output
    encoder.compute_dtype = tf.bfloat16
    half = encoder(ids, attention_mask=mask).sequence_output
    assert half.dtype == tf.bfloat16
    assert all(v.dtype == tf.float32 for v in encoder.variables)
    # LayerNorm output has unit variance; bf16 keeps ~3 significant digits.
    np.testing.assert_allclose(np.asarray(tf.cast(half, tf.float32)), full, atol=0.1)


def test_works_in_tf_function_with_unknown_shapes():
    encoder = _tiny_encoder()
    spec = tf.TensorSpec([None, None], tf.int32)
    fn = tf.function(lambda i, m: encoder(i, attention_mask=m).sequence_output,
                     input_signature=[spec, spec])
    rng = np.random.default_rng(4)
    for seq in (3, 8):
        ids, mask = _random_batch(rng, seq=seq)
        np.testing.assert_allclose(fn(ids.astype(np.int32), mask),
                                   encoder(ids, attention_mask=mask).sequence_output, atol=1e-5)


def test_empty_batch_keeps_its_shape_under_tf_function():
    """A replica of a mirrored step can receive zero rows of a short batch."""
    encoder = _tiny_encoder()
    spec = tf.TensorSpec([None, None], tf.int32)
    fn = tf.function(lambda i, m: encoder(i, attention_mask=m).sequence_output,
                     input_signature=[spec, spec])
    empty = np.zeros((0, 5), np.int32)
    assert fn(empty, empty).shape == (0, 5, TINY["hidden_size"])


def _write_tf1_checkpoint(folder, weights, config_values, vocab_size):
    """Writes a Google-style release folder with `tf.compat.v1` variables and a Saver."""
    folder.mkdir(exist_ok=True)
    with tf.Graph().as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=value)
                     for name, value in weights.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "bert_model.ckpt"), write_meta_graph=False)
    (folder / "bert_config.json").write_text(json.dumps(config_values))
    (folder / "vocab.txt").write_text("\n".join(f"[unused{i}]" for i in range(vocab_size)) + "\n")


def test_google_checkpoint_maps_one_to_one(tmp_path):
    source = _tiny_encoder()
    rng = np.random.default_rng(5)
    weights = {n: rng.normal(0, 0.5, v.shape).astype(np.float32)
               for n, v in source.variables_by_name().items()}
    # A real release also holds the pooler, pre-training heads and Adam slots;
    # a model fine-tuned for token classification, its classifier.
    extra = {"bert/pooler/dense/kernel": np.ones((32, 32), np.float32),
             "bert/classifier/kernel": np.ones((32, 9), np.float32),
             "cls/predictions/output_bias": np.ones((99,), np.float32),
             "bert/encoder/layer_0/output/dense/kernel/adam_m": np.ones((37, 32), np.float32)}
    _write_tf1_checkpoint(tmp_path / "google", dict(weights, **extra), dict(TINY), 99)

    loaded = BertEncoder.from_pretrained(tmp_path / "google")
    got = loaded.variables_by_name()
    assert sorted(got) == sorted(weights)
    for name, value in weights.items():
        np.testing.assert_array_equal(got[name].numpy(), value, err_msg=name)
    # Named as a pretraining run names it (BioBERT's release: model.ckpt-1000000).
    for path in (tmp_path / "google").glob("bert_model.ckpt*"):
        path.rename(path.with_name(path.name.replace("bert_model.ckpt", "model.ckpt-1000000")))
    again = BertEncoder.from_pretrained(tmp_path / "google").variables_by_name()
    for name, value in weights.items():
        np.testing.assert_array_equal(again[name].numpy(), value, err_msg=name)


def test_checkpoint_mismatch_names_both_sides(tmp_path):
    weights = {n: v.numpy() for n, v in _tiny_encoder().variables_by_name().items()}
    del weights["bert/encoder/layer_1/output/dense/bias"]
    weights["bert/encoder/layer_9/output/dense/bias"] = np.zeros(32, np.float32)
    _write_tf1_checkpoint(tmp_path / "google", weights, dict(TINY), 99)
    with pytest.raises(ValueError) as info:
        BertEncoder.from_pretrained(tmp_path / "google")
    message = str(info.value)
    assert "variables with no weight in the checkpoint: ['bert/encoder/layer_1/output/dense/bias']" in message
    assert "checkpoint weights with no variable: ['bert/encoder/layer_9/output/dense/bias']" in message


def test_shape_mismatch_is_an_error(tmp_path):
    weights = {n: v.numpy() for n, v in _tiny_encoder().variables_by_name().items()}
    weights["bert/embeddings/word_embeddings"] = np.zeros((98, 32), np.float32)
    _write_tf1_checkpoint(tmp_path / "google", weights, dict(TINY), 99)
    with pytest.raises(ValueError, match=r"word_embeddings has shape \(98, 32\) in the checkpoint"):
        BertEncoder.from_pretrained(tmp_path / "google")


def test_not_a_bert_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match="not a BERT folder.*notes.txt"):
        BertEncoder.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such BERT folder"):
        BertEncoder.from_pretrained(tmp_path / "missing")


# --- Parity with the reference on the default weights ------------------------

@pytest.fixture(scope="module")
def default_dir():
    return checkpoint.default_encoder_dir()


@pytest.fixture(scope="module")
def default_encoder():
    return BertEncoder.from_pretrained()


@pytest.fixture(scope="module")
def conll_batch(conll_dir, default_dir):
    """64 real CoNLL-2003 dev sentences as reference wordpiece ids, padded."""
    transformers = pytest.importorskip("transformers")
    from ner import data

    sents = data.sentences(data.read_conll(conll_dir / "dev.txt"))
    picked = [s.tokens for s in sents if len(s.tokens) > 2][:64]
    tok = transformers.BertTokenizer(str(default_dir / "vocab.txt"), do_lower_case=True)
    enc = tok([" ".join(t) for t in picked], padding=True, return_tensors="np")
    assert enc["input_ids"].shape[0] == 64
    return enc["input_ids"].astype(np.int32), enc["attention_mask"].astype(np.int32)


def test_hidden_states_match_transformers(default_dir, default_encoder, conll_batch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ids, mask = conll_batch
    reference = transformers.BertModel.from_pretrained(str(default_dir), add_pooling_layer=False)
    reference.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(ids.astype(np.int64)),
                             attention_mask=torch.from_numpy(mask.astype(np.int64)),
                             output_hidden_states=True).hidden_states
    got = default_encoder(ids, attention_mask=mask).hidden_states
    assert len(got) == len(expected) == 7
    real = mask.astype(bool)
    for layer, (a, b) in enumerate(zip(got, expected)):
        diff = np.abs(np.asarray(a)[real] - b.numpy()[real]).max()
        assert diff < 1e-4, f"hidden state {layer}: max abs diff {diff}"


def test_a_hugging_face_folder_with_pretraining_heads_loads_its_encoder(tmp_path):
    """BertForMaskedLM / BertForPreTraining folders (the hub's usual bert-base-*) hold
    "cls.predictions.*" and "cls.seq_relationship.*" beside the encoder."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37)
    reference = transformers.BertForPreTraining(config).eval()
    reference.save_pretrained(tmp_path, safe_serialization=True)
    (tmp_path / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(99)))
    encoder = BertEncoder.from_pretrained(tmp_path)
    ids = np.array([[2, 17, 45, 98, 3]], np.int32)
    with torch.no_grad():
        want = reference.bert(torch.from_numpy(ids.astype(np.int64))).last_hidden_state.numpy()
    got = np.asarray(encoder(ids, attention_mask=np.ones_like(ids)).sequence_output)
    assert np.abs(got - want).max() < 1e-4


def test_google_round_trip_of_default_weights(tmp_path, default_dir, default_encoder, conll_batch):
    """Default weights written as a TF1 release load back to the same outputs."""
    config = json.loads((default_dir / "config.json").read_text())
    weights = {n: v.numpy() for n, v in default_encoder.variables_by_name().items()}
    _write_tf1_checkpoint(tmp_path / "google", weights, config, config["vocab_size"])
    google = BertEncoder.from_pretrained(tmp_path / "google")
    # Google's "gelu" is the tanh approximation; build the same from the HF folder.
    assert google.config.hidden_act == "gelu_new"
    hf_tanh = BertEncoder(BertConfig.from_dict(dict(config, hidden_act="gelu_new")))
    for name, var in hf_tanh.variables_by_name().items():
        var.assign(weights[name])
    ids, mask = conll_batch
    real = mask.astype(bool)
    a = np.asarray(google(ids, attention_mask=mask).sequence_output)[real]
    b = np.asarray(hf_tanh(ids, attention_mask=mask).sequence_output)[real]
    np.testing.assert_array_equal(a, b)
    # And the activation really follows the config: erf differs, slightly.
    erf = np.asarray(default_encoder(ids, attention_mask=mask).sequence_output)[real]
    assert 0 < np.abs(a - erf).max() < 0.05
