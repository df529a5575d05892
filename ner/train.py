"""Train a BERT-CRF tagger on CoNLL-format data or character-offset spans.

    python -m ner.train --data_dir=data/conll2003 --output_dir=models/conll2003
    python -m ner.train --train_file=my/train.jsonl --dev_file=my/dev.jsonl --output_dir=models/my
    python -m ner.train --flagfile=models/my/train.flags    # the same run again

`--data_dir` holds `train.txt`, `dev.txt` and (optionally) `test.txt`;
`--train_file`, `--dev_file` and `--test_file` name other files instead
(with your own train or dev file and no `--test_file`, there is no test
report: `--data_dir`'s test set is not used). A
file ending in `.jsonl`, `.json` or `.ndjson` is read as texts with
character-offset spans (`ner.spans`: one JSON object a line, or one JSON
array of them), any other as CoNLL (`ner.data`).

Dev F1 is measured at each epoch's end, and with `--eval_every_steps=N`
also every N training steps; the best model is kept. With `--patience=P`
training stops after P evaluations in a row without a better dev F1.

The output folder gets:

* `model/`: the best model by dev F1 (see `ner.model` for its files), ready
  for `ner.Tagger.load`;
* `train.flags`: every flag of the run, an absl flagfile (`--flagfile`); the
  same flags as the model card's command line;
* `checkpoints/last/`: weights, optimizer state and progress (the patience
  counter and best dev F1 included) after the last finished epoch, for
  `--resume`;
* `dev_report.json`, `test_report.json`, `test_predictions.txt` (conlleval
  format), `train_log.jsonl` (one line per epoch), `train_curves.html` (its
  plots, `evaluation.curves`; with the `html` extra) and `tensorboard/`.

`model/` carries a model card (`meta.json` and `README.md`, `ner.model.model_card`):
written with the weights at each new best epoch, completed with the final dev
and test scores at the end.

Every file is written atomically, so a run killed at any moment resumes with
`--resume` from its last finished epoch. Checkpoints are written at epoch ends
only: a resumed run replays the epoch it was killed in, evaluations within it
included, exactly as the uninterrupted run ran it (batch order is a function
of (seed, epoch), dropout masks of (seed, step)). A run that stopped early
stays stopped: `--resume` only completes its reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ner import cli
from ner.options import TrainOptions


def _define_flags(flag_values=None) -> None:
    """One absl flag per `TrainOptions` field (into `flag_values`, default the global FLAGS)."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    for field in dataclasses.fields(TrainOptions):
        kind = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float}.get(
            field.metadata.get("kind") or type(field.default), flags.DEFINE_string)
        kind(field.name, field.default, field.metadata["help"], flag_values=flag_values)


cli.answer_help_first(__name__, define_flags=_define_flags)  # before TensorFlow: see ner.cli

import numpy as np
import tensorflow as tf

from ner import casing, checkpoint, data, features, files, schemes, spans
from ner import precision as precisions
from ner.features import Encoded, encode_sentences
from ner.model import (ModelOptions, TaggerConfig, TaggerModel, data_file_info, file_sha256,
                       frozen_groups, model_card, read_config, read_meta, select_trainable,
                       train_command, write_meta)
from ner.optimization import AdamW
from ner.pipeline import traced_once_per_object
from ner.tagger import Tagger, check_vocab_size

logger = logging.getLogger("ner.train")

#: The run's flags as an absl flagfile, in the output folder.
FLAGS_FILE = "train.flags"
# Width of the head's word-shape vectors under a wholly frozen encoder
# (`TaggerConfig.head_case_size`): seven shapes need few dimensions.
HEAD_CASE_SIZE = 32
# Runs of fewer steps update the weights (and their average) without XLA:
# compiling the update costs more than it saves in a few steps. With the
# default encoder on 2 cores the compiled update saved 41-54 ms a step and
# compiling it cost about 2.2-6.4 s, so it pays from somewhere between 40 and
# 160 steps (BENCHMARKS.md, "The weight update compiled only for runs that
# repay it"); a CoNLL-2003 run has thousands, the test suite's tiny runs 4-20.
XLA_UPDATE_MIN_STEPS = 200


def compile_update(total_steps: int, replicas: int = 1) -> bool:
    """Whether a run compiles its weight update with XLA (`XLA_UPDATE_MIN_STEPS`).

    Only on one replica: a mirrored update runs in cross-replica context.
    """
    return replicas == 1 and total_steps >= XLA_UPDATE_MIN_STEPS


def choose_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`: mirrored over all GPUs when there are several, else the default."""
    if name == "mirrored" or (name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class _Progress:
    """One status line per `every` steps (or a live line on a terminal)."""

    def __init__(self, total: int, epoch: int, epochs: int, every: int = 50):
        self.total, self.epoch, self.epochs, self.every = total, epoch, epochs, every
        self.start = time.time()
        self.tty = sys.stderr.isatty()
        self.sentences = 0

    def update(self, step: int, loss: float, lr: float, sentences: int) -> None:
        self.sentences += sentences
        if not (self.tty or step % self.every == 0 or step == self.total):
            return
        elapsed = time.time() - self.start
        rate = self.sentences / max(elapsed, 1e-9)
        eta = (self.total - step) * elapsed / max(step, 1)
        line = (f"epoch {self.epoch}/{self.epochs} step {step}/{self.total} loss {loss:.3f} "
                f"lr {lr:.2e} {rate:.1f} sentences/s eta {eta:.0f}s")
        print(("\r" + line) if self.tty else line, end="" if self.tty and step < self.total else "\n",
              file=sys.stderr, flush=True)


def _labels_to_ids(docs: list[data.Document], index: dict[str, int], path: Path,
                   scheme: str = "IOB2"):
    """Per sentence, the ids of its tags spelled in the model's `scheme` (the
    sentences hold IOB2)."""
    ids = []
    for s in data.sentences(docs):
        tags = s.tags if scheme == "IOB2" else schemes.convert(s.tags, "IOB2", scheme)
        try:
            ids.append([index[t] for t in tags])
        except KeyError as e:
            raise ValueError(f"{path}:{s.line}: label {e.args[0]!r} does not occur in the "
                             f"training data (labels: {sorted(index)})") from None
    return ids


def data_files(options: TrainOptions) -> dict[str, Path | None]:
    """The run's train, dev and test files: `--train_file` etc. where given, else `--data_dir`'s.

    `--data_dir`'s test.txt is the test file only when the train and dev
    files are `--data_dir`'s too: with `--train_file` or `--dev_file` and no
    `--test_file` there is no test report.

    Returns:
        {"train": Path, "dev": Path, "test": Path, or None when there is no
        test file}.

    Raises:
        FileNotFoundError: a named file is missing, or, where none is named,
            `--data_dir`'s train.txt or dev.txt.
    """
    data_dir = Path(options.data_dir)
    found: dict[str, Path | None] = {}
    for split in ("train", "dev", "test"):
        named = getattr(options, f"{split}_file")
        path = Path(named) if named else data_dir / f"{split}.txt"
        if named and not path.is_file():
            raise FileNotFoundError(f"{path}: not found (--{split}_file)")
        if split == "test" and not named and (options.train_file or options.dev_file):
            # The user's own train and dev files: --data_dir's test.txt (CoNLL's
            # by default) is not theirs, and its labels need not be either.
            found[split] = None
        elif path.is_file():
            found[split] = path
        elif split == "test":
            found[split] = None
        else:
            raise FileNotFoundError(f"{path}: not found (--data_dir must hold train.txt, dev.txt "
                                    f"and optionally test.txt, or name files with --train_file "
                                    f"and --dev_file)")
    return found


def read_documents(path: Path, tokenizer, strict_spans: bool = False,
                   scheme: str = "auto") -> list[data.Document]:
    """A data file's documents: character-offset spans (`ner.spans`) for `.jsonl`/`.json`
    files, split into words by `tokenizer` as the tagger splits texts; CoNLL otherwise,
    in tag scheme `scheme` (`ner.data.read_conll`).

    Raises:
        ConllFormatError: naming the file and line of what cannot be read
            (`ner.spans.SpanFormatError` for span files).
    """
    if spans.is_span_file(path):
        return spans.read_spans(path, tokenizer, strict=strict_spans)
    return data.read_conll(path, scheme=scheme)


def read_split(path: Path, index: dict[str, int], limit: int = 0,
               docs: list[data.Document] | None = None, scheme: str = "IOB2"
               ) -> tuple[list[data.Sentence], list[int], list[list[int]]]:
    """Reads (unless `docs` already holds `path`'s documents) a split.

    Returns:
        (sentences, each sentence's document index, each sentence's label ids
        in the model's tag `scheme`); a label the training data lacks is an
        error naming file and line.
    """
    if docs is None:
        docs = data.read_conll(path)
    if limit:
        docs = _limit_documents(docs, limit)
    return (data.sentences(docs), data.document_ids(docs),
            _labels_to_ids(docs, index, path, scheme))


def load_split(path: Path, tokenizer, index: dict[str, int], options: TrainOptions,
               limit: int = 0, docs: list[data.Document] | None = None,
               pack_vocab_size: int | None = None) -> tuple[list[data.Sentence], Encoded]:
    """Reads a split (`read_split`) and cuts it into training windows.

    `pack_vocab_size`: see `encode_sentences` (the model's
    `TaggerConfig.packing_vocab_size`).
    """
    sents, doc_of, label_ids = read_split(path, index, limit=limit, docs=docs,
                                          scheme=options.tag_scheme)
    encoded = encode_sentences(
        tokenizer, [s.tokens for s in sents], options.max_seq_length,
        label_ids=label_ids, documents=doc_of,
        document_context=options.document_context, pack_vocab_size=pack_vocab_size)
    return sents, encoded


def _limit_documents(docs, limit):
    """The first `limit` sentences, keeping document boundaries."""
    out, left = [], limit
    for doc in docs:
        if left <= 0:
            break
        out.append(data.Document(doc.sentences[:left], doc.docstart, doc.scheme))
        left -= len(doc.sentences)
    return out


def evaluate_split(tagger: Tagger, sents, documents: Sequence[int],
                   batch_size: int | None = None) -> tuple[dict, list]:
    """Scores a split as `python -m evaluation.report --model_dir` does.

    Tags through `Tagger.tag_tokens` with each sentence's document, the same
    pipeline that users, the report and the exported model run; `batch_size`
    windows per encoder batch (None: the tagger's). A model tagging in BIOES
    is scored, and its predictions returned, in IOB2, the gold's scheme.
    """
    from evaluation.analysis import evaluate

    pred = tagger.tag_tokens([list(s.tokens) for s in sents], batch_size=batch_size,
                             documents=documents, scheme="IOB2")
    gold = [list(s.tags) for s in sents]
    result = evaluate(gold, pred, [list(s.tokens) for s in sents], scheme="IOB2")
    return result, pred


def _f1(result: dict) -> float:
    return float(result["default"]["micro avg"]["f1"])


class WeightAverage:
    """An exponential moving average of variables (Polyak averaging), to evaluate and keep.

    After each training step `update(step)` sets every average to
    `d * average + (1 - d) * value`, with `d = min(decay, (1 + step) / (10 +
    step))`: early on, when the weights move most, the average follows them
    closely instead of holding on to the pretrained start (the schedule of
    `tf.train.ExponentialMovingAverage` with `num_updates`). Written here, not
    taken from Keras's optimizer option, because the run's state must hold
    the averages under their own names for `--resume`, and evaluation swaps
    them in and out of the model in place.

    Args:
        by_name: the variables to average, by checkpoint name.
        decay: in (0, 1).
        jit_compile: compile the update with XLA (`compile_update`).
    """

    PREFIX = "weight_average/"

    def __init__(self, by_name: dict[str, tf.Variable], decay: float, jit_compile: bool = True):
        self.decay = decay
        self.names = list(by_name)
        self.variables = list(by_name.values())
        self.averages = [tf.Variable(v.read_value(), trainable=False, name=f"average_{i}")
                         for i, v in enumerate(self.variables)]
        # One fused pass over all weights per step (the optimizer's update is
        # compiled the same way, see `Trainer._make_step`).
        self._update = tf.function(self._update_fn, jit_compile=jit_compile,
                                   input_signature=[tf.TensorSpec([], tf.int64)])
        self._swap = tf.function(self._swap_fn, input_signature=[])

    def _update_fn(self, step):
        step = tf.cast(step, tf.float32)
        d = tf.minimum(tf.constant(self.decay, tf.float32), (1.0 + step) / (10.0 + step))
        for average, variable in zip(self.averages, self.variables):
            average.assign(d * average + (1.0 - d) * variable)

    def _swap_fn(self):
        for average, variable in zip(self.averages, self.variables):
            value = variable.read_value()
            variable.assign(average)
            average.assign(value)

    def update(self, step: int) -> None:
        """Folds the variables' values after training step `step` (1-based) into the averages."""
        self._update(tf.constant(step, tf.int64))

    @contextlib.contextmanager
    def swapped_in(self):
        """The averages in the variables for the `with` block, the trained values after it."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def variables_by_name(self) -> dict[str, tf.Variable]:
        return {self.PREFIX + name: a for name, a in zip(self.names, self.averages)}


class Trainer:
    """Builds the model, optimizer and compiled step for a run."""

    def __init__(self, options: TrainOptions, labels: list[str], tokenizer, strategy,
                 head_case_size: int = HEAD_CASE_SIZE):
        """`head_case_size`: the head's shape width under a wholly frozen encoder;
        0 builds the model runs saved before shapes joined the head had (none)."""
        from ner.bert import BertEncoder

        self.options = options
        self.strategy = strategy
        self.compute_dtype = precisions.training_dtype(options.precision)
        with strategy.scope():
            encoder = BertEncoder.from_pretrained(options.bert_dir, compute_dtype=self.compute_dtype)
            # Shape embeddings sit under the encoder: below a wholly frozen one
            # they would cost a backward pass through it, so they join the
            # head's word features there instead.
            whole_encoder_frozen = not select_trainable(encoder.trainable_variables,
                                                        options.freeze)[0]
            shapes_in_head = options.case_features and whole_encoder_frozen
            self.config = TaggerConfig(
                labels=labels, scheme=options.tag_scheme, do_lower_case=tokenizer.do_lower_case,
                encoder=encoder.config.to_dict(), **dict(
                    options.model_options(),
                    case_features=options.case_features and (not shapes_in_head
                                                             or head_case_size > 0)),
                head_case_size=head_case_size if shapes_in_head else 0)
            self.model = TaggerModel(self.config, encoder, compute_dtype=self.compute_dtype)
        self.trained, self.frozen = select_trainable(self.model.trainable_variables, options.freeze)
        if options.freeze and not self.frozen:
            raise ValueError(f"--freeze={options.freeze!r} matches no variable, so nothing "
                             f"would be frozen; names look like "
                             f"{self.model.trainable_variables[0].name.rsplit(':', 1)[0]}, "
                             f"bert/encoder/layer_0/attention/self/query/kernel, "
                             f"head/dense/kernel")
        if not self.trained:
            raise ValueError(f"--freeze={options.freeze!r} matches every variable, so nothing "
                             f"would train")
        # Shape embeddings are input embeddings like the encoder's own, on its scale.
        encoder_side = list(encoder.trainable_variables)
        if self.config.case_features and not self.config.head_case_size:
            encoder_side.append(self.model.case_embeddings)
        encoder_ids = {id(v) for v in encoder_side}
        # A wholly frozen encoder is a fixed feature extractor: no dropout in it
        # and no backward pass through it.
        self.encoder_frozen = whole_encoder_frozen
        layers = encoder.config.num_hidden_layers
        self.learning_rates = [
            layer_learning_rate(v.name, options.learning_rate, options.layer_decay, layers)
            if id(v) in encoder_ids else options.head_learning_rate for v in self.trained]
        self.optimizer = None
        self.average: WeightAverage | None = None
        vocab = tokenizer.vocab
        # [MASK] where the vocabulary has it (BERT's do), else [UNK].
        self.mask_id = vocab.index("[MASK]") if "[MASK]" in vocab else tokenizer.unk_id
        self.keep_ids = (tokenizer.cls_id, tokenizer.sep_id)

    def parameter_counts(self) -> dict[str, int]:
        count = lambda vs: int(sum(np.prod(v.shape) for v in vs))
        return {"trainable": count(self.trained), "frozen": count(self.frozen)}

    def build_optimizer(self, total_steps: int) -> None:
        warmup = int(total_steps * self.options.warmup_proportion)
        with self.strategy.scope():
            self.optimizer = AdamW(self.trained, self.learning_rates, total_steps, warmup,
                                   weight_decay=self.options.weight_decay)
        self._step = self._make_step(total_steps)
        if self.options.ema_decay:
            if self.strategy.num_replicas_in_sync != 1:
                raise ValueError("--ema_decay is implemented for one replica; run with "
                                 "--strategy=default or without --ema_decay")
            names = {id(v): name for name, v in self.model.variables_by_name().items()}
            self.average = WeightAverage({names[id(v)]: v for v in self.trained},
                                         self.options.ema_decay,
                                         jit_compile=compile_update(total_steps))

    def evaluation_weights(self):
        """A context in which the model holds the weights to evaluate and save:
        the average with `--ema_decay`, else the trained ones."""
        return self.average.swapped_in() if self.average else contextlib.nullcontext()

    def _make_step(self, total_steps: int):
        model, trained, strategy = self.model, self.trained, self.strategy
        encoder_frozen = self.encoder_frozen

        masking = self.options.wordpiece_masking
        mask_id, keep_ids = self.mask_id, self.keep_ids
        vocab_size = self.config.packing_vocab_size

        def replica_step(feats, labels, seed):
            if masking:
                feats = dict(feats, input_ids=mask_wordpieces(
                    feats["input_ids"], feats["input_mask"], masking, seed, mask_id, keep_ids,
                    vocab_size))
            with tf.GradientTape() as tape:
                loss = model.loss(feats, labels, training=True,
                                  encoder_training=not encoder_frozen, dropout_seed=seed)
            grads = tape.gradient(loss, trained)
            return loss, [tf.convert_to_tensor(g) for g in grads]

        # One trace for every batch shape: retracing the backward pass costs
        # seconds. (XLA still compiles once per concrete shape.)
        ids = tf.TensorSpec([None, None], tf.int32)
        signature = [{"input_ids": ids, "input_mask": ids, "word_starts": ids,
                      "word_lengths": tf.TensorSpec([None], tf.int32)}, ids,
                     tf.TensorSpec([2], tf.int64)]
        compiled = traced_once_per_object(tf.function(
            replica_step, jit_compile=self.options.xla, input_signature=signature))
        # The update touches every weight several times; XLA fuses it into one
        # pass per variable (measured: 159 ms -> 62 ms per step on 2 cores),
        # in a run with steps enough to repay compiling it (`compile_update`).
        single = strategy.num_replicas_in_sync == 1
        optimizer = self.optimizer
        apply = traced_once_per_object(tf.function(
            lambda grads, rows: optimizer.apply([g / rows for g in grads]),
            jit_compile=compile_update(total_steps, strategy.num_replicas_in_sync)))

        if single:
            def step(feats, labels, rows, seed):
                loss, grads = compiled(feats, labels, seed)
                rows = tf.cast(rows, tf.float32)
                apply(grads, rows)
                return loss / rows
            return step

        @tf.function(reduce_retracing=True)
        def mirrored_step(feats, labels, rows, seed):
            # The plain function: it is traced inside this one, per replica.
            loss, grads = strategy.run(replica_step, args=(feats, labels, seed))
            loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
            rows = tf.cast(rows, tf.float32)
            grads = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) / rows for g in grads]
            self.optimizer.apply(grads)
            return loss / rows

        return traced_once_per_object(mirrored_step)

    def _distribute(self, batch: features.Batch):
        feats = batch.features()
        n = self.strategy.num_replicas_in_sync
        if n == 1:
            return {k: tf.constant(v) for k, v in feats.items()}, tf.constant(batch.label_ids)

        def part(array):
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant(np.array_split(array, n)[ctx.replica_id_in_sync_group]))

        return {k: part(v) for k, v in feats.items()}, part(batch.label_ids)

    def train_step(self, batch: features.Batch, step: int) -> float:
        """One update on `batch`; dropout masks are a function of (seed, step)."""
        feats, labels = self._distribute(batch)
        rows = int((batch.index >= 0).sum())
        seed = tf.constant([self.options.seed, step], tf.int64)
        loss = float(self._step(feats, labels, tf.constant(rows), seed))
        if self.average:
            self.average.update(step + 1)
        return loss

    # === Training state for --resume ===

    def state_variables(self) -> dict[str, tf.Variable]:
        return dict(self.model.variables_by_name(), **self.optimizer.variables_by_name(),
                    **(self.average.variables_by_name() if self.average else {}))


def layer_learning_rate(name: str, peak: float, decay: float, num_layers: int) -> float:
    """`--layer_decay`: the peak learning rate of an encoder-side variable by its depth.

    `bert/encoder/layer_i/...` gets `peak * decay ** (num_layers - 1 - i)`; any
    other (the embeddings, the word-shape embeddings) sits below layer 0 and
    gets `peak * decay ** num_layers`.
    """
    found = re.match(r"bert/encoder/layer_(\d+)/", name)
    depth = num_layers - 1 - int(found.group(1)) if found else num_layers
    return peak * decay ** depth


def mask_wordpieces(input_ids: tf.Tensor, input_mask: tf.Tensor, rate: float, seed: tf.Tensor,
                    mask_id: int, keep_ids: Sequence[int],
                    vocab_size: int | None = None) -> tf.Tensor:
    """`--wordpiece_masking`: real wordpieces replaced by `mask_id` with probability `rate`.

    Args:
        input_ids, input_mask: int32 [B, S]; ids packed with word shapes
            when `vocab_size` is given (`ner.casing`): a masked piece keeps
            its word's shape.
        rate: probability of each real wordpiece (input_mask 1) not in `keep_ids`.
        seed: int64 [2], the step's dropout seed: the draw is a function of
            (run seed, step), so a resumed run masks as the uninterrupted one.
        mask_id: the id put in, e.g. [MASK]'s.
        keep_ids: ids never masked ([CLS], [SEP]).

    Returns:
        int32 [B, S].
    """
    pieces, shapes = (casing.unpack(input_ids, vocab_size) if vocab_size
                      else (input_ids, None))
    draw = tf.random.stateless_uniform(
        tf.shape(pieces), seed=tf.random.experimental.stateless_fold_in(seed, 2001))
    hit = (draw < rate) & (input_mask > 0)
    for keep in keep_ids:
        hit &= tf.not_equal(pieces, keep)
    pieces = tf.where(hit, tf.constant(mask_id, pieces.dtype), pieces)
    return pieces if shapes is None else pieces + shapes * vocab_size


def _write_state(folder: Path, trainer: Trainer, state: dict) -> None:
    with files.atomic_folder(folder) as tmp:
        checkpoint.save_variables(tmp / "train.ckpt", trainer.state_variables())
        (tmp / "state.json").write_text(files.json_text(state))


# What a resumed run must share with the saved one: all that shapes the
# variables, the windows or the batches (dropout and learning rates may change).
# Saved runs hold these keys in state.json; one added later reads as its
# option's default in a state without it.
_RESUME_KEYS = tuple(f.name for f in dataclasses.fields(ModelOptions) if f.name != "dropout") + (
    "bert_dir", "freeze", "batch_size", "epochs", "seed", "train_limit", "max_steps",
    "do_lower_case", "scheme", "tag_scheme")


def _check_resumable(saved: dict, options: TrainOptions, paths: dict) -> None:
    """Refuses to resume a saved state with other options or other data."""
    # A key a saved run lacks (saved before its option existed) had the default.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions)}
    was = {k: saved["options"].get(k, defaults[k]) for k in _RESUME_KEYS}
    # The same folder named relative once and absolute once is the same.
    same = lambda k, a, b: a == b or (k == "bert_dir" and a and b  # noqa: E731
                                      and os.path.realpath(a) == os.path.realpath(b))
    changed = {k: (was[k], getattr(options, k)) for k in _RESUME_KEYS
               if not same(k, was[k], getattr(options, k))}
    if changed:
        # The likeliest wish behind a changed length, answered.
        longer = ("; the learning rate decays to 0 at the run's last step (--epochs, "
                  "--max_steps), so a run cannot be made longer once started: train a new "
                  "run into another --output_dir" if {"epochs", "max_steps"} & set(changed)
                  else "")
        raise ValueError(f"--resume with options that differ from the saved run: "
                         f"{ {k: f'{a!r} -> {b!r}' for k, (a, b) in changed.items()} }{longer}")
    # States saved before the files' contents were recorded resume unchecked.
    moved = [split for split, sha in saved.get("data_sha256", {}).items()
             if file_sha256(paths[split]) != sha]
    if moved:
        raise ValueError(
            "--resume with other data than the saved run's: the contents of the "
            + " and ".join(f"{split} file ({paths[split]})" for split in moved)
            + " changed since it was trained on them; resume with the same files, or "
            "train into another --output_dir")


def _adopt_a_later_best_model(model: Path, state: dict) -> None:
    """Takes the model folder's score as the best when it was saved after the checkpoint.

    An evaluation within an epoch (`--eval_every_steps`) saves a better model
    at once, but the checkpoint only at the epoch's end: a run killed between
    the two resumes from a checkpoint whose best score is older than the
    model folder's. Without this, a replay that never beat the older score
    left the newer weights in place under a card naming the older epoch.
    """
    meta_path = model / "meta.json"
    if not meta_path.is_file():
        return
    meta = files.read_json_object(meta_path)
    step = meta.get("training", {}).get("best_step")  # cards before it: unknown
    dev = (meta.get("scores") or {}).get("dev")
    if step is None or dev is None or step <= state["best_step"]:
        return
    state.update(best_f1=float(dev["default"]["micro avg"]["f1"]),
                 best_epoch=meta["training"]["best_epoch"], best_step=step)
    print(f"the model in {model} was saved after the checkpoint (epoch {state['best_epoch']}, "
          f"step {step}, dev F1 {100 * state['best_f1']:.2f}): it stays the best so far",
          file=sys.stderr)


def _check_encoder_fits(options: TrainOptions, tokenizer) -> None:
    """Refuses a vocab.txt or a --max_seq_length that does not fit the encoder, before
    training rather than at its first long sentence (or, worse, at tagging time)."""
    folder = checkpoint.resolve_bert_dir(options.bert_dir)
    config = checkpoint.config_file(folder)
    from ner.bert import BertConfig

    bert = BertConfig.from_json_file(config)
    check_vocab_size(tokenizer.vocab_size, bert.vocab_size,
                     folder / "vocab.txt", config, remedy=f"use the vocab.txt of {folder}'s "
                     "checkpoint")
    if options.max_seq_length > bert.max_position_embeddings:
        raise ValueError(f"--max_seq_length={options.max_seq_length} exceeds the encoder's "
                         f"max_position_embeddings ({bert.max_position_embeddings}, {config}); "
                         f"use --max_seq_length={bert.max_position_embeddings} or less")


def _with_last(items):
    """(item, whether it is the last) for each item of an iterable, read one ahead."""
    it = iter(items)
    try:
        current = next(it)
    except StopIteration:
        return
    for following in it:
        yield current, False
        current = following
    yield current, True


def flagfile_text(options: TrainOptions) -> str:
    """The run's flags as an absl flagfile: `python -m ner.train --flagfile=FILE` reruns it.

    One flag a line, spelled as in the model card's command line (the same
    `ner.model.train_command` of the same values), so the two never disagree.
    """
    words = shlex.split(train_command(dataclasses.asdict(options)))[3:]
    return ("# Every flag of a python -m ner.train run: rerun it with --flagfile=<this file>.\n"
            + "".join(word + "\n" for word in words))


def _recorded_flags(model: Path) -> dict[str, Any] | None:
    """The training flags in a model folder's card, or None."""
    try:
        meta = files.read_json_object(model / "meta.json")
    except (OSError, ValueError):
        return None
    flags = meta.get("training", {}).get("flags")
    return dict(flags) if isinstance(flags, dict) else None


def _warn_of_changed_options(flagfile: Path, options: TrainOptions) -> None:
    """Says which flags a resume changes (those `_RESUME_KEYS` allows to change)."""
    try:
        before = set(flagfile.read_text(encoding="utf-8").splitlines())
    except OSError:
        return
    now = flagfile_text(options).splitlines()
    changed = [line for line in now if line not in before
               and line not in ("--resume", "--noresume") and not line.startswith("#")]
    if changed:
        print(f"--resume with other flags than the run so far ({' '.join(changed)}): "
              f"train.flags and the model card will name these, though the epochs before "
              "were trained with the earlier ones", file=sys.stderr)


def _same_flags(flagfile: Path, options: TrainOptions) -> bool:
    """Whether `flagfile` (a run's train.flags) holds `options`, --resume aside."""
    def flags(text: str) -> list[str]:
        return [line for line in text.splitlines() if line not in ("--resume", "--noresume")]
    try:
        recorded = flagfile.read_text(encoding="utf-8")
    except OSError:
        return False
    return flags(recorded) == flags(flagfile_text(options))


def _scores(dev: dict) -> str:
    return f"{100 * dev['precision']:.2f}/{100 * dev['recall']:.2f}/{100 * dev['f1']:.2f}"


def train(options: TrainOptions) -> dict[str, Any]:
    """Runs training; returns a summary dict (dev and test F1, timings, early stop)."""
    from ner.tokenization import Tokenizer

    tf.random.set_seed(options.seed)
    np.random.seed(options.seed)
    out = Path(options.output_dir)
    paths = data_files(options)
    last = out / "checkpoints" / "last"
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--output_dir {out} is a file, not a folder")
    writable = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not os.access(writable, os.W_OK | os.X_OK):
        raise PermissionError(f"--output_dir {out}: {writable} is not writable")
    # A kill between the two renames that replace a folder leaves `X.old`
    # (where one atomic swap is not available: ner.files.atomic_folder).
    for folder in (last, out / "model"):
        if files.recover_folder(folder):
            print(f"recovered {folder} from {folder.name}.old, left by a run killed while "
                  "replacing it", file=sys.stderr)
    if last.exists() and not options.resume:
        raise FileExistsError(f"{out} already holds a training run; pass --resume to continue it "
                              f"or choose another --output_dir")
    if (out / "model").exists() and not last.exists():
        # A run stopped in its first epoch, after an evaluation within it had
        # saved a model: nothing to resume from, and a new run would replace it.
        if not (options.resume and _same_flags(out / FLAGS_FILE, options)):
            raise FileExistsError(
                f"{out} holds a model but no checkpoint to resume from (a run stopped in its "
                f"first epoch); delete {out / 'model'} to train into this folder again, or "
                "choose another --output_dir")
        print(f"--resume: {out} holds a model saved within the first epoch of this run and no "
              "checkpoint (one is written at each epoch's end); starting the run again",
              file=sys.stderr)
    if options.resume and not last.exists():
        print(f"--resume: nothing to resume in {out} (no {last}); starting a new run",
              file=sys.stderr)
    saved = None
    if options.resume and last.exists():
        saved = files.read_json_object(last / "state.json")
        _check_resumable(saved, options, paths)  # before the model loads: fails fast
    # A finished run resumed (to complete its reports) trains no step: its
    # card and train.flags keep the flags it was trained with.
    finished = saved is not None and bool(
        saved.get("stopped_early") or saved["epoch"] >= options.epochs
        or (options.max_steps and saved["step"] >= options.max_steps))
    recorded_flags = _recorded_flags(out / "model") if finished else None
    if saved is not None and not finished:
        _warn_of_changed_options(out / FLAGS_FILE, options)

    tokenizer = Tokenizer.from_pretrained(options.bert_dir, do_lower_case=options.do_lower_case)
    _check_encoder_fits(options, tokenizer)
    read = functools.partial(read_documents, tokenizer=tokenizer,
                             strict_spans=options.strict_spans, scheme=options.scheme)
    train_docs = read(paths["train"])
    labels = data.label_list(train_docs, options.tag_scheme)
    if labels == ["O"]:
        print(f"warning: {paths['train']} has no entity tags, only O: the model will learn to "
              "tag nothing (is the tag column the last one?)", file=sys.stderr)
    index = {label: i for i, label in enumerate(labels)}
    strategy = choose_strategy(options.strategy)

    # A frozen-encoder run saved before word shapes joined the head has none:
    # it resumes as it was built.
    saved_names = ({name for name, _ in tf.train.list_variables(str(last / "train.ckpt"))}
                   if options.resume and last.exists() else None)
    if saved_names is not None:
        averaged = any(n.startswith(WeightAverage.PREFIX) for n in saved_names)
        if averaged != bool(options.ema_decay):
            raise ValueError(
                f"--resume: the run in {out} was trained "
                f"{'with' if averaged else 'without'} --ema_decay; resume it "
                f"{'with --ema_decay' if averaged else 'without --ema_decay (or 0)'}")
    legacy = saved_names is not None and options.case_features and options.freeze and not any(
        name.startswith(("head/word_shape_embeddings", "head/case_embeddings"))
        for name in saved_names)
    trainer = Trainer(options, labels, tokenizer, strategy,
                      head_case_size=0 if legacy else HEAD_CASE_SIZE)
    if legacy and not trainer.config.case_features:
        print("case features: off, as in the saved run (made before word shapes joined the "
              "head of a frozen encoder)", file=sys.stderr)
    if trainer.config.head_case_size:
        print(f"case features: in the head ({trainer.config.head_case_size} per word), "
              f"because --freeze covers the whole encoder", file=sys.stderr)
    split = functools.partial(load_split, tokenizer=tokenizer, index=index, options=options,
                              pack_vocab_size=trainer.config.packing_vocab_size)
    t0 = time.time()
    train_sents, train_enc = split(paths["train"], limit=options.train_limit, docs=train_docs)
    dev_sents, dev_docs, _ = read_split(paths["dev"], index, docs=read(paths["dev"]),
                                     scheme=options.tag_scheme)
    test_path = paths["test"]
    test_docs = read(test_path) if test_path else None
    test = (read_split(test_path, index, docs=test_docs, scheme=options.tag_scheme)[:2]
            if test_path else None)
    print(f"data: {len(train_sents)} train / {len(dev_sents)} dev"
          f"{f' / {len(test[0])} test' if test else ''} sentences, {len(labels)} labels; "
          f"train windows {train_enc.stats.windows} ({train_enc.stats.split_sentences} sentences "
          f"split into several windows, {train_enc.stats.words_dropped} words dropped); "
          f"{time.time() - t0:.1f}s", file=sys.stderr)
    flags = recorded_flags or dataclasses.asdict(options)
    # Only now: a run that fails on its flags or data leaves no empty folder.
    out.mkdir(parents=True, exist_ok=True)
    if recorded_flags is None:
        files.write_text_atomically(out / FLAGS_FILE, flagfile_text(options))
    # What the model card says of this run; scores and epochs are added as they come.
    data_info = {"train": data_file_info(paths["train"], len(data.sentences(train_docs)),
                                         len(train_sents)),
                 "dev": data_file_info(paths["dev"], len(dev_sents)),
                 **({"test": data_file_info(test_path, len(test[0]))} if test else {})}
    card = functools.partial(
        model_card, name=out.resolve().name, config=trainer.config,
        flags=flags, compute_dtype=trainer.compute_dtype.name,
        parameters=trainer.parameter_counts(),
        encoder_parameters=int(sum(np.prod(v.shape) for v in trainer.model.encoder.variables)),
        data=data_info)

    batch_size = options.batch_size
    # Counted as the epochs cut them (--xla's batches of one size are more).
    steps_per_epoch = len(list(features.batches(train_enc.windows, batch_size, shuffle=True,
                                                seed=options.seed * 1000 + 1,
                                                fixed_batch_size=options.xla)))
    total_steps = steps_per_epoch * options.epochs
    if options.max_steps:
        total_steps = min(total_steps, options.max_steps)
    if options.eval_every_steps > total_steps:
        print(f"--eval_every_steps={options.eval_every_steps}: more than the run's "
              f"{total_steps} steps; dev is scored at each epoch's end only", file=sys.stderr)
    trainer.build_optimizer(total_steps)
    counts = trainer.parameter_counts()
    print(f"parameters: {counts['trainable']:,} trainable, {counts['frozen']:,} frozen"
          f"{f' (--freeze={options.freeze})' if options.freeze else ''}; compute dtype "
          f"{trainer.compute_dtype.name}; XLA {'on' if options.xla else 'off'}; "
          f"{strategy.num_replicas_in_sync} replica(s)", file=sys.stderr)
    if options.freeze:
        print(f"frozen by --freeze: {', '.join(frozen_groups(trainer.trained, trainer.frozen))}",
              file=sys.stderr)

    # `evals_since_best`: dev evaluations in a row without a better F1 (the
    # patience counter); `stopped_early`: why the run stopped, None until then.
    # The training and dev files' contents: what the run learns from and
    # chooses its best model by (their paths may move).
    data_sha256 = {split: data_info[split]["sha256"] for split in ("train", "dev")}
    state = {"epoch": 0, "step": 0, "best_f1": -1.0, "best_epoch": 0, "best_step": 0,
             "evals_since_best": 0, "stopped_early": None, "history": [],
             "options": {k: getattr(options, k) for k in _RESUME_KEYS},
             "data_sha256": data_sha256}
    if saved is not None:
        checkpoint.assign_pretrained(trainer.state_variables(),
                                     checkpoint.read_checkpoint(last / "train.ckpt"), str(last))
        # States saved before early stopping existed lack its keys.
        state = dict({k: v for k, v in state.items() if k != "options"}, **saved)
        _adopt_a_later_best_model(out / "model", state)
        print(f"resumed after epoch {state['epoch']} (step {state['step']}, best dev F1 "
              f"{state['best_f1']:.4f}, {state['evals_since_best']} evaluation(s) since)",
              file=sys.stderr)
        if state["stopped_early"]:
            print(f"the run had stopped early ({state['stopped_early']}); completing its reports",
                  file=sys.stderr)

    writer = tf.summary.create_file_writer(str(out / "tensorboard"))
    dev_tagger = Tagger(trainer.model, tokenizer, batch_size=options.eval_batch_size)

    def evaluate_dev(epoch: int, train_seconds: float) -> tuple[dict, bool]:
        """Scores dev now; saves the model if it is the best yet; counts patience.

        With `--ema_decay` the model scored and saved holds the weights' average."""
        with trainer.evaluation_weights():
            dev_result, _ = evaluate_split(dev_tagger, dev_sents, dev_docs)
            dev = dev_result["default"]["micro avg"]
            # Or the evaluation that saved the model a resumed run adopted
            # (below), replayed: saved again, as the uninterrupted run did.
            improved = dev["f1"] > state["best_f1"] or (
                state["step"] == state["best_step"] and dev["f1"] >= state["best_f1"])
            if improved:
                trainer.model.save(out / "model", tokenizer.vocab, meta=card(
                    dev=dev_result, test=None, best_epoch=epoch, best_step=state["step"],
                    seconds_per_epoch=[h["seconds"] for h in state["history"]] + [train_seconds]))
        with writer.as_default(step=state["step"]):
            for key in ("precision", "recall", "f1"):
                tf.summary.scalar(f"dev/{key}", dev[key])
        writer.flush()
        if improved:
            files.write_json_atomically(out / "dev_report.json", dev_result)
            state.update(best_f1=float(dev["f1"]), best_epoch=epoch, best_step=state["step"],
                         evals_since_best=0)
        else:
            state["evals_since_best"] += 1
        return dev_result, improved

    def out_of_patience() -> str | None:
        """Why training stops here, or None while it goes on."""
        if not options.patience or state["evals_since_best"] < options.patience:
            return None
        return (f"dev F1 has not improved on {100 * state['best_f1']:.2f} (epoch "
                f"{state['best_epoch']}, step {state['best_step']}) in {state['evals_since_best']} "
                f"evaluation(s), --patience={options.patience}")

    epoch_times = []
    for epoch in range(state["epoch"] + 1, options.epochs + 1):
        if state["stopped_early"] or (options.max_steps and state["step"] >= options.max_steps):
            break
        progress = _Progress(steps_per_epoch, epoch, options.epochs)
        start = time.time()
        eval_seconds = 0.0  # time in evaluations within the epoch, not training time
        losses = []
        within = []  # the epoch's evaluations before its end
        dev_result = None
        # The order is a function of (seed, epoch) alone, so a resumed run sees
        # the same batches as an uninterrupted one.
        for i, (batch, last_batch) in enumerate(_with_last(features.batches(
                train_enc.windows, batch_size, shuffle=True, seed=options.seed * 1000 + epoch,
                fixed_batch_size=options.xla)), 1):
            loss = trainer.train_step(batch, state["step"])
            losses.append(loss)
            state["step"] += 1
            lr = float(trainer.optimizer.learning_rate(options.learning_rate))
            progress.update(i, loss, lr, int((batch.index >= 0).sum()))
            if state["step"] % 10 == 0:
                with writer.as_default(step=state["step"]):
                    tf.summary.scalar("train/loss", loss)
                    tf.summary.scalar("train/learning_rate", lr)  # the encoder's
            if options.max_steps and state["step"] >= options.max_steps:
                break
            # Within the epoch only: its last step is evaluated at its end.
            if options.eval_every_steps and state["step"] % options.eval_every_steps == 0 \
                    and not last_batch:
                began = time.time()
                dev_result, improved = evaluate_dev(epoch, began - start - eval_seconds)
                eval_seconds += time.time() - began
                dev = dev_result["default"]["micro avg"]
                within.append({"step": state["step"], **dev})
                print(f"epoch {epoch} step {state['step']}: dev P/R/F1 {_scores(dev)}"
                      f"{' (best so far)' if improved else ''}", file=sys.stderr)
                state["stopped_early"] = out_of_patience()
                if state["stopped_early"]:
                    break
        epoch_seconds = time.time() - start - eval_seconds
        epoch_times.append(epoch_seconds)
        if not state["stopped_early"]:  # else the evaluation just made ends the epoch
            dev_result, improved = evaluate_dev(epoch, epoch_seconds)
            state["stopped_early"] = out_of_patience()
        dev = dev_result["default"]["micro avg"]
        print(f"epoch {epoch}: {epoch_seconds:.1f}s train, loss {np.mean(losses):.4f}, dev P/R/F1 "
              f"{_scores(dev)}{' (best so far)' if improved else ''}", file=sys.stderr)
        state["epoch"] = epoch
        state["history"].append({
            "epoch": epoch, "step": state["step"], "seconds": epoch_seconds,
            "loss": float(np.mean(losses)), "dev": dev,
            "learning_rate": float(trainer.optimizer.learning_rate(options.learning_rate)),
            "dev_types": {t: s["f1"] for t, s in dev_result["default"]["types"].items()},
            **({"dev_within_epoch": within} if within else {})})
        if state["stopped_early"]:
            print(f"stopping early at epoch {epoch}, step {state['step']}: "
                  f"{state['stopped_early']}; the model kept is epoch {state['best_epoch']}'s "
                  f"(step {state['best_step']})", file=sys.stderr)
        # The log is rewritten from the saved state, so a run killed between
        # the two writes never shows an epoch twice after --resume.
        _write_state(last, trainer, state)
        files.write_text_atomically(out / "train_log.jsonl",
                                    "".join(json.dumps(h) + "\n" for h in state["history"]))

    _write_curves(out)
    summary: dict[str, Any] = {"best_epoch": state["best_epoch"], "best_step": state["best_step"],
                               "dev_f1": state["best_f1"], "stopped_early": state["stopped_early"],
                               "epoch_seconds": epoch_times, "parameters": counts,
                               "compute_dtype": trainer.compute_dtype.name}
    if not (out / "model").is_dir():
        return summary
    # The best model as users (and `python -m evaluation.report --model_dir`)
    # load it, in float32: the scores printed below are the report's for the
    # same files, whatever dtype the epochs were scored in.
    best_tagger = _best_tagger(out / "model", trainer, dev_tagger)
    dev_result, _ = evaluate_split(best_tagger, dev_sents, dev_docs)
    files.write_json_atomically(out / "dev_report.json", dev_result)
    summary["dev_f1"] = _f1(dev_result)
    dev = dev_result["default"]["micro avg"]
    print(f"best model (epoch {state['best_epoch']}), as loaded for tagging: dev P/R/F1 "
          f"{_scores(dev)} ({paths['dev']})", file=sys.stderr)
    if test is not None:
        from evaluation.render import format_report
        from evaluation.report import scored_model
        from ner.data import write_predictions

        test_result, test_pred = evaluate_split(best_tagger, *test)
        # What was scored, as `python -m evaluation.report --model_dir` records
        # it, so that the report printed below is its text to the letter (its
        # header names a scheme the file was converted from).
        test_result["model"] = scored_model(out / "model", test_path, best_tagger.precision,
                                            test_docs)
        files.write_json_atomically(out / "test_report.json", test_result)
        write_predictions(str(out / "test_predictions.txt"), [list(s.tokens) for s in test[0]],
                          [list(s.tags) for s in test[0]], test_pred)
        print(f"\nTest report (best model, epoch {state['best_epoch']}, {test_path}):\n",
              file=sys.stderr)
        print(format_report(test_result))
        summary["test_f1"] = _f1(test_result)
    write_meta(out / "model", card(dev=dev_result, test=test_result if test else None,
                                   best_epoch=state["best_epoch"], best_step=state["best_step"],
                                   seconds_per_epoch=[h["seconds"] for h in state["history"]]))
    lower = [p for p in options.check_precisions.split(",") if p]
    if lower:
        checked = precisions.check(out / "model", paths["dev"], lower,
                                   batch_size=options.eval_batch_size)
        summary["precisions"] = {p: checked["f1"][p] for p in checked["f1"]}
        print(f"inference precisions on dev (python -m ner.precision): "
              + ", ".join(f"{p} {f1:.2f}{'' if p in checked['accepted'] else ' (rejected)'}"
                          for p, f1 in checked["f1"].items()), file=sys.stderr)
    return summary


def _best_tagger(folder: Path, trainer: Trainer, dev_tagger: Tagger) -> Tagger:
    """The saved best model as `Tagger.load(folder)` gives it, in float32, with
    `dev_tagger`'s batch size.

    When the model that scored dev computes as a loaded one does (float32,
    the folder's config and casing), the folder's weights are read back into
    it and its tagger, already traced, scores the best model: the same
    weights from the same files through the same pipeline code, without a
    second trace of the pipeline: a tiny model's one-epoch run of the test
    suite took 9.39 s against 12.49 s (medians of five in turns, EPYC Zen 4,
    2 cores). Otherwise the folder is loaded afresh. Training is over: the
    weights in memory are not needed any more.
    """
    saved = read_config(folder)
    if (trainer.compute_dtype != tf.float32 or trainer.model.encoder.precision != "float32"
            or saved != trainer.config
            or dev_tagger.tokenizer.do_lower_case != saved.do_lower_case):
        return Tagger.load(folder, batch_size=dev_tagger.batch_size)
    trainer.model.assign_weights(folder)
    dev_tagger.meta = read_meta(folder)
    return dev_tagger


def _write_curves(out: Path) -> None:
    """`train_curves.html` from the log; without the `html` extra, a note instead."""
    from evaluation.curves import CURVES_FILE, write_curves
    from evaluation.html import MissingExtraError

    if (out / "train_log.jsonl").is_file():
        try:
            write_curves(out)
        except MissingExtraError as e:
            print(f"{CURVES_FILE} not written: {e}", file=sys.stderr)


def options_from_flags(flag_values) -> TrainOptions:
    """The `TrainOptions` of parsed flags (an absl `FlagValues`, after `_define_flags`).

    Raises:
        ValueError: an option is invalid (see `TrainOptions`).
    """
    values = {f.name: getattr(flag_values, f.name) for f in dataclasses.fields(TrainOptions)}
    values["bert_dir"] = values["bert_dir"] or None
    return TrainOptions(**values)


def main(argv):
    from absl import flags

    if len(argv) > 1:
        raise SystemExit(f"train: unexpected arguments {argv[1:]}")
    try:
        options = options_from_flags(flags.FLAGS)
        summary = train(options)
    except (FileNotFoundError, FileExistsError, PermissionError, ValueError) as e:
        print(f"train: error: {e}", file=sys.stderr)
        raise SystemExit(2)
    except KeyboardInterrupt:
        state = Path(flags.FLAGS.output_dir) / "checkpoints" / "last" / "state.json"
        if state.is_file():
            epoch = files.read_json_object(state)["epoch"]
            advice = (f"run the same command with --resume to continue from the end of epoch "
                      f"{epoch}")
        else:
            advice = "no epoch had finished, so there is nothing to resume from"
        print(f"\ntrain: interrupted; {advice}", file=sys.stderr)
        raise SystemExit(130)
    print(json.dumps(summary, indent=2), file=sys.stderr)


if __name__ == "__main__":
    from ner import cli

    _define_flags()
    cli.run_absl(main)
