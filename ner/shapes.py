"""Bounded sets of tensor sizes: the grids that batch shapes are rounded to.

TensorFlow's oneDNN kernels build and keep a primitive for every matrix
shape they meet, so the encoder's batch shapes come from a small set
(`ner.pipeline` rounds window lengths, windows per batch and, through
`ner.bert`'s packing, real wordpieces per batch to such grids). Here, not in
`ner.pipeline`, because `ner.bert` needs them too and the pipeline imports
the model.
"""

from __future__ import annotations

import tensorflow as tf


def size_grid(bits: int, limit: int) -> list[int]:
    """The integers 1..`limit` with at most `bits` + 1 significant binary digits, and `limit`.

    `size_grid(1, 20)` is [1, 2, 3, 4, 6, 8, 12, 16, 20]; `size_grid(3, 40)`
    is 1..16, 18, 20, ..., 32, 36, 40.
    """
    grid = {limit}
    for exponent in range(limit.bit_length()):
        step = 1 << max(exponent - bits, 0)
        grid.update(range(1 << exponent, min(1 << (exponent + 1), limit + 1), step))
    return sorted(grid)


def grid_ceil(grid: list[int], values: tf.Tensor) -> tf.Tensor:
    """Values [n] rounded up to the next of `grid` (sorted); one above its last stays as it is."""
    sizes = tf.constant(grid, values.dtype)
    index = tf.searchsorted(sizes, values, side="left")
    return tf.where(index < len(grid), tf.gather(sizes, tf.minimum(index, len(grid) - 1)),
                    values)


def grid_floor(grid: list[int], values: tf.Tensor) -> tf.Tensor:
    """Values [n] (each at least `grid[0]`) rounded down to the last of `grid` not above them."""
    sizes = tf.constant(grid, values.dtype)
    return tf.gather(sizes, tf.searchsorted(sizes, values, side="right") - 1)
