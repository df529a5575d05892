"""The options of a training run, and of the model it trains: dataclasses whose
fields are also the command-line flags of `python -m ner.train`.

Without TensorFlow, so that `python -m ner.train --help` answers before
TensorFlow's import (`ner.cli.answer_help_first`). `ner.model` and
`ner.train` use them (and keep their names: `ner.model.ModelOptions`,
`ner.train.TrainOptions`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

__all__ = ["ModelOptions", "TrainOptions", "option"]


def option(default: Any, help: str, kind: type | None = None) -> Any:
    """A dataclass field that is also a command-line flag with this help text.

    `kind`: the flag's type where the default does not show it (a bool
    defaulting to None: unset, `--name` or `--noname`).
    """
    return dataclasses.field(default=default, metadata={"help": help, "kind": kind})


@dataclasses.dataclass
class ModelOptions:
    """The model options that a training run chooses (`python -m ner.train` flags).

    The defaults are a new model's; `TaggerConfig.from_dict` reads folders
    written before an option existed as they were written.
    """

    max_seq_length: int = option(128, "wordpieces per window, [CLS] and [SEP] included")
    document_context: bool = option(
        False, "let windows see neighbouring sentences of the same document; every window is "
        "then filled to --max_seq_length wordpieces, so it costs about that many per sentence "
        "(CoNLL-2003 with --max_seq_length=64: 2-2.4x the time per training epoch, 1.5-1.8x "
        "per text tagged; see BENCHMARKS.md)")
    bilstm_units: int = option(
        0, "units per direction of a BiLSTM before the dense layer (0 = none)")
    layer_mix: bool = option(False, "learned softmax mix of all encoder layers instead of the last")
    dropout: float = option(0.1, "dropout before (and after) the BiLSTM and dense layer")
    # Word shapes (capitalisation) added to the encoder's input embeddings;
    # input ids are then packed (see `ner.casing`).
    case_features: bool = option(
        True, "add each word's capitalisation (lower, Title, UPPER, ...) to the encoder's "
               "input embeddings; for uncased encoders (when --freeze covers the whole "
               "encoder they join the head's word features instead)")

    def model_options(self) -> dict[str, Any]:
        """This object's `ModelOptions` fields as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelOptions)}


@dataclasses.dataclass
class TrainOptions(ModelOptions):
    """Options of a training run: the model's (`ModelOptions`) and these.

    The command-line flags mirror all fields, with each field's help text.
    """

    data_dir: str = option("data/conll2003",
                           "folder with train.txt, dev.txt and optionally test.txt (CoNLL format)")
    train_file: str = option("", "training file instead of --data_dir's train.txt: CoNLL, or "
                                 "texts with character-offset spans when it ends in .jsonl, "
                                 ".json or .ndjson")
    dev_file: str = option("", "dev file instead of --data_dir's dev.txt (CoNLL, or spans as for "
                                 "--train_file)")
    test_file: str = option("", "test file instead of --data_dir's test.txt (CoNLL, or spans as "
                                "for --train_file); --data_dir's is used only when train and dev "
                                "are --data_dir's too; without a test file, no test report")
    scheme: str = option("auto", "tag scheme of the CoNLL files: auto (detected), IOB1, IOB2 "
                                 "(or BIO) or BIOES (or IOBES), in any case; converted to IOB2 "
                                 "for training")
    tag_scheme: str = option(
        "IOB2", "scheme the model tags in: IOB2 (or BIO), or BIOES (or IOBES: an entity's last "
                "word E-, a one-word entity S-); the data is converted to it, and its dev and "
                "test scores are taken after converting back to IOB2")
    strict_spans: bool = option(False, "a .jsonl span that cuts through a word is an error "
                                       "(default: snapped outward to whole words, with a warning)")
    output_dir: str = option("models/conll2003", "where the model, checkpoints and reports go")
    bert_dir: str | None = option(
        None, "Google or Hugging Face BERT folder; empty = the offline default encoder")
    do_lower_case: bool | None = option(
        None, "--do_lower_case for an uncased checkpoint, --nodo_lower_case for a cased one; "
              "unset: the folder's tokenizer_config.json or config says, else its vocab.txt "
              "(no wordpiece with capitals: uncased)", kind=bool)
    epochs: int = option(6, "training epochs")
    batch_size: int = option(32, "windows per training step")
    learning_rate: float = option(1.5e-4, "peak learning rate of the encoder")
    head_learning_rate: float = option(
        1e-3, "peak learning rate of the head and CRF (they learn faster)")
    warmup_proportion: float = option(0.1, "share of steps with linear warmup")
    weight_decay: float = option(0.01, "AdamW decoupled weight decay")
    seed: int = option(42, "random seed (same seed, data and machine: same result)")
    freeze: str = option("", "regex searched anywhere in each variable's name; the matches are "
                             "frozen, e.g. 'bert/' or 'bert/embeddings/|bert/encoder/layer_[0-2]/' "
                             "(end a layer with '/': 'layer_1' also matches layer_10 and "
                             "layer_11); the run prints what it froze")
    max_steps: int = option(0, "stop after this many steps (0 = no limit), for smoke runs")
    train_limit: int = option(0, "use only the first N training sentences (0 = all)")
    resume: bool = option(False, "continue the run in --output_dir from its last finished epoch")
    xla: bool = option(False, "compile the forward and backward pass with XLA (measured slower "
                              "on CPU; the optimizer update is always compiled)")
    precision: str = option("auto", "auto (bf16 on GPUs and on CPUs with AMX, else float32), "
                                    "float32 or bfloat16")
    check_precisions: str = option(
        "bfloat16,int8", "lower inference precisions to check against float32 on dev at the "
                         "end (python -m ner.precision), so that --precision=auto may use them; "
                         "empty for none")
    strategy: str = option("auto", "auto (mirrored over several GPUs), default or mirrored")
    eval_batch_size: int = option(64, "windows per evaluation batch")
    eval_every_steps: int = option(0, "also evaluate on dev every N training steps, not only "
                                      "at epoch ends (0 = at epoch ends only)")
    patience: int = option(0, "stop after this many dev evaluations in a row without a better "
                              "dev F1 (0 = never stop early)")
    layer_decay: float = option(
        1.0, "layer-wise learning-rate decay: encoder layer i of L trains at --learning_rate "
             "x this^(L-1-i), the embeddings (and word shapes) at x this^L, so lower layers, "
             "nearer pretraining's general features, move less (1 = off)")
    wordpiece_masking: float = option(
        0.0, "training noise: each step replaces this share of the real wordpieces (never "
             "[CLS] or [SEP]) with [MASK], keeping their word shape, so a name must also be "
             "read from its context, as unseen names are at test time (0 = off)")
    ema_decay: float = option(
        0.0, "evaluate and keep an exponential moving average of the trained weights, updated "
             "every step with this decay (e.g. 0.999), instead of the last weights (0 = off)")

    def __post_init__(self):
        from ner import schemes

        try:
            self.scheme = schemes.scheme_or_auto(self.scheme)  # "bio", "IOBES", ...
        except ValueError as e:
            raise ValueError(f"--scheme: {e}") from None
        try:
            self.tag_scheme = schemes.scheme_name(self.tag_scheme)
        except ValueError as e:
            raise ValueError(f"--tag_scheme: {e}") from None
        if self.tag_scheme not in ("IOB2", "BIOES"):
            # IOB1 has no CRF constraints (`ner.crf`), and B- marks only the
            # boundary of two adjacent entities of one type: nothing to learn.
            raise ValueError(f"--tag_scheme={self.tag_scheme}: a model tags in IOB2 or BIOES")
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"--precision={self.precision!r}: expected auto, float32 or bfloat16")
        if self.strategy not in ("auto", "default", "mirrored"):
            raise ValueError(f"--strategy={self.strategy!r}: expected auto, default or mirrored")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        for name in ("learning_rate", "head_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be above 0, got {getattr(self, name)}")
        if not 0 <= self.warmup_proportion <= 1:
            raise ValueError(f"--warmup_proportion must be in [0, 1], "
                             f"got {self.warmup_proportion}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be 0 (off) or more, got {self.weight_decay}")
        for name in ("eval_every_steps", "patience", "max_steps", "train_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be 0 (off) or more, got {getattr(self, name)}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"--layer_decay must be in (0, 1] (1 = off), got {self.layer_decay}")
        if not 0 <= self.wordpiece_masking < 1:
            raise ValueError(f"--wordpiece_masking must be in [0, 1) (0 = off), "
                             f"got {self.wordpiece_masking}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"--ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        for name in (p for p in self.check_precisions.split(",") if p):
            if name not in ("bfloat16", "int8"):
                raise ValueError(f"--check_precisions: {name!r} is not bfloat16 or int8")
        if self.freeze:
            try:
                re.compile(self.freeze)
            except re.error as e:
                raise ValueError(f"--freeze={self.freeze!r} is not a regular expression: {e}") from None
