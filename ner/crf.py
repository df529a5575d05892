"""Linear-chain conditional random field in plain TensorFlow 2.

Pure functions (`crf_log_norm`, `crf_sequence_score`, `crf_log_likelihood`,
`viterbi_decode`, `crf_marginals`, `crf_span_probability`) plus a thin
`tf.Module`, `CRF`, that owns the parameters and applies label constraints.
Nothing here depends on TensorFlow Addons (whose development has ended) or on
Keras.

Shape legend:
  B = batch size
  W = number of words per sentence (padded; words are left-packed)
  K = number of tags
  N = number of spans per sentence (`crf_span_probability` only)

Conventions, stated once for the whole module:
  * `transitions[i, j]` is the score of moving from tag `i` (at word t-1) to
    tag `j` (at word t). allennlp uses the same order; flair uses the reverse.
  * `start_transitions[j]` scores tag `j` at the first word and
    `end_transitions[i]` scores tag `i` at the last real word. They are
    explicit vectors, not fake <START>/<STOP> tags.
  * Padding is described by `lengths` [B] int32: word t of sentence b is real
    iff `t < lengths[b]`. Because the mask is a prefix by construction, the
    score, the partition function and Viterbi can never disagree about which
    words are real (see `mask_to_lengths` to convert and check a boolean mask).
  * A sentence of length 0 has exactly one (empty) path with score 0, so its
    log Z, score and log-likelihood are 0 and its decoded tags are all 0.
  * All arithmetic is float32 whatever the dtype of `potentials`: the encoder
    may run in bfloat16/float16, but log-sum-exp over long sentences and the
    loss need float32 range and precision.
  * Forbidden transitions are not -inf but `MASK_VALUE` (-1e4) added to the
    score. A finite value keeps gradients and log-sum-exp free of NaN
    (-inf - -inf), and exp(-1e4) underflows to exactly 0 in float32, so a
    forbidden path has probability 0 whenever any allowed path exists.
    Inference's forward and backward scans (`_log_matmul_exp`, no gradient)
    give -inf to a tag that every path reaches only by underflowing; the
    probabilities built from them only add such logs (never subtract two), so
    that tag's probability is 0, not NaN.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from ner import schemes

__all__ = [
    "MASK_VALUE",
    "CRF",
    "allowed_transitions",
    "constrain",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_marginals",
    "crf_sequence_score",
    "crf_span_probability",
    "mask_to_lengths",
    "viterbi_decode",
]

# The one score added to every forbidden transition, start or end (see the
# module docstring for why it is finite). Used in training and decoding alike.
MASK_VALUE = -1e4


# --------------------------------------------------------------------------
# Label constraints
# --------------------------------------------------------------------------


def allowed_transitions(
    labels: Sequence[str], scheme: str = "IOB2"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which tag transitions a tagging scheme allows, as the CRF's boolean masks.

    The rules are `ner.schemes.allowed_transitions`' (IOB2: `I-X` only after
    `B-X` or `I-X`, so not first; BIOES: chunks opened with `B-` and closed
    with `E-`, or `S-`). IOB1 is refused: a model's labels are IOB2, as the
    data reader stores them, or BIOES.

    Example:
      >>> t, s, e = allowed_transitions(["O", "B-PER", "I-PER"])
      >>> bool(t[0, 2]), bool(t[1, 2]), bool(s[2])
      (False, True, False)

    Args:
      labels: the K tag names in tag-index order, e.g. `["O", "B-PER", ...]`.
      scheme: "IOB2", "BIO", "BIOES" or "IOBES" (case-insensitive).

    Returns:
      `(transition_mask, start_mask, end_mask)`: bool numpy arrays of shapes
      [K, K], [K] and [K], True where allowed. `transition_mask[i, j]` refers
      to moving from tag i to tag j.

    Raises:
      ValueError: unknown scheme, a label malformed for the scheme (the
        message names it), or a duplicate label.
    """
    canonical = schemes.scheme_name(scheme)
    if canonical == "IOB1":
        raise ValueError(f"unknown tagging scheme {scheme!r} for the CRF; expected IOB2 or BIOES")
    labels = list(labels)
    index: dict[str, int] = {}
    for i, label in enumerate(labels):
        if index.setdefault(label, i) != i:
            raise ValueError(f"duplicate label {label!r} in labels")
    num_tags = len(index)
    trans = np.zeros((num_tags, num_tags), dtype=bool)
    start = np.zeros(num_tags, dtype=bool)
    end = np.zeros(num_tags, dtype=bool)
    for a, b in schemes.allowed_transitions(labels, canonical):
        if a is None:
            start[index[b]] = True
        elif b is None:
            end[index[a]] = True
        else:
            trans[index[a], index[b]] = True
    return trans, start, end


def _penalty(mask, name: str, shape: tuple[int, ...]) -> tf.Tensor:
    """Bool mask (True = allowed) -> float32 0 / MASK_VALUE penalty."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"{name} must be a bool array, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {mask.shape}")
    return tf.constant(np.where(mask, 0.0, MASK_VALUE).astype(np.float32))


def constrain(
    transitions, start_transitions, end_transitions,
    transition_mask=None, start_mask=None, end_mask=None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Adds `MASK_VALUE` to every forbidden transition, start and end score.

    Args:
      transitions: float [K, K].
      start_transitions: float [K].
      end_transitions: float [K].
      transition_mask: optional bool [K, K], True = allowed.
      start_mask: optional bool [K], True = allowed.
      end_mask: optional bool [K], True = allowed.

    Returns:
      The three score tensors, float32, with the penalties added.
    """
    transitions = tf.cast(transitions, tf.float32)
    start_transitions = tf.cast(start_transitions, tf.float32)
    end_transitions = tf.cast(end_transitions, tf.float32)
    k = int(transitions.shape[-1])
    if transition_mask is not None:
        transitions += _penalty(transition_mask, "transition_mask", (k, k))
    if start_mask is not None:
        start_transitions += _penalty(start_mask, "start_mask", (k,))
    if end_mask is not None:
        end_transitions += _penalty(end_mask, "end_mask", (k,))
    return transitions, start_transitions, end_transitions


def mask_to_lengths(mask) -> tf.Tensor:
    """Converts a boolean prefix mask to lengths, checking it is a prefix.

    Args:
      mask: bool or 0/1 [B, W]; True for real words, which must come first.

    Returns:
      int32 [B] lengths.

    Raises:
      tf.errors.InvalidArgumentError: a row has a real word after padding.
    """
    mask = tf.cast(mask, tf.bool)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
    prefix = tf.sequence_mask(lengths, tf.shape(mask)[1])  # [B, W]
    tf.debugging.assert_equal(
        mask, prefix,
        message="mask is not a prefix mask (a real word follows padding)",
    )
    return lengths


# --------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------


def _prepare(potentials, lengths, transitions, start_transitions, end_transitions):
    """Casts to float32/int32, validates shapes, pads W up to at least 1.

    Padding a W = 0 batch to one (masked) word lets every scan below run at
    least once instead of special-casing empty tensors; callers slice the
    result back to the original W.

    Returns:
      (potentials [B, max(W, 1), K] float32, lengths [B] int32, transitions
      [K, K], start [K], end [K] float32, original W as a scalar int32).
    """
    potentials = tf.convert_to_tensor(potentials)
    if not potentials.dtype.is_floating:
        raise TypeError(
            f"potentials must be a floating tensor, got dtype {potentials.dtype.name}"
        )
    if potentials.shape.rank is not None and potentials.shape.rank != 3:
        raise ValueError(
            f"potentials must have shape [B, W, K], got shape {potentials.shape}"
        )
    potentials = tf.cast(potentials, tf.float32)
    lengths = tf.cast(tf.convert_to_tensor(lengths), tf.int32)
    if lengths.shape.rank is not None and lengths.shape.rank != 1:
        raise ValueError(f"lengths must have shape [B], got shape {lengths.shape}")
    transitions = tf.cast(transitions, tf.float32)
    start_transitions = tf.cast(start_transitions, tf.float32)
    end_transitions = tf.cast(end_transitions, tf.float32)

    num_tags = potentials.shape[-1]
    for name, tensor, rank in (
        ("transitions", transitions, 2),
        ("start_transitions", start_transitions, 1),
        ("end_transitions", end_transitions, 1),
    ):
        if tensor.shape.rank is not None and tensor.shape.rank != rank:
            raise ValueError(f"{name} must have rank {rank}, got shape {tensor.shape}")
        if num_tags is not None and any(
            d is not None and d != num_tags for d in tensor.shape
        ):
            raise ValueError(
                f"{name} has shape {tensor.shape} but potentials have K={num_tags} tags"
            )

    shape = tf.shape(potentials)
    batch, width = shape[0], shape[1]
    tf.debugging.assert_equal(
        tf.shape(lengths)[0], batch,
        message="lengths and potentials disagree on the batch size B",
    )
    tf.debugging.assert_non_negative(lengths, message="lengths must be >= 0")
    tf.debugging.assert_less_equal(
        lengths, width, message="lengths must be <= W (potentials.shape[1])"
    )
    potentials = tf.pad(potentials, [[0, 0], [0, tf.maximum(1 - width, 0)], [0, 0]])
    return potentials, lengths, transitions, start_transitions, end_transitions, width


def _check_tags(tags, lengths, num_tags, width, name="tags"):
    """Casts tags to int32 [B, max(W, 1)], zeroes padding, checks the range."""
    tags = tf.cast(tf.convert_to_tensor(tags), tf.int32)
    if tags.shape.rank is not None and tags.shape.rank != 2:
        raise ValueError(f"{name} must have shape [B, W], got shape {tags.shape}")
    tf.debugging.assert_equal(
        tf.shape(tags)[1], width,
        message=f"{name} and potentials disagree on the number of words W",
    )
    tags = tf.pad(tags, [[0, 0], [0, tf.maximum(1 - width, 0)]])
    mask = tf.sequence_mask(lengths, tf.shape(tags)[1])  # [B, W]
    # Padding may hold anything (e.g. -1); it must not reach a gather.
    tags = tf.where(mask, tags, 0)
    tf.debugging.assert_non_negative(tags, message=f"{name} must be >= 0")
    tf.debugging.assert_less(tags, num_tags, message=f"{name} must be < K")
    return tags


def _log_matmul_exp(values, exp_transitions):
    """log(exp(values) @ exp(transitions)), [B, K], as one small matrix product.

    `tf.reduce_logsumexp(values[:, :, None] + transitions[None], axis=1)`
    exponentiates B x K x K sums a step; this shifts each row of `values` and
    the matrix by their maxima and exponentiates only the B x K values (the
    matrix once per scan). For inference only: where every path into a tag
    underflows, its log is -inf, whose gradient is NaN; the log-likelihood
    that training differentiates keeps `reduce_logsumexp`. Measured in
    BENCHMARKS.md ("Forward-backward as matrix products").

    Args:
      values: float [B, K] (rows may hold -inf, not all of a row).
      exp_transitions: (exp(transitions - m), m) of a [K, K] matrix
        `transitions`, from `_exp_transitions`.
    """
    exp_matrix, shift = exp_transitions
    top = tf.reduce_max(values, axis=1, keepdims=True)  # [B, 1]
    return tf.math.log(tf.matmul(tf.exp(values - top), exp_matrix)) + (top + shift)


def _exp_transitions(transitions):
    """(exp(transitions - m), m), m the largest transition: `_log_matmul_exp`'s matrix."""
    shift = tf.reduce_max(transitions)
    return tf.exp(transitions - shift), shift


def _forward(potentials, lengths, transitions, start_transitions, differentiable=True):
    """Forward algorithm: alphas in log space.

    Args:
      potentials: float32 [B, W, K], W >= 1.
      lengths: int32 [B].
      transitions: float32 [K, K].
      start_transitions: float32 [K].
      differentiable: sum over the previous tag with `tf.reduce_logsumexp`
        (finite gradients); False: with `_log_matmul_exp` (faster; inference).

    Returns:
      float32 [W, B, K] (time-major): alphas[t, b, k] = log of the summed
      exp-scores of all prefixes of sentence b ending in tag k at word t.
      Beyond a sentence's length the last real alpha is carried forward, so
      alphas[-1] holds every sentence's final alpha (zeros for length 0).
    """
    time_major = tf.transpose(potentials, [1, 0, 2])  # [W, B, K]
    steps = tf.range(tf.shape(time_major)[0])
    exp_transitions = None if differentiable else _exp_transitions(transitions)

    def step(alpha, elems):
        t, unary = elems  # scalar, [B, K]
        if differentiable:
            # [B, K, 1] + [1, K, K] -> [B, K(from), K(to)]; sum out "from".
            moved = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1)
        else:
            moved = _log_matmul_exp(alpha, exp_transitions)
        new = tf.where(t == 0, start_transitions[None, :], moved) + unary  # [B, K]
        return tf.where((t < lengths)[:, None], new, alpha)

    init = tf.zeros_like(time_major[0])  # [B, K]
    return tf.scan(step, (steps, time_major), initializer=init)


def _backward(potentials, lengths, transitions, end_transitions):
    """Backward algorithm: betas in log space, for inference (`_log_matmul_exp`).

    Args:
      potentials: float32 [B, W, K], W >= 1.
      lengths: int32 [B].
      transitions: float32 [K, K].
      end_transitions: float32 [K].

    Returns:
      float32 [W, B, K] (time-major): betas[t, b, k] = log of the summed
      exp-scores of all suffixes after word t given tag k at word t, including
      the end score but not word t's own potential. Rows with t >= length
      hold `end_transitions` and are meaningless.
    """
    time_major = tf.transpose(potentials, [1, 0, 2])  # [W, B, K]
    # next_unary[t] = potentials of word t + 1 (zeros after the last word).
    next_unary = tf.concat([time_major[1:], tf.zeros_like(time_major[:1])], 0)
    steps = tf.range(tf.shape(time_major)[0])
    end = tf.broadcast_to(end_transitions[None, :], tf.shape(time_major[0]))  # [B, K]

    # Sums out "to": log(exp(x) @ exp(transitions)^T) for x = unary_next + beta_next.
    exp_transitions = _exp_transitions(tf.transpose(transitions))

    def step(beta_next, elems):
        t, unary_next = elems  # scalar, [B, K]
        moved = _log_matmul_exp(unary_next + beta_next, exp_transitions)
        return tf.where((t + 1 < lengths)[:, None], moved, end)

    return tf.scan(step, (steps, next_unary), initializer=end, reverse=True)


def _log_norm_from_alphas(alphas, lengths, end_transitions):
    """log Z [B] from time-major alphas [W, B, K]; 0 for length-0 rows."""
    log_z = tf.reduce_logsumexp(alphas[-1] + end_transitions[None, :], axis=1)  # [B]
    return tf.where(lengths > 0, log_z, 0.0)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def crf_sequence_score(
    potentials, tags, lengths, transitions, start_transitions, end_transitions
) -> tf.Tensor:
    """Unnormalised score of given tag sequences.

    score = start[y_0] + sum_t potentials[t, y_t]
            + sum_{t>=1} transitions[y_{t-1}, y_t] + end[y_{L-1}],
    over the first L = lengths[b] words only.

    Args:
      potentials: float (any precision) [B, W, K] unary scores.
      tags: int [B, W] gold tags in [0, K); values beyond the length are
        ignored (may be padding such as -1).
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].

    Returns:
      float32 [B] scores (0 for length-0 rows).
    """
    potentials, lengths, transitions, start, end, width = _prepare(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    tags = _check_tags(tags, lengths, tf.shape(potentials)[2], width)
    mask = tf.sequence_mask(lengths, tf.shape(potentials)[1])  # [B, W]

    unary = tf.gather(potentials, tags[..., None], batch_dims=2)[..., 0]  # [B, W]
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)  # [B, W-1, 2]
    binary = tf.gather_nd(transitions, pairs)  # [B, W-1]
    last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)  # [B]

    # tf.where rather than multiplying by the mask: 0 * -inf would be NaN.
    score = tf.reduce_sum(tf.where(mask, unary, 0.0), axis=1)
    score += tf.reduce_sum(tf.where(mask[:, 1:], binary, 0.0), axis=1)
    score += tf.gather(start, tags[:, 0]) + tf.gather(end, last)
    return tf.where(lengths > 0, score, 0.0)


def crf_log_norm(
    potentials, lengths, transitions, start_transitions, end_transitions
) -> tf.Tensor:
    """Log partition function log Z by the forward algorithm.

    Args:
      potentials: float (any precision) [B, W, K].
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].

    Returns:
      float32 [B] log Z (0 for length-0 rows).
    """
    potentials, lengths, transitions, start, end, _ = _prepare(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    alphas = _forward(potentials, lengths, transitions, start)  # [W, B, K]
    return _log_norm_from_alphas(alphas, lengths, end)


def crf_log_likelihood(
    potentials, tags, lengths, transitions, start_transitions, end_transitions
) -> tf.Tensor:
    """Per-example log-likelihood log p(tags | potentials) = score - log Z.

    The training loss is `-tf.reduce_mean(crf_log_likelihood(...))` (or a sum
    weighted as the caller likes); per-example values are returned so the
    caller decides.

    Args:
      potentials: float (any precision) [B, W, K].
      tags: int [B, W] gold tags; values beyond the length are ignored.
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].

    Returns:
      float32 [B] log-likelihoods (<= 0; 0 for length-0 rows).
    """
    score = crf_sequence_score(
        potentials, tags, lengths, transitions, start_transitions, end_transitions
    )
    log_z = crf_log_norm(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    return score - log_z


def viterbi_decode(
    potentials, lengths, transitions, start_transitions, end_transitions
) -> tuple[tf.Tensor, tf.Tensor]:
    """Highest-scoring tag sequence per sentence (Viterbi).

    Args:
      potentials: float (any precision) [B, W, K].
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].

    Returns:
      (tags, best_score): int32 [B, W] best tags, 0 beyond each length; and
      float32 [B] the best path's score (as `crf_sequence_score` of it; 0 for
      length-0 rows).
    """
    potentials, lengths, transitions, start, end, width = _prepare(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    time_major = tf.transpose(potentials, [1, 0, 2])  # [W, B, K]
    shape = tf.shape(time_major)
    steps = tf.range(shape[0])
    # Backpointers past a sentence's end point each tag to itself, so the
    # backtrack below walks through the padding unchanged to the last word.
    identity = tf.broadcast_to(tf.range(shape[2])[None, :], shape[1:])  # [B, K]

    def step(state, elems):
        delta, _ = state  # [B, K]
        t, unary = elems  # scalar, [B, K]
        scores = delta[:, :, None] + transitions[None]  # [B, K(from), K(to)]
        best_prev = tf.argmax(scores, axis=1, output_type=tf.int32)  # [B, K]
        moved = tf.reduce_max(scores, axis=1)  # [B, K]
        new = tf.where(t == 0, start[None, :], moved) + unary
        keep = (t < lengths)[:, None]  # [B, 1]
        return tf.where(keep, new, delta), tf.where(keep, best_prev, identity)

    deltas, backpointers = tf.scan(
        step, (steps, time_major),
        initializer=(tf.zeros_like(time_major[0]), identity),
    )  # [W, B, K] each; backpointers[t] points from word t to word t - 1
    final = deltas[-1] + end[None, :]  # [B, K]
    last_tag = tf.argmax(final, axis=1, output_type=tf.int32)  # [B]
    best_score = tf.where(lengths > 0, tf.reduce_max(final, axis=1), 0.0)

    # Backtrack: tag_t = backpointers[t + 1][tag_{t+1}], seeded with an
    # identity step so that tag_{W-1} = last_tag.
    next_pointers = tf.concat([backpointers[1:], identity[None]], 0)  # [W, B, K]
    path = tf.scan(
        lambda tag, pointers: tf.gather(pointers, tag[:, None], batch_dims=1)[:, 0],
        next_pointers, initializer=last_tag, reverse=True,
    )  # [W, B]
    path = tf.transpose(path)  # [B, W]
    path = tf.where(tf.sequence_mask(lengths, tf.shape(path)[1]), path, 0)
    return path[:, :width], best_score


def crf_marginals(
    potentials, lengths, transitions, start_transitions, end_transitions
) -> tf.Tensor:
    """Per-word tag marginals p(y_t = k | potentials) by forward-backward.

    These equal the gradient of `crf_log_norm` with respect to `potentials`.
    Computed for inference, not to be differentiated: the scans sum by
    `_log_matmul_exp`, whose gradient is NaN where a tag's paths underflow.

    Args:
      potentials: float (any precision) [B, W, K].
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].

    Returns:
      float32 [B, W, K]; each real word's row sums to 1, padding rows are 0.
    """
    potentials, lengths, transitions, start, end, width = _prepare(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    alphas = _forward(potentials, lengths, transitions, start,
                      differentiable=False)  # [W, B, K]
    betas = _backward(potentials, lengths, transitions, end)  # [W, B, K]
    log_z = _log_norm_from_alphas(alphas, lengths, end)  # [B]
    log_marginals = alphas + betas - log_z[None, :, None]  # [W, B, K]
    marginals = tf.transpose(tf.exp(log_marginals), [1, 0, 2])  # [B, W, K]
    mask = tf.sequence_mask(lengths, tf.shape(marginals)[1])  # [B, W]
    return tf.where(mask[..., None], marginals, 0.0)[:, :width]


def crf_span_probability(
    potentials, lengths, transitions, start_transitions, end_transitions,
    tags, span_starts, span_ends,
) -> tf.Tensor:
    """Probability that words [start, end) carry exactly the given tags.

    Useful as an entity confidence: decode with `viterbi_decode`, then ask
    for the probability of each predicted entity's tags, marginalising over
    every tagging of the rest of the sentence.

      p = sum over paths y with y[s:e] = tags[s:e] of exp(score(y)) / Z

    Like `crf_marginals`, for inference: not to be differentiated.

    Args:
      potentials: float (any precision) [B, W, K].
      lengths: int32 [B], 0 <= lengths <= W.
      transitions: float [K, K]; transitions[i, j] scores tag i -> tag j.
      start_transitions: float [K].
      end_transitions: float [K].
      tags: int [B, W]; only tags inside the spans are read.
      span_starts: int [B, N] inclusive span starts.
      span_ends: int [B, N] exclusive span ends; 0 <= start <= end <= length.
        A span with start == end is padding and gets probability 0.

    Returns:
      float32 [B, N] probabilities.
    """
    potentials, lengths, transitions, start, end, width = _prepare(
        potentials, lengths, transitions, start_transitions, end_transitions
    )
    # In float64: log-space sums grow with the sentence (about 10 a word), and
    # float32's spacing at 2^19 is 0.0625, so in a sentence of 100,000 words
    # every probability came out as exp(-k / 16) (0.939, 0.882, ...).
    potentials, transitions, start, end = (
        tf.cast(t, tf.float64) for t in (potentials, transitions, start, end))
    tags = _check_tags(tags, lengths, tf.shape(potentials)[2], width)
    starts = tf.cast(span_starts, tf.int32)
    ends = tf.cast(span_ends, tf.int32)
    tf.debugging.assert_equal(
        tf.shape(starts), tf.shape(ends),
        message="span_starts and span_ends must have the same shape [B, N]",
    )
    tf.debugging.assert_non_negative(starts, message="span_starts must be >= 0")
    tf.debugging.assert_less_equal(
        starts, ends, message="span_starts must be <= span_ends"
    )
    tf.debugging.assert_less_equal(
        ends, lengths[:, None], message="span_ends must be <= lengths"
    )
    valid = starts < ends  # [B, N]
    first = tf.where(valid, starts, 0)  # [B, N] first word of the span
    last = tf.where(valid, ends - 1, 0)  # [B, N] last word of the span

    alphas = _forward(potentials, lengths, transitions, start,
                      differentiable=False)  # [W, B, K]
    log_z = _log_norm_from_alphas(alphas, lengths, end)  # [B]
    alphas = tf.transpose(alphas, [1, 0, 2])  # [B, W, K]
    betas = tf.transpose(
        _backward(potentials, lengths, transitions, end), [1, 0, 2]
    )  # [B, W, K]

    unary = tf.gather(potentials, tags[..., None], batch_dims=2)[..., 0]  # [B, W]
    prev_tags = tf.concat([tags[:, :1], tags[:, :-1]], axis=1)  # [B, W]
    # step[b, t] = transitions[y_{t-1}, y_t] + potentials[t, y_t]  (t >= 1)
    step = tf.gather_nd(transitions, tf.stack([prev_tags, tags], -1)) + unary  # [B, W]

    first_tag = tf.gather(tags, first, batch_dims=1)  # [B, N]
    last_tag = tf.gather(tags, last, batch_dims=1)  # [B, N]
    # Entering the span: from the start, or from any tag at word s - 1.
    alpha_before = tf.gather(alphas, tf.maximum(first - 1, 0), batch_dims=1)  # [B, N, K]
    into_first = tf.gather(tf.transpose(transitions), first_tag)  # [B, N, K(from)]
    enter = tf.where(
        first > 0,
        tf.reduce_logsumexp(alpha_before + into_first, axis=-1),
        tf.gather(start, first_tag),
    ) + tf.gather(unary, first, batch_dims=1)  # [B, N]
    # Inside the span: steps at words s+1 .. e-1, as a difference of running
    # sums (a mask over [B, N, W] grew with entities x words: 8.4 GB for one
    # unpunctuated sentence of 500 KB).
    running = tf.cumsum(step, axis=1)  # [B, W]
    within = tf.gather(running, last, batch_dims=1) - tf.gather(running, first, batch_dims=1)
    # Leaving the span: every continuation after word e - 1, plus the end.
    beta_last = tf.gather(betas, last, batch_dims=1)  # [B, N, K]
    leave = tf.gather(beta_last, last_tag[..., None], batch_dims=2)[..., 0]  # [B, N]

    log_p = enter + within + leave - log_z[:, None]
    return tf.cast(tf.where(valid, tf.exp(log_p), 0.0), tf.float32)


# --------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------


class CRF(tf.Module):
    """Linear-chain CRF parameters with optional label constraints.

    Holds `transitions` [K, K] (transitions[i, j] scores tag i -> tag j),
    `start_transitions` [K] and `end_transitions` [K], float32, initialised to
    zeros. When masks are given, `MASK_VALUE` is added to every forbidden
    entry in *both* training (`log_likelihood`) and decoding (`decode`,
    `marginals`, `span_probability`): the model then never spends probability
    mass on invalid sequences, and the likelihood it is trained on is the one
    it decodes with.

    Example:
      >>> labels = ["O", "B-PER", "I-PER"]
      >>> crf = CRF(3, *allowed_transitions(labels, "IOB2"))
      >>> potentials = tf.constant([[[0.0, 0.0, 5.0], [0.0, 0.0, 5.0]]])
      >>> tags, _ = crf.decode(potentials, tf.constant([2]))
      >>> tags.numpy().tolist()  # I-PER cannot start a sentence
      [[1, 2]]
    """

    def __init__(
        self,
        num_tags: int,
        transition_mask=None,
        start_mask=None,
        end_mask=None,
        name: str = "crf",
    ):
        """Creates the parameters.

        Args:
          num_tags: K, the number of tags (> 0).
          transition_mask: optional bool [K, K], True where i -> j is allowed.
          start_mask: optional bool [K], True where a sentence may start.
          end_mask: optional bool [K], True where a sentence may end.
          name: module name (variable name prefix).
        """
        super().__init__(name=name)
        num_tags = int(num_tags)
        if num_tags <= 0:
            raise ValueError(f"num_tags must be > 0, got {num_tags}")
        self.num_tags = num_tags
        self._masks = {
            "transition_mask": transition_mask,
            "start_mask": start_mask,
            "end_mask": end_mask,
        }
        # Validated once here so a bad mask fails at construction, not at the
        # first training step.
        self._penalties = {
            key: None if mask is None else _penalty(mask, key, shape)
            for (key, mask), shape in zip(
                self._masks.items(), ((num_tags, num_tags), (num_tags,), (num_tags,))
            )
        }
        with self.name_scope:
            self.transitions = tf.Variable(
                tf.zeros([num_tags, num_tags]), name="transitions"
            )
            self.start_transitions = tf.Variable(
                tf.zeros([num_tags]), name="start_transitions"
            )
            self.end_transitions = tf.Variable(
                tf.zeros([num_tags]), name="end_transitions"
            )

    def get_config(self) -> dict:
        """Constructor arguments as JSON-friendly data (masks as nested lists)."""
        return {
            "num_tags": self.num_tags,
            **{
                key: None if mask is None else np.asarray(mask).tolist()
                for key, mask in self._masks.items()
            },
            "name": self.name,
        }

    def constrained_parameters(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(transitions [K, K], start [K], end [K]) float32 with penalties added."""
        params = [self.transitions, self.start_transitions, self.end_transitions]
        penalties = self._penalties.values()
        return tuple(
            tf.convert_to_tensor(p) if pen is None else p + pen
            for p, pen in zip(params, penalties)
        )

    def log_likelihood(self, potentials, tags, lengths) -> tf.Tensor:
        """Per-example log p(tags | potentials), float32 [B].

        Args:
          potentials: float [B, W, K]; tags: int [B, W]; lengths: int32 [B].
        """
        return crf_log_likelihood(potentials, tags, lengths, *self.constrained_parameters())

    def decode(self, potentials, lengths) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi: (tags int32 [B, W], 0 beyond length; scores float32 [B]).

        Args:
          potentials: float [B, W, K]; lengths: int32 [B].
        """
        return viterbi_decode(potentials, lengths, *self.constrained_parameters())

    def marginals(self, potentials, lengths) -> tf.Tensor:
        """Per-word tag marginals, float32 [B, W, K] (padding rows 0).

        Args:
          potentials: float [B, W, K]; lengths: int32 [B].
        """
        return crf_marginals(potentials, lengths, *self.constrained_parameters())

    def span_probability(self, potentials, lengths, tags, span_starts, span_ends):
        """Probability of tags on spans [start, end), float32 [B, N].

        See `crf_span_probability` for the arguments.
        """
        return crf_span_probability(
            potentials, lengths, *self.constrained_parameters(),
            tags, span_starts, span_ends,
        )
