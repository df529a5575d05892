"""Load test of `python -m ner.serve`: concurrent clients, bounded request count, loopback only.

    python scripts/load_test.py --model_dir=runs/default --clients=32 --requests=5000

starts the server on a free loopback port, warms it up, sends `--requests`
POST /v1/tag requests from `--clients` threads (each with its own keep-alive
connection, each request one CoNLL-2003 test sentence as raw text), stops the
server with SIGTERM and prints one JSON object: throughput, latency
percentiles, error count, the server's resident memory before (after warm-up)
and after the run, and its batching counters. `--url=http://127.0.0.1:PORT`
tests a server that is already running instead (`--server_pid` adds its RSS).

Bounded by design: the request count is fixed, a `--max_seconds` deadline
stops the clients early, and only loopback addresses are accepted. Uses the
standard library only, so the client costs little CPU next to the server.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import signal
import socket
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


def run_load(host: str, port: int, texts: list[str], clients: int, requests: int,
             texts_per_request: int, max_seconds: float) -> dict:
    """Sends `requests` requests from `clients` threads; returns the measurements."""
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + max_seconds

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                i = next_index[0]
                if i >= requests:
                    break
                next_index[0] += 1
            batch = [texts[(i * texts_per_request + k) % len(texts)]
                     for k in range(texts_per_request)]
            body = json.dumps({"texts": batch}).encode("utf-8")
            began = time.perf_counter()
            try:
                status, payload = request(conn, "POST", "/v1/tag", body)
                key = str(status)
                if status == 200 and len(json.loads(payload)["entities"]) != len(batch):
                    key = "wrong_count"
            except (OSError, http.client.HTTPException, ValueError) as e:
                key = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                statuses[key] = statuses.get(key, 0) + 1
        conn.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, name=f"client-{c}") for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        if not ordered:
            return float("nan")
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    done = len(latencies)
    return {
        "clients": clients, "requests": done, "requested": requests,
        "texts_per_request": texts_per_request,
        "errors": done - statuses.get("200", 0), "statuses": statuses,
        "seconds": round(seconds, 2),
        "requests_per_s": round(done / seconds, 1) if seconds else None,
        "texts_per_s": round(done * texts_per_request / seconds, 1) if seconds else None,
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
                       "max": percentile(1.0)},
        "stopped_by_deadline": done < requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model_dir", help="start `python -m ner.serve` on this model")
    target.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--server_pid", type=int, help="with --url: its pid, to read its RSS")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--texts_per_request", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=500, help="requests before RSS 'before'")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the run; RSS after each round shows whether memory grows")
    parser.add_argument("--max_seconds", type=float, default=900, help="stop the clients by then")
    parser.add_argument("--data", default=str(REPO / "data/conll2003/test.txt"),
                        help="CoNLL file whose sentences are sent; 'builtin' (or a missing file) "
                             "sends four built-in sentences")
    parser.add_argument("--serve_flag", action="append", default=[],
                        help="extra flag for ner.serve, e.g. --serve_flag=--max_wait_ms=2")
    parser.add_argument("--output", help="also write the JSON result here")
    args = parser.parse_args(argv)
    if min(args.clients, args.requests, args.texts_per_request, args.rounds) < 1 or args.warmup < 0:
        parser.error("--clients, --requests, --texts_per_request and --rounds must be positive")

    texts = conll_sentences(Path(args.data)) if Path(args.data).is_file() else _FALLBACK_TEXTS
    process = None
    try:
        if args.model_dir:
            host, port = "127.0.0.1", free_port()
            process = start_server(args.model_dir, port, args.serve_flag)
            pid = process.pid
        else:
            host, port = check_loopback(args.url)
            pid = args.server_pid
        wait_healthy(host, port, timeout=600, process=process)
        # Warm-up at full concurrency, so that the batch shapes the run will
        # see have been allocated for before RSS is first read.
        warm = run_load(host, port, texts, args.clients, args.warmup, args.texts_per_request,
                        args.max_seconds)
        before = rss_mb(pid) if pid else None
        rounds, rss_after_round = [], []
        for _ in range(args.rounds):
            rounds.append(run_load(host, port, texts, args.clients, args.requests,
                                   args.texts_per_request, args.max_seconds))
            rss_after_round.append(rss_mb(pid)["rss"] if pid else None)
        result = rounds[0] if len(rounds) == 1 else {**rounds[-1], "rounds": rounds}
        result["errors"] = sum(r["errors"] for r in rounds)
        result["stopped_by_deadline"] = any(r["stopped_by_deadline"] for r in rounds)
        after = rss_mb(pid) if pid else None
        conn = http.client.HTTPConnection(host, port, timeout=30)
        _, health = request(conn, "GET", "/healthz")
        conn.close()
        result.update({
            "warmup_errors": warm["errors"],
            "server_rss_mb_before": before and before["rss"],
            "server_rss_mb_after": after and after["rss"],
            "server_rss_mb_peak": after and after["peak"],
            "server_rss_mb_after_each_round": rss_after_round,
            "server": {k: v for k, v in json.loads(health).items()
                       if k in ("requests", "texts", "batches", "largest_batch", "limits")},
            "texts_source": args.data if texts is not _FALLBACK_TEXTS else "built-in",
        })
    finally:
        if process is not None:
            status = stop_server(process)
            print(f"load_test: server exited with status {status}", file=sys.stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0 if result["errors"] == 0 and not result["stopped_by_deadline"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, TimeoutError, RuntimeError) as e:
        print(f"load_test: error: {e}", file=sys.stderr)
        sys.exit(2)
