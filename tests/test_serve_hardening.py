"""`ner.serve` against heavy and hostile clients: budgets, fairness, the queue bound,
cancellation, connection limits, shutdown under load, and the JSON error shape.

Most servers here run in a thread of this process with a fake tagger that
sleeps in proportion to its work (1 ms per character), so that timings
depend on sleeping, not on how busy the shared CPU is; bounds are still
generous. The wordpiece budgets use the tiny model's real tokenizer, and the
SIGTERM test runs `python -m ner.serve` on a tiny model with a real
TensorFlow batch that runs for many seconds. All traffic goes to 127.0.0.1.
"""

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ner.serve import (MicroBatcher, Overloaded, ServeOptions, ShuttingDown, bind, create_app,
                       wordpiece_counter)
from ner.tagger import Tagger
from tests.test_serve import _free_port, _Server, call, tag, wait_for_health
from tests.tiny_model import write_model_folder

REPO = Path(__file__).resolve().parent.parent
SECONDS_PER_CHAR = 0.001  # the fake tagger's speed: 1,000 characters (its work) per second


class SlowTagger:
    """A fake `tag_batch`: no entities, sleeps 1 ms per character; counts what it tagged."""

    def __init__(self):
        self.chars = 0
        self.batches: list[int] = []  # characters per batch
        self.lock = threading.Lock()

    def __call__(self, texts):
        if any("boom" in t for t in texts):
            raise ValueError("the fake tagger fails on 'boom'")
        size = sum(len(t) for t in texts)
        time.sleep(size * SECONDS_PER_CHAR)
        with self.lock:
            self.chars += size
            self.batches.append(size)
        return [[] for _ in texts]


# A batch holds at most 200 characters (0.2 s); a maximal request is 64 texts
# of 100 characters (6.4 s of work).
SLOW = dict(host="127.0.0.1", port=0, max_batch_size=64, max_wait_ms=5, max_texts=64,
            max_text_chars=100, max_body_bytes=100_000, max_text_wordpieces=100,
            max_request_wordpieces=6400, max_batch_wordpieces=200,
            max_queued_wordpieces=12_800, shutdown_timeout_s=5, body_timeout_s=0.5)
BATCH_S = 200 * SECONDS_PER_CHAR
HEAVY = ["x" * 100] * 64


@pytest.fixture
def slow_server():
    fake = SlowTagger()
    options = ServeOptions(**SLOW)
    app = create_app(fake, options)  # work = characters (the default measure)
    with _Server(app, options) as running:
        running.fake = fake
        running.batcher = app.state.batcher
        yield running


@pytest.fixture
def server_log(caplog):
    """Records of ner.serve and uvicorn's loggers (which propagate: `make_server`)."""
    for name in ("ner.serve", "uvicorn.error", "uvicorn.access"):
        caplog.set_level(logging.INFO, logger=name)
    return caplog


def assert_error(status: int, headers: dict, body: bytes, want_status: int, want_code: str):
    """The JSON error shape: {"error": {"code", "message", "field"}}, application/json."""
    assert status == want_status, body
    assert headers.get("content-type", "").startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "field"}
    assert error["code"] == want_code
    assert error["message"] and "Traceback" not in error["message"]
    return error


def raw(port: int, data: bytes, timeout: float = 30) -> tuple[int, dict, bytes]:
    """Sends raw bytes on a new connection; returns (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def post_bytes(texts, path="/v1/tag") -> bytes:
    body = json.dumps({"texts": texts}).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (reading EOF), or None if it stayed open."""
    began = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - began < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - began
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - began
    return None


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# === Options ===


def test_options_keep_a_text_within_one_batch_and_name_the_flags():
    with pytest.raises(ValueError, match="max_text_wordpieces.*max_batch_wordpieces"):
        ServeOptions(max_text_wordpieces=5000, max_batch_wordpieces=4096)
    with pytest.raises(ValueError, match="max_request_wordpieces.*max_queued_wordpieces"):
        ServeOptions(max_request_wordpieces=100_000, max_queued_wordpieces=65_536)
    with pytest.raises(ValueError, match="max_connections must be a positive integer"):
        ServeOptions(max_connections=0)
    with pytest.raises(ValueError, match="keep_alive_timeout_s must be > 0"):
        ServeOptions(keep_alive_timeout_s=0)
    with pytest.raises(ValueError, match="tagging_threads must be a positive integer, got 0"):
        ServeOptions(tagging_threads=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        MicroBatcher(lambda texts: texts, 8, 0.0, workers=0)


@pytest.mark.parametrize("env", [{}, {"TF_NUM_INTEROP_THREADS": "2"}])
def test_a_thread_is_left_for_counting_unless_the_user_chose(env):
    """With as many tagging threads as cores, TensorFlow's inter-op pool gets one
    more thread (the wordpiece counter's ops would wait for the batches'),
    unless TF_NUM_INTEROP_THREADS says otherwise."""
    cores = len(os.sched_getaffinity(0))
    code = ("import tensorflow as tf; from ner.serve import _leave_a_thread_for_counting as f; "
            f"f({cores}); print(tf.config.threading.get_inter_op_parallelism_threads())")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300, env={**os.environ, **env})
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.split()[-1]) == (0 if env else cores + 1)


def test_the_loaded_model_is_frozen_out_of_the_garbage_collector():
    """serve() freezes what loading made (the model, TensorFlow's traced functions:
    about 480,000 objects for the default model), so that the collector's oldest-
    generation passes, which stop every thread, no longer walk them (0.24 s each)."""
    code = """
import gc
from ner import serve
loaded = []
def load_tagger(model_dir, precision):
    loaded.extend({"weight": i} for i in range(10_000))
    return (lambda texts: [[] for _ in texts]), [], None, (lambda texts: [1 for _ in texts]), "x", None
class Server:
    def run(self, sockets):
        print("frozen", gc.get_freeze_count(), "tracked", len(gc.get_objects()))
serve.load_tagger = load_tagger
serve.make_server = lambda app, options: Server()
serve.serve("unused", serve.ServeOptions(port=0))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frozen, tracked = (int(w) for w in run.stdout.split()[1::2])
    assert frozen >= 10_000 and tracked < frozen  # the model's objects, and no longer tracked


def test_help_documents_the_limits():
    run = subprocess.run([sys.executable, "-m", "ner.serve", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr  # absl's --help exits with 1
    for flag in ("max_text_wordpieces", "max_request_wordpieces", "max_batch_wordpieces",
                 "max_queued_wordpieces", "max_connections", "max_header_bytes",
                 "keep_alive_timeout_s", "body_timeout_s", "shutdown_timeout_s",
                 "tagging_threads", "shutdown_delay_s", "allow_origins", "forwarded_allow_ips",
                 "root_path", "access_log"):
        assert f"--{flag}" in run.stdout + run.stderr, flag


# === The batcher: fairness, the queue bound, cancellation, draining ===


def run_batcher(scenario, **kwargs):
    """Runs `scenario(batcher)` against a MicroBatcher over a SlowTagger."""
    fake = SlowTagger()

    async def main():
        batcher = MicroBatcher(fake, **{"max_batch_size": 64, "max_wait_s": 0.005,
                                        "max_batch_work": 200, **kwargs})
        await batcher.start()
        try:
            return await scenario(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main()), fake


def submit(batcher, texts):
    return asyncio.ensure_future(batcher.submit(texts, [len(t) for t in texts]))


def test_a_small_request_overtakes_a_heavy_one_within_two_batches():
    async def scenario(batcher):
        loop = asyncio.get_running_loop()
        heavy = submit(batcher, HEAVY)  # 6.4 s of work
        await asyncio.sleep(0.5)
        began = loop.time()
        await submit(batcher, ["small one"])
        waited = loop.time() - began
        return waited, heavy.done(), await heavy

    (waited, heavy_done_first, heavy_result), fake = run_batcher(scenario)
    assert not heavy_done_first
    assert heavy_result == [[]] * 64
    # The running batch plus its own (each at most 0.2 s), not the 5.9 s left.
    assert waited <= 2 * BATCH_S + 0.5
    assert max(fake.batches) <= 200


def test_a_lone_request_on_an_idle_worker_does_not_wait_for_company():
    async def scenario(batcher):
        await asyncio.sleep(0.2)
        began = asyncio.get_running_loop().time()
        await submit(batcher, ["x"])
        return asyncio.get_running_loop().time() - began

    waited, _ = run_batcher(scenario, max_wait_s=3.0)
    assert waited < 1.0  # no max_wait_s when nothing else is on its way


def test_a_full_queue_refuses_at_once_with_a_retry_time():
    async def scenario(batcher):
        loop = asyncio.get_running_loop()
        first = submit(batcher, HEAVY)
        await asyncio.sleep(0.3)  # a batch has run, so the rate is known
        began = loop.time()
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(HEAVY[:10], [100] * 10)
        took = loop.time() - began
        small = await batcher.submit(["ok"], [2])  # fits: 6,400 - done + 2 <= 7,000
        first.cancel()
        return refused.value, took, small

    (refused, took, small), _ = run_batcher(scenario, max_queued_work=7000)
    assert took < 0.1
    assert refused.limit == 7000 and 6000 < refused.queued <= 6400
    # Retry-After from the measured rate, about 1,000 characters per second.
    assert 3 <= refused.retry_after_s <= 20
    assert small == [[]]


def test_cancelling_a_request_drops_its_work_and_frees_the_worker():
    async def scenario(batcher):
        heavy = submit(batcher, HEAVY)
        await asyncio.sleep(0.5)
        heavy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await heavy
        await asyncio.sleep(2 * BATCH_S + 0.2)  # the batch running at the cancel ends
        idle = (batcher.busy, batcher.queued, batcher.queued_work)
        began = asyncio.get_running_loop().time()
        await submit(batcher, ["next"])
        return idle, asyncio.get_running_loop().time() - began, dict(batcher.stats)

    (idle, next_waited, stats), fake = run_batcher(scenario)
    assert idle == (False, 0, 0)
    assert next_waited < BATCH_S + 0.5
    assert stats["cancelled_texts"] >= 50
    assert fake.chars <= 1500  # at most the batches started in the first 0.5 s, not 6,400


def test_draining_answers_the_unfinished_at_the_deadline_not_after_the_batch():
    def slow_batch(texts):
        time.sleep(3.0)
        return [[] for _ in texts]

    async def scenario(batcher):
        loop = asyncio.get_running_loop()
        running = asyncio.ensure_future(batcher.submit(["in the running batch"]))
        await asyncio.sleep(0.3)
        queued = asyncio.ensure_future(batcher.submit(["queued"]))
        await asyncio.sleep(0.1)
        began = loop.time()
        batcher.drain(0.5)
        with pytest.raises(ShuttingDown):
            await batcher.submit(["new"])
        results = await asyncio.gather(running, queued, return_exceptions=True)
        return results, loop.time() - began, batcher.busy

    async def run():
        batcher = MicroBatcher(slow_batch, 64, 0.005)
        await batcher.start()
        try:
            return await scenario(batcher)
        finally:
            await batcher.stop()

    results, took, still_busy = asyncio.run(run())
    assert all(isinstance(r, ShuttingDown) for r in results)
    assert 0.4 <= took < 1.5  # at the 0.5 s deadline, not when the 3 s batch ends
    assert still_busy


# === Budgets in wordpieces (the tiny model's tokenizer) ===


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory) -> Tagger:
    return Tagger.load(write_model_folder(tmp_path_factory.mktemp("hardening") / "model"))


def test_the_wordpiece_counter_counts_what_the_tagger_encodes(tiny_tagger):
    count = wordpiece_counter(tiny_tagger.tokenizer)
    # "johnson" -> john ##son; "zoë" -> zoe; the emoji and "new\u200byork"
    # (no ##york in the vocabulary) -> [UNK] each; U+200B alone is no word.
    assert count(["john smith lives in paris .", "johnson", "", "zoë 😀 new\u200byork",
                  "\u200b"]) == [6, 2, 0, 3, 0]
    texts = ["Zoë met John Smith's brother in New York, then flew to Istanbul!!",
             "." * 300, "acme corp " * 40]
    words = [len(w) for w in tiny_tagger.tokenizer.split_words_with_offsets(texts)[0].to_list()]
    counts = count(texts)
    assert all(c >= w for c, w in zip(counts, words))  # at least one piece per word
    assert counts[1] == 300


def test_requests_waiting_to_be_counted_share_a_counting_call():
    calls: list[int] = []

    def measure(texts):  # 0.2 s per call, whatever its size: the fixed cost shared
        time.sleep(0.2)
        calls.append(len(texts))
        return [len(t) for t in texts]

    options = ServeOptions(**SLOW)
    app = create_app(SlowTagger(), options, measure=measure)
    with _Server(app, options) as running, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda k: tag(running.port, [f"text {k}"]), range(8)))
    assert [status for status, _ in answers] == [200] * 8
    assert sum(calls) == 8  # every text counted once
    assert len(calls) < 8 and max(calls) > 1, calls  # ... in fewer calls than requests


@pytest.fixture(scope="module")
def budget_server(tiny_tagger):
    options = ServeOptions(host="127.0.0.1", port=0, max_text_wordpieces=8,
                           max_request_wordpieces=12, max_batch_wordpieces=8,
                           max_queued_wordpieces=100, max_body_bytes=20_000)
    app = create_app(tiny_tagger.tag_batch, options, tiny_tagger.entity_types,
                     measure=wordpiece_counter(tiny_tagger.tokenizer))
    with _Server(app, options) as running:
        yield running


def test_work_budgets_are_in_wordpieces_and_name_their_flag(budget_server):
    six = "john smith lives in paris ."  # 6 wordpieces
    status, body = tag(budget_server.port, [six])
    assert status == 200 and [e["text"] for e in body["entities"][0]] == ["john smith", "paris"]
    # 9 wordpieces in 41 characters: "." is a word and a wordpiece each.
    status, body = tag(budget_server.port, [six, "........."])
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        422, "text_too_many_wordpieces", "texts[1]")
    assert "9 wordpieces" in body["error"]["message"]
    assert "--max_text_wordpieces" in body["error"]["message"]
    status, body = tag(budget_server.port, [six, "zoe met john smith ."])  # 6 + 5 = 11: fits
    assert status == 200
    status, body = tag(budget_server.port, [six, "zoe met john smith in paris ."])  # 6 + 7
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        422, "too_many_wordpieces", "texts")
    assert "--max_request_wordpieces" in body["error"]["message"]
    assert "several requests" in body["error"]["message"]


# === Over HTTP: fairness, the queue, disconnects, errors ===


def test_over_http_a_small_request_is_answered_while_a_maximal_one_runs(slow_server):
    with ThreadPoolExecutor(1) as pool:
        heavy = pool.submit(tag, slow_server.port, HEAVY)
        time.sleep(0.5)
        began = time.monotonic()
        status, body = tag(slow_server.port, ["one short sentence ."])
        waited = time.monotonic() - began
        assert status == 200 and body == {"entities": [[]]}
        assert not heavy.done()
        assert heavy.result(timeout=60)[0] == 200
    assert waited <= 2 * BATCH_S + 1.0  # not the ~6 s the heavy request still had


@pytest.mark.parametrize("threads", [2, 1])
def test_over_http_heavy_requests_take_turns_and_a_small_one_runs_beside_them(threads):
    """Two heavy requests at once (10 texts of 100 characters: 1 s of work each, a
    batch each): with two tagging threads they take turns in one and a one-sentence
    request runs in the other at once; with one thread it waits for a heavy batch."""
    options = ServeOptions(**{**SLOW, "max_batch_wordpieces": 1000, "tagging_threads": threads})
    with _Server(create_app(SlowTagger(), options), options) as running, \
            ThreadPoolExecutor(2) as pool:
        heavy = [pool.submit(tag, running.port, ["x" * 100] * 10) for _ in range(2)]
        time.sleep(0.3)  # a heavy batch is running
        began = time.monotonic()
        status, body = tag(running.port, ["one short sentence ."])
        waited = time.monotonic() - began
        assert status == 200 and body == {"entities": [[]]}
        assert [h.result(timeout=60)[0] for h in heavy] == [200, 200]
    if threads == 2:
        assert waited < 0.45  # not behind a heavy batch (up to 0.7 s left of it)
    else:
        assert waited >= 0.5


def test_a_full_queue_answers_503_json_with_retry_after_at_once(slow_server):
    socks = [socket.create_connection(("127.0.0.1", slow_server.port)) for _ in range(2)]
    try:
        for sock in socks:  # 2 x 6,400 characters fill the 12,800 bound
            sock.sendall(post_bytes(HEAVY))
        assert wait_until(lambda: slow_server.batcher.queued_work >= 12_000, 10)
        began = time.monotonic()
        status, headers, body = raw(slow_server.port, post_bytes(["a small one"]))
        took = time.monotonic() - began
        error = assert_error(status, headers, body, 503, "overloaded")
        assert took < 1.0
        assert int(headers["retry-after"]) >= 1
        assert "--max_queued_wordpieces" in error["message"] and "Retry-After" in error["message"]
    finally:
        for sock in socks:
            sock.close()
    # Their clients are gone: the work is dropped and the server takes requests again.
    assert wait_until(lambda: slow_server.batcher.queued_work == 0, 2 * BATCH_S + 2)
    assert tag(slow_server.port, ["again"])[0] == 200


def test_a_client_that_disconnects_frees_the_worker_with_one_log_line(slow_server, server_log):
    sock = socket.create_connection(("127.0.0.1", slow_server.port))
    sock.sendall(post_bytes(HEAVY))
    time.sleep(0.5)
    sock.close()
    assert wait_until(lambda: slow_server.batcher.queued_work == 0
                      and not slow_server.batcher.busy, 2 * BATCH_S + 2)
    tagged = slow_server.fake.chars
    time.sleep(0.5)
    assert slow_server.fake.chars == tagged <= 1500  # nothing more computed for it
    assert slow_server.batcher.stats["cancelled_texts"] >= 50
    began = time.monotonic()
    assert tag(slow_server.port, ["next client"])[0] == 200
    assert time.monotonic() - began < BATCH_S + 1.0
    gone = [r for r in server_log.records if "closed the connection" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    assert not [r for r in server_log.records if r.levelno >= logging.WARNING]


def test_a_disconnect_mid_body_is_one_info_line_not_a_traceback(slow_server, server_log):
    with socket.create_connection(("127.0.0.1", slow_server.port)) as sock:
        sock.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"texts\": [")
        time.sleep(0.2)
    assert wait_until(lambda: any("while sending its body" in r.getMessage()
                                  for r in server_log.records), 5)
    assert tag(slow_server.port, ["still fine"])[0] == 200
    assert len([r for r in server_log.records if "closed the connection" in r.getMessage()]) == 1
    assert not [r for r in server_log.records if r.levelno >= logging.WARNING]
    assert not [r for r in server_log.records if r.exc_info]


def test_a_failing_tagger_answers_500_json(slow_server):
    status, headers, body = raw(slow_server.port, post_bytes(["boom"]))
    assert_error(status, headers, body, 500, "tagging_failed")
    assert tag(slow_server.port, ["fine"])[0] == 200


def test_a_slow_body_is_answered_408_json(slow_server):
    with socket.create_connection(("127.0.0.1", slow_server.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"texts\"")
        status, headers, body = read_response(sock)
        assert_error(status, headers, body, 408, "body_timeout")
        assert closed_within(sock, 5) is not None


def test_shutdown_finishes_what_fits_and_answers_the_rest_503_json():
    fake = SlowTagger()
    options = ServeOptions(**{**SLOW, "shutdown_timeout_s": 1.0})
    app = create_app(fake, options)
    running = _Server(app, options).__enter__()
    socks = [socket.create_connection(("127.0.0.1", running.port), timeout=30)
             for _ in range(3)]
    try:
        socks[0].sendall(post_bytes(HEAVY))  # 6.4 s of work
        time.sleep(0.3)
        socks[1].sendall(post_bytes(["small"]))  # fits in the 1 s: its batch is next
        # Queued before the signal (an idle connection is closed at shutdown).
        assert wait_until(lambda: app.state.batcher.stats["requests"] == 2, 5)
        began = time.monotonic()
        running.server.should_exit = True  # what SIGTERM does
        heavy, small = read_response(socks[0]), read_response(socks[1])
        answered = time.monotonic() - began
        assert closed_within(socks[2], 5) is not None  # an idle connection is closed
        with pytest.raises(ConnectionRefusedError):  # and no new one accepted
            socket.create_connection(("127.0.0.1", running.port), timeout=5).close()
        running.thread.join(10)
        stopped = time.monotonic() - began
    finally:
        for sock in socks:
            sock.close()
        running.__exit__()
    assert small[0] == 200 and json.loads(small[2]) == {"entities": [[]]}
    error = assert_error(*heavy, 503, "shutting_down")
    assert heavy[1]["connection"] == "close" and "send it again" in error["message"]
    # The deadline (1 s, plus uvicorn's 0.1 s ticks), not the 6 s of work.
    assert answered < 1.0 + 1.0
    assert not running.thread.is_alive() and stopped < 1.0 + 2.0
    assert fake.chars < 6400


# === Connections: h11's header limit, uvicorn's keep-alive timer, the cap ===


@pytest.fixture
def guarded_server():
    options = ServeOptions(host="127.0.0.1", port=0, max_connections=3, max_header_bytes=2048,
                           keep_alive_timeout_s=1.0)
    app = create_app(SlowTagger(), options)
    with _Server(app, options) as running:
        yield running


def test_oversized_headers_and_urls_get_431_json_and_a_closed_connection(guarded_server):
    port = guarded_server.port
    for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n",
                    b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 300 + b"\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request)
            status, headers, body = read_response(sock)
            error = assert_error(status, headers, body, 431, "headers_too_large")
            assert "--max_header_bytes" in error["message"]
            assert closed_within(sock, 5) is not None
    status, headers, body = raw(port, b"POST /v1/tag HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: abc\r\n\r\n")
    assert_error(status, headers, body, 400, "bad_http_request")


def test_idle_and_trickling_connections_are_closed(guarded_server):
    port = guarded_server.port
    with socket.create_connection(("127.0.0.1", port)) as idle:  # never sends a byte
        took = closed_within(idle, 10)
    assert took is not None and 0.8 <= took < 4
    with socket.create_connection(("127.0.0.1", port)) as trickle:
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        closed = False
        while time.monotonic() - began < 10 and not closed:
            try:
                trickle.sendall(b"X")  # a header that never ends
            except OSError:
                closed = True
            closed = closed or closed_within(trickle, 0.2) is not None
        took = time.monotonic() - began
    assert closed and took < 4
    with socket.create_connection(("127.0.0.1", port), timeout=30) as kept:  # after a response
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(kept)[0] == 200
        took = closed_within(kept, 10)
    assert took is not None and took < 4


def test_connections_over_the_cap_get_503_json_at_once(guarded_server):
    port = guarded_server.port
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as extra:
            status, headers, body = read_response(extra)  # without sending anything
            error = assert_error(status, headers, body, 503, "too_many_connections")
            assert "--max_connections" in error["message"]
            assert headers["retry-after"] == "1"
            assert closed_within(extra, 5) is not None
    finally:
        for sock in held:
            sock.close()
    assert wait_until(lambda: call(port, "GET", "/healthz")[0] == 200, 5)


# === Hygiene ===


def test_no_docs_pages_and_no_redirect_built_from_the_host_header(guarded_server):
    port = guarded_server.port
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/healthz/"):
        status, headers, body = raw(port, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n\r\n"
                                          .encode())
        assert_error(status, headers, body, 404, "not_found")
        assert "location" not in headers
    assert call(port, "GET", "/openapi.json")[0] == 200


def test_a_huge_number_is_refused_without_pythons_advice(guarded_server):
    request = _post_raw(b'{"texts": [' + b"7" * 5000 + b"]}")
    status, headers, body = raw(guarded_server.port, request)
    error = assert_error(status, headers, body, 400, "malformed_json")
    assert "sys." not in error["message"] and "set_int_max_str_digits" not in error["message"]
    assert "array of strings" in error["message"]


def _post_raw(body: bytes) -> bytes:
    return (b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


ERRORS = [
    # (raw request, status, code)
    (_post_raw(b'{"texts": ['), 400, "malformed_json"),
    (_post_raw(b'{"texts": ["caf\xc3"]}'), 400, "invalid_utf8"),
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"),
    (b"DELETE /v1/tag HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
    (b"PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405,
     "method_not_allowed"),
    (_post_raw(b'{"texts": ["' + b"x" * 2_000_000 + b'"]}'), 413, "body_too_large"),
    (_post_raw(b'{"texts": ["x"]}').replace(b"application/json", b"text/plain"), 415,
     "unsupported_media_type"),
    (_post_raw(b'{"texts": ["x"], "extra": 1}'), 422, "unknown_field"),
    (_post_raw(json.dumps({"texts": ["x" * 10_001]}).encode()), 422, "text_too_long"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 20_000 + b"\r\n\r\n", 431,
     "headers_too_large"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
     "bad_http_request"),
    (b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n", 400, "bad_http_request"),
]


@pytest.mark.parametrize("request_bytes, status, code", ERRORS,
                         ids=[f"{e[1]}-{e[2]}-{i}" for i, e in enumerate(ERRORS)])
def test_every_error_has_the_json_shape(guarded_server, request_bytes, status, code):
    if status == 413:  # answered from Content-Length alone: send only the head
        request_bytes = request_bytes[:request_bytes.index(b"\r\n\r\n") + 4]
    assert_error(*raw(guarded_server.port, request_bytes), status, code)


# === Deployment: probes, rolling restarts, proxies, browsers ===


def _delayed_server(delay_s: float) -> _Server:
    options = ServeOptions(**{**SLOW, "shutdown_delay_s": delay_s})
    return _Server(create_app(SlowTagger(), options), options)


def _seconds_to_stop(running: _Server, sig: int) -> float:
    """Sends `sig` as the signal handler would; seconds until the server's thread ended."""
    signalled = time.monotonic()
    running.server.handle_exit(sig, None)
    running.thread.join(10)
    assert not running.thread.is_alive()
    return time.monotonic() - signalled


def test_healthz_turns_503_at_sigterm_while_requests_are_served_for_the_delay():
    with _delayed_server(1.5) as running:
        assert call(running.port, "GET", "/healthz")[0] == 200
        signalled = time.monotonic()
        running.server.handle_exit(signal.SIGTERM, None)  # what SIGTERM calls
        status, health = call(running.port, "GET", "/healthz")
        assert status == 503 and health["status"] == "shutting_down"
        assert tag(running.port, ["still served"]) == (200, {"entities": [[]]})
        running.thread.join(10)
        took = time.monotonic() - signalled
    assert not running.thread.is_alive() and 1.5 <= took < 1.5 + 2.0


def test_responses_during_the_delay_close_their_connection_and_ctrl_c_skips_it():
    with _delayed_server(60) as running:
        running.server.handle_exit(signal.SIGTERM, None)
        status, headers, _ = raw(running.port, post_bytes(["still served"]))
        assert status == 200 and headers["connection"] == "close"  # pooled clients move on
        assert _seconds_to_stop(running, signal.SIGINT) < 3  # Ctrl+C: now
    # Ctrl+C first: no delay at all.
    with _delayed_server(60) as running:
        assert _seconds_to_stop(running, signal.SIGINT) < 3


def test_an_empty_host_and_origins_that_never_match_are_refused():
    with pytest.raises(ValueError, match="host is empty"):
        ServeOptions(host=" ")
    for origins in ("https://a.example/", "https://a.example, foo", "a.example"):
        with pytest.raises(ValueError, match="is not an origin like https://app.example.com"):
            ServeOptions(allow_origins=origins)
    assert ServeOptions(allow_origins="https://a.example, http://b.example:8080,*")


def test_a_second_signal_skips_the_rest_of_the_delay():
    with _delayed_server(60) as running:
        running.server.handle_exit(signal.SIGTERM, None)
        assert call(running.port, "GET", "/healthz")[0] == 503
        assert _seconds_to_stop(running, signal.SIGTERM) < 3


def test_cors_root_path_and_access_log_follow_their_flags(server_log):
    options = ServeOptions(host="127.0.0.1", port=0, allow_origins="https://app.example",
                           root_path="/ner", access_log=True)
    running = _Server(create_app(SlowTagger(), options), options)
    server_log.set_level(logging.INFO, logger="uvicorn.access")  # _Server's level is warning
    with running:
        port = running.port
        preflight = (b"OPTIONS /v1/tag HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                     b"Access-Control-Request-Method: POST\r\n"
                     b"Access-Control-Request-Headers: content-type\r\n\r\n")
        status, headers, _ = raw(port, preflight)
        assert status == 200 and headers["access-control-allow-origin"] == "https://app.example"
        status, headers, _ = raw(port, post_bytes(["john"]).replace(
            b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nOrigin: https://app.example\r\n"))
        assert status == 200 and headers["access-control-allow-origin"] == "https://app.example"
        refused = raw(port, preflight.replace(b"https://app.example", b"https://evil.example"))
        assert_error(*refused, 400, "cors_refused")
        assert "access-control-allow-origin" not in refused[1]
        assert call(port, "GET", "/openapi.json")[1]["servers"] == [{"url": "/ner"}]
    lines = [r.getMessage() for r in server_log.records if r.name == "uvicorn.access"]
    assert any('"POST /ner/v1/tag HTTP/1.1" 200' in line for line in lines), lines
    assert not any("john" in line for line in lines)  # never the texts


def test_without_allow_origins_no_cors_headers_and_preflights_get_405_json(guarded_server):
    status, headers, body = raw(guarded_server.port, b"OPTIONS /v1/tag HTTP/1.1\r\nHost: x\r\n"
                                b"Origin: https://app.example\r\n"
                                b"Access-Control-Request-Method: POST\r\n\r\n")
    assert_error(status, headers, body, 405, "method_not_allowed")
    assert not [k for k in headers if k.startswith("access-control")]


def test_an_upgrade_header_is_served_as_plain_http_without_a_warning(guarded_server, server_log):
    status, _, _ = raw(guarded_server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert status == 200
    assert not [r.getMessage() for r in server_log.records if r.levelno >= logging.WARNING]


def test_a_port_in_use_fails_at_once_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{port} "
                                             r"\(--host, --port\): Address already in use"):
            bind("127.0.0.1", port)
        # The model folder does not exist: the port is what the server says.
        run = subprocess.run([sys.executable, "-m", "ner.serve",
                              f"--model_dir={tmp_path / 'missing'}", f"--port={port}"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr.splitlines()[-1]


def test_double_colon_listens_on_ipv6_and_ipv4():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    sock = bind("::", 0)
    try:
        port = sock.getsockname()[1]
        for host in ("127.0.0.1", "::1"):
            socket.create_connection((host, port), timeout=5).close()
    finally:
        sock.close()


# === SIGTERM on a real process during a long TensorFlow batch ===


def test_sigterm_during_a_long_batch_exits_within_the_timeout(tmp_path):
    model_dir = write_model_folder(tmp_path / "model")
    port = _free_port()
    log_path = tmp_path / "log.txt"
    # One text of 100,000 "." is one sentence of 100,000 words: on the tiny
    # model a batch of 15 s or more (3 s per 20,000 on an idle 2-core machine).
    # A text per batch: two heavy texts counted before either starts would
    # otherwise share one batch.
    flags = ["--max_text_chars=200000", "--max_body_bytes=1000000",
             "--max_text_wordpieces=200000", "--max_request_wordpieces=200000",
             "--max_batch_wordpieces=200000", "--max_queued_wordpieces=400000",
             "--max_batch_size=1", "--shutdown_timeout_s=1"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ner.serve", f"--model_dir={model_dir}", f"--port={port}",
             *flags], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for_health(process, port, log_path)
        # Two, one per tagging thread (--tagging_threads, 2 by default), so
        # that the small requests wait in the queue.
        heavy = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(2)]
        for sock in heavy:
            sock.sendall(post_bytes(["." * 100_000]))
        assert wait_until(lambda: call(port, "GET", "/healthz")[1]["batches"] >= 2, 30)
        small = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(2)]
        for sock in small:
            sock.sendall(post_bytes(["zoe met john smith ."]))
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        answers = [read_response(sock) for sock in [*heavy, *small]]
        answered = time.monotonic() - sent
        code = process.wait(timeout=60)
        exited = time.monotonic() - sent
        for sock in [*heavy, *small]:
            sock.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    for status, headers, body in answers:
        assert_error(status, headers, body, 503, "shutting_down")
    assert code == 0, log
    assert answered < 1 + 2.0
    assert exited < 1 + 3.0, log  # the batch would have run on for many seconds
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert "exiting without waiting for the batch" in log
