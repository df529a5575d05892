"""Corpus tagging: `python -m ner.tag` and `python -m ner.beam` against `Tagger.tag_batch`.

Three measurements (issue 13), each selectable:

* `--throughput`: the CoNLL-2003 test set as raw text, one document per
  line (`--unit=sentence`: each sentence a line, 3,453 lines; `document`:
  each -DOCSTART- document a line, 231 lines). In one process, with one
  loaded `ner.Tagger` and a warm-up first, rounds alternate between
  `Tagger.tag_batch(all texts)` (texts already in memory, nothing written)
  and `ner.tag.tag_corpus` (reading the file, batching, writing JSONL);
  then `tag_corpus` with a tagger that returns stored results, which times
  ner.tag's own work alone.
* `--beam`: the same file through the Beam pipeline of `ner.beam` on the
  in-process runner, against `ner.tag.tag_corpus`, both with the same loaded
  SavedModel (`--export_dir`, else the model is exported into `--work_dir`
  first). A first small pipeline loads the model into Beam's handler cache,
  so neither side's timing includes loading TensorFlow or the model. Beam's
  own metrics say how much of its time was spent inside the tagger.
* `--memory`: peak RSS (`ru_maxrss` of the child, from `os.wait4`) of
  `python -m ner.tag --quiet` in a fresh process on inputs of `--sizes` MB
  made by repeating the test set's lines; also its RSS every `--sample_s`
  seconds against the bytes of output written so far (`rss_trace`), which
  shows whether memory levels off or keeps growing.

    python scripts/benchmark_tag.py --model_dir=runs/default --throughput --beam --memory

Wall and CPU seconds (this process, all threads) are reported per round, with
the ratios of the medians: on a machine other jobs share, the CPU time of the
same work varies less than the wall time.

Results are printed and written as JSON to `--output`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Also puts the repository root on sys.path, for `ner`.
from _common import REPO, cpu_seconds, default_data, timed


def conll_lines(data: Path, unit: str) -> list[str]:
    """The test set as raw text: one sentence (or document) a line, words joined by spaces."""
    from ner.data import read_conll

    documents = read_conll(data)
    if unit == "sentence":
        return [" ".join(s.tokens) for d in documents for s in d.sentences]
    return [" ".join(" ".join(s.tokens) for s in d.sentences) for d in documents]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _stats(runs: list[tuple[float, float]], documents: int) -> dict:
    times, cpu = [t for t, _ in runs], [c for _, c in runs]
    return {"seconds": [round(t, 3) for t in times], "cpu_seconds": [round(c, 3) for c in cpu],
            "best": round(min(times), 3), "median": round(statistics.median(times), 3),
            "cpu_median": round(statistics.median(cpu), 3),
            "documents_per_s_best": round(documents / min(times), 1),
            "documents_per_s_median": round(documents / statistics.median(times), 1)}


def _ratios(baseline: list[tuple[float, float]], other: list[tuple[float, float]]) -> dict:
    """Throughput of `other` over `baseline` (time of baseline / time of other)."""
    median = lambda runs, k: statistics.median(run[k] for run in runs)
    return {"ratio_best": round(min(t for t, _ in baseline) / min(t for t, _ in other), 3),
            "ratio_median": round(median(baseline, 0) / median(other, 0), 3),
            "ratio_cpu_median": round(median(baseline, 1) / median(other, 1), 3)}


def throughput(model_dir: str, lines: list[str], work: Path, rounds: int,
               batch_chars: int | None = None) -> dict:
    from ner.tag import TagOptions, tag_corpus
    from ner.tagger import Tagger

    source = _write_lines(work / "input.txt", lines)
    tagger = Tagger.load(model_dir)
    tagger.tag_batch(lines[:64])  # traces the pipeline's functions
    options = TagOptions(quiet=True, **({"batch_chars": batch_chars} if batch_chars else {}))
    baseline, ours = [], []
    for _ in range(rounds):
        baseline.append(timed(lambda: tagger.tag_batch(lines)))
        ours.append(timed(lambda: tag_corpus(tagger, [str(source)], str(work / "out.jsonl"),
                                             options)))
    with open(work / "out.jsonl", encoding="utf-8") as f:
        assert sum(1 for _ in f) == len(lines)
    # ner.tag's own work (reading, batching, JSON, writing): the same run with
    # a tagger that hands back stored results instead of tagging.
    stored = dict(zip(lines, tagger.tag_batch(lines)))

    class Stored:
        def tag_batch(self, texts, batch_size=None):
            return [stored[text] for text in texts]

    overhead = [timed(lambda: tag_corpus(Stored(), [str(source)], str(work / "out.jsonl"),
                                         options)) for _ in range(3)]
    return {"documents": len(lines), "characters": sum(map(len, lines)),
            "tag_batch": _stats(baseline, len(lines)), "ner_tag": _stats(ours, len(lines)),
            **_ratios(baseline, ours),
            "ner_tag_own_work": _stats(overhead, len(lines))}


def beam(export_dir: str, lines: list[str], work: Path, rounds: int) -> dict:
    import apache_beam as beam_sdk
    from apache_beam.metrics import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from ner import beam as ner_beam
    from ner.tag import TagOptions, tag_corpus

    source = _write_lines(work / "input.txt", lines)
    warm = _write_lines(work / "warm.txt", lines[:64])
    tagger = ner_beam.NerModelHandler(export_dir).load_model()  # the handler's cache
    tagger.tag_batch(lines[:64])
    options = TagOptions(quiet=True)

    def run_beam(path: Path, output: Path) -> dict:
        cpu, start = cpu_seconds(), time.perf_counter()
        pipeline = beam_sdk.Pipeline(options=PipelineOptions(
            runner="apache_beam.runners.portability.fn_api_runner.FnApiRunner"))
        ner_beam.build_pipeline(pipeline, [str(path)], str(output), options, export_dir)
        result = pipeline.run()
        result.wait_until_finish()
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        metrics = result.metrics().query(MetricsFilter().with_namespace("ner"))
        found = {m.key.metric.name: m.committed for m in metrics["distributions"]}
        latency = found.get("inference_batch_latency_micro_secs")
        sizes = found.get("inference_request_batch_size")
        return {"seconds": seconds, "cpu_seconds": cpu,
                "inference_seconds": latency.sum / 1e6 if latency else None,
                "batches": latency.count if latency else None,
                "mean_batch_documents": sizes.mean if sizes else None}

    run_beam(warm, work / "beam_warm")
    beam_runs, ours = [], []
    for r in range(rounds):
        ours.append(timed(lambda: tag_corpus(tagger, [str(source)], str(work / "out.jsonl"),
                                             options)))
        beam_runs.append(run_beam(source, work / f"beam_{r}"))
    beam_timed = [(run["seconds"], run["cpu_seconds"]) for run in beam_runs]
    rounded = lambda run: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items()}
    return {"documents": len(lines), "ner_tag": _stats(ours, len(lines)),
            "beam": _stats(beam_timed, len(lines)),
            "beam_runs": [rounded(run) for run in beam_runs],
            **_ratios(ours, beam_timed)}


def _rss_mib(pid: int) -> float:
    """Resident memory of a running process now (VmRSS), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise ValueError(f"no VmRSS for process {pid}")


def memory(model_dir: str, lines: list[str], work: Path, sizes_mb: list[float],
           sample_s: float = 10.0) -> dict:
    encoded = [(line + "\n").encode("utf-8") for line in lines]
    out = {}
    for size in sizes_mb:
        target = int(size * 1_000_000)
        path = work / f"input_{size:g}mb.txt"
        with open(path, "wb") as f:
            written = 0
            while written < target:  # whole lines, the test set over and over
                for line in encoded:
                    if written >= target:
                        break
                    f.write(line)
                    written += len(line)
        command = [sys.executable, "-m", "ner.tag", f"--model_dir={model_dir}", "--quiet",
                   f"--output={work / f'out_{size:g}mb.jsonl'}", str(path)]
        partial = work / f"out_{size:g}mb.jsonl.partial"
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
        trace = []  # (seconds, output bytes so far, RSS MiB now)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(sample_s)
            try:
                rss = _rss_mib(child.pid)
                written = partial.stat().st_size if partial.exists() else 0
            except (OSError, ValueError):
                continue  # exited between the calls
            trace.append((round(time.perf_counter() - start, 1), written, rss))
        seconds = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"{' '.join(command)} failed with status {status}")
        out[f"{size:g}MB"] = {"bytes": path.stat().st_size, "seconds": round(seconds, 1),
                              "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                              "rss_trace": trace}
        print(f"  {size:g} MB: " + json.dumps(
            {k: v for k, v in out[f"{size:g}MB"].items() if k != "rss_trace"}), flush=True)
    peaks = [v["peak_rss_mib"] for v in out.values()]
    out["largest_over_smallest"] = round(peaks[-1] / peaks[0], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True, help="a model folder (or training output)")
    parser.add_argument("--export_dir", default=None,
                        help="its exported SavedModel version folder (--beam); default: export")
    parser.add_argument("--data", default=str(default_data()), help="CoNLL-2003 test.txt")
    parser.add_argument("--unit", choices=("sentence", "document"), default="sentence")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_chars", type=int, default=None,
                        help="ner.tag's --batch_chars in --throughput (default: its default)")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--beam", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--sizes", default="1,20", help="input sizes in MB for --memory")
    parser.add_argument("--sample_s", type=float, default=10.0,
                        help="seconds between RSS samples for --memory")
    parser.add_argument("--work_dir", default=None, help="scratch folder (default: a temp one)")
    parser.add_argument("--output", default=None, help="JSON results file")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="benchmark_tag_"))
    work.mkdir(parents=True, exist_ok=True)
    lines = conll_lines(Path(args.data), args.unit)
    results: dict = {"model_dir": args.model_dir, "unit": args.unit, "rounds": args.rounds}
    if args.throughput:
        print("throughput: Tagger.tag_batch against ner.tag ...", flush=True)
        results["throughput"] = throughput(args.model_dir, lines, work, args.rounds,
                                           args.batch_chars)
        print(json.dumps(results["throughput"], indent=2), flush=True)
    if args.beam:
        export_dir = args.export_dir
        if export_dir is None:
            from ner.export import export

            export_dir = str(export(args.model_dir, work / "exported"))
        results["export_dir"] = export_dir
        print("beam: ner.tag against the Beam pipeline (in-process runner) ...", flush=True)
        results["beam"] = beam(export_dir, lines, work, args.rounds)
        print(json.dumps(results["beam"], indent=2), flush=True)
    if args.memory:
        print("memory: peak RSS of python -m ner.tag ...", flush=True)
        sizes = [float(s) for s in args.sizes.split(",")]
        results["memory"] = memory(args.model_dir, lines, work, sizes, args.sample_s)
        print(json.dumps({k: v for k, v in results["memory"].items()
                          if not isinstance(v, dict)}, indent=2), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
