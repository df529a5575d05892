"""Tagging throughput: `ner.Tagger.tag_batch` against a Hugging Face pipeline.

Tags the CoNLL-2003 test sentences as raw text (tokens joined with spaces)
with `Tagger.tag_batch` and prints sentences/s, words/s and the process's
peak resident memory. When `transformers` and `torch` are importable (and
`--skip_hf` is not given), it then runs Hugging Face's
`pipeline("token-classification", aggregation_strategy="first",
batch_size=32)` on the same texts in the same process, with a
`BertForTokenClassification` built from the default encoder folder
(all-MiniLM-L6-v2, the encoder our models fine-tune: same architecture and
size). Its classification head is random, which does not change the amount of
work, only the (ignored) labels. Both get one warm-up pass over the first
sentences first, so tracing and compilation are not timed. With `--rounds=N`
the two alternate N times and the best run of each is reported (on a shared
machine the least disturbed one), with the process CPU time of that run.
`--threads=1` runs both on one thread each: slower, but far steadier on a
machine other jobs share (torch's two-thread pipeline measured anywhere from
25 to 125 s for the same work here, depending on the load).

    python scripts/benchmark.py --model_dir=runs/default

`--litert` adds the runtime comparison of BENCHMARKS.md (issue 16): the
model's word potentials alone (encoder and dense layer, no decoding) on the
tagger's batches, ours in each of `--precisions` against the same graph
converted to LiteRT, float32 and with dynamic-range int8 weights (XNNPACK's
kernels), with how far LiteRT's potentials are from ours in float32.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

# Also puts the repository root on sys.path, for `ner`.
from _common import REPO, default_data, peak_rss_mib, summary, timed


def _hf_pipeline(num_labels: int, batch_size: int):
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification, pipeline

    from ner.checkpoint import default_encoder_dir

    folder = default_encoder_dir()
    torch.manual_seed(0)
    model = BertForTokenClassification.from_pretrained(str(folder), num_labels=num_labels)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return pipeline("token-classification", model=model, tokenizer=tokenizer,
                    aggregation_strategy="first", batch_size=batch_size, device=-1)


def _encoder_flops(config: dict, batches, groups: list[int]) -> tuple[float, float]:
    """Multiply-add FLOPs (x2) of the encoder over `ner.features.Batch`es:
    (as the tagger computes them, over the padded batches [B, S]).

    The tagger (`ner.pipeline`) runs the dense layers on real wordpieces only
    (before rounding their number up to its grid) and the last block's
    attention output and feed-forward layers on the words' first pieces only;
    attention runs in groups of rows split at the lengths `groups`, each over
    its longest row (`ner.bert._Groups`, before rounding rows and lengths up
    to their grids), with a query at every position but, in the last block,
    at the words (`ner.bert._Words`).
    """
    import numpy as np

    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    tagger = padded = 0.0
    for batch in batches:
        rows, seq = batch.input_ids.shape
        lengths = batch.input_mask.sum(1)
        real, words = float(lengths.sum()), float(batch.word_lengths.sum())
        width = batch.word_starts.shape[1]
        group_of = np.searchsorted(groups, lengths, side="left")
        attended = [(int((group_of == g).sum()), int(lengths[group_of == g].max()))
                    for g in set(group_of[lengths > 0].tolist())]  # (rows, length) per group
        # Q, K, V (3 H^2) and output projection (H^2), feed-forward (2 H F),
        # attention scores and mixing (2 S H) multiply-adds per position.
        padded += 2.0 * layers * rows * seq * (4 * h * h + 2 * h * f + 2 * seq * h)
        below = layers - 1  # the blocks under the last one
        tagger += 2.0 * (below * real * (4 * h * h + 2 * h * f)
                         + below * sum(m * n * 2 * n * h for m, n in attended)
                         + real * 3 * h * h + words * (h * h + 2 * h * f)
                         + sum(m * width * 2 * n * h for m, n in attended))
    return tagger, padded


def _speedup(x: float) -> str:
    """A ratio where more is better, truncated to 2 decimals: never rounded in our favour."""
    return f"{math.floor(x * 100) / 100:.2f}"


def _slowdown(x: float) -> str:
    """A ratio where less is better, rounded up to 2 decimals, for the same reason."""
    return f"{math.ceil(x * 100) / 100:.2f}"


def _matmul_gflops(precision: str = "float32", seconds: float = 3.0) -> float:
    """GFLOP/s (GOP/s for int8) of the encoder's largest matmul shape on this machine.

    [4096, 384] x [384, 1536], as the tagger's dense layers multiply it here:
    float32 by `tf.matmul`; bfloat16 and int8 as `ner.bert._Dense` does with
    the packed-weight kernels where this machine has them (`_cached_matmul`,
    `_fused_int8_matmul`; int8 with quantizing the activations included). The
    roofline of the encoder's arithmetic.
    """
    import tensorflow as tf

    from ner import bert

    a = tf.random.normal([4096, 384])
    if precision in ("int8", "bfloat16"):
        dense = bert._Dense("peak", 384, 1536, 0.02)
        if precision == "int8":
            dense.quantize()
            dense.cache_weights = bert.fused_int8_available()
        else:
            dense.keep_copy(tf.bfloat16, cache_weights=bert.weight_cache_available())
            a = tf.cast(a, tf.bfloat16)
        matmul = tf.function(lambda x: dense(x))
        args = (a,)
    else:
        dtype = tf.as_dtype(precision)
        matmul = tf.function(lambda x, y: tf.matmul(x, y))
        args = (tf.cast(a, dtype), tf.cast(tf.random.normal([384, 1536]), dtype))
    matmul(*args)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        matmul(*args).numpy()
        runs += 1
    return runs * 2 * 4096 * 384 * 1536 / (time.perf_counter() - start) / 1e9


def _tagger_batches(tagger, sentences) -> tuple[list, int, int]:
    """The encoder batches of tagging `sentences`: (batches, windows, wordpieces).

    Windows from `ner.features`, batched by `ner.pipeline.sorted_batches` over
    their sizes as the tagger batches them (each padded to its longest).
    """
    import numpy as np
    import tensorflow as tf

    from ner import features, pipeline

    words = [list(s.tokens) for s in sentences]
    encoded = features.encode_sentences(tagger.tokenizer, words, tagger.config.max_seq_length,
                                        pack_vocab_size=tagger.config.packing_vocab_size)
    sizes = np.array([len(w.input_ids) for w in encoded.windows])
    order, splits = (t.numpy() for t in pipeline.sorted_batches(
        tf.constant(sizes, tf.int64), tagger.batch_size, pipeline.BATCH_TOKENS, padded=False))
    batches = [features.pad_batch(encoded.windows, order[a:b], multiple=1)
               for a, b in zip(splits[:-1], splits[1:])]
    return batches, len(encoded.windows), int(sizes.sum())


def _potentials_function(tagger, packed: bool = False):
    """`tagger.model.potentials` as a function of a batch's four arrays.

    `packed`: the dense layers on real wordpieces only and attention in
    groups of rows by length, as `ner.pipeline` runs them.
    """
    import functools

    import tensorflow as tf

    from ner import pipeline

    rows = pipeline.size_grid(pipeline.PACKED_BITS, 1 << 24) if packed else None
    matrix = tf.TensorSpec([None, None], tf.int32)
    groups = tagger.pipeline.attention_groups if packed else None
    return tf.function(functools.partial(tagger.model.potentials, training=False,
                                         packed_rows=rows, attention_groups=groups),
                       input_signature=[matrix, matrix, matrix, tf.TensorSpec([None], tf.int32)],
                       autograph=False)


def _diagnose(tagger, sentences) -> dict:
    """Where the time goes: windows, encoder, the rest; encoder GFLOP/s.

    The encoder runs as the tagger runs it (packed rows, `_potentials_function`),
    and its FLOPs are those it computes (`_encoder_flops`).
    """
    start = time.perf_counter()
    batches, windows, wordpieces = _tagger_batches(tagger, sentences)
    windows_s = time.perf_counter() - start
    potentials = _potentials_function(tagger, packed=True)
    potentials(*batches[0].features().values())
    start = time.perf_counter()
    for batch in batches:
        potentials(*batch.features().values()).numpy()
    encoder_s = time.perf_counter() - start
    shapes = [b.input_ids.shape for b in batches]
    flops, padded_flops = _encoder_flops(tagger.config.encoder, batches,
                                         tagger.pipeline.attention_groups)
    return {"windows": windows, "wordpieces": wordpieces,
            "padded_wordpieces": int(sum(r * s for r, s in shapes)),
            "tokenize_and_window_s": windows_s, "encoder_s": encoder_s,
            "encoder_gflop": flops / 1e9, "encoder_gflop_padded": padded_flops / 1e9,
            "encoder_gflops_per_s": flops / encoder_s / 1e9,
            "matmul_peak_gflops_per_s": _matmul_gflops(),
            "matmul_peak_by_precision": {p: _matmul_gflops(p) for p in ("float32", "bfloat16", "int8")}}


def _litert_interpreter(model: bytes, threads: int):
    """A LiteRT interpreter: `ai_edge_litert`'s where installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "ai_edge_litert " + importlib.metadata.version("ai-edge-litert")
    except ImportError:
        import tensorflow as tf

        Interpreter, runtime = tf.lite.Interpreter, "tf.lite.Interpreter (TensorFlow's copy)"
    return Interpreter(model_content=model, num_threads=threads), runtime


def _litert(args, taggers: dict, sentences) -> dict:
    """Word potentials (encoder and dense layer; decoding left out) through LiteRT against ours.

    The same batches for all (`_tagger_batches`). Ours: the model's
    potentials as `ner.pipeline` runs them, in each precision of `taggers`.
    LiteRT: the model's float32 graph with standard ops only (as `ner.export`
    writes it), converted by TensorFlow's TFLite converter as it is and with
    dynamic-range int8 weights (`Optimize.DEFAULT` without calibration data:
    int8 weights, activations quantized per call, XNNPACK's kernels).
    """
    import numpy as np
    import tensorflow as tf

    import ner

    portable = ner.Tagger.load(args.model_dir, batch_size=args.batch_size, precision="float32")
    portable.model.encoder.set_precision("float32", weight_cache=False)
    batches, _, _ = _tagger_batches(portable, sentences)
    feeds = [b.features() for b in batches]
    threads = args.threads or len(os.sched_getaffinity(0))

    def best_of(run) -> tuple[float, list]:
        run(feeds[:2])  # warm-up: traces, plans
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            outputs = run(feeds)
            times.append(time.perf_counter() - start)
        return min(times), outputs

    def tf_runner(function):
        return lambda fs: [function(*f.values()).numpy() for f in fs]

    def litert_runner(model: bytes):
        interpreter, runtime = _litert_interpreter(model, threads)
        inputs = {d["name"]: d["index"] for d in interpreter.get_input_details()}
        output = interpreter.get_output_details()[0]["index"]
        # The converter names inputs after the function's arguments.
        index = {key: next(i for name, i in inputs.items() if key in name) for key in feeds[0]}
        shape = [None]

        def run(fs):
            found = []
            for f in fs:
                if shape[0] != f["input_ids"].shape:
                    for key, value in f.items():
                        interpreter.resize_tensor_input(index[key], value.shape)
                    interpreter.allocate_tensors()
                    shape[0] = f["input_ids"].shape
                for key, value in f.items():
                    interpreter.set_tensor(index[key], value)
                interpreter.invoke()
                found.append(interpreter.get_tensor(output).copy())
            return found
        return run, runtime

    seconds, reference = best_of(tf_runner(_potentials_function(portable)))
    result = {"threads": threads, "batches": len(feeds),
              "ours, float32, standard ops (the converter's input)": {"seconds": seconds}}
    for tagger in taggers.values():
        seconds, _ = best_of(tf_runner(_potentials_function(tagger, packed=True)))
        result[f"ours, {tagger.precision}"] = {"seconds": seconds}
    function = _potentials_function(portable).get_concrete_function()
    for name, optimizations in (("float32", []), ("dynamic-range int8", [tf.lite.Optimize.DEFAULT])):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], portable.model)
        converter.optimizations = optimizations
        try:
            model = converter.convert()
        except Exception as e:  # noqa: BLE001 - the converter raises several kinds
            # E.g. a BiLSTM head: its scan needs TensorFlow's own ops (TF Select).
            reason = next((line for line in str(e).splitlines() if "error:" in line), str(e))
            result[f"LiteRT, {name}"] = {"error": f"the TFLite converter could not convert "
                                                  f"this model: {reason.strip()[:300]}"}
            continue
        run, runtime = litert_runner(model)
        seconds, outputs = best_of(run)
        real = [f["word_lengths"][:, None] > np.arange(o.shape[1]) for f, o in zip(feeds, outputs)]
        diff = max(float(np.abs(o - r)[m].max(initial=0)) for o, r, m in zip(outputs, reference, real))
        changed = sum(int((o.argmax(-1) != r.argmax(-1))[m].sum())
                      for o, r, m in zip(outputs, reference, real))
        result[f"LiteRT, {name}"] = {
            "seconds": seconds, "runtime": runtime, "model_bytes": len(model),
            "max_potential_difference": diff, "words_with_another_best_tag": changed,
            "words": int(sum(m.sum() for m in real))}
    return result


def _saved_model_tagger(export_dir: str):
    """`serving_default` of an exported model, called like `tag_batch` (texts in chunks)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the text ops)

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]

    def tag(texts):
        for first in range(0, len(texts), 4096):
            out = serve(texts=tf.constant([t.encode() for t in texts[first:first + 4096]]))
            out["num_entities"].numpy()
    return tag


def _baseline_run(repo: str, args) -> tuple[float, float]:
    """(wall, CPU) seconds of another checkout's `tag_batch`, in its own process.

    Runs that checkout's own `scripts/benchmark.py --skip_hf` on the same
    model, data and `--precisions` (its best of them against ours), so an
    old commit and this one are timed in one run.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "baseline.json"
        # Absolute paths: the baseline runs in its own checkout.
        command = [sys.executable, str(Path(repo) / "scripts" / "benchmark.py"), "--skip_hf",
                   f"--model_dir={Path(args.model_dir).resolve()}",
                   f"--data={Path(args.data).resolve()}",
                   f"--limit={args.limit}", f"--batch_size={args.batch_size}",
                   f"--warmup={args.warmup}", f"--precisions={args.precisions}",
                   f"--output={output}"]
        if args.threads:
            command.append(f"--threads={args.threads}")
        subprocess.run(command, check=True, cwd=repo, stdout=subprocess.DEVNULL)
        tagger = json.loads(output.read_text())["tagger"]
    return tagger["seconds"], tagger["cpu_seconds"]


def _hf_padded_tokens(pipe, texts, batch_size: int) -> tuple[int, int]:
    """(real, padded) wordpieces the pipeline feeds its model, in its batches."""
    lengths = [len(ids) for ids in pipe.tokenizer(texts)["input_ids"]]
    padded = sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size])
                 for i in range(0, len(lengths), batch_size))
    return sum(lengths), padded


def _child_peak_rss(args, what: str) -> float:
    """Peak RSS (MiB) of a fresh process that loads `what` and tags the texts once.

    `what` is "ours:<precision>" or "hf". Each in its own process, so neither
    side's libraries count against the other.
    """
    import subprocess

    command = [sys.executable, __file__, f"--model_dir={args.model_dir}", f"--data={args.data}",
               f"--limit={args.limit}", f"--batch_size={args.batch_size}",
               f"--hf_batch_size={args.hf_batch_size}", f"--child={what}"]
    if args.threads:
        command.append(f"--threads={args.threads}")
    # The child reports its own high-water mark (VmHWM): ru_maxrss of a child
    # starts from its parent's at fork on Linux, so it would count this process.
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed with status {done.returncode}")
    return float(done.stdout.split()[-1]) / 1024


def _texts(args) -> tuple[list, list[str], int]:
    from ner import data

    sentences = data.sentences(data.read_conll(args.data))
    if args.limit:
        sentences = sentences[:args.limit]
    return sentences, [" ".join(s.tokens) for s in sentences], sum(len(s.tokens) for s in sentences)


def _onnx_peer(args, num_labels: int) -> dict:
    """The peer's fast path: ONNX Runtime float32 and int8, length-sorted (scripts/onnx_peer.py)."""
    import concurrent.futures
    import multiprocessing

    import onnx_peer

    Path(args.onnx_dir).mkdir(parents=True, exist_ok=True)
    # Exported in a spawned child: torch's exporter stays out of this process.
    with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        info = pool.submit(onnx_peer._prepare, args.onnx_dir, num_labels).result()
    return {"ORT float32, length-sorted": onnx_peer.OnnxTagger(
                info["fp32"], info["folder"], args.hf_batch_size, args.threads),
            "ORT int8, length-sorted": onnx_peer.OnnxTagger(
                info["int8"], info["folder"], args.hf_batch_size, args.threads)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=str(REPO / "runs" / "default"),
                        help="model folder, or a training output folder holding model/")
    parser.add_argument("--data", default=str(default_data()), help="CoNLL file to tag")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only (0: all)")
    parser.add_argument("--batch_size", type=int, default=128,
                        help="at most this many windows per encoder batch")
    parser.add_argument("--precisions", default="float32",
                        help="comma-separated precisions of ours to time (float32, bfloat16, "
                             "int8, auto; see python -m ner.precision)")
    parser.add_argument("--hf_batch_size", type=int, default=32, help="pipeline batch size")
    parser.add_argument("--warmup", type=int, default=256, help="sentences of the warm-up pass")
    parser.add_argument("--rounds", type=int, default=1,
                        help="timed runs of each, alternating; the best is reported")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for TensorFlow (intra- and inter-op), torch and ONNX "
                             "Runtime; 0: their defaults. 1 gives comparable numbers on a busy "
                             "shared machine, where torch's thread barriers suffer most")
    parser.add_argument("--skip_hf", action="store_true", help="do not run the HF pipeline")
    parser.add_argument("--onnx_dir",
                        help="also run the peer's fast path: the same encoder exported from "
                             "Hugging Face to ONNX Runtime, float32 and dynamic int8, "
                             "length-sorted (scripts/onnx_peer.py); the .onnx files are "
                             "written here once and reused")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the peak RSS of ours (each precision) and of the "
                             "HF pipeline, each in a fresh process tagging the texts once")
    parser.add_argument("--diagnose", action="store_true",
                        help="also time the encoder alone and compare its GFLOP/s with a "
                             "plain matmul's, and count the pipeline's padding")
    parser.add_argument("--litert", action="store_true",
                        help="also time the word potentials alone (encoder and dense layer) "
                             "through LiteRT, float32 and dynamic-range int8, against ours in "
                             "each of --precisions, on the same batches (the runtime "
                             "comparison of BENCHMARKS.md; ai-edge-litert is used where "
                             "installed, else TensorFlow's tf.lite)")
    parser.add_argument("--saved_model",
                        help="also time this exported SavedModel version folder (python -m "
                             "ner.export) on the same texts, in this process")
    parser.add_argument("--baseline_repo",
                        help="also time the tag_batch of another checkout (e.g. a git worktree "
                             "of an older commit) on the same model, in its own process, "
                             "alternating rounds with this one")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # see _child_peak_rss
    parser.add_argument("--output", help="also write the numbers as JSON here")
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    import ner

    sentences, texts, words = _texts(args)
    if args.child:
        if args.child == "hf":
            import torch

            torch.set_grad_enabled(False)
            if args.threads:
                torch.set_num_threads(args.threads)
            _hf_pipeline(9, args.hf_batch_size)(texts)
        else:
            ner.Tagger.load(args.model_dir, batch_size=args.batch_size,
                            precision=args.child.split(":")[1]).tag_batch(texts)
        status = Path("/proc/self/status").read_text()
        print(status.split("VmHWM:")[1].split()[0])  # KiB, read by _child_peak_rss
        return {}

    # Contenders: name -> function(texts); all timed in alternating rounds.
    contenders: dict = {}
    taggers = {}
    for name in [p for p in args.precisions.split(",") if p]:
        tagger = ner.Tagger.load(args.model_dir, batch_size=args.batch_size, precision=name)
        taggers[name] = tagger
        label = f"ner.Tagger.tag_batch, {tagger.precision}" + (" (auto)" if name == "auto" else "")
        contenders[label] = tagger.tag_batch
    tagger = next(iter(taggers.values()))
    tagger_rss = peak_rss_mib()  # before the pipeline is loaded: the taggers' alone
    hf_name = None
    if not args.skip_hf:
        if all(importlib.util.find_spec(m) for m in ("torch", "transformers")):
            import torch

            torch.set_grad_enabled(False)
            if args.threads:
                torch.set_num_threads(args.threads)
            hf_name = (f"HF pipeline (token-classification, aggregation_strategy=first, "
                       f"batch_size={args.hf_batch_size}, torch {torch.get_num_threads()} threads)")
            contenders[hf_name] = _hf_pipeline(len(tagger.labels), args.hf_batch_size)
        else:
            print("transformers or torch not installed: no pipeline comparison")
    peers = _onnx_peer(args, len(tagger.labels)) if args.onnx_dir else {}
    contenders.update(peers)
    if args.saved_model:
        contenders[f"SavedModel serving_default ({args.saved_model})"] = \
            _saved_model_tagger(args.saved_model)
    for function in contenders.values():
        function(texts[:args.warmup])
    runs: dict = {name: [] for name in contenders}
    baseline_runs = []
    for _ in range(args.rounds):
        for name, function in contenders.items():
            runs[name].append(timed(function, texts))
        if args.baseline_repo:
            baseline_runs.append(_baseline_run(args.baseline_repo, args))

    result = {"sentences": len(texts), "words": words, "cpu_cores": os.cpu_count(),
              "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
              "cpu": _cpu()}
    print(f"CPU: {result['cpu']['model']}, flags {' '.join(result['cpu']['flags'])}")
    result["runs"] = {name: summary(name, r, len(texts), words) for name, r in runs.items()}
    ours = {name: r for name, r in result["runs"].items() if name.startswith("ner.Tagger")}
    best = min(ours, key=lambda name: ours[name]["seconds"])
    result["tagger"] = ours[best]
    result["tagger"]["name"] = best
    if hf_name:
        result["hf_pipeline"] = result["runs"][hf_name]
        result["speedup"] = result["hf_pipeline"]["seconds"] / result["tagger"]["seconds"]
        for name in ours:
            print(f"{name}: {_speedup(result['hf_pipeline']['seconds'] / ours[name]['seconds'])}x the "
                  f"HF pipeline's throughput ({_speedup(result['hf_pipeline']['cpu_seconds'] / ours[name]['cpu_seconds'])}x "
                  f"in CPU time)")
    if peers:
        fastest = min(peers, key=lambda name: result["runs"][name]["seconds"])
        result["onnx_peer"] = dict(result["runs"][fastest], name=fastest)
        result["speedup_vs_onnx_peer"] = result["runs"][fastest]["seconds"] / result["tagger"]["seconds"]
        print(f"{best}: {_speedup(result['speedup_vs_onnx_peer'])}x the throughput of the faster ONNX "
              f"Runtime peer ({fastest})")
    if args.saved_model:
        name = f"SavedModel serving_default ({args.saved_model})"
        result["saved_model"] = result["runs"][name]
        print(f"the SavedModel takes {_slowdown(result['saved_model']['seconds'] / result['tagger']['seconds'])}x "
              f"the tagger's time")
    if baseline_runs:
        result["baseline"] = summary(f"baseline tag_batch ({args.baseline_repo})",
                                     baseline_runs, len(texts), words)
        print(f"this checkout's tag_batch takes "
              f"{_slowdown(result['tagger']['seconds'] / result['baseline']['seconds'])}x the baseline's time")
    result["taggers_peak_rss_mib"] = tagger_rss
    result["peak_rss_mib"] = peak_rss_mib()
    print(f"peak RSS in this process: {tagger_rss:.0f} MiB with our tagger(s) alone, "
          f"{result['peak_rss_mib']:.0f} MiB with everything")
    if args.memory:
        result["memory_mib"] = memory = {}
        for name, tagger in taggers.items():
            memory[f"ours, {tagger.precision}"] = _child_peak_rss(args, f"ours:{tagger.precision}")
        if hf_name:
            memory["HF pipeline"] = _child_peak_rss(args, "hf")
        print("peak RSS, each in a fresh process tagging the texts once: " + ", ".join(
            f"{name} {mib:.0f} MiB" for name, mib in memory.items()))

    if args.diagnose:
        result["diagnosis"] = diagnosis = _diagnose(tagger, sentences)
        print(f"diagnosis: encoder alone {diagnosis['encoder_s']:.2f}s for {diagnosis['windows']} "
              f"windows, {diagnosis['wordpieces']} wordpieces ({diagnosis['padded_wordpieces']} "
              f"padded), {diagnosis['encoder_gflop']:.0f} GFLOP as the tagger computes it "
              f"({diagnosis['encoder_gflop_padded']:.0f} over the padded batches): "
              f"{diagnosis['encoder_gflops_per_s']:.0f} GFLOP/s, where one fp32 matmul of its "
              f"largest shape reaches {diagnosis['matmul_peak_gflops_per_s']:.0f} GFLOP/s; "
              f"tokenize + windows {diagnosis['tokenize_and_window_s']:.2f}s")
        peaks = diagnosis["matmul_peak_by_precision"]
        print("roofline: the encoder's largest matmul reaches " + ", ".join(
            f"{p} {g:.0f} GFLOP/s ({diagnosis['encoder_gflop'] / g:.2f} s for the encoder's "
            f"FLOPs)" for p, g in peaks.items()))
        if hf_name:
            real, padded = _hf_padded_tokens(contenders[hf_name], texts, args.hf_batch_size)
            result["hf_pipeline"].update(wordpieces=real, padded_wordpieces=padded)
            print(f"diagnosis: the pipeline's model reads {real} wordpieces, {padded} after "
                  f"padding each batch of {args.hf_batch_size} to its longest")
    if args.litert:
        result["litert"] = litert = _litert(args, taggers, sentences)
        print(f"word potentials alone (encoder and dense layer, no decoding), best of "
              f"{args.rounds}, {litert['threads']} threads, {litert['batches']} batches:")
        for name, found in litert.items():
            if isinstance(found, dict) and "error" in found:
                print(f"  {name}: not timed, {found['error']}")
            elif isinstance(found, dict):
                extra = (f"; {found['runtime']}, {found['model_bytes']} bytes; largest "
                         f"difference from float32 {found['max_potential_difference']:.3g}, "
                         f"{found['words_with_another_best_tag']} of {found['words']} words "
                         f"with another best tag" if "runtime" in found else "")
                print(f"  {name}: {found['seconds']:.2f}s{extra}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _cpu() -> dict:
    from ner.precision import machine

    info = machine()
    return {"model": info["cpu"], "flags": info["cpu_flags"], "gpus": info["gpus"]}


if __name__ == "__main__":
    main()
