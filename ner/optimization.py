"""AdamW with linear warmup and decay, two learning rates, and no slots for frozen variables.

Written out (about 60 lines) rather than taken from Keras 3, whose optimizers
track variables by Keras paths: ours must name its slots after the variables
(`optimizer/m/bert/encoder/layer_0/...`) so a training checkpoint is a plain
name-based TF checkpoint, and must make no slots for frozen variables.
"""

from __future__ import annotations

import re
from typing import Sequence

import tensorflow as tf

from ner import checkpoint


def linear_schedule(step, peak: float, total_steps: int, warmup_steps: int):
    """Linear warmup from 0 to `peak`, then linear decay to 0 at `total_steps`."""
    step = tf.cast(step, tf.float32)
    warm = step / max(1, warmup_steps)
    decay = (total_steps - step) / max(1, total_steps - warmup_steps)
    return peak * tf.maximum(0.0, tf.minimum(warm, decay))


class AdamW(checkpoint.NamedModule):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as BERT trains.

    Args:
        variables: the variables to train (frozen ones are simply not passed).
        learning_rates: per variable, its peak learning rate.
        total_steps, warmup_steps: the schedule.
        weight_decay: decoupled decay; not applied to biases, LayerNorm and
            CRF parameters (as in BERT's `AdamWeightDecayOptimizer`).
        clip_norm: gradients are clipped to this global norm first.

    Its `variables_by_name()` (the state `--resume` saves) holds the step, the
    slots and the variables it trains.
    """

    _NO_DECAY = re.compile(r"bias|LayerNorm|layer_norm|crf/|layer_mix")

    def __init__(self, variables: Sequence[tf.Variable], learning_rates: Sequence[float],
                 total_steps: int, warmup_steps: int, weight_decay: float = 0.01,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-6,
                 clip_norm: float = 1.0):
        super().__init__(name=None)
        self.trained = list(variables)
        self.peaks = [float(lr) for lr in learning_rates]
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.clip_norm = clip_norm
        names = [v.name.split(":")[0] for v in self.trained]
        self.decay = [0.0 if self._NO_DECAY.search(n) else weight_decay for n in names]
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="optimizer/step")
        with tf.init_scope():
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"optimizer/m/{n}")
                      for v, n in zip(self.trained, names)]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"optimizer/v/{n}")
                      for v, n in zip(self.trained, names)]

    def learning_rate(self, peak: float | None = None) -> tf.Tensor:
        """The current learning rate for a peak (default: the first variable's)."""
        peak = self.peaks[0] if peak is None else peak
        return linear_schedule(self.step, peak, self.total_steps, self.warmup_steps)

    def apply(self, gradients: Sequence[tf.Tensor]) -> tf.Tensor:
        """One update; returns the global gradient norm before clipping."""
        gradients = [tf.convert_to_tensor(g) for g in gradients]  # IndexedSlices -> dense
        gradients, norm = tf.clip_by_global_norm(gradients, self.clip_norm)
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        correction = tf.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        # The schedule's shape once, not per variable (some 13 graph ops each
        # to trace and compile); `linear_schedule` multiplies by the peak last too.
        shape = linear_schedule(self.step - 1, 1.0, self.total_steps, self.warmup_steps)
        for var, g, m, v, peak, decay in zip(self.trained, gradients, self.m, self.v,
                                             self.peaks, self.decay):
            lr = peak * shape
            m.assign(self.beta_1 * m + (1 - self.beta_1) * g)
            v.assign(self.beta_2 * v + (1 - self.beta_2) * tf.square(g))
            update = correction * m / (tf.sqrt(v) + self.epsilon)
            if decay:
                update += decay * var
            var.assign_sub(lr * update)
        return norm
