"""The peer's fast path: the default encoder exported to ONNX Runtime, fp32 and int8.

Issue 16 asks whether `ner.Tagger.tag_batch` is at least 1.5x faster than a
Hugging Face user's best CPU path, not only than the plain torch `pipeline`
that `scripts/benchmark.py` times. That path, as an Optimum user would run
it: the same `BertForTokenClassification` (all-MiniLM-L6-v2 with a seeded
random 9-label head, exactly as benchmark.py's `_hf_pipeline` builds it)
exported to ONNX, optionally int8 dynamic-quantized, and fed by hand:

* HF fast tokenizer (`AutoTokenizer`) over all texts, with offsets and word ids;
* texts sorted by wordpiece count, batches of `batch_size` padded to their
  longest (no padding to a fixed length);
* one `onnxruntime.InferenceSession` run per batch, argmax (and softmax score)
  over the logits;
* the pipeline's word-level "first" aggregation: a word's label is its first
  wordpiece's, and runs of `B-T I-T ...` (or of an identical non-BIO label)
  become one span `{"entity_group", "score", "word", "start", "end"}` with
  character offsets into the text; "O" runs are dropped.

Tokenization, batching and aggregation are part of the timed work, as they
are in `tag_batch` and in the pipeline. Words are the tokenizer's words
(`word_ids`: whitespace and punctuation split, as BERT's pre-tokenizer does).

API, for benchmark.py to import:

    export_onnx(folder, num_labels, out_path)   # fp32 ONNX, dynamic [B, S]
    quantize(in_path, out_path)                 # int8 weights (quantize_dynamic)
    tagger = OnnxTagger(onnx_path, folder, batch_size=32, threads=0)
    tagger(["EU rejects German call"])          # -> [[{"entity_group": ..., ...}]]

CLI (exports to a temporary folder in a child process, so torch's model and
the exporter are not in this process's peak RSS; `--onnx_dir` keeps and
reuses the files):

    python scripts/onnx_peer.py --data=data/conll2003/test.txt --rounds=3 --threads=0 \\
        --output=onnx_peer.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Also puts the repository root on sys.path, for `ner`.
from _common import REPO, peak_rss_mib, summary, timed

# The head's seed: benchmark.py's `_hf_pipeline` calls torch.manual_seed(0)
# before `from_pretrained`, so both peers get the same random head.
SEED = 0
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_onnx(folder: str | os.PathLike, num_labels: int, out_path: str | os.PathLike) -> Path:
    """Exports `BertForTokenClassification` over `folder` to ONNX (fp32).

    The classification head is random, seeded with `SEED` as benchmark.py
    seeds its pipeline's. Inputs `input_ids`, `attention_mask` and
    `token_type_ids` (int64 [B, S]) and output `logits` (float32 [B, S, K])
    have dynamic batch and sequence axes. Uses the TorchScript exporter
    (`dynamo=False`) with eager attention, opset `OPSET`.

    Args:
        folder: a Hugging Face BERT folder (config.json, model.safetensors).
        num_labels: K, the head's size.
        out_path: the .onnx file to write.

    Returns:
        Path: `out_path`.
    """
    import torch
    from transformers import BertForTokenClassification

    torch.manual_seed(SEED)
    model = BertForTokenClassification.from_pretrained(
        str(folder), num_labels=num_labels, attn_implementation="eager")
    model.eval()
    # Two rows of different lengths, so padding is traced as data, not a constant.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    dynamic = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    dynamic["logits"] = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, torch.zeros_like(ids)), str(out_path),
                          input_names=list(_INPUTS), output_names=["logits"],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    return Path(out_path)


def quantize(in_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """int8 dynamic quantization of an ONNX model (`quantize_dynamic`).

    Weights are QInt8 (signed, symmetric), activations are quantized per
    batch at run time (uint8), as `quantize_dynamic` does by default and
    Optimum's `AutoQuantizationConfig.avx512_vnni(is_static=False)` sets.

    Args:
        in_path: the fp32 .onnx file.
        out_path: the int8 .onnx file to write.

    Returns:
        Path: `out_path`.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(in_path), str(out_path), weight_type=QuantType.QInt8)
    return Path(out_path)


def _split_label(label: str) -> tuple[str, str]:
    """(B or I, type) as the pipeline's `get_tag`: a non-BIO label is its own I- type."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


class OnnxTagger:
    """Tags raw texts with an ONNX token classifier, as a Hugging Face user's fast path.

    Example:

    >>> tagger = OnnxTagger("model.onnx", default_encoder_dir())  # doctest: +SKIP
    >>> tagger(["Peter Blackburn went to Brussels"])  # doctest: +SKIP
    [[{'entity_group': 'LABEL_3', 'score': 0.41, 'word': 'Peter Blackburn', 'start': 0,
       'end': 15}, ...]]

    Args:
        onnx_path: a model from `export_onnx` or `quantize`.
        folder: the Hugging Face folder whose tokenizer to use.
        batch_size: texts per session run.
        threads: ONNX Runtime intra-op threads; 0 for its default (one per
            physical core).
        labels: the K label names; default `LABEL_0` ... as transformers names
            a fresh head.
        sort: sort texts by wordpiece count before batching (the fast path);
            False keeps input order, like the pipeline.
    """

    def __init__(self, onnx_path: str | os.PathLike, folder: str | os.PathLike,
                 batch_size: int = 32, threads: int = 0, *,
                 labels: Sequence[str] | None = None, sort: bool = True):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_path), options,
                                            providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        num_labels = self.session.get_outputs()[0].shape[-1]
        self.labels = list(labels) if labels else [f"LABEL_{i}" for i in range(num_labels)]
        if isinstance(num_labels, int) and len(self.labels) != num_labels:
            raise ValueError(f"{len(self.labels)} labels for a head of size {num_labels}")
        self._tags = [_split_label(label) for label in self.labels]
        self._inputs = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size
        self.sort = sort

    def _predict(self, texts: Sequence[str]):
        """Per text: (label ids [W], scores [W], char starts [W], char ends [W])."""
        encoding = self.tokenizer(list(texts), return_offsets_mapping=True,
                                  truncation=True, max_length=512)
        ids = encoding["input_ids"]
        lengths = np.array([len(row) for row in ids])
        order = np.argsort(lengths, kind="stable") if self.sort else np.arange(len(ids))
        results = [None] * len(ids)
        for first in range(0, len(order), self.batch_size):
            rows = order[first:first + self.batch_size]
            width = int(lengths[rows].max())
            batch = np.zeros([len(rows), width], np.int64)  # [B, S], 0 = [PAD]
            for r, i in enumerate(rows):
                batch[r, :lengths[i]] = ids[i]
            feeds = {"input_ids": batch, "attention_mask": (batch != 0).astype(np.int64),
                     "token_type_ids": np.zeros_like(batch)}
            logits = self.session.run(None, {name: feeds[name] for name in self._inputs})[0]
            best = logits.argmax(-1)  # [B, S]
            # Softmax probability of the best label, as the pipeline's score.
            shifted = np.exp(logits - logits.max(-1, keepdims=True))
            score = 1.0 / shifted.sum(-1)  # [B, S]
            for r, i in enumerate(rows):
                word_ids = encoding.word_ids(int(i))
                offsets = encoding["offset_mapping"][i]
                firsts, starts, ends, previous = [], [], [], None
                for position, word in enumerate(word_ids):
                    if word is None:
                        continue
                    if word != previous:
                        firsts.append(position)
                        starts.append(offsets[position][0])
                        ends.append(offsets[position][1])
                        previous = word
                    else:
                        ends[-1] = offsets[position][1]
                results[i] = (best[r, firsts], score[r, firsts], starts, ends)
        return results

    def word_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """The label of every word (its first wordpiece's), per text."""
        return [[self.labels[k] for k in best] for best, _, _, _ in self._predict(texts)]

    def __call__(self, texts: Sequence[str]) -> list[list[dict]]:
        """Entity spans per text, in input order, as the pipeline's `aggregation_strategy="first"`."""
        out = []
        for text, (best, scores, starts, ends) in zip(texts, self._predict(texts)):
            spans, group = [], None  # group: [type, start, end, scores]
            for k, score, start, end in zip(best.tolist(), scores.tolist(), starts, ends):
                bi, tag = self._tags[k]
                if group is not None and tag == group[0] and bi != "B":
                    group[2] = end
                    group[3].append(score)
                    continue
                if group is not None:
                    spans.append(group)
                group = [tag, start, end, [score]]
            if group is not None:
                spans.append(group)
            out.append([{"entity_group": tag, "score": sum(s) / len(s), "word": text[a:b],
                         "start": a, "end": b} for tag, a, b, s in spans if tag != "O"])
        return out


# === CLI ===


def _prepare(onnx_dir: str, num_labels: int) -> dict:
    """Exports and quantizes (unless present); runs in a child process.

    Also checks the fp32 ONNX logits against torch's on a few texts.
    """
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from ner.checkpoint import default_encoder_dir

    folder = default_encoder_dir()
    fp32, int8 = Path(onnx_dir) / "model.onnx", Path(onnx_dir) / "model_int8.onnx"
    info = {"folder": str(folder), "fp32": str(fp32), "int8": str(int8)}
    if not fp32.is_file():
        start = time.perf_counter()
        export_onnx(folder, num_labels, fp32)
        info["export_s"] = time.perf_counter() - start
    if not int8.is_file():
        start = time.perf_counter()
        quantize(fp32, int8)
        info["quantize_s"] = time.perf_counter() - start
    info["fp32_mib"] = fp32.stat().st_size / 2**20
    info["int8_mib"] = int8.stat().st_size / 2**20

    import onnxruntime as ort

    texts = ["EU rejects German call to boycott British lamb .",
             "Peter Blackburn", "BRUSSELS 1996-08-22"]
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    batch = tokenizer(texts, padding=True, return_tensors="np")
    torch.manual_seed(SEED)
    model = BertForTokenClassification.from_pretrained(str(folder), num_labels=num_labels)
    model.eval()
    with torch.no_grad():
        reference = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    feeds = {i.name: batch[i.name].astype(np.int64) for i in session.get_inputs()}
    logits = session.run(None, feeds)[0]
    real = batch["attention_mask"].astype(bool)
    info["fp32_vs_torch_max_abs_diff"] = float(np.abs(logits - reference)[real].max())
    # The random head's logits are small and close together, so argmax flips
    # easily: their spread and int8's error put the label agreement in scale.
    quantized = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    int8_logits = quantized.run(None, feeds)[0]
    info["fp32_logits_std"] = float(logits[real].std())
    info["fp32_top2_margin_median"] = float(np.median(np.diff(np.sort(logits[real], -1)[:, -2:])))
    info["int8_vs_fp32_mean_abs_diff"] = float(np.abs(int8_logits - logits)[real].mean())
    return info


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO / "data" / "conll2003" / "test.txt"),
                        help="CoNLL file to tag")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only (0: all)")
    parser.add_argument("--batch_size", type=int, default=32, help="texts per session run")
    parser.add_argument("--warmup", type=int, default=256, help="sentences of the warm-up pass")
    parser.add_argument("--rounds", type=int, default=1,
                        help="timed runs of fp32 and int8, alternating; the best is reported")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime intra-op threads; 0: its default")
    parser.add_argument("--onnx_dir", help="keep (and reuse) model.onnx and model_int8.onnx "
                                           "here; default: a temporary folder")
    parser.add_argument("--output", help="also write the numbers as JSON here")
    args = parser.parse_args(argv)

    from ner import data

    documents = data.read_conll(args.data)
    labels = data.label_list(documents)
    sentences = data.sentences(documents)
    if args.limit:
        sentences = sentences[:args.limit]
    texts = [" ".join(s.tokens) for s in sentences]
    words = sum(len(s.tokens) for s in sentences)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_dir = args.onnx_dir or tmp
        Path(onnx_dir).mkdir(parents=True, exist_ok=True)
        # A spawned child: torch's model, the exporter and TensorFlow (imported by
        # ner.checkpoint) stay out of this process's memory.
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn")) as pool:
            info = pool.submit(_prepare, onnx_dir, len(labels)).result()
        print(f"ONNX: fp32 {info['fp32_mib']:.1f} MiB, int8 {info['int8_mib']:.1f} MiB; fp32 "
              f"logits vs torch: max |diff| {info['fp32_vs_torch_max_abs_diff']:.2e}; logits std "
              f"{info['fp32_logits_std']:.3f}, median top-2 margin "
              f"{info['fp32_top2_margin_median']:.3f}, int8 mean |diff| "
              f"{info['int8_vs_fp32_mean_abs_diff']:.3f}")
        import onnxruntime
        import transformers

        fp32 = OnnxTagger(info["fp32"], info["folder"], args.batch_size, args.threads,
                          labels=labels)
        rss_imports = peak_rss_mib()
        fp32(texts[:args.warmup])
        fp32_runs = [timed(fp32, texts)]
        rss_fp32 = peak_rss_mib()
        int8 = OnnxTagger(info["int8"], info["folder"], args.batch_size, args.threads,
                          labels=labels)
        int8(texts[:args.warmup])
        int8_runs = [timed(int8, texts)]
        for _ in range(args.rounds - 1):
            fp32_runs.append(timed(fp32, texts))
            int8_runs.append(timed(int8, texts))
        fp32.sort = False
        unsorted_runs = [timed(fp32, texts)]
        fp32.sort = True

        threads = args.threads or "default"
        result = {"sentences": len(texts), "words": words, "cpu_cores": os.cpu_count(),
                  "onnxruntime": onnxruntime.__version__,
                  "transformers": transformers.__version__, "ort_intra_op_threads": threads,
                  "onnx": info}
        result["ort_fp32_sorted"] = summary(f"ORT fp32, length-sorted ({threads} threads)",
                                            fp32_runs, len(texts), words)
        result["ort_int8_sorted"] = summary(f"ORT int8, length-sorted ({threads} threads)",
                                            int8_runs, len(texts), words)
        result["ort_fp32_unsorted"] = summary(f"ORT fp32, input order ({threads} threads)",
                                              unsorted_runs, len(texts), words)
        result["peak_rss_mib"] = peak_rss_mib()
        result["rss_mib_after_imports"] = rss_imports
        result["peak_rss_mib_fp32_only"] = rss_fp32
        print(f"peak RSS: {rss_imports:.0f} MiB after imports and the fp32 session, "
              f"{rss_fp32:.0f} MiB after its first run, {result['peak_rss_mib']:.0f} MiB "
              f"with the int8 session too")

        a, b = fp32.word_labels(texts), int8.word_labels(texts)
        same = sum(x == y for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))
        total = sum(len(row) for row in a)
        spans_a, spans_b = fp32(texts), int8(texts)
        result["int8_fp32_label_agreement"] = same / total
        result["int8_fp32_identical_spans"] = sum(
            [(e["entity_group"], e["start"], e["end"]) for e in x]
            == [(e["entity_group"], e["start"], e["end"]) for e in y]
            for x, y in zip(spans_a, spans_b)) / len(texts)
        result["tokenizer_words"] = total
        print(f"int8 vs fp32: {same}/{total} word labels agree ({same / total:.2%}); "
              f"{result['int8_fp32_identical_spans']:.2%} of sentences have identical spans")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
