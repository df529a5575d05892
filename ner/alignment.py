"""Word alignment: the mapping between words, wordpieces, bytes and characters.

The contract, which every front end relies on (the tagger, the exported
SavedModel, training's evaluation, the report):

* Every input word gets exactly one label, through its first wordpiece
  (BERT README's `orig_to_tok_map`). A word with no wordpiece of its own
  (only control or zero-width characters) is read as `[UNK]` so it still has
  one; a word longer than a whole window keeps its first pieces.
* Sub-tokens after the first, `[CLS]`, `[SEP]`, context words and padding
  never get a label: `word_starts` only ever points at first pieces of
  labelled words, and `word_lengths` masks the rest.
* No word is dropped: the windows of `ner.features.plan_windows` tile the
  words, and `scatter_words` checks that every word came back exactly once.
* Offsets: words carry UTF-8 byte offsets; `CharOffsets` turns byte offsets
  into Python character (code point) offsets in time and memory linear in
  the text.

All functions are TensorFlow ops, usable eagerly and in a SavedModel.

Shapes: N words (flat over a batch), P wordpieces (flat), V windows, v the
windows of one encoder batch, L wordpieces of a window, W labelled words of a
window, K tags.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["CharOffsets", "piece_offsets", "scatter_words", "window_inputs"]


def piece_offsets(pieces: tf.RaggedTensor, budget: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Flat wordpieces of words, each word cut to `budget` pieces.

    Args:
        pieces: int32 RaggedTensor [N, (P)], every row non-empty.
        budget: wordpieces per window between `[CLS]` and `[SEP]`.

    Returns:
        (flat int32 [P], offsets int64 [N + 1]): word n's pieces are
        flat[offsets[n]:offsets[n + 1]].
    """
    pieces = pieces[:, :budget]
    offsets = tf.concat([[0], tf.cumsum(tf.cast(pieces.row_lengths(), tf.int64))], 0)
    return pieces.flat_values, offsets


def window_inputs(flat_pieces, offsets, plan: dict, pick, cls_id: int, sep_id: int,
                  pad_id: int, length=None, width_multiple: int = 1) -> dict[str, tf.Tensor]:
    """Encoder inputs of some windows of a plan.

    Args:
        flat_pieces, offsets: from `piece_offsets`.
        plan: from `ner.features.plan_windows`.
        pick: int [v], the windows to build.
        cls_id, sep_id, pad_id: special token ids.
        length: int scalar, L, at least the longest window's wordpieces with
            `[CLS]` and `[SEP]`; None: that longest.
        width_multiple: W is the most labelled words of a window rounded up
            to a multiple of this.

    Returns:
        dict: `input_ids`, `input_mask` int32 [v, L]; `word_starts` int32
        [v, W], the position of each labelled word's first wordpiece (0 in
        padding); `word_lengths` int32 [v]; `words` int64 RaggedTensor
        [v, (W)], the flat index of each labelled word.
    """
    v = tf.size(pick)
    start, stop = tf.gather(plan["piece_start"], pick), tf.gather(plan["piece_end"], pick)
    first, end = tf.gather(plan["first"], pick), tf.gather(plan["end"], pick)
    body = tf.gather(flat_pieces, tf.ragged.range(start, stop))  # [v, (L - 2)]
    edge = lambda token: tf.RaggedTensor.from_tensor(tf.fill([v, 1], tf.constant(token, tf.int32)))
    ids = tf.concat([edge(cls_id), body, edge(sep_id)], axis=1)  # [v, (L)]
    shape = lambda columns: tf.stack([tf.cast(v, tf.int64), tf.cast(columns, tf.int64)])
    input_ids = ids.to_tensor(pad_id, shape=None if length is None else shape(length))  # [v, L]
    words = tf.ragged.range(first, end)  # [v, (W)]
    # +1 for [CLS]: the position of the first piece inside the window.
    # On flat values: ragged broadcasting of `start[:, None]` costs hundreds of graph ops.
    starts = words.with_flat_values(1 + tf.gather(offsets, words.flat_values)
                                    - tf.gather(start, words.value_rowids()))  # [v, (W)]
    width = None
    if width_multiple > 1:
        width = (starts.bounding_shape(1) + width_multiple - 1) // width_multiple * width_multiple
    return {
        "input_ids": input_ids,
        "input_mask": tf.sequence_mask(ids.row_lengths(), tf.shape(input_ids)[1], tf.int32),
        "word_starts": tf.cast(starts.to_tensor(shape=None if width is None else shape(width)),
                               tf.int32),
        "word_lengths": tf.cast(end - first, tf.int32),
        "words": words,
    }


def scatter_words(words, potentials, count) -> tf.Tensor:
    """Puts window rows back in word order, checking every word came once.

    Args:
        words: int64 [M], flat word index of each row.
        potentials: float32 [M, K].
        count: N.

    Returns:
        float32 [N, K].
    """
    seen = tf.math.bincount(tf.cast(words, tf.int32), minlength=tf.cast(count, tf.int32),
                            maxlength=tf.cast(count, tf.int32))  # [N]
    check = tf.debugging.assert_equal(
        seen, tf.ones_like(seen), message="a word was labelled in no window or in two")
    with tf.control_dependencies([check]):
        return tf.scatter_nd(words[:, None], potentials,
                             tf.stack([count, tf.cast(tf.shape(potentials)[1], tf.int64)]))


class CharOffsets:
    """Byte -> character offsets over the concatenation of a batch of texts.

    Holds one int32 count per byte (the code points before it), so memory and
    time are linear in the texts, whatever the number of words or entities.

    Args:
        joined: string scalar, the texts concatenated.
        text_base: int64 [B + 1], byte offset of each text in `joined`.
    """

    def __init__(self, joined: tf.Tensor, text_base: tf.Tensor):
        data = tf.io.decode_raw(joined, tf.uint8)  # [bytes]
        # Every byte that is not a UTF-8 continuation byte starts a code point.
        lead = tf.cast(tf.not_equal(tf.bitwise.bitwise_and(data, 0xC0), 0x80), tf.int32)
        self.data = data
        self._before = tf.concat([[0], tf.cumsum(lead)], 0)  # [bytes + 1]
        self.text_base = text_base

    def chars(self, text_id, byte_offset) -> tf.Tensor:
        """Character offsets into each text of byte offsets into it, int64."""
        base = tf.gather(self.text_base, text_id)
        return tf.cast(tf.gather(self._before, base + byte_offset)
                       - tf.gather(self._before, base), tf.int64)
