"""Training speed, side by side: our trainer against the standard Hugging Face recipe.

Both train the same encoder (the offline default, all-MiniLM-L6-v2) on the
same CoNLL-2003 training sentences, one after the other in this one process,
so machine noise hits both alike. Each runs in a fresh subprocess, so neither
framework's thread pools (TensorFlow's and PyTorch's both spin) slow the other. Each runs `--warmup` steps untimed, then
`--steps` timed steps, and seconds per epoch are projected from the timed
steps (a full epoch of each is `--full`).

The peer is the standard recipe: `transformers` `Trainer`, token
classification, labels on first sub-tokens (-100 elsewhere), learning rate
5e-5, batch 32, random batches padded to their longest
(`DataCollatorForTokenClassification`), PyTorch on the CPU.

    python scripts/benchmark_training.py --steps=40
    python scripts/benchmark_training.py --full --precisions=auto,float32

Needs the `test` extra (transformers, torch==2.13.0).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from absl import flags

flags.DEFINE_string("data_dir", "data/conll2003", "folder with train.txt")
flags.DEFINE_integer("steps", 40, "timed steps per trainer")
flags.DEFINE_integer("warmup", 5, "untimed steps first (tracing, allocation)")
flags.DEFINE_integer("batch_size", 32, "sentences per step, both trainers")
flags.DEFINE_bool("full", False, "time a whole epoch of each instead of --steps")
flags.DEFINE_bool("skip_hf", False, "only time our trainer")
flags.DEFINE_string("output", "", "write the results as JSON here")
flags.DEFINE_list("precisions", ["auto"],
                  "time our trainer once per --precision in this list (auto, float32, bfloat16)")
flags.DEFINE_enum("only", None, ["ours", "hf"], "run one trainer and print its JSON (used internally)")
flags.DEFINE_string("precision", "auto", "our trainer's --precision (used internally)")
FLAGS = flags.FLAGS


def ours(sentences_path: Path, steps: int, warmup: int, batch_size: int, full: bool,
         precision: str = "auto") -> dict:
    import tensorflow as tf

    from ner import data, features, train
    from ner.tokenization import Tokenizer

    options = train.TrainOptions(batch_size=batch_size, precision=precision)
    tokenizer = Tokenizer.from_pretrained()
    docs = data.read_conll(sentences_path)
    labels = data.label_list(docs)
    index = {label: i for i, label in enumerate(labels)}
    trainer = train.Trainer(options, labels, tokenizer, tf.distribute.get_strategy())
    _, encoded = train.load_split(sentences_path, tokenizer, index, options, docs=docs,
                                  pack_vocab_size=trainer.config.packing_vocab_size)
    batches = list(features.batches(encoded.windows, batch_size, shuffle=True, seed=1))
    trainer.build_optimizer(len(batches))
    timed = batches[warmup:] if full else batches[warmup:warmup + steps]
    for i, b in enumerate(batches[:warmup]):
        trainer.train_step(b, i)
    start = time.perf_counter()
    sentences = 0
    for i, b in enumerate(timed):
        trainer.train_step(b, warmup + i)
        sentences += int((b.index >= 0).sum())
    seconds = time.perf_counter() - start
    frozen = f", --freeze={options.freeze}" if options.freeze else ""
    return {"name": f"ours (ner.train, --precision={precision}: TF 2.21, "
                    f"{trainer.compute_dtype.name}, length-sorted batches{frozen}, CRF)",
            "precision": precision, "compute_dtype": trainer.compute_dtype.name,
            "steps": len(timed), "sentences": sentences, "seconds": seconds,
            "steps_per_epoch": len(batches),
            "seconds_per_epoch": seconds / len(timed) * len(batches),
            "sentences_per_second": sentences / seconds}


def huggingface(sentences_path: Path, steps: int, warmup: int, batch_size: int, full: bool) -> dict:
    import numpy as np
    import torch
    import transformers
    from transformers import (BertForTokenClassification, BertTokenizerFast,
                              DataCollatorForTokenClassification, Trainer, TrainerCallback,
                              TrainingArguments)

    from ner import checkpoint, data

    folder = str(checkpoint.default_encoder_dir())
    docs = data.read_conll(sentences_path)
    labels = data.label_list(docs)
    index = {label: i for i, label in enumerate(labels)}
    sents = data.sentences(docs)
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    enc = tokenizer([list(s.tokens) for s in sents], is_split_into_words=True, truncation=True,
                    max_length=128)
    rows = []
    for i, s in enumerate(sents):
        previous, row_labels = None, []
        for w in enc.word_ids(i):
            row_labels.append(-100 if w is None or w == previous else index[s.tags[w]])
            previous = w
        rows.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                     "token_type_ids": enc["token_type_ids"][i], "labels": row_labels})

    class Dataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    steps_per_epoch = math.ceil(len(rows) / batch_size)
    total = steps_per_epoch if full else warmup + steps
    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                marks["start"] = time.perf_counter()
            marks["end"] = time.perf_counter()

    model = BertForTokenClassification.from_pretrained(folder, num_labels=len(labels))
    args = TrainingArguments(output_dir="/tmp/hf_benchmark", per_device_train_batch_size=batch_size,
                             learning_rate=5e-5, max_steps=total, num_train_epochs=3,
                             logging_strategy="no", save_strategy="no", report_to=[],
                             use_cpu=True, seed=1, disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=Dataset(),
                      data_collator=DataCollatorForTokenClassification(tokenizer),
                      callbacks=[Clock()])
    trainer.train()
    seconds = marks["end"] - marks["start"]
    timed = total - warmup
    return {"name": f"Hugging Face Trainer (transformers {transformers.__version__}, "
                    f"torch {torch.__version__}, fp32)",
            "steps": timed, "sentences": timed * batch_size, "seconds": seconds,
            "steps_per_epoch": steps_per_epoch,
            "seconds_per_epoch": seconds / timed * steps_per_epoch,
            "sentences_per_second": timed * batch_size / seconds,
            "torch_threads": torch.get_num_threads()}


def main(argv):
    del argv
    path = Path(FLAGS.data_dir) / "train.txt"
    if not path.is_file():
        raise SystemExit(f"benchmark: error: {path}: not found")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{FLAGS.steps if not FLAGS.full else 'full-epoch'} timed steps of batch {FLAGS.batch_size}",
          file=sys.stderr)
    args = [f"--data_dir={FLAGS.data_dir}", f"--steps={FLAGS.steps}", f"--warmup={FLAGS.warmup}",
            f"--batch_size={FLAGS.batch_size}", f"--full={FLAGS.full}"]
    if FLAGS.only:
        if FLAGS.only == "ours":
            result = ours(path, FLAGS.steps, FLAGS.warmup, FLAGS.batch_size, FLAGS.full,
                          FLAGS.precision)
        else:
            result = huggingface(path, FLAGS.steps, FLAGS.warmup, FLAGS.batch_size, FLAGS.full)
        print("RESULT " + json.dumps(result))
        return
    # Fail before any timing, not after the first trainer: the trainer's own
    # check (this imports TensorFlow here, but runs no op, so no thread pool
    # competes with the timed subprocesses).
    from ner.train import TrainOptions

    for precision in FLAGS.precisions:
        try:
            TrainOptions(precision=precision)
        except ValueError as e:
            raise SystemExit(f"benchmark: error: --precisions: {e}") from None
    results = []
    runs = [("ours", p) for p in FLAGS.precisions] + ([] if FLAGS.skip_hf else [("hf", "auto")])
    for which, precision in runs:
        done = subprocess.run([sys.executable, __file__, f"--only={which}",
                               f"--precision={precision}", *args],
                              capture_output=True, text=True)
        lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"benchmark: {which} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("RESULT "):]))
        print(json.dumps(results[-1]), file=sys.stderr)
    print(f"\n{'trainer':<75} {'s/epoch':>8} {'sent/s':>7}")
    for r in results:
        print(f"{r['name']:<75} {r['seconds_per_epoch']:8.1f} {r['sentences_per_second']:7.1f}")
    if not FLAGS.skip_hf:
        hf = results[-1]["seconds_per_epoch"]
        for r in results[:-1]:
            r["ratio_to_hf"] = r["seconds_per_epoch"] / hf
            print(f"\nours at --precision={r['precision']} ({r['compute_dtype']}) takes "
                  f"{r['ratio_to_hf']:.2f}x the Hugging Face recipe's time per epoch "
                  f"({1 / r['ratio_to_hf']:.2f}x faster)")
    if FLAGS.output:
        Path(FLAGS.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    from _common import REPO  # noqa: F401  (puts the repository on sys.path)
    from ner import cli

    cli.run_absl(main)
