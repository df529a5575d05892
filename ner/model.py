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
  `crf/...`), readable by `tf.train.load_checkpoint`;
* the model card, in folders written by `python -m ner.train`: `meta.json`
  (`model_card` says what it holds) and `README.md` rendered from it
  (`render_card`). `read_meta` reads it; folders written before it existed
  have none and load as before.

Shapes: B batch, S wordpieces, W words, H hidden, U LSTM units, K tags, L
encoder layers + 1.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import os
import platform
import re
import shlex
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from ner import casing, checkpoint, files
from ner.bert import BertConfig, BertEncoder, dropout, skip_random_init
from ner.crf import CRF, allowed_transitions
from ner.options import ModelOptions, option  # noqa: F401  (defined without TensorFlow)

CONFIG_FILE = "tagger_config.json"
VOCAB_FILE = "vocab.txt"
CHECKPOINT_PREFIX = "model.ckpt"
META_FILE = "meta.json"
CARD_FILE = "README.md"
FORMAT_VERSION = 1
META_FORMAT_VERSION = 1
# A saved tagger must match its checkpoint exactly: no weight may be ignored.
_MATCHES_NOTHING = re.compile(r"(?!)")


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
    # With `case_features`, a size > 0 puts the word shapes in the head: a
    # learned vector of this size per shape, concatenated to each word's
    # encoder features, instead of added to the input embeddings. Training
    # chooses it for a wholly frozen encoder, where input-side shapes would
    # cost a backward pass through the encoder.
    head_case_size: int = 0
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
        config = cls(**{"case_features": False, **values})
        if config.head_case_size < 0 or (config.head_case_size and not config.case_features):
            raise ValueError(f"{source}: head_case_size {config.head_case_size} needs "
                             f"case_features and must be >= 0")
        positions = int(config.encoder.get("max_position_embeddings", 512))
        if config.max_seq_length > positions:
            # Trained before training checked it: every window of a long
            # sentence would fail in the encoder.
            raise ValueError(f"{source}: max_seq_length {config.max_seq_length} exceeds the "
                             f"encoder's max_position_embeddings ({positions}); set "
                             f"max_seq_length to {positions} or less in this file")
        return config


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


def frozen_groups(trained: Sequence[tf.Variable], frozen: Sequence[tf.Variable]) -> list[str]:
    """What a freeze pattern froze, by layer: "bert/encoder/layer_3/", or
    "bert/encoder/layer_3/ (4 of 16)" for a layer it froze in part.

    A pattern is searched anywhere in a name, so "layer_1" also freezes
    layers 10 and 11 of a 12-layer encoder: this list shows it.
    """
    def group(variable: tf.Variable) -> str:
        name = variable.name.rsplit(":", 1)[0]
        found = re.match(r"(.*?/layer_\d+/)", name)
        return found.group(1) if found else "/".join(name.split("/")[:2]) + "/"

    sizes: dict[str, list[int]] = {}
    for variables, k in ((frozen, 0), (trained, 1)):
        for variable in variables:
            sizes.setdefault(group(variable), [0, 0])[k] += 1
    return [name if not rest else f"{name} ({n} of {n + rest})"
            for name, (n, rest) in sizes.items() if n]


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
        features = hidden
        if config.case_features and config.head_case_size:
            # Beside the encoder's features, so on their scale (LayerNorm'd, about 1).
            self.head_case_embeddings = tf.Variable(
                tf.random.normal([casing.NUM_SHAPES, config.head_case_size], stddev=1.0),
                name="head/word_shape_embeddings")
            features += config.head_case_size
        elif config.case_features:
            # Zero at first: training starts from the pretrained encoder exactly.
            self.case_embeddings = tf.Variable(tf.zeros([casing.NUM_SHAPES, hidden]),
                                               name="head/case_embeddings")
        if config.bilstm_units:
            self.lstm_fw = _LSTM("head/bilstm/forward", features, config.bilstm_units)
            self.lstm_bw = _LSTM("head/bilstm/backward", features, config.bilstm_units)
            features = 2 * config.bilstm_units
        limit = np.sqrt(6.0 / (features + num_tags))
        self.dense_kernel = tf.Variable(tf.random.uniform([features, num_tags], -limit, limit),
                                        name="head/dense/kernel")
        self.dense_bias = tf.Variable(tf.zeros([num_tags]), name="head/dense/bias")
        masks = allowed_transitions(config.labels, config.scheme) if config.constrained else (None,) * 3
        self.crf = CRF(num_tags, *masks)

    def potentials(self, input_ids, input_mask, word_starts, word_lengths,
                   training: bool = False, encoder_training: bool | None = None,
                   dropout_seed=None, packed_rows: list[int] | None = None,
                   attention_groups: list[int] | None = None) -> tf.Tensor:
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
            packed_rows: inference only: the encoder's dense layers run on
                real wordpieces alone, its last block on the words' first
                pieces alone (see `BertEncoder.__call__`).
            attention_groups: with `packed_rows`, the encoder's attention runs
                in groups of rows of about one length, split at these lengths
                (`BertEncoder.__call__`).

        Returns:
            float32 [B, W, K]; rows beyond `word_lengths` are zero.
        """
        encoder_training = training if encoder_training is None else encoder_training
        extra = shapes = None
        if self.config.case_features:
            input_ids, shapes = casing.unpack(input_ids, self.encoder.config.vocab_size)
            if not self.config.head_case_size:
                extra = (self.case_embeddings, shapes)  # [B, S, H] looked up by the encoder
        # Packed inference computes the encoder's outputs at the words only.
        at_words = packed_rows is not None
        out = self.encoder(input_ids, attention_mask=input_mask, training=encoder_training,
                           dropout_seed=dropout_seed, extra_embeddings=extra,
                           packed_rows=packed_rows,
                           word_starts=word_starts if at_words else None,
                           word_lengths=word_lengths if at_words else None,
                           attention_groups=attention_groups)
        if self.config.layer_mix:
            weights = tf.nn.softmax(self.mix_weights)
            stacked = tf.stack([tf.cast(h, tf.float32) for h in out.hidden_states])  # [L, B, S, H]
            seq = self.mix_scale * tf.einsum("l,lbsh->bsh", weights, stacked)
        else:
            seq = tf.cast(out.sequence_output, tf.float32)  # [B, S, H] ([B, W, H] at_words)
        words = seq if at_words else tf.gather(seq, word_starts, batch_dims=1)  # [B, W, H]
        if shapes is not None and self.config.head_case_size:
            # A word's pieces share its shape; its first piece's is the word's.
            word_shapes = tf.gather(shapes, word_starts, batch_dims=1)  # [B, W]
            words = tf.concat([words, tf.gather(self.head_case_embeddings, word_shapes)],
                              axis=-1)  # [B, W, H + C]
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
        # expand_dims, not mask[:, :, tf.newaxis]: a strided slice that adds an
        # axis is no TFLite builtin (scripts/benchmark.py --litert converts this).
        return logits * tf.expand_dims(mask, -1)  # [B, W, K]

    def loss(self, features: dict[str, tf.Tensor], label_ids: tf.Tensor, training: bool = True,
             encoder_training: bool | None = None, dropout_seed=None) -> tf.Tensor:
        """Sum over rows of the CRF negative log-likelihood, float32 scalar."""
        pot = self.potentials(features["input_ids"], features["input_mask"],
                              features["word_starts"], features["word_lengths"],
                              training=training, encoder_training=encoder_training,
                              dropout_seed=dropout_seed)
        return -tf.reduce_sum(self.crf.log_likelihood(pot, label_ids, features["word_lengths"]))

    # === Model folder ===

    def save(self, model_dir: str | os.PathLike, vocab: Sequence[str],
             meta: dict[str, Any] | None = None) -> None:
        """Writes the model folder atomically, replacing an older one (`ner.files`).

        Args:
            model_dir: the folder.
            vocab: the wordpiece vocabulary.
            meta: the model card (`model_card`), written with the weights as
                meta.json and README.md, its "version" set to their digest;
                None writes no card.
        """
        with files.atomic_folder(model_dir) as tmp:
            (tmp / CONFIG_FILE).write_text(files.json_text(self.config.to_dict()))
            (tmp / VOCAB_FILE).write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
            checkpoint.save_variables(tmp / CHECKPOINT_PREFIX, self.variables_by_name())
            if meta is not None:
                _write_card(tmp, meta)

    @classmethod
    def load(cls, model_dir: str | os.PathLike, compute_dtype: tf.DType = tf.float32) -> "TaggerModel":
        """Reads a model folder written by `save`.

        Raises:
            FileNotFoundError: a file of the folder is missing.
            ValueError: the config is invalid or the weights do not match it.
        """
        model_dir = Path(model_dir)
        with skip_random_init():  # the checkpoint sets every encoder weight below
            model = cls(read_config(model_dir), compute_dtype=compute_dtype)
        model.assign_weights(model_dir)
        return model

    def assign_weights(self, model_dir: str | os.PathLike) -> None:
        """Sets every variable from a model folder's checkpoint (`save`'s).

        Raises:
            FileNotFoundError: the checkpoint is missing.
            ValueError: its weights do not match the variables one to one.
        """
        model_dir = Path(model_dir)
        if not (model_dir / (CHECKPOINT_PREFIX + ".index")).is_file():
            raise FileNotFoundError(f"{model_dir}: {CHECKPOINT_PREFIX}.index is missing")
        weights = checkpoint.read_checkpoint(model_dir / CHECKPOINT_PREFIX)
        checkpoint.assign_pretrained(self.variables_by_name(), weights, source=str(model_dir),
                                     ignorable=_MATCHES_NOTHING)


def read_config(model_dir: Path) -> TaggerConfig:
    """A model folder's tagger_config.json.

    Raises:
        FileNotFoundError: the folder has none.
        ValueError: it is invalid (the message names the file).
    """
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no {CONFIG_FILE})")
    return TaggerConfig.from_dict(files.read_json_object(path), source=str(path))



# === Model card ===


def weights_digest(folder: Path) -> str:
    """sha256 over the checkpoint files (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob(CHECKPOINT_PREFIX + ".*")):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _write_card(folder: Path, meta: dict[str, Any]) -> None:
    meta = dict(meta, version=weights_digest(folder)[:12])
    (folder / META_FILE).write_text(files.json_text(meta), encoding="utf-8")
    (folder / CARD_FILE).write_text(render_card(meta), encoding="utf-8")


def write_meta(model_dir: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Replaces the model card of an existing model folder, atomically with the folder.

    The folder is rebuilt beside itself (weights hard-linked where the file
    system allows, else copied) with the new meta.json and README.md, then
    renamed into place: a reader sees the old folder or the new one.

    Args:
        model_dir: a model folder written by `TaggerModel.save`.
        meta: the card (`model_card`); "version" is set to the weights' digest.

    Raises:
        FileNotFoundError: `model_dir` is not a model folder.
    """
    model_dir = Path(model_dir)
    if not (model_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no {CONFIG_FILE})")
    with files.atomic_folder(model_dir) as tmp:
        for path in model_dir.iterdir():
            if path.name in (META_FILE, CARD_FILE) or not path.is_file():
                continue
            try:
                os.link(path, tmp / path.name)
            except OSError:
                shutil.copy2(path, tmp / path.name)
        _write_card(tmp, meta)


def read_meta(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The model card of a model folder (its meta.json), or None when it has none.

    Raises:
        ValueError: meta.json is not a JSON object, or was written by a newer
            version of this library (the message names the file).
    """
    path = Path(model_dir) / META_FILE
    if not path.is_file():
        return None
    meta = files.read_json_object(path)
    if meta.get("format_version", META_FORMAT_VERSION) > META_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {meta['format_version']} is newer than this "
                         f"library understands ({META_FORMAT_VERSION})")
    return meta


def data_file_info(path: str | os.PathLike, sentences: int, used: int | None = None) -> dict:
    """A data file as the model card records it: name, path, sentence count, sha256.

    Args:
        path: the file.
        sentences: its sentence count.
        used: how many of them training used, when fewer (`--train_limit`).
    """
    path = Path(path)
    info = {"file": path.name, "path": str(path), "sentences": sentences,
            "sha256": file_sha256(path)}
    if used is not None and used != sentences:
        info["used_sentences"] = used
    return info


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# Boolean flags whose default, None, means "decide from the data".
_UNSET_BOOLS = frozenset({"do_lower_case"})


def train_command(flags: dict[str, Any]) -> str:
    """The `python -m ner.train` command line that sets every flag to these values."""
    words = ["python", "-m", "ner.train"]
    for name, value in flags.items():
        if value is None and name in _UNSET_BOOLS:
            continue  # neither --name nor --noname
        if isinstance(value, bool):
            words.append(f"--{name}" if value else f"--no{name}")
        else:
            words.append(f"--{name}={'' if value is None else value}")
    return shlex.join(words)


def model_card(*, name: str, config: TaggerConfig, flags: dict[str, Any],
               data: dict[str, dict], dev: dict | None, test: dict | None,
               seconds_per_epoch: Sequence[float], best_epoch: int, compute_dtype: str,
               parameters: dict[str, int], encoder_parameters: int,
               created: datetime.datetime | None = None,
               best_step: int | None = None) -> dict[str, Any]:
    """The model card of a trained model: what `python -m ner.train` writes as meta.json.

    Args:
        name: the model's name (the training output folder's name).
        config: the tagger's configuration.
        flags: every training flag (`dataclasses.asdict(TrainOptions)`).
        data: split -> `data_file_info(...)`, e.g. {"train": ..., "dev": ..., "test": ...}.
        dev, test: `evaluation.analysis.evaluate` dicts of the saved model, or
            None (no test file; a card written before the test is scored).
        seconds_per_epoch: training seconds of each epoch run so far.
        best_epoch: the epoch whose weights these are.
        best_step: the training step whose weights these are (None: not recorded).
        compute_dtype: the encoder's compute dtype during training.
        parameters: {"trainable": int, "frozen": int} of the whole model.
        encoder_parameters: the encoder's parameter count.
        created: when; now (UTC) when None.

    Returns:
        A JSON-ready dict: format_version, name, version (set when written:
        the first 12 hex digits of the weights' sha256), created, library
        (bert-ner-tf, TensorFlow, tensorflow-text and Python versions),
        encoder (name, source, size, casing), labels, entity_types, scheme,
        training (flags, the command that reproduces them, epochs, seconds per
        epoch, compute dtype, parameters), data (per split: file, path,
        sentences, sha256) and scores (per split: the report's "default"
        and "strict" dicts: per type and averaged precision, recall, F1,
        support).
    """
    from ner import __version__

    bert_dir = flags.get("bert_dir")
    if bert_dir:
        encoder_name, source = Path(bert_dir).name, str(bert_dir)
    else:
        package = checkpoint.DEFAULT_ENCODER_PACKAGE.replace("_", "-")
        encoder_name = "all-MiniLM-L6-v2"
        source = f"{package} {_version_of(package) or '(version unknown)'}"
    encoder = config.encoder
    created = created or datetime.datetime.now(datetime.timezone.utc)
    return {
        "format_version": META_FORMAT_VERSION,
        "name": name,
        "version": None,
        "created": created.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "library": {"name": "bert-ner-tf", "version": __version__,
                    "tensorflow": tf.__version__,
                    "tensorflow_text": _version_of("tensorflow-text"),
                    "python": platform.python_version()},
        "encoder": {"name": encoder_name, "source": source,
                    "layers": encoder.get("num_hidden_layers"),
                    "hidden_size": encoder.get("hidden_size"),
                    "attention_heads": encoder.get("num_attention_heads"),
                    "intermediate_size": encoder.get("intermediate_size"),
                    "vocab_size": encoder.get("vocab_size"),
                    "parameters": int(encoder_parameters),
                    "do_lower_case": config.do_lower_case},
        "labels": list(config.labels),
        "entity_types": sorted({label[2:] for label in config.labels if label != "O"}),
        "scheme": config.scheme,
        "training": {"flags": dict(flags), "command": train_command(flags),
                     "epochs_run": len(seconds_per_epoch), "best_epoch": best_epoch,
                     **({} if best_step is None else {"best_step": best_step}),
                     "seconds_per_epoch": [round(float(x), 2) for x in seconds_per_epoch],
                     "compute_dtype": compute_dtype,
                     "parameters": {k: int(v) for k, v in parameters.items()}},
        "data": data,
        "scores": {split: None if result is None else
                   {"default": result["default"], "strict": result["strict"]}
                   for split, result in (("dev", dev), ("test", test))},
    }


def _md(value: Any) -> str:
    """A value as Markdown text: characters Markdown or HTML would read as syntax escaped."""
    text = str(value)
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", _bidi_named(text)).replace("\n", " ")


_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _bidi_named(text: str) -> str:
    """`text` with each bidi control (U+202E, ...), which would reorder the rest
    of its line, shown by name."""
    return _BIDI_CONTROLS.sub(lambda m: f"U+{ord(m.group()):04X}", text)


def _code(value: Any) -> str:
    """A value as a Markdown code span, shown as it is: inside backticks a
    backslash or an entity is literal, so `_md`'s escapes would show."""
    text = _bidi_named(str(value).replace("\n", " "))
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


_SPLIT_ORDER = {"train": 0, "dev": 1, "test": 2}


def render_card(meta: dict[str, Any], export: dict[str, Any] | None = None) -> str:
    """The README.md of a model folder, rendered from its meta.json dict.

    Plain Markdown, every value from data escaped; the numbers are those of
    meta.json (percentages to two decimals). `export`: the settings of a
    SavedModel the card goes into (`ner.export`), whose use it then shows.
    """
    lines = [f"# {_md(meta.get('name') or 'NER model')}", ""]
    library, encoder, training = meta["library"], meta["encoder"], meta["training"]
    if export is None:
        usage = ["    import ner",
                 "    tagger = ner.Tagger.load(\"path/to/this/folder\")",
                 "    tagger.tag(\"Angela Merkel met Emmanuel Macron in Paris.\")"]
    else:
        from ner.exported import INT8_NOTE

        precision = export.get("precision", "float32")
        usage = ["    import tensorflow as tf, tensorflow_text  # registers the text ops",
                 "    tag = tf.saved_model.load(\"path/to/this/version\").signatures"
                 "[\"serving_default\"]",
                 "    tag(texts=tf.constant([\"Angela Merkel met Emmanuel Macron in Paris.\"]))",
                 "",
                 f"This is its SavedModel, exported in {_md(precision)} "
                 f"(`assets/export.json`); `ner.exported.load_tagger` loads it as a tagger."
                 + (f" Note: {INT8_NOTE}." if precision == "int8" else "")]
    lines += [
        f"A BERT-CRF named-entity tagger trained with bert-ner-tf {_md(library['version'])} "
        f"on {_md(meta['created'])}. Version `{meta.get('version')}` (the first digits of its "
        "weights' sha256).",
        "",
        *usage,
        "",
        f"Entity types: {', '.join(_md(t) for t in meta['entity_types'])} "
        f"(tags in {_md(meta['scheme'])}).",
        "",
    ]
    for split in ("test", "dev"):
        scores = (meta.get("scores") or {}).get(split)
        if not scores:
            continue
        data = meta.get("data", {}).get(split, {})
        lines += [f"## Scores on {split} ({_md(data.get('file', split))})", "",
                  "Entity-level, mode default (conlleval) and strict.", "",
                  "| type | precision | recall | F1 | support | F1 strict |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        default, strict = scores["default"], scores["strict"]
        rows = [(t, default["types"][t], strict["types"].get(t)) for t in sorted(default["types"])]
        rows.append(("micro avg", default["micro avg"], strict["micro avg"]))
        for name, row, strict_row in rows:
            lines.append(f"| {_md(name)} | {_percent(row['precision'])} | "
                         f"{_percent(row['recall'])} | {_percent(row['f1'])} | {row['support']} | "
                         f"{_percent(strict_row['f1']) if strict_row else '-'} |")
        lines.append("")
    sources = meta.get("averaged_from") or []
    if sources:
        lines += ["## Averaged", "",
                  f"The mean of the weights of {len(sources)} models (`python -m ner.average`); "
                  "Training and Data below describe the first. Not scored here: run "
                  "`python -m evaluation.report` on it.", ""]
        lines += [f"* {_code(source.get('path'))}, version {_code(source.get('version'))}"
                  for source in sources]
        lines.append("")
    lines += ["## Encoder", "",
              f"{_md(encoder['name'])} ({_md(encoder['source'])}): {encoder['layers']} layers, "
              f"hidden size {encoder['hidden_size']}, {encoder['attention_heads']} attention "
              f"heads, {encoder['parameters']:,} parameters, "
              f"{'uncased (lower-cased input)' if encoder['do_lower_case'] else 'cased'}.", "",
              "## Training", "",
              f"Best dev epoch {training['best_epoch']} of {training['epochs_run']}; seconds per "
              f"epoch: {', '.join(f'{s:.1f}' for s in training['seconds_per_epoch'])}; compute "
              f"dtype {_md(training['compute_dtype'])}; "
              f"{training['parameters'].get('trainable', 0):,} trainable and "
              f"{training['parameters'].get('frozen', 0):,} frozen parameters. "
              "The command with every flag:", "",
              "    " + training["command"].replace("\n", " "), "",
              "## Data", "",
              "| split | file | sentences | sha256 |", "| --- | --- | ---: | --- |"]
    data = meta.get("data", {})
    # In training's order: meta.json's keys are sorted (dev, test, train).
    for split in sorted(data, key=lambda k: (_SPLIT_ORDER.get(k, len(_SPLIT_ORDER)), k)):
        info = data[split]
        used = f" ({info['used_sentences']} used)" if "used_sentences" in info else ""
        lines.append(f"| {_md(split)} | {_md(info['file'])} | {info['sentences']}{used} | "
                     f"`{info['sha256']}` |")
    lines += ["", "## Software", "",
              f"bert-ner-tf {_md(library['version'])}, TensorFlow {_md(library['tensorflow'])}, "
              f"tensorflow-text {_md(library['tensorflow_text'])}, "
              f"Python {_md(library['python'])}.", "",
              f"Everything above is in `{META_FILE}` beside this file.", ""]
    return "\n".join(lines)
