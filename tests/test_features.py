"""Windows, buckets and reassembly: every word labelled exactly once, nothing leaks."""

import numpy as np
import pytest
import tensorflow as tf

from ner import alignment, features

CLS, SEP = 101, 102


def _pieces(*counts, start=1000):
    """Words with the given numbers of wordpieces and distinct ids."""
    words, next_id = [], start
    for n in counts:
        words.append(list(range(next_id, next_id + n)))
        next_id += n
    return words


def _labelled_words(windows, n_sentences):
    seen = [[] for _ in range(n_sentences)]
    for w in windows:
        seen[w.sentence] += list(range(w.first_word, w.first_word + len(w.word_starts)))
    return seen


def test_short_sentence_is_one_window_with_first_pieces():
    words = _pieces(1, 3, 2)
    windows, stats = features.make_windows([words], 16, CLS, SEP, labels=[[0, 1, 2]])
    assert len(windows) == 1
    w = windows[0]
    assert w.input_ids.tolist() == [CLS, 1000, 1001, 1002, 1003, 1004, 1005, SEP]
    assert w.word_starts.tolist() == [1, 2, 5]
    assert w.input_ids[w.word_starts].tolist() == [1000, 1001, 1004]
    assert w.label_ids.tolist() == [0, 1, 2]
    assert stats.windows == 1 and stats.split_sentences == 0 and stats.words_dropped == 0


@pytest.mark.parametrize("max_len", [3, 5, 8, 13])
def test_long_sentence_labels_every_word_exactly_once(max_len):
    rng = np.random.default_rng(max_len)
    words = _pieces(*rng.integers(1, 4, size=40))
    labels = [list(range(40))]
    windows, stats = features.make_windows([words], max_len, CLS, SEP, labels=labels)
    assert _labelled_words(windows, 1) == [list(range(40))]
    assert stats.split_sentences == 1 and stats.words_dropped == 0
    for w in windows:
        assert len(w.input_ids) <= max_len
        assert w.input_ids[0] == CLS and w.input_ids[-1] == SEP
        # The labelled positions are the first pieces of the labelled words.
        expected = [words[w.first_word + k][0] for k in range(len(w.word_starts))]
        assert w.input_ids[w.word_starts].tolist() == expected
        assert w.label_ids.tolist() == list(range(w.first_word, w.first_word + len(w.word_starts)))
        assert CLS not in w.input_ids[1:-1] and SEP not in w.input_ids[1:-1]


def test_split_windows_carry_same_sentence_context():
    words = _pieces(*[1] * 30)
    windows, _ = features.make_windows([words], 12, CLS, SEP)
    middle = [w for w in windows if 0 < w.first_word and w.first_word + len(w.word_starts) < 30]
    assert middle, "expected a window with context on both sides"
    for w in middle:
        assert w.word_starts[0] > 1  # left context before the first labelled word
        assert w.word_starts[-1] < len(w.input_ids) - 2  # right context after the last


def test_word_longer_than_a_window_is_truncated_not_dropped():
    words = _pieces(2, 50, 1)
    windows, stats = features.make_windows([words], 10, CLS, SEP)
    assert _labelled_words(windows, 1) == [[0, 1, 2]]
    assert stats.truncated_words == 1 and stats.words_dropped == 0
    assert all(len(w.input_ids) <= 10 for w in windows)


def test_document_context_uses_only_the_same_document():
    sents = [_pieces(1, 1, start=100), _pieces(1, 1, start=200), _pieces(1, 1, start=300),
             _pieces(1, 1, start=400)]
    windows, _ = features.make_windows(sents, 64, CLS, SEP, documents=[0, 0, 0, 1],
                                       document_context=True)
    ids = [set(w.input_ids.tolist()) for w in windows]
    assert {100, 101, 200, 201, 300, 301} <= ids[1]  # both neighbours of the middle sentence
    assert not ids[2] & {400, 401}  # the next document is not context
    assert ids[3] == {CLS, SEP, 400, 401}
    # Context is never labelled: word_starts point into the centre sentence.
    w = windows[1]
    assert w.input_ids[w.word_starts].tolist() == [200, 201]


def test_document_context_respects_the_window_size():
    sents = [_pieces(*[1] * 20, start=100 * (i + 1)) for i in range(5)]
    windows, _ = features.make_windows(sents, 32, CLS, SEP, documents=[0] * 5, document_context=True)
    assert all(len(w.input_ids) == 32 for w in windows[1:-1])
    assert _labelled_words(windows, 5) == [list(range(20))] * 5


def test_batches_cover_every_window_once_and_bucket_lengths():
    rng = np.random.default_rng(0)
    sents = [_pieces(*rng.integers(1, 3, size=rng.integers(1, 30))) for _ in range(100)]
    windows, _ = features.make_windows(sents, 64, CLS, SEP, labels=[[1] * len(s) for s in sents])
    seen = []
    for b in features.batches(windows, 16, shuffle=True, seed=3, fixed_batch_size=True):
        assert b.input_ids.shape[0] == 16
        assert b.input_ids.shape[1] % features.BUCKET == 0
        assert b.word_starts.shape[1] % features.BUCKET == 0
        real = b.index >= 0
        seen += b.index[real].tolist()
        assert (b.word_lengths[~real] == 0).all() and (b.input_mask[~real] == 0).all()
        for row in np.flatnonzero(real):
            w = windows[b.index[row]]
            assert b.input_mask[row].sum() == len(w.input_ids)
            assert b.label_ids[row, b.word_lengths[row]:].sum() == 0
    assert sorted(seen) == list(range(len(windows)))


def test_default_batches_are_length_sorted_runs_padded_to_their_longest():
    rng = np.random.default_rng(1)
    sents = [_pieces(*rng.integers(1, 3, size=rng.integers(1, 30))) for _ in range(200)]
    windows, _ = features.make_windows(sents, 64, CLS, SEP, labels=[[1] * len(s) for s in sents])
    sizes = np.array([len(w.input_ids) for w in windows])
    seen, padded = [], 0
    for b in features.batches(windows, 16, shuffle=True, seed=3):
        rows = b.index.tolist()
        assert min(rows) >= 0 and len(rows) <= 16  # no empty padding rows
        assert b.input_ids.shape[1] == sizes[rows].max()  # no rounding up
        assert b.word_starts.shape[1] == max(len(windows[i].word_starts) for i in rows)
        seen += rows
        padded += b.input_ids.size
    assert sorted(seen) == list(range(len(windows)))
    assert len(seen) == len(windows)
    # Consecutive runs of the sorted windows: the length ranges of the batches
    # do not overlap, so padding totals at most 16 rows x the overall range.
    assert padded <= sizes.sum() + 16 * (sizes.max() - sizes.min())


def test_shuffle_depends_only_on_the_seed():
    sents = [_pieces(*[1] * n) for n in range(1, 60)]
    windows, _ = features.make_windows(sents, 64, CLS, SEP)
    order = lambda seed: [b.index.tolist() for b in features.batches(windows, 8, shuffle=True, seed=seed)]
    assert order(5) == order(5)
    assert order(5) != order(6)


def _flat_plan(words_per_sentence, max_len):
    """`plan_windows` over sentences of one-piece words."""
    counts = [1] * sum(words_per_sentence)
    offsets = tf.constant(np.concatenate([[0], np.cumsum(counts)]), tf.int64)
    splits = tf.constant(np.concatenate([[0], np.cumsum(words_per_sentence)]), tf.int64)
    return offsets, features.plan_windows(offsets, splits, max_len - 2)


def test_scatter_words_rebuilds_sentences_from_windows():
    offsets, plan = _flat_plan([25, 2], 10)
    flat_pieces = tf.range(1000, 1027, dtype=tf.int32)
    inputs = alignment.window_inputs(flat_pieces, offsets, plan, tf.range(tf.size(plan["first"])),
                                     CLS, SEP, 0)
    words = inputs["words"].flat_values  # [27] in window order
    # Each row's potentials say which word it is.
    pots = tf.repeat(tf.cast(words, tf.float32)[:, None], 3, axis=1)
    out = alignment.scatter_words(words, pots, 27).numpy()
    np.testing.assert_array_equal(out[:, 0], np.arange(27))
    # The first piece of every labelled word, and nothing else, is addressed.
    ids = inputs["input_ids"].numpy()
    picked = np.take_along_axis(ids, inputs["word_starts"].numpy(), 1)
    real = np.arange(picked.shape[1])[None] < inputs["word_lengths"].numpy()[:, None]
    np.testing.assert_array_equal(picked[real], 1000 + words.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="no window or in two"):
        alignment.scatter_words(words[1:], pots[1:], 27)
    with pytest.raises(tf.errors.InvalidArgumentError, match="no window or in two"):
        alignment.scatter_words(tf.concat([words, words[:1]], 0), tf.concat([pots, pots[:1]], 0),
                                27)
