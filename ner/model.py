"""The tagging model: BERT encoder -> dropout -> optional BiLSTM -> dense -> CRF.

No squashing (`tanh` or otherwise) stands between the dense layer and the CRF:
an older TF1 project put a `tanh` there, which limits every emission score
to [-1, 1] and lets the transition scores dominate.

A model folder (what `save` writes and `load` reads) holds only data:

* `tagger_config.json`: labels, scheme, casing, sequence length, head options
  and the encoder's architecture;
* `vocab.txt`: the wordpiece vocabulary;
* `model.ckpt.index` / `model.ckpt.data-*`: a name-based TF checkpoint of all
  variables under their names (`bert/encoder/layer_0/...`, `head/...`,
  `crf/...`), readable by `tf.train.load_checkpoint`.

Shapes: B batch, S wordpieces, W words, H hidden, U LSTM units, K tags, L
encoder layers + 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from ner import casing, checkpoint, files
from ner.bert import BertConfig, BertEncoder, dropout
from ner.crf import CRF, allowed_transitions

CONFIG_FILE = "tagger_config.json"
VOCAB_FILE = "vocab.txt"
CHECKPOINT_PREFIX = "model.ckpt"
FORMAT_VERSION = 1
# A saved tagger must match its checkpoint exactly: no weight may be ignored.
_MATCHES_NOTHING = re.compile(r"(?!)")


def option(default: Any, help: str) -> Any:
    """A dataclass field that is also a command-line flag with this help text."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class ModelOptions:
    """The model options that a training run chooses (`python -m ner.train` flags).

    The defaults are a new model's; `TaggerConfig.from_dict` reads folders
    written before an option existed as they were written.
    """

    max_seq_length: int = option(128, "wordpieces per window, [CLS] and [SEP] included")
    document_context: bool = option(
        False, "let windows see neighbouring sentences of the same document")
    bilstm_units: int = option(
        0, "units per direction of a BiLSTM before the dense layer (0 = none)")
    layer_mix: bool = option(False, "learned softmax mix of all encoder layers instead of the last")
    dropout: float = option(0.1, "dropout before (and after) the BiLSTM and dense layer")
    # Word shapes (capitalisation) added to the encoder's input embeddings;
    # input ids are then packed (see `ner.casing`).
    case_features: bool = option(
        True, "add each word's capitalisation (lower, Title, UPPER, ...) to the encoder's "
               "input embeddings; for uncased encoders (ignored when --freeze covers the "
               "whole encoder)")

    def model_options(self) -> dict[str, Any]:
        """This object's `ModelOptions` fields as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelOptions)}


@dataclasses.dataclass(kw_only=True)
class TaggerConfig(ModelOptions):
    """Everything needed to rebuild a trained tagger, saved beside its weights.

    Casing is stored here so it is never guessed from a path.
    """

    labels: list[str]
    do_lower_case: bool
    encoder: dict[str, Any]
    scheme: str = "IOB2"
    constrained: bool = True
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def packing_vocab_size(self) -> int | None:
        """The vocabulary size that input ids are packed with, None when they are plain."""
        return int(self.encoder["vocab_size"]) if self.case_features else None

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "<dict>") -> "TaggerConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{source}: unknown fields {unknown}")
        missing = [n for n in ("labels", "do_lower_case", "encoder") if n not in values]
        if missing:
            raise ValueError(f"{source}: missing fields {missing}")
        if values.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"{source}: format_version {values['format_version']} is newer "
                             f"than this library understands ({FORMAT_VERSION})")
        # Folders written before word shapes existed have none.
        return cls(**{"case_features": False, **values})


class _LSTM(tf.Module):
    """One LSTM direction over left-packed sequences."""

    def __init__(self, scope: str, n_in: int, units: int):
        super().__init__(name=None)
        self.units = units
        glorot = np.sqrt(6.0 / (n_in + 4 * units))
        self.kernel = tf.Variable(tf.random.uniform([n_in, 4 * units], -glorot, glorot),
                                  name=f"{scope}/kernel")
        self.recurrent_kernel = tf.Variable(tf.random.uniform([units, 4 * units], -glorot, glorot),
                                            name=f"{scope}/recurrent_kernel")
        # Forget-gate bias of 1 (Jozefowicz et al. 2015).
        bias = np.zeros(4 * units, np.float32)
        bias[units:2 * units] = 1.0
        self.bias = tf.Variable(bias, name=f"{scope}/bias")

    def __call__(self, x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        # x: float32 [B, W, H]; mask: float32 [B, W]. Returns [B, W, U].
        b = tf.shape(x)[0]
        inputs = tf.einsum("bwh,hg->wbg", x, self.kernel) + self.bias  # [W, B, 4U]
        steps_mask = tf.transpose(mask)[:, :, tf.newaxis]  # [W, B, 1]
        zeros = tf.zeros([b, self.units])

        def step(state, elems):
            h, c = state
            gates, m = elems
            gates = gates + tf.matmul(h, self.recurrent_kernel)
            i, f, g, o = tf.split(gates, 4, axis=-1)
            new_c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            new_h = tf.sigmoid(o) * tf.tanh(new_c)
            # Padding keeps the state, so the last real step's state survives.
            return (m * new_h + (1 - m) * h, m * new_c + (1 - m) * c)

        hs, _ = tf.scan(step, (inputs, steps_mask), initializer=(zeros, zeros))
        return tf.transpose(hs, [1, 0, 2]) * mask[:, :, tf.newaxis]


def select_trainable(variables: Sequence[tf.Variable], pattern: str
                     ) -> tuple[list[tf.Variable], list[tf.Variable]]:
    """The freeze filter: splits variables by the regular expression `--freeze` takes.

    Args:
        variables: e.g. a model's `trainable_variables`.
        pattern: searched (`re.search`) in each variable's name, which is
            Google's for the encoder (`bert/encoder/layer_0/...`), e.g. "bert/"
            or "bert/embeddings/|bert/encoder/layer_[0-2]/"; "" freezes nothing.

    Returns:
        (trained, frozen): the variables the pattern does not match and those
        it matches, each in the order of `variables`.

    Example:
        >>> trained, frozen = select_trainable(model.trainable_variables, "bert/")
    """
    regex = re.compile(pattern) if pattern else None
    trained, frozen = [], []
    for variable in variables:
        (frozen if regex and regex.search(variable.name) else trained).append(variable)
    return trained, frozen


class TaggerModel(checkpoint.NamedModule):
    """Encoder plus tagging head; computes word potentials and the CRF loss.

    Args:
        config: the tagger configuration (labels, head options, encoder).
        encoder: a built (usually pretrained) encoder; None builds a randomly
            initialised one from `config.encoder`.
        compute_dtype: the encoder's compute dtype (see `BertEncoder`); the
            head, CRF and loss always run in float32.
    """

    def __init__(self, config: TaggerConfig, encoder: BertEncoder | None = None,
                 compute_dtype: tf.DType = tf.float32):
        super().__init__(name=None)
        self.config = config
        self.encoder = encoder or BertEncoder(BertConfig.from_dict(config.encoder), compute_dtype)
        self.encoder.compute_dtype = tf.as_dtype(compute_dtype)
        hidden = self.encoder.config.hidden_size
        num_tags = len(config.labels)
        if config.layer_mix:
            # ELMo-style scalar mix of all hidden states (the BERT paper found
            # several layers beat the last one alone for frozen features).
            n = self.encoder.config.num_hidden_layers + 1
            self.mix_weights = tf.Variable(tf.zeros([n]), name="head/layer_mix/weights")
            self.mix_scale = tf.Variable(1.0, name="head/layer_mix/scale")
        if config.case_features:
            # Zero at first: training starts from the pretrained encoder exactly.
            self.case_embeddings = tf.Variable(tf.zeros([casing.NUM_SHAPES, hidden]),
                                               name="head/case_embeddings")
        features = hidden
        if config.bilstm_units:
            self.lstm_fw = _LSTM("head/bilstm/forward", hidden, config.bilstm_units)
            self.lstm_bw = _LSTM("head/bilstm/backward", hidden, config.bilstm_units)
            features = 2 * config.bilstm_units
        limit = np.sqrt(6.0 / (features + num_tags))
        self.dense_kernel = tf.Variable(tf.random.uniform([features, num_tags], -limit, limit),
                                        name="head/dense/kernel")
        self.dense_bias = tf.Variable(tf.zeros([num_tags]), name="head/dense/bias")
        masks = allowed_transitions(config.labels, config.scheme) if config.constrained else (None,) * 3
        self.crf = CRF(num_tags, *masks)

    def potentials(self, input_ids, input_mask, word_starts, word_lengths,
                   training: bool = False, encoder_training: bool | None = None,
                   dropout_seed=None) -> tf.Tensor:
        """Word potentials (CRF emission scores).

        Args:
            input_ids, input_mask: int32 [B, S]; with `case_features` the ids
                are packed (`ner.casing`).
            word_starts: int32 [B, W], position of each word's first wordpiece.
            word_lengths: int32 [B], labelled words per row (a prefix of W).
            training: dropout in the head.
            encoder_training: dropout in the encoder; defaults to `training`.
                A frozen encoder runs without it, as fixed features.
            dropout_seed: optional int `[2]` for stateless dropout.

        Returns:
            float32 [B, W, K]; rows beyond `word_lengths` are zero.
        """
        encoder_training = training if encoder_training is None else encoder_training
        extra = None
        if self.config.case_features:
            input_ids, shapes = casing.unpack(input_ids, self.encoder.config.vocab_size)
            extra = tf.gather(self.case_embeddings, shapes)  # [B, S, H]
        out = self.encoder(input_ids, attention_mask=input_mask, training=encoder_training,
                           dropout_seed=dropout_seed, extra_embeddings=extra)
        if self.config.layer_mix:
            weights = tf.nn.softmax(self.mix_weights)
            stacked = tf.stack([tf.cast(h, tf.float32) for h in out.hidden_states])  # [L, B, S, H]
            seq = self.mix_scale * tf.einsum("l,lbsh->bsh", weights, stacked)
        else:
            seq = tf.cast(out.sequence_output, tf.float32)  # [B, S, H]
        words = tf.gather(seq, word_starts, batch_dims=1)  # [B, W, H]
        mask = tf.sequence_mask(word_lengths, tf.shape(word_starts)[1], dtype=tf.float32)  # [B, W]
        if training and self.config.dropout > 0:
            words = dropout(words, self.config.dropout, dropout_seed, 1001)
        if self.config.bilstm_units:
            fw = self.lstm_fw(words, mask)
            reverse = lambda t: tf.reverse_sequence(t, word_lengths, seq_axis=1, batch_axis=0)
            bw = reverse(self.lstm_bw(reverse(words), mask))
            words = tf.concat([fw, bw], axis=-1)  # [B, W, 2U]
            if training and self.config.dropout > 0:
                words = dropout(words, self.config.dropout, dropout_seed, 1002)
        logits = tf.einsum("bwh,hk->bwk", words, self.dense_kernel) + self.dense_bias
        return logits * mask[:, :, tf.newaxis]  # [B, W, K]

    def loss(self, features: dict[str, tf.Tensor], label_ids: tf.Tensor, training: bool = True,
             encoder_training: bool | None = None, dropout_seed=None) -> tf.Tensor:
        """Sum over rows of the CRF negative log-likelihood, float32 scalar."""
        pot = self.potentials(features["input_ids"], features["input_mask"],
                              features["word_starts"], features["word_lengths"],
                              training=training, encoder_training=encoder_training,
                              dropout_seed=dropout_seed)
        return -tf.reduce_sum(self.crf.log_likelihood(pot, label_ids, features["word_lengths"]))

    # === Model folder ===

    def save(self, model_dir: str | os.PathLike, vocab: Sequence[str]) -> None:
        """Writes the model folder atomically, replacing an older one (`ner.files`)."""
        with files.atomic_folder(model_dir) as tmp:
            (tmp / CONFIG_FILE).write_text(files.json_text(self.config.to_dict()))
            (tmp / VOCAB_FILE).write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
            checkpoint.save_variables(tmp / CHECKPOINT_PREFIX, self.variables_by_name())

    @classmethod
    def load(cls, model_dir: str | os.PathLike, compute_dtype: tf.DType = tf.float32) -> "TaggerModel":
        """Reads a model folder written by `save`.

        Raises:
            FileNotFoundError: a file of the folder is missing.
            ValueError: the config is invalid or the weights do not match it.
        """
        model_dir = Path(model_dir)
        path = model_dir / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{model_dir}: not a model folder (no {CONFIG_FILE})")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from e
        config = TaggerConfig.from_dict(values, source=str(path))
        model = cls(config, compute_dtype=compute_dtype)
        if not (model_dir / (CHECKPOINT_PREFIX + ".index")).is_file():
            raise FileNotFoundError(f"{model_dir}: {CHECKPOINT_PREFIX}.index is missing")
        weights = checkpoint.read_checkpoint(model_dir / CHECKPOINT_PREFIX)
        checkpoint.assign_pretrained(model.variables_by_name(), weights, source=str(model_dir),
                                     ignorable=_MATCHES_NOTHING)
        return model

