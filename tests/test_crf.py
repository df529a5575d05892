"""Tests for ner/crf.py against an independent brute-force oracle.

The oracle (`score`, `enumerate_paths`) is plain Python over float64 numpy
arrays and shares no code with ner/crf.py: every tag sequence is enumerated
with itertools.product (K = 5 tags, up to 4 words, so at most 625 paths per
sentence) and log Z, likelihoods, the best path, marginals, span
probabilities and gradients are computed from the explicit list.
"""

import doctest
import itertools
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from ner import crf

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
K = len(LABELS)
W = 4
# Ragged on purpose: full, shorter, empty, single word, and another full row.
LENGTHS = np.array([4, 3, 0, 1, 2, 4], dtype=np.int32)
B = len(LENGTHS)


# --------------------------------------------------------------------------
# Independent oracle
# --------------------------------------------------------------------------


def score(potentials, path, transitions, start, end):
    """Score of one path; potentials [L, K], transitions[i][j] = i -> j."""
    if not path:
        return 0.0
    total = float(start[path[0]]) + float(end[path[-1]])
    for t, tag in enumerate(path):
        total += float(potentials[t][tag])
    for prev, cur in zip(path, path[1:]):
        total += float(transitions[prev][cur])
    return total


def is_valid_iob2(path):
    """Hand-written IOB2 rule over LABELS: I-X only after B-X or I-X."""
    names = [LABELS[tag] for tag in path]
    for t, name in enumerate(names):
        if name.startswith("I-"):
            if t == 0 or names[t - 1] not in ("B-" + name[2:], name):
                return False
    return True


def enumerate_paths(potentials, length, transitions, start, end, constrained):
    """[(path, score)] over all (or only IOB2-valid) paths of `length`."""
    out = []
    for path in itertools.product(range(K), repeat=length):
        if constrained and not is_valid_iob2(path):
            continue
        out.append((path, score(potentials[:length], path, transitions, start, end)))
    return out


def log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def brute_force(potentials, lengths, transitions, start, end, constrained=False):
    """Per row: log Z, best path, best score, marginals [W, K], path list."""
    rows = []
    for b, length in enumerate(lengths):
        paths = enumerate_paths(potentials[b], length, transitions, start, end, constrained)
        log_z = log_sum_exp([s for _, s in paths])
        best_path, best_score = max(paths, key=lambda item: item[1])
        marginals = np.zeros((potentials.shape[1], K))
        for path, s in paths:
            for t, tag in enumerate(path):
                marginals[t, tag] += math.exp(s - log_z)
        rows.append(dict(log_z=log_z, best_path=best_path, best_score=best_score,
                         marginals=marginals, paths=paths))
    return rows


def make_params(seed):
    rng = np.random.default_rng(seed)
    potentials = rng.normal(scale=2.0, size=(B, W, K))
    transitions = rng.normal(size=(K, K))
    start = rng.normal(size=K)
    end = rng.normal(size=K)
    return potentials, transitions, start, end


def make_crf(transitions, start, end, constrained):
    masks = crf.allowed_transitions(LABELS, "IOB2") if constrained else (None,) * 3
    module = crf.CRF(K, *masks)
    module.transitions.assign(transitions.astype(np.float32))
    module.start_transitions.assign(start.astype(np.float32))
    module.end_transitions.assign(end.astype(np.float32))
    return module


def gold_tags(rows, seed):
    """One random (valid, if constrained) path per row, padded with -1."""
    rng = np.random.default_rng(seed)
    tags = np.full((B, W), -1, dtype=np.int32)
    for b, row in enumerate(rows):
        path = row["paths"][rng.integers(len(row["paths"]))][0]
        tags[b, : len(path)] = path
    return tags


# --------------------------------------------------------------------------
# Oracle comparisons, with and without IOB2 constraints
# --------------------------------------------------------------------------


@pytest.mark.parametrize("constrained", [False, True])
def test_log_norm_likelihood_viterbi_and_marginals_match_brute_force(constrained):
    potentials, transitions, start, end = make_params(seed=1)
    rows = brute_force(potentials, LENGTHS, transitions, start, end, constrained)
    module = make_crf(transitions, start, end, constrained)
    pot32 = tf.constant(potentials, tf.float32)
    tags = gold_tags(rows, seed=2)

    log_z = crf.crf_log_norm(pot32, LENGTHS, *module.constrained_parameters())
    np.testing.assert_allclose(log_z, [r["log_z"] for r in rows], rtol=1e-5, atol=1e-4)

    expected_ll = [
        score(potentials[b], tuple(tags[b, :n]), transitions, start, end) - rows[b]["log_z"]
        for b, n in enumerate(LENGTHS)
    ]
    np.testing.assert_allclose(
        module.log_likelihood(pot32, tags, LENGTHS), expected_ll, rtol=1e-5, atol=1e-4
    )

    decoded, best = module.decode(pot32, LENGTHS)
    assert decoded.dtype == tf.int32 and decoded.shape == (B, W)
    for b, n in enumerate(LENGTHS):
        assert tuple(decoded[b, :n].numpy()) == rows[b]["best_path"]
        assert not decoded[b, n:].numpy().any()
        if constrained:
            assert is_valid_iob2(tuple(decoded[b, :n].numpy()))
    np.testing.assert_allclose(best, [r["best_score"] for r in rows], rtol=1e-5, atol=1e-4)

    marginals = module.marginals(pot32, LENGTHS)
    assert marginals.shape == (B, W, K)
    np.testing.assert_allclose(
        marginals, np.stack([r["marginals"] for r in rows]), atol=1e-5
    )


def test_sequence_score_matches_oracle_and_ignores_padding():
    potentials, transitions, start, end = make_params(seed=3)
    rng = np.random.default_rng(4)
    tags = rng.integers(0, K, size=(B, W)).astype(np.int32)
    expected = [
        score(potentials[b], tuple(tags[b, :n]), transitions, start, end)
        for b, n in enumerate(LENGTHS)
    ]
    got = crf.crf_sequence_score(potentials, tags, LENGTHS, transitions, start, end)
    assert got.dtype == tf.float32 and got.shape == (B,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Anything (here -1 and 99) beyond the length must be ignored.
    padded = np.where(np.arange(W)[None] < LENGTHS[:, None], tags, [-1, 99, -1, 99])
    again = crf.crf_sequence_score(potentials, padded, LENGTHS, transitions, start, end)
    np.testing.assert_allclose(again, got)


def test_empty_and_single_word_rows():
    potentials, transitions, start, end = make_params(seed=5)
    lengths = np.array([0, 1, 0, 1, 0, 0], dtype=np.int32)
    params = (transitions, start, end)
    tags = np.zeros((B, W), np.int32)
    log_z = crf.crf_log_norm(potentials, lengths, *params).numpy()
    assert log_z[0] == 0.0 and log_z[2] == 0.0
    # A single word: log Z = logsumexp_k(start_k + potential_k + end_k).
    expected = np.logaddexp.reduce(start + potentials[1, 0] + end)
    np.testing.assert_allclose(log_z[1], expected, rtol=1e-6)
    ll = crf.crf_log_likelihood(potentials, tags, lengths, *params).numpy()
    assert ll[0] == 0.0 and ll[2] == 0.0
    decoded, best = crf.viterbi_decode(potentials, lengths, *params)
    assert not decoded.numpy()[[0, 2]].any() and best.numpy()[0] == 0.0
    assert decoded.numpy()[1, 0] == np.argmax(start + potentials[1, 0] + end)
    marginals = crf.crf_marginals(potentials, lengths, *params).numpy()
    assert not marginals[0].any()
    np.testing.assert_allclose(marginals[1].sum(-1), [1, 0, 0, 0], atol=1e-6)


def test_zero_width_batch():
    transitions, start, end = np.zeros((K, K)), np.zeros(K), np.zeros(K)
    potentials = np.zeros((2, 0, K), np.float32)
    lengths = np.zeros(2, np.int32)
    decoded, best = crf.viterbi_decode(potentials, lengths, transitions, start, end)
    assert decoded.shape == (2, 0) and best.numpy().tolist() == [0.0, 0.0]
    assert crf.crf_marginals(potentials, lengths, transitions, start, end).shape == (2, 0, K)
    ll = crf.crf_log_likelihood(
        potentials, np.zeros((2, 0), np.int32), lengths, transitions, start, end
    )
    assert ll.numpy().tolist() == [0.0, 0.0]


def test_constraints_forbid_what_the_unconstrained_model_prefers():
    # Potentials that strongly favour I-PER everywhere: the unconstrained
    # decode is invalid IOB2, the constrained one must not be.
    potentials = np.zeros((1, 3, K), np.float32)
    potentials[0, :, LABELS.index("I-PER")] = 5.0
    zeros = (np.zeros((K, K)), np.zeros(K), np.zeros(K))
    free, _ = crf.viterbi_decode(potentials, [3], *zeros)
    assert free.numpy().tolist() == [[2, 2, 2]]
    module = crf.CRF(K, *crf.allowed_transitions(LABELS))
    constrained, _ = module.decode(potentials, [3])
    assert constrained.numpy().tolist() == [[1, 2, 2]]
    # Training sees the same constraints: an invalid gold path is ~impossible.
    ll = module.log_likelihood(potentials, np.array([[2, 2, 2]]), [3])
    assert ll.numpy()[0] < crf.MASK_VALUE / 2


def test_span_probability_matches_brute_force():
    potentials, transitions, start, end = make_params(seed=6)
    rows = brute_force(potentials, LENGTHS, transitions, start, end)
    tags = gold_tags(rows, seed=7)
    tags = np.where(tags < 0, 0, tags)
    # Spans [s, e) per row; (0, 0) is padding with probability 0.
    spans = {
        0: [(0, 4), (1, 3), (3, 4)], 1: [(0, 1), (1, 3), (0, 3)], 2: [(0, 0)] * 3,
        3: [(0, 1), (0, 0), (0, 1)], 4: [(1, 2), (0, 2), (0, 0)], 5: [(2, 4), (0, 2), (1, 2)],
    }
    starts = np.array([[s for s, _ in spans[b]] for b in range(B)], np.int32)
    ends = np.array([[e for _, e in spans[b]] for b in range(B)], np.int32)
    expected = np.zeros((B, 3))
    for b in range(B):
        for n, (s, e) in enumerate(spans[b]):
            if s == e:
                continue
            target = tuple(tags[b, s:e])
            expected[b, n] = sum(
                math.exp(sc - rows[b]["log_z"]) for path, sc in rows[b]["paths"]
                if path[s:e] == target
            )
    got = crf.crf_span_probability(
        potentials, LENGTHS, transitions, start, end, tags, starts, ends
    )
    assert got.shape == (B, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # A single-word span's probability is that word's marginal.
    marginals = crf.crf_marginals(potentials, LENGTHS, transitions, start, end).numpy()
    np.testing.assert_allclose(got[0, 2], marginals[0, 3, tags[0, 3]], rtol=1e-5)


def test_span_probability_stays_exact_in_a_very_long_sentence():
    # Without transitions the words are independent: a span's probability is
    # the product of its words' softmax probabilities. 30,000 words of
    # potentials around 40 take the log-space sums past 10^6, where float32's
    # spacing is 0.125 (every probability came out as exp(-k / 8)); and
    # 10,000 spans over 30,000 words must not cost entities x words memory.
    rng = np.random.default_rng(11)
    words, k, spans = 30_000, 3, 10_000
    potentials = (40 + rng.normal(size=(1, words, k))).astype(np.float32)
    tags = rng.integers(0, k, size=(1, words))
    starts = np.sort(rng.choice(words - 3, size=spans, replace=False))[None]
    ends = starts + rng.integers(1, 4, size=(1, spans))
    zeros = np.zeros(k, np.float32)
    # In a graph, as the tagger runs it (eager scans take a minute here).
    got = tf.function(crf.crf_span_probability)(
        potentials, [words], np.zeros((k, k), np.float32), zeros, zeros, tags, starts,
        ends).numpy()
    p = potentials[0].astype(np.float64)
    word_p = np.exp(p - p.max(1, keepdims=True))
    word_p = (word_p / word_p.sum(1, keepdims=True))[np.arange(words), tags[0]]
    expected = [np.prod(word_p[s:e]) for s, e in zip(starts[0], ends[0])]
    np.testing.assert_allclose(got[0], expected, rtol=1e-4)


# --------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------


def test_marginals_are_the_gradient_of_log_z():
    potentials, transitions, start, end = make_params(seed=8)
    pot = tf.Variable(potentials.astype(np.float32))
    with tf.GradientTape() as tape:
        log_z = tf.reduce_sum(crf.crf_log_norm(pot, LENGTHS, transitions, start, end))
    grad = tape.gradient(log_z, pot)
    marginals = crf.crf_marginals(potentials, LENGTHS, transitions, start, end)
    np.testing.assert_allclose(grad, marginals, atol=1e-5)


@pytest.mark.parametrize("constrained", [False, True])
def test_log_likelihood_gradient_matches_brute_force(constrained):
    # d LL / d theta = feature counts of the gold path - expected counts.
    potentials, transitions, start, end = make_params(seed=9)
    rows = brute_force(potentials, LENGTHS, transitions, start, end, constrained)
    tags = gold_tags(rows, seed=10)
    module = make_crf(transitions, start, end, constrained)
    pot = tf.Variable(potentials.astype(np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(module.log_likelihood(pot, tags, LENGTHS))
    grads = tape.gradient(
        total, [pot, module.transitions, module.start_transitions, module.end_transitions]
    )

    expected = [np.zeros((B, W, K)), np.zeros((K, K)), np.zeros(K), np.zeros(K)]

    def add_counts(b, path, weight):
        if not path:
            return
        for t, tag in enumerate(path):
            expected[0][b, t, tag] += weight
        for prev, cur in zip(path, path[1:]):
            expected[1][prev, cur] += weight
        expected[2][path[0]] += weight
        expected[3][path[-1]] += weight

    for b, row in enumerate(rows):
        add_counts(b, tuple(tags[b, : LENGTHS[b]]), 1.0)
        for path, sc in row["paths"]:
            add_counts(b, path, -math.exp(sc - row["log_z"]))
    for got, want in zip(grads, expected):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_the_gradient_stays_finite_where_every_path_into_a_tag_underflows():
    # B-PER outscores B-LOC by 200 at the first word, so in float32 every path
    # into I-LOC at the second (from B-LOC or I-LOC only) underflows: its log
    # is -inf. Training's log-sum-exp keeps the gradient finite; the matrix
    # product that inference sums with would give NaN here.
    module = crf.CRF(K, *crf.allowed_transitions(LABELS, "IOB2"))
    pot = tf.Variable(np.zeros((1, 3, K), np.float32))
    pot[0, 0, LABELS.index("B-PER")].assign(200.0)
    tags = tf.constant([[1, 2, 0]], tf.int32)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(module.log_likelihood(pot, tags, tf.constant([3])))
    assert np.isfinite(total.numpy())
    assert np.all(np.isfinite(tape.gradient(total, pot).numpy()))
    # Inference gives that tag a probability of 0 and the others theirs.
    marginals = module.marginals(pot, tf.constant([3])).numpy()
    assert marginals[0, 1, LABELS.index("I-LOC")] == 0.0
    np.testing.assert_allclose(marginals.sum(-1), 1.0, rtol=1e-4)  # float32, scores near 200
    assert marginals[0, 0, LABELS.index("B-PER")] == pytest.approx(1.0)


def test_gradient_matches_finite_differences_on_one_transition():
    potentials, transitions, start, end = make_params(seed=11)
    tags = np.array([[0, 1, 2, 0]] * B, np.int32)
    t = tf.Variable(transitions.astype(np.float32))

    def loss(trans):
        return tf.reduce_sum(crf.crf_log_likelihood(potentials, tags, LENGTHS, trans, start, end))

    with tf.GradientTape() as tape:
        value = loss(t)
    grad = tape.gradient(value, t).numpy()
    eps = 1e-2
    for i, j in [(0, 1), (1, 2), (3, 3)]:
        bump = np.zeros((K, K), np.float32)
        bump[i, j] = eps
        numeric = (loss(transitions + bump) - loss(transitions - bump)).numpy() / (2 * eps)
        np.testing.assert_allclose(grad[i, j], numeric, atol=5e-3)


# --------------------------------------------------------------------------
# Graph mode, dtypes, padding, validation
# --------------------------------------------------------------------------


def test_tf_function_with_unknown_batch_and_length():
    potentials, transitions, start, end = make_params(seed=12)
    module = make_crf(transitions, start, end, constrained=True)

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, K], tf.float32),
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None], tf.int32),
    ])
    def everything(pot, tags, lengths):
        decoded, best = module.decode(pot, lengths)
        return (decoded, best, module.log_likelihood(pot, tags, lengths),
                module.marginals(pot, lengths))

    for pot, lengths in [
        (potentials, LENGTHS),
        (potentials[:2, :3], np.array([3, 1], np.int32)),
        (np.zeros((3, 0, K)), np.zeros(3, np.int32)),
    ]:
        pot = pot.astype(np.float32)
        tags = np.zeros(pot.shape[:2], np.int32)
        graph = everything(pot, tags, lengths)
        eager = (*module.decode(pot, lengths), module.log_likelihood(pot, tags, lengths),
                 module.marginals(pot, lengths))
        for g, e in zip(graph, eager):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
    assert everything.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_potentials_are_computed_in_float32(dtype):
    potentials, transitions, start, end = make_params(seed=13)
    low = tf.cast(potentials, dtype)
    same = tf.cast(low, tf.float32)  # what float32 sees after the rounding
    tags = np.zeros((B, W), np.int32)
    module = make_crf(transitions, start, end, constrained=False)
    for got, want in [
        (module.log_likelihood(low, tags, LENGTHS), module.log_likelihood(same, tags, LENGTHS)),
        (module.decode(low, LENGTHS)[1], module.decode(same, LENGTHS)[1]),
        (module.marginals(low, LENGTHS), module.marginals(same, LENGTHS)),
    ]:
        assert got.dtype == tf.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_padding_more_words_changes_nothing():
    potentials, transitions, start, end = make_params(seed=14)
    params = (transitions, start, end)
    wider = np.concatenate([potentials, np.full((B, 3, K), 7.0)], axis=1)
    np.testing.assert_allclose(
        crf.crf_log_norm(wider, LENGTHS, *params), crf.crf_log_norm(potentials, LENGTHS, *params)
    )
    narrow_tags, narrow_best = crf.viterbi_decode(potentials, LENGTHS, *params)
    wide_tags, wide_best = crf.viterbi_decode(wider, LENGTHS, *params)
    np.testing.assert_array_equal(wide_tags[:, :W], narrow_tags)
    assert not wide_tags[:, W:].numpy().any()
    np.testing.assert_allclose(wide_best, narrow_best)


def test_bad_inputs_raise_clear_errors():
    potentials, transitions, start, end = make_params(seed=15)
    params = (transitions, start, end)
    with pytest.raises(tf.errors.InvalidArgumentError, match="lengths must be <= W"):
        crf.crf_log_norm(potentials, [5, 1, 1, 1, 1, 1], *params)
    with pytest.raises(tf.errors.InvalidArgumentError, match="lengths must be >= 0"):
        crf.crf_log_norm(potentials, [-1, 1, 1, 1, 1, 1], *params)
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch size"):
        crf.crf_log_norm(potentials, [1, 1], *params)
    with pytest.raises(tf.errors.InvalidArgumentError, match="tags must be < K"):
        crf.crf_log_likelihood(potentials, np.full((B, W), K), LENGTHS, *params)
    with pytest.raises(TypeError, match="floating"):
        crf.crf_log_norm(np.zeros((1, 2, K), np.int32), [2], *params)
    with pytest.raises(ValueError, match="transitions has shape"):
        crf.crf_log_norm(potentials, LENGTHS, np.zeros((3, 3)), start, end)
    with pytest.raises(ValueError, match="potentials must have shape"):
        crf.crf_log_norm(potentials[0], LENGTHS, *params)
    with pytest.raises(ValueError, match="transition_mask must have shape"):
        crf.CRF(K, transition_mask=np.ones((K, K + 1), bool))
    with pytest.raises(ValueError, match="start_mask must be a bool"):
        crf.CRF(K, start_mask=np.ones(K))
    with pytest.raises(tf.errors.InvalidArgumentError, match="span_ends must be <= lengths"):
        crf.crf_span_probability(potentials, LENGTHS, *params, np.zeros((B, W), np.int32),
                                 np.zeros((B, 1), np.int32), np.full((B, 1), 4, np.int32))


def test_mask_to_lengths_accepts_prefixes_and_rejects_holes():
    mask = np.array([[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    assert crf.mask_to_lengths(mask).numpy().tolist() == [2, 0, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a prefix mask"):
        crf.mask_to_lengths(np.array([[1, 0, 1]]))


# --------------------------------------------------------------------------
# The module: variables, config, SavedModel, docstring examples
# --------------------------------------------------------------------------


def test_module_variables_and_config_round_trip():
    module = crf.CRF(K, *crf.allowed_transitions(LABELS), name="tag_crf")
    shapes = {v.name: tuple(v.shape) for v in module.trainable_variables}
    assert shapes == {
        "tag_crf/transitions:0": (K, K),
        "tag_crf/start_transitions:0": (K,),
        "tag_crf/end_transitions:0": (K,),
    }
    assert all(v.dtype == tf.float32 and not v.numpy().any() for v in module.trainable_variables)
    clone = crf.CRF(**json.loads(json.dumps(module.get_config())))
    for a, b in zip(module.constrained_parameters(), clone.constrained_parameters()):
        np.testing.assert_array_equal(a, b)
    transitions, _, _ = module.constrained_parameters()
    # I-PER after O is forbidden, B-PER -> I-PER allowed.
    assert transitions.numpy()[0, 2] == crf.MASK_VALUE and transitions.numpy()[1, 2] == 0.0


def test_saved_model_round_trip(tmp_path):
    potentials, transitions, start, end = make_params(seed=16)
    module = make_crf(transitions, start, end, constrained=True)
    module.serve = tf.function(
        lambda pot, lengths: module.decode(pot, lengths),
        input_signature=[tf.TensorSpec([None, None, K], tf.float32),
                         tf.TensorSpec([None], tf.int32)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    pot = potentials.astype(np.float32)
    for got, want in zip(loaded.serve(pot, LENGTHS), module.decode(pot, LENGTHS)):
        np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(loaded.transitions, transitions.astype(np.float32))


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    tests = finder.find(crf.CRF, globs=vars(crf)) + finder.find(
        crf.allowed_transitions, globs=vars(crf)
    )
    assert sum(len(t.examples) for t in tests) >= 5
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# --------------------------------------------------------------------------
# allowed_transitions against hand-written tables
# --------------------------------------------------------------------------


def as_sets(labels, masks):
    trans, start, end = masks
    pairs = {(labels[i], labels[j]) for i, j in zip(*np.nonzero(trans))}
    return pairs, {labels[i] for i in np.nonzero(start)[0]}, {labels[i] for i in np.nonzero(end)[0]}


def test_allowed_transitions_iob2_table():
    pairs, starts, ends = as_sets(LABELS, crf.allowed_transitions(LABELS, "IOB2"))
    assert pairs == {
        ("O", "O"), ("O", "B-PER"), ("O", "B-LOC"),
        ("B-PER", "O"), ("B-PER", "B-PER"), ("B-PER", "I-PER"), ("B-PER", "B-LOC"),
        ("I-PER", "O"), ("I-PER", "B-PER"), ("I-PER", "I-PER"), ("I-PER", "B-LOC"),
        ("B-LOC", "O"), ("B-LOC", "B-PER"), ("B-LOC", "B-LOC"), ("B-LOC", "I-LOC"),
        ("I-LOC", "O"), ("I-LOC", "B-PER"), ("I-LOC", "B-LOC"), ("I-LOC", "I-LOC"),
    }
    assert starts == {"O", "B-PER", "B-LOC"}
    assert ends == set(LABELS)


def test_allowed_transitions_bioes_table():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"]
    pairs, starts, ends = as_sets(labels, crf.allowed_transitions(labels, "BIOES"))
    outside = {"O", "B-PER", "S-PER", "S-LOC"}
    assert pairs == (
        {(frm, to) for frm in ("O", "E-PER", "S-PER", "S-LOC") for to in outside}
        | {("B-PER", "I-PER"), ("B-PER", "E-PER"), ("I-PER", "I-PER"), ("I-PER", "E-PER")}
    )
    assert starts == {"O", "B-PER", "S-PER", "S-LOC"}
    assert ends == {"O", "E-PER", "S-PER", "S-LOC"}


@pytest.mark.parametrize(
    "alias, canonical", [("BIO", "IOB2"), ("iob2", "IOB2"), ("IOBES", "BIOES")]
)
def test_allowed_transitions_scheme_aliases(alias, canonical):
    labels = ["O", "B-PER", "I-PER"] if canonical == "IOB2" else ["O", "B-X", "I-X", "E-X", "S-X"]
    got = crf.allowed_transitions(labels, alias)
    for a, b in zip(got, crf.allowed_transitions(labels, canonical)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("labels, scheme, bad", [
    (["O", "E-PER"], "IOB2", "E-PER"),
    (["O", "B-"], "IOB2", "B-"),
    (["O", "PER"], "IOB2", "PER"),
    (["O", "X-PER"], "BIOES", "X-PER"),
    (["O", "L-PER"], "BIOES", "L-PER"),
])
def test_allowed_transitions_names_the_bad_label(labels, scheme, bad):
    with pytest.raises(ValueError, match=f"'{bad}'"):
        crf.allowed_transitions(labels, scheme)


def test_allowed_transitions_rejects_unknown_scheme_and_duplicates():
    with pytest.raises(ValueError, match="unknown tagging scheme 'IOB1'"):
        crf.allowed_transitions(["O"], "IOB1")
    with pytest.raises(ValueError, match="duplicate label 'O'"):
        crf.allowed_transitions(["O", "O"])
