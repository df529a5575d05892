"""Load test of `python -m ner.serve`: concurrent clients, bounded request count, loopback only.

    python scripts/load_test.py --model_dir=runs/default --clients=64 --texts_per_request=1-8 \\
        --requests=2000 --rounds=3 --baseline

starts the server on a free loopback port, warms it up, sends `--requests`
POST /v1/tag requests from `--clients` threads (each with its own keep-alive
connection; each request 1 to 8 consecutive CoNLL-2003 test sentences as raw
text, the count drawn per request with a fixed seed), stops the server with
SIGTERM and prints one JSON object: throughput, latency percentiles, error
count, the server's resident memory before (after warm-up) and after each
round, and its batching counters. `--url=http://127.0.0.1:PORT` tests a server
that is already running instead (`--server_pid` adds its RSS).

`--baseline` also tags, after each round, the very sentences that round sent
with `ner.Tagger.tag_batch` in this process, in one call and then in calls of
the server's mean batch size in that round, and reports the server's
sentences/s as a fraction of each: the first is the issue's target, the
second separates what the HTTP server costs from what smaller batches cost.
One such call of the test set swings by a third between rounds on a shared
machine; `--baseline_repeats=N` times each baseline N times, in turns, and
compares with the median.
Client, server and baseline share the machine (the baseline runs while the
server idles between rounds).

`--heavy=dots|english` runs the heavy-client scenario instead: `--heavy_requests`
clients each send one request of `--heavy_texts` texts of `--heavy_chars`
characters ("." repeated, or CoNLL sentences run together), and
`--probe_delay_s` later a probe client sends `--probes` one-sentence
requests one after another; it reports how each heavy request was answered
and how long each probe waited. `--abandon_after_s` makes the heavy clients
close their connections after that long without reading the answer (work
for a client that has gone).

Bounded by design: the request count is fixed, a `--max_seconds` deadline
stops the clients early, sockets time out, and only loopback addresses are
accepted.

Client and server share the CPUs, so each round also reports the CPU
seconds each used (`client_cpu_s`, `server_cpu_s`) and their share of the
machine's CPU time over the round (`*_cpu_share`, of `os.cpu_count()`
cores): what the load generator takes is not available to the server,
while the baseline `tag_batch` has the machine to itself. Request bodies are
encoded before the clock starts and answers checked after it stops, to keep
the generator's share small. From the server's `/healthz` counters each
round also reports the share of its time with 0, 1, 2, ... tagging threads
running a batch (`server_threads_busy_share`) and the garbage collector's
passes over the oldest generation and seconds of all its passes
(`server_gc_oldest_passes`, `server_gc_seconds`).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_FALLBACK_TEXTS = [
    "John Smith lives in New York and works for Acme Corp .",
    "Angela Merkel met Emmanuel Macron in Paris on Monday .",
    "Zoë Ünal flew from İstanbul to São Paulo with Lufthansa .",
    "The United Nations said on Tuesday that aid would reach Gaza .",
]


def check_loopback(url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL on the loopback interface, else ValueError."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
        raise ValueError(f"expected http://HOST:PORT, got {url!r}")
    host = parsed.hostname
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"{host} is not a loopback address; this tool only targets "
                                 "127.0.0.0/8 or ::1")
        except ValueError as e:
            raise ValueError(f"{url!r}: {e}") from None
    return host, parsed.port


def conll_sentences(path: Path, limit: int = 5000) -> list[str]:
    """Sentences of a CoNLL file as raw text (words joined by spaces)."""
    sentences, words = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                if words:
                    sentences.append(" ".join(words))
                    if len(sentences) >= limit:
                        break
                words = []
            elif fields[0] != "-DOCSTART-":
                words.append(fields[0])
    if words and len(sentences) < limit:
        sentences.append(" ".join(words))
    return sentences


def parse_range(value: str) -> tuple[int, int]:
    """"4" -> (4, 4); "1-8" -> (1, 8)."""
    low, _, high = value.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or A-B, got {value!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= A <= B, got {value!r}")
    return bounds


def plan_requests(texts: list[str], count: int, sizes: tuple[int, int], seed: int,
                  start: int = 0) -> list[list[str]]:
    """`count` requests of consecutive texts (cycling), each of a size drawn from `sizes`."""
    rng = random.Random(seed)
    plan, offset = [], start
    for _ in range(count):
        n = rng.randint(*sizes)
        plan.append([texts[(offset + k) % len(texts)] for k in range(n)])
        offset += n
    return plan


def rss_mb(pid: int) -> dict[str, float] | None:
    """Current and peak resident memory of a process in MiB (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return {"rss": round(values.get("VmRSS", 0.0), 1), "peak": round(values.get("VmHWM", 0.0), 1)}


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) a process has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    # utime and stime: fields 14 and 15 of stat(5), 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def wait_healthy(host: str, port: int, timeout: float,
                 process: subprocess.Popen | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} while starting")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            status, body = request(conn, "GET", "/healthz")
            conn.close()
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"server on {host}:{port} not healthy after {timeout:.0f} s")


def start_server(model_dir: str, port: int, extra: list[str]) -> subprocess.Popen:
    """`python -m ner.serve` on 127.0.0.1:port, its log to this stderr."""
    command = [sys.executable, "-m", "ner.serve", f"--model_dir={model_dir}", "--host=127.0.0.1",
               f"--port={port}", *extra]
    return subprocess.Popen(command, cwd=REPO)


def stop_server(process: subprocess.Popen, timeout: float = 60) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(q: float) -> float:
        if not ordered:
            return float("nan")
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)}


def run_load(host: str, port: int, plan: list[list[str]], clients: int,
             max_seconds: float, server_pid: int | None = None) -> dict:
    """Sends the planned requests from `clients` threads; returns the measurements."""
    bodies = [json.dumps({"texts": texts}).encode("utf-8") for texts in plan]
    answers: dict[int, bytes] = {}
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sent: list[int] = []  # indices of the requests answered 200
    deadline = time.monotonic() + max_seconds

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                i = next_index[0]
                if i >= len(plan):
                    break
                next_index[0] += 1
            began = time.perf_counter()
            try:
                status, payload = request(conn, "POST", "/v1/tag", bodies[i])
                key = str(status)
                if status == 200:
                    answers[i] = payload  # checked once the clock has stopped
            except (OSError, http.client.HTTPException, ValueError) as e:
                key = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                statuses[key] = statuses.get(key, 0) + 1
                if key == "200":
                    sent.append(i)
        conn.close()

    began = time.perf_counter()
    client_cpu, server_cpu = own_cpu_s(), process_cpu_s(server_pid)
    threads = [threading.Thread(target=client, name=f"client-{c}") for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    client_cpu = own_cpu_s() - client_cpu
    server_cpu = None if server_cpu is None else process_cpu_s(server_pid) - server_cpu
    for i, payload in answers.items():
        try:
            right = len(json.loads(payload)["entities"]) == len(plan[i])
        except (ValueError, KeyError, TypeError):
            right = False
        if not right:
            statuses["200"] -= 1
            statuses["wrong_count"] = statuses.get("wrong_count", 0) + 1
            sent.remove(i)
    done = len(latencies)
    capacity = seconds * (os.cpu_count() or 1)
    texts = sum(len(plan[i]) for i in sent)
    return {
        "clients": clients, "requests": done, "requested": len(plan), "texts": texts,
        "errors": done - statuses.get("200", 0), "statuses": statuses,
        "seconds": round(seconds, 2),
        "requests_per_s": round(done / seconds, 1) if seconds else None,
        "texts_per_s": round(texts / seconds, 1) if seconds else None,
        "latency_ms": percentiles_ms(latencies),
        "client_cpu_s": round(client_cpu, 2),
        "client_cpu_share": round(client_cpu / capacity, 3) if capacity else None,
        "server_cpu_s": None if server_cpu is None else round(server_cpu, 2),
        "server_cpu_share": None if server_cpu is None or not capacity
        else round(server_cpu / capacity, 3),
        "stopped_by_deadline": done < len(plan),
        "_sent": sorted(sent),
    }


class Baseline:
    """`Tagger.tag_batch` in this process, on the sentences a round sent."""

    def __init__(self, model_dir: str, precision: str = "auto"):
        sys.path.insert(0, str(REPO))
        from ner.tagger import Tagger

        # The precision the server resolves too (same folder, same machine).
        self.tagger = Tagger.load(model_dir, precision=precision)
        self.tagger.tag_batch(_FALLBACK_TEXTS)  # traces the TensorFlow functions

    def repeated(self, texts: list[str], chunk: int, repeats: int) -> tuple[dict, dict]:
        """`run` in one call and in calls of `chunk`, in turns, `repeats` times each.

        Each result's `texts_per_s` is the median of its runs (for an even
        count the faster middle one, which makes the server's ratio to it
        smaller); `runs_texts_per_s` lists them all.
        """
        runs: tuple[list[dict], list[dict]] = ([], [])
        for _ in range(repeats):
            runs[0].append(self.run(texts))
            runs[1].append(self.run(texts, chunk))
        results = []
        for found in runs:
            ranked = sorted(found, key=lambda r: r["texts_per_s"])
            result = dict(ranked[len(ranked) // 2])
            if repeats > 1:
                result["runs_texts_per_s"] = [r["texts_per_s"] for r in found]
            results.append(result)
        return results[0], results[1]

    def run(self, texts: list[str], chunk: int | None = None) -> dict:
        """One `tag_batch` call on all texts, or one call per `chunk` texts."""
        chunk = chunk or len(texts)
        began = time.perf_counter()
        for first in range(0, len(texts), chunk):
            self.tagger.tag_batch(texts[first:first + chunk])
        seconds = time.perf_counter() - began
        return {"texts": len(texts), "texts_per_call": chunk, "seconds": round(seconds, 2),
                "texts_per_s": round(len(texts) / seconds, 1)}


def server_counters(host: str, port: int) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        return json.loads(request(conn, "GET", "/healthz")[1])
    finally:
        conn.close()


def server_time_split(before: dict, after: dict) -> dict:
    """Where the server's time went between two `/healthz` readings (a round).

    `server_threads_busy_share[n]`: the share of the round with n tagging
    threads running a batch; `server_gc_*`: the garbage collector's passes
    over the oldest generation, and the seconds all its passes stopped the
    server for; `server_counting_*`: the calls that counted requests'
    wordpieces for the budgets, their texts and seconds. Empty for a server
    without these counters.
    """
    keys = ("seconds_with_threads_busy", "gc_passes", "gc_seconds")
    if not all(k in before and k in after for k in keys):
        return {}
    busy = [b - a for a, b in zip(before["seconds_with_threads_busy"],
                                  after["seconds_with_threads_busy"])]
    total = sum(busy)
    split = {
        "server_threads_busy_share": [round(s / total, 3) if total > 0 else None
                                      for s in busy],
        "server_gc_oldest_passes": after["gc_passes"][2] - before["gc_passes"][2],
        "server_gc_seconds": round(sum(after["gc_seconds"]) - sum(before["gc_seconds"]), 3),
    }
    if "counting_calls" in before and "counting_calls" in after:
        for key in ("counting_calls", "counting_texts", "counting_seconds"):
            split[f"server_{key}"] = round(after[key] - before[key], 3)
    return split


def run_heavy(host: str, port: int, args, texts: list[str]) -> dict:
    """The heavy-client scenario (see the module docstring)."""
    if args.heavy == "dots":
        one = "." * args.heavy_chars
    else:
        joined = " ".join(texts)
        while len(joined) < args.heavy_chars:
            joined = f"{joined} {joined}"
        one = joined[:args.heavy_chars]
    body = json.dumps({"texts": [one] * args.heavy_texts}).encode("utf-8")
    head = (f"POST /v1/tag HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
    deadline = time.monotonic() + args.max_seconds
    heavy: list[dict] = [{} for _ in range(args.heavy_requests)]

    def heavy_client(k: int):
        began = time.perf_counter()
        if args.abandon_after_s is not None:
            with socket.create_connection((host, port), timeout=args.max_seconds) as sock:
                sock.sendall(head + body)
                time.sleep(args.abandon_after_s)
            heavy[k] = {"abandoned_after_s": args.abandon_after_s}
            return
        conn = http.client.HTTPConnection(host, port, timeout=args.max_seconds)
        try:
            status, answer = request(conn, "POST", "/v1/tag", body)
        except (OSError, http.client.HTTPException) as e:
            status, answer = type(e).__name__, b""
        finally:
            conn.close()
        heavy[k] = {"status": status, "seconds": round(time.perf_counter() - began, 2),
                    "answer": answer[:300].decode("utf-8", "replace")}

    threads = [threading.Thread(target=heavy_client, args=(k,)) for k in range(args.heavy_requests)]
    for t in threads:
        t.start()
    time.sleep(args.probe_delay_s)
    probes = []
    conn = http.client.HTTPConnection(host, port, timeout=args.max_seconds)
    for i in range(args.probes):
        if time.monotonic() > deadline:
            break
        began = time.perf_counter()
        try:
            status, _ = request(conn, "POST", "/v1/tag",
                                json.dumps({"texts": [texts[i % len(texts)]]}).encode())
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=args.max_seconds)
        probes.append({"status": status, "seconds": round(time.perf_counter() - began, 3)})
        time.sleep(args.probe_gap_s)
    conn.close()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return {"heavy": {"kind": args.heavy, "requests": args.heavy_requests,
                      "texts": args.heavy_texts, "chars": args.heavy_chars,
                      "body_bytes": len(body), "answers": heavy},
            "probes": probes,
            "probe_latency_ms": percentiles_ms([p["seconds"] for p in probes]),
            "probe_statuses": sorted({str(p["status"]) for p in probes})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model_dir", help="start `python -m ner.serve` on this model")
    target.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--server_pid", type=int, help="with --url: its pid, to read its RSS")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--texts_per_request", type=parse_range, default=(1, 8),
                        help="texts per request: N, or A-B drawn per request (default 1-8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request sizes")
    parser.add_argument("--warmup", type=int, default=500, help="requests before RSS 'before'")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the run; RSS after each round shows whether memory grows")
    parser.add_argument("--baseline", action="store_true",
                        help="after each round, Tagger.tag_batch on its sentences in this "
                             "process (needs --model_dir)")
    parser.add_argument("--baseline_repeats", type=int, default=1,
                        help="with --baseline: time each baseline this many times, in turns, "
                             "and compare with the median (default: %(default)s)")
    parser.add_argument("--max_seconds", type=float, default=900, help="stop the clients by then")
    parser.add_argument("--data", default=str(REPO / "data/conll2003/test.txt"),
                        help="CoNLL file whose sentences are sent; 'builtin' (or a missing file) "
                             "sends four built-in sentences")
    parser.add_argument("--precision", default="auto",
                        help="the server's --precision, and the baseline tagger's")
    parser.add_argument("--serve_flag", action="append", default=[],
                        help="extra flag for ner.serve, e.g. --serve_flag=--max_wait_ms=2")
    heavy = parser.add_argument_group("heavy-client scenario")
    heavy.add_argument("--heavy", choices=["dots", "english"],
                       help="run the heavy-client scenario instead of the load")
    heavy.add_argument("--heavy_requests", type=int, default=1)
    heavy.add_argument("--heavy_texts", type=int, default=64)
    heavy.add_argument("--heavy_chars", type=int, default=10_000)
    heavy.add_argument("--abandon_after_s", type=float,
                       help="heavy clients close their connection after this long")
    heavy.add_argument("--probe_delay_s", type=float, default=2.0)
    heavy.add_argument("--probes", type=int, default=10)
    heavy.add_argument("--probe_gap_s", type=float, default=0.5)
    parser.add_argument("--output", help="also write the JSON result here")
    args = parser.parse_args(argv)
    if min(args.clients, args.requests, args.rounds) < 1 or args.warmup < 0:
        parser.error("--clients, --requests and --rounds must be positive")
    if args.baseline and not args.model_dir:
        parser.error("--baseline needs --model_dir (the model to run in this process)")
    if args.baseline_repeats < 1:
        parser.error(f"--baseline_repeats must be at least 1, got {args.baseline_repeats}")
    if args.heavy and min(args.heavy_requests, args.heavy_texts, args.heavy_chars,
                          args.probes) < 1:
        parser.error("--heavy_requests, --heavy_texts, --heavy_chars and --probes must be "
                     "positive")

    texts = conll_sentences(Path(args.data)) if Path(args.data).is_file() else _FALLBACK_TEXTS
    process = None
    try:
        if args.model_dir:
            host, port = "127.0.0.1", free_port()
            process = start_server(args.model_dir, port,
                                   [f"--precision={args.precision}", *args.serve_flag])
            pid = process.pid
        else:
            host, port = check_loopback(args.url)
            pid = args.server_pid
        wait_healthy(host, port, timeout=600, process=process)
        if args.heavy:
            before = rss_mb(pid) if pid else None
            result = run_heavy(host, port, args, texts)
            after = rss_mb(pid) if pid else None
            result.update({"server_rss_mb_before": before and before["rss"],
                           "server_rss_mb_after": after and after["rss"],
                           "server_rss_mb_peak": after and after["peak"]})
            result["errors"] = 0
            result["stopped_by_deadline"] = False
        else:
            result = load_rounds(host, port, pid, args, texts)
    finally:
        if process is not None:
            status = stop_server(process)
            print(f"load_test: server exited with status {status}", file=sys.stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0 if result["errors"] == 0 and not result["stopped_by_deadline"] else 1


def load_rounds(host: str, port: int, pid: int | None, args, texts: list[str]) -> dict:
    # Warm-up at full concurrency, so that the batch shapes the run will see
    # have been allocated for before RSS is first read.
    warm = run_load(host, port, plan_requests(texts, args.warmup, args.texts_per_request,
                                              args.seed + 1000), args.clients, args.max_seconds,
                    pid)
    baseline = Baseline(args.model_dir, args.precision) if args.baseline else None
    before = rss_mb(pid) if pid else None
    rounds, rss_after_round, baselines = [], [], []
    for r in range(args.rounds):
        # A different stretch of sentences each round.
        plan = plan_requests(texts, args.requests, args.texts_per_request, args.seed + r,
                             start=r * args.requests * 4)
        counters = server_counters(host, port)
        rounds.append(run_load(host, port, plan, args.clients, args.max_seconds, pid))
        rss_after_round.append(rss_mb(pid)["rss"] if pid else None)
        after = server_counters(host, port)
        mean_batch = (after["texts"] - counters["texts"]) / max(1, after["batches"]
                                                                 - counters["batches"])
        rounds[-1]["server_mean_batch_texts"] = round(mean_batch, 1)
        rounds[-1].update(server_time_split(counters, after))
        if baseline:
            # One call on the round's sentences, then calls the size of the
            # server's mean batch: how much is batch size, how much the server.
            sent = [t for i in rounds[-1]["_sent"] for t in plan[i]]
            one, chunked = baseline.repeated(sent, max(1, round(mean_batch)),
                                             args.baseline_repeats)
            baselines.append({"one_call": one, "server_batch_size_calls": chunked})
            rounds[-1]["ratio_to_tag_batch"] = round(
                rounds[-1]["texts_per_s"] / one["texts_per_s"], 3)
            rounds[-1]["ratio_to_tag_batch_in_server_batch_sizes"] = round(
                rounds[-1]["texts_per_s"] / chunked["texts_per_s"], 3)
    for r in rounds:
        del r["_sent"]
    del warm["_sent"]
    result = rounds[0] if len(rounds) == 1 else {**rounds[-1], "rounds": rounds}
    result["errors"] = sum(r["errors"] for r in rounds)
    result["stopped_by_deadline"] = any(r["stopped_by_deadline"] for r in rounds)
    if baselines:
        result["tag_batch_baseline"] = baselines
        for key in ("ratio_to_tag_batch", "ratio_to_tag_batch_in_server_batch_sizes"):
            # The true median, unrounded: with two rounds the upper one flattered
            # the server, and rounding a mean of two could too.
            result[f"{key}_median"] = statistics.median(r[key] for r in rounds)
    after = rss_mb(pid) if pid else None
    health = server_counters(host, port)
    result.update({
        "texts_per_request": "-".join(map(str, sorted(set(args.texts_per_request)))),
        "warmup_errors": warm["errors"],
        "server_rss_mb_before": before and before["rss"],
        "server_rss_mb_after": after and after["rss"],
        "server_rss_mb_peak": after and after["peak"],
        "server_rss_mb_after_each_round": rss_after_round,
        "server": {k: v for k, v in health.items()
                   if k in ("requests", "texts", "batches", "largest_batch",
                            "gc_longest_pause_s", "limits")},
        "texts_source": args.data if texts is not _FALLBACK_TEXTS else "built-in",
    })
    return result


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, TimeoutError, RuntimeError) as e:
        print(f"load_test: error: {e}", file=sys.stderr)
        sys.exit(2)
