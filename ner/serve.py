"""HTTP JSON API for a trained tagger: `python -m ner.serve --model_dir=...`.

Endpoints:

* `POST /v1/tag` with `{"texts": ["...", ...]}` returns
  `{"entities": [[{"label", "start", "end", "text", "score"}, ...], ...]}`,
  one list per text, in order. `start`/`end` are character (Unicode code
  point) offsets into the text, end exclusive, as `ner.Tagger.tag` gives them.
* `GET /healthz` (and `HEAD`): liveness (503 `shutting_down` from SIGTERM
  on), the encoder's precision (in int8, whether its activation ranges are
  calibrated), batching counters, and the model's name,
  version, labels and creation date from its card (`meta.json`; null for a
  model folder written before cards existed); the seconds 0, 1, 2, ...
  tagging threads have been running a batch, and the garbage collector's
  passes and pauses (`_GcPauses`).
* `GET /openapi.json`: the OpenAPI description, with the limits. There are no
  `/docs` or `/redoc` pages (theirs load scripts from a CDN).

Stack: FastAPI on uvicorn, with uvicorn's h11 HTTP/1.1 implementation. They
are among the most used Python web packages, released often and typed;
FastAPI writes the OpenAPI description that the fuzzer and clients read. The
request body is parsed here rather than by FastAPI's pydantic layer, so that
each kind of bad input (too large, not UTF-8, not JSON, wrong types, over a
limit) gets its own status code and a message naming the field and what to
change.

Work and fairness. The work of a text is its wordpieces (the encoder's
tokens, counted with the model's tokenizer in a thread of their own; a word
has at least one, so they bound the CRF's words too); tagging time is about
linear in them. A text may have `max_text_wordpieces`, a request
`max_request_wordpieces` (else 422 naming the flag). Requests are spread over
batches of at most `max_batch_size` texts and `max_batch_wordpieces`
wordpieces, text by text: each batch first takes one text of every request
that has not had a turn (oldest first), then one text at a time from each
request in turn, and runs through `Tagger.tag_batch` in a worker thread; up
to `tagging_threads` batches run at once (two by default), and a request has
texts in at most one running batch, so a heavy request leaves the other
thread to small ones. A request of more than half `max_batch_wordpieces` is
heavy, and while a batch with texts of a heavy request runs no other batch
takes texts of heavy requests: however many heavy requests are in flight,
they take turns in one thread. The promise: a request that arrives while
others run is in the next batch that starts (unless the first texts of
requests that came before it fill that batch), so a one-text request waits
at most for the first of the running batches to end plus its own, each at
most `max_batch_wordpieces` (a text is never split, hence
`max_text_wordpieces <= max_batch_wordpieces`) and sharing the cores with
the other running batches, plus `max_wait_ms`, however large the other
requests are; with two or more threads, a light request waits only for a
running batch of light requests. A batch that
follows another waits up to `max_wait_ms` for the clients it answered to send
their next requests, until as many requests wait as it answered (so that
concurrent clients share one batch instead of two half-size ones taking
turns: small batches cost more per text; a lone client's request goes at
once); a request that finds a worker idle starts at once. Work accepted
and not finished is bounded by `max_queued_wordpieces`; a request beyond it
is answered 503 at once, with `Retry-After` from the recent tagging rate. A
client that disconnects has its texts that no batch has taken dropped (one
INFO line). If a batch fails, its requests are retried one by one, so one bad
request cannot fail others.

Connections (`make_server`): request line plus headers at most
`max_header_bytes` (h11's limit; 431), a connection that has not sent a
whole request head `keep_alive_timeout_s` after opening or after its last
response is closed (uvicorn's keep-alive timer), a body must arrive within
`body_timeout_s` (408), and at most `max_connections` connections are open
(one more is answered 503 and closed at once).

Deployment (`ServeOptions`): the port is bound and listening before the
model loads (`bind`), so a port in use fails at once; `--shutdown_delay_s`
keeps serving after SIGTERM with `/healthz` at 503, for load balancers to
take the server out first; CORS (`--allow_origins`, Starlette's middleware),
trusted proxies (`--forwarded_allow_ips`), `--root_path` and `--access_log`
are uvicorn's and Starlette's own settings.

Shutdown: on SIGTERM the server stops accepting connections and requests,
lets the batches run for `shutdown_timeout_s`, answers every request still
unfinished 503 `shutting_down`, and exits (status 0) without waiting for
batches still running: within the timeout plus about half a second.

Errors are JSON, `{"error": {"code", "message", "field"}}`, at every layer:
400 (body not UTF-8 or not JSON; request not valid HTTP), 404/405 (unknown
path or method), 408 (body too slow), 413 (body larger than
`max_body_bytes`), 415 (not `application/json`), 422 (JSON of the wrong
shape or types, too many texts, a text too long, too many wordpieces, a lone
surrogate), 431 (headers too large), 500 (tagging failed), 503 (overloaded,
too many connections, shutting down); 415 also for a compressed body
(`Content-Encoding`), and 400 for a CORS preflight from an origin not
allowed.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers'
# annotations at run time, and `Request` is imported inside `create_app`.
import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import http
import json
import logging
import math
import os
import re
import resource
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ner import cli
from ner.corpus import json_type

#: What the `serve` extra provides, imported when the server starts.
SERVE_MODULES = ("fastapi", "uvicorn", "h11")

logger = logging.getLogger(__name__)

# Characters counted per call of the wordpiece counter (some 10-40 ms): a
# request over budget is refused after at most this much counting beyond its
# budget, and requests counted at the same time take turns chunk by chunk.
# Chunks of requests waiting together are counted in one call of at most this
# many characters (a `MicroBatcher` of its own): each call costs about 1 ms
# beyond its texts, once per request under load before.
_COUNT_CHUNK_CHARS = 8192
# Tagging rate assumed for Retry-After until a batch has been timed: about
# half of what the default model does on two CPU cores (BENCHMARKS.md).
_ASSUMED_WORDPIECES_PER_S = 2000
# uvicorn's own graceful-shutdown timeout is this much after ours: a backstop
# that cancels handlers (500 text/plain) if ours ever failed to answer them.
_SHUTDOWN_BACKSTOP_S = 1.0

__all__ = ["MicroBatcher", "ServeOptions", "create_app", "serve"]


@dataclasses.dataclass
class ServeOptions:
    """Server settings; the flags of `python -m ner.serve` (see its `--help`).

    Attributes:
        host: address to bind; loopback unless told otherwise.
        port: TCP port.
        max_batch_size: texts per tagging batch.
        max_wait_ms: how long a batch that follows another waits for more
            requests (and one on an idle worker for requests being measured).
        max_texts: texts per request.
        max_text_chars: characters (code points) per text.
        max_body_bytes: request body size.
        max_text_wordpieces: wordpieces per text (the unit of work).
        max_request_wordpieces: wordpieces per request.
        max_batch_wordpieces: wordpieces per tagging batch; the fairness
            bound (see the module docstring).
        max_queued_wordpieces: work accepted and not finished; beyond it 503.
        max_connections: open connections; beyond it 503 and closed.
        max_header_bytes: request line and headers (h11); beyond it 431.
        keep_alive_timeout_s: a connection without a whole request head this
            long after opening or after its last response is closed.
        body_timeout_s: time for a body to arrive once its head has; then 408.
        shutdown_timeout_s: on SIGTERM, how long requests in flight may take
            to finish before they are answered 503.
        shutdown_delay_s: on SIGTERM, how long to go on serving with
            `/healthz` answering 503 before the shutdown starts, so that a load
            balancer stops routing here first (a second signal skips it).
        tagging_threads: batches tagged at once, each in its own thread.
        allow_origins: comma-separated origins whose browser pages may call
            the API (CORS, through Starlette's `CORSMiddleware`); "*" for any;
            empty: no CORS headers, so browsers refuse cross-origin calls.
        forwarded_allow_ips: comma-separated addresses of reverse proxies
            whose X-Forwarded-For/-Proto headers are trusted (uvicorn's
            setting of the same name); empty: none.
        root_path: the path prefix a reverse proxy serves the API under
            (ASGI root_path; `/openapi.json` lists it as the server URL).
        access_log: one log line per request (uvicorn's access log; no
            texts, only method, path, status and client address).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_size: int = 256
    max_wait_ms: float = 50.0
    max_texts: int = 64
    max_text_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_text_wordpieces: int = 4096
    max_request_wordpieces: int = 16_384
    max_batch_wordpieces: int = 4096
    max_queued_wordpieces: int = 65_536
    max_connections: int = 200
    max_header_bytes: int = 16_384
    keep_alive_timeout_s: float = 5.0
    body_timeout_s: float = 10.0
    shutdown_timeout_s: float = 30.0
    shutdown_delay_s: float = 0.0
    # Two batches at once (BENCHMARKS.md, issue 12, "Two tagging threads"; a
    # 2-core EPYC Zen 4, int8): with one heavy request in flight, one-sentence
    # requests were answered in 16-83 ms instead of 205-530 ms (the heavy
    # request keeps to one thread); with six, in 0.020-0.048 s since heavy
    # requests take turns in one thread (0.79-1.01 s before that, and
    # 0.345-0.382 s with one thread); under 64 light clients the same
    # sentences/s within the noise, 50-75 MB more memory.
    tagging_threads: int = 2
    allow_origins: str = ""
    forwarded_allow_ips: str = ""
    root_path: str = ""
    access_log: bool = False

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("max_") and field.type is int and (
                    not isinstance(value, int) or value < 1):
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")
        if not isinstance(self.tagging_threads, int) or self.tagging_threads < 1:
            raise ValueError(f"tagging_threads must be a positive integer, got "
                             f"{self.tagging_threads!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}")
        for name in ("shutdown_timeout_s", "shutdown_delay_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("keep_alive_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port!r}")
        if not self.host.strip():
            # An unset variable in `--host=$HOST` would listen on every interface.
            raise ValueError("host is empty; give an address (127.0.0.1, 0.0.0.0 for every "
                             "interface, :: for IPv6 and IPv4)")
        for origin in (o.strip() for o in self.allow_origins.split(",")):
            # Browsers send "scheme://host[:port]", never a path or a slash.
            if origin and origin != "*" and not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^/\s]+",
                                                             origin):
                raise ValueError(f"allow_origins: {origin!r} is not an origin like "
                                 "https://app.example.com (no path, no trailing slash) or *")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ValueError(f"root_path must start with '/' and not end with one, got "
                             f"{self.root_path!r}")
        # A text is tagged whole, in one batch: these keep every batch, and so
        # the fairness bound, within max_batch_wordpieces.
        for small, large in (("max_text_wordpieces", "max_batch_wordpieces"),
                             ("max_text_wordpieces", "max_request_wordpieces"),
                             ("max_request_wordpieces", "max_queued_wordpieces")):
            if getattr(self, small) > getattr(self, large):
                raise ValueError(f"{small} ({getattr(self, small)}) must not exceed {large} "
                                 f"({getattr(self, large)})")


class ApiError(Exception):
    """A client error answered as `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


# === Micro-batching ===


class Overloaded(Exception):
    """The batcher holds more queued work than its bound; retry later."""

    def __init__(self, queued: int, limit: int, retry_after_s: int):
        super().__init__(f"{queued} units of work are queued; the bound is {limit}")
        self.queued, self.limit, self.retry_after_s = queued, limit, retry_after_s


class ShuttingDown(Exception):
    """The server stopped taking work, or its shutdown deadline passed."""


@dataclasses.dataclass(eq=False)
class _Job:
    """One request: its texts, their work, and results as batches deliver them."""

    texts: list[str]
    work: list[int]
    future: asyncio.Future
    results: list[Any]
    left: int  # texts without a result yet
    next: int = 0  # first text not yet given to a batch
    heavy: bool = False  # more work than `MicroBatcher.heavy_work`

    def unscheduled_work(self) -> int:
        return sum(self.work[self.next:])


class MicroBatcher:
    """Interleaves concurrent requests in bounded batches for one blocking batch function.

    Each request's texts are spread over batches: a batch takes the first
    text of every request that has not had a turn yet (oldest first), then
    one text at a time from each request in turn (round robin), up to
    `max_batch_size` texts and `max_batch_work`; a text that would take it
    over is passed by (its request stays first in line) and smaller ones
    behind it may still join. Up to `workers` batches run at once, each in a
    worker thread of its own, and a request has texts in at most one running
    batch: a heavy request leaves the other workers to the rest. While a
    batch with texts of a heavy request (more work than `heavy_work`) runs,
    no other batch takes texts of heavy requests, so several heavy requests
    share one worker and the others stay free for light ones. So a light
    request that arrives while heavy ones run is in the next batch that
    starts, and waits at most for the first running batch of light requests
    to end plus its own, not for the heavy requests. A text is never split;
    it is a batch's unit.

    Work is whatever the caller measures per text (the server passes
    wordpieces). `submit` refuses a request at once with `Overloaded` when the
    work admitted and not yet finished would exceed `max_queued_work`;
    cancelling the task that awaits `submit` drops the request's texts that no
    batch has taken yet. If a batch fails, its requests are retried one by
    one, so one bad request cannot fail others.

    Args:
        fn: takes a list of texts and returns one result per text, in order.
            Runs in the worker threads, one batch each (`workers`).
        max_batch_size: texts per batch.
        max_wait_s: how long a batch that is not full may wait for more
            requests: after another batch, up to this long from its end,
            until as many requests wait as that batch answered (its clients
            come back); on an idle worker, only while requests are being
            admitted (`admitting`).
        max_batch_work: work per batch (None: unbounded); a text with more
            work than this is a batch alone.
        max_queued_work: bound on work admitted and not finished (None:
            unbounded). A request is always admitted into an empty batcher.
        assumed_rate: work per second for `retry_after_s` until a batch has
            been timed (None: 1 s).
        workers: batches that may run at once, each in its own thread.
        heavy_work: a request with more work than this is heavy: one running
            batch at a time holds texts of heavy requests (None: no request
            is heavy).

    Example:
        >>> async def main():
        ...     batcher = MicroBatcher(lambda texts: [t.upper() for t in texts], 8, 0.005)
        ...     await batcher.start()
        ...     try:
        ...         return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b", "c"]))
        ...     finally:
        ...         await batcher.stop()
        >>> asyncio.run(main())
        [['A'], ['B', 'C']]
    """

    def __init__(self, fn: Callable[[list[str]], Sequence[Any]], max_batch_size: int,
                 max_wait_s: float, max_batch_work: int | None = None,
                 max_queued_work: int | None = None, assumed_rate: float | None = None,
                 workers: int = 1, heavy_work: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._fn = fn
        self.workers = workers
        self.assumed_rate = assumed_rate
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_batch_work = max_batch_work
        self.max_queued_work = max_queued_work
        self.heavy_work = heavy_work
        self._fresh: collections.deque[_Job] = collections.deque()  # no turn yet, oldest first
        self._rotation: collections.deque[_Job] = collections.deque()  # had a turn, more to do
        self._running: dict[int, list[_Job]] = {}  # per running batch, its requests
        self._batches: set[asyncio.Task] = set()  # the running batches' tasks
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        self._rate: float | None = None  # work per second, smoothed over batches
        self.queued_work = 0  # admitted and not finished, the running batch included
        self.draining = False
        self._threads_busy = 0  # raised before a batch is handed over, lowered by its thread
        self._busy_lock = threading.Lock()
        # Seconds spent with n threads running a batch, n = 0..workers (`busy_seconds`).
        self._busy_seconds = [0.0] * (workers + 1)
        self._busy_since = time.monotonic()
        self._admitting = 0  # requests being read or measured (see `admitting`)
        self._last_batch_end = -math.inf
        self._last_batch_requests = 0  # requests the last batch to end answered
        self.stopped: asyncio.Event | None = None  # set when the shutdown deadline passes
        self.stats = {"requests": 0, "texts": 0, "batches": 0, "largest_batch": 0, "work": 0,
                      "overloaded": 0, "cancelled_texts": 0, "shutdown_refused": 0}

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self.stopped = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(self.workers,
                                                               thread_name_prefix="tagger")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    def drain(self, timeout_s: float) -> None:
        """Begins a graceful stop: refuses new requests; after `timeout_s`, fails the rest.

        Queued work keeps running until then. When the deadline passes, every
        unfinished request fails with `ShuttingDown` at once, even one whose
        text is in a running batch, and `stopped` is set.
        """
        if self.draining:
            return
        self.draining = True
        self._abort_handle = asyncio.get_running_loop().call_later(
            max(0.0, timeout_s), self._abort, "the server is shutting down and this request "
            "did not finish in time; send it again once the server is back")
        if not (self._fresh or self._rotation or self._running or self._batches):
            self._abort("the server is shutting down")

    async def stop(self) -> None:
        """Stops batching; unfinished requests get `ShuttingDown`. Running batches are left."""
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        tasks = [t for t in [self._task, *self._batches] if t is not None]
        for task in tasks:
            task.cancel()  # a batch's thread goes on; its task stops waiting for it
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._abort("the server is shutting down")
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def busy(self) -> bool:
        """Whether a worker thread is running a batch (even for a cancelled caller)."""
        return self._threads_busy > 0

    def busy_seconds(self) -> list[float]:
        """Seconds since the batcher was made with n worker threads running a batch, n = 0, 1, ...

        What a load leaves idle: with two workers, time at [1] is time one of
        them had nothing to run. A thread still finishing a batch whose caller
        was cancelled counts as running.
        """
        with self._busy_lock:
            self._count_busy_time()
            return list(self._busy_seconds)

    def _count_busy_time(self) -> None:
        """Adds the time since the last change of `_threads_busy` to its count (lock held)."""
        now = time.monotonic()
        self._busy_seconds[min(self._threads_busy, self.workers)] += now - self._busy_since
        self._busy_since = now

    @property
    def queued(self) -> int:
        """Requests with texts that no batch has taken yet."""
        return len(self._fresh) + len(self._rotation)

    def retry_after_s(self) -> int:
        """Seconds until the queued work should be done, at the recent rate; 1 to 120."""
        rate = self._rate or self.assumed_rate
        if not rate:
            return 1
        return int(min(120, max(1, math.ceil(self.queued_work / rate))))

    @contextlib.contextmanager
    def admitting(self):
        """Marks a request on its way to `submit` (being read or measured).

        A batch that is not full waits for such requests, up to `max_wait_s`.
        """
        self._admitting += 1
        try:
            yield
        finally:
            self._admitting -= 1
            if self._wakeup is not None:
                self._wakeup.set()

    def check_admission(self, work: int = 0) -> None:
        """Raises `ShuttingDown` or `Overloaded` if a request of `work` would be refused now."""
        if self.draining:
            self.stats["shutdown_refused"] += 1
            raise ShuttingDown("the server is shutting down; send the request again once it "
                               "is back")
        limit = self.max_queued_work
        if limit is not None and self.queued_work > 0 and self.queued_work + work > limit:
            self.stats["overloaded"] += 1
            raise Overloaded(self.queued_work, limit, self.retry_after_s())

    async def submit(self, texts: list[str], work: Sequence[int] | None = None) -> list[Any]:
        """Queues texts and waits for their results (one per text).

        Args:
            texts: the request's texts.
            work: per text, its cost in the unit of `max_batch_work` (default 1).

        Raises:
            Overloaded: the queued work would exceed `max_queued_work`.
            ShuttingDown: draining, or the shutdown deadline passed.
            Exception: what `fn` raised on this request's texts.
        """
        if self._wakeup is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        work = [1] * len(texts) if work is None else [int(w) for w in work]
        if len(work) != len(texts):
            raise ValueError(f"work has {len(work)} entries for {len(texts)} texts")
        if not texts:
            return []
        self.check_admission(sum(work))
        job = _Job(list(texts), work, asyncio.get_running_loop().create_future(),
                   [None] * len(texts), left=len(texts),
                   heavy=self.heavy_work is not None and sum(work) > self.heavy_work)
        self._fresh.append(job)
        self.queued_work += sum(work)
        self.stats["requests"] += 1
        self.stats["texts"] += len(texts)
        self._wakeup.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._drop(job)  # the caller is gone: no batch takes its texts any more
            raise

    def _drop(self, job: _Job) -> None:
        """Removes a request's untaken texts from the queue (its running ones finish)."""
        if job.next < len(job.texts):
            self.stats["cancelled_texts"] += len(job.texts) - job.next
            self.queued_work -= job.unscheduled_work()
            job.next = len(job.texts)
        for queue in (self._fresh, self._rotation):
            with contextlib.suppress(ValueError):
                queue.remove(job)

    def _abort(self, message: str) -> None:
        for job in [*self._fresh, *self._rotation, *self._running_jobs()]:
            self._drop(job)
            if not job.future.done():
                job.future.set_exception(ShuttingDown(message))
        if self.stopped is not None:
            self.stopped.set()

    def _running_jobs(self) -> list[_Job]:
        """Requests with a text in a running batch."""
        return [job for jobs in self._running.values() for job in jobs]

    def _blocked(self) -> set[int]:
        """ids of requests a new batch may not take texts from (see the class docstring)."""
        running = self._running_jobs()
        blocked = {id(job) for job in running}
        if any(job.heavy for job in running):
            blocked.update(id(job) for job in (*self._fresh, *self._rotation) if job.heavy)
        return blocked

    def _eligible(self) -> list[_Job]:
        """Requests a new batch may take texts from."""
        blocked = self._blocked()
        return [job for job in (*self._fresh, *self._rotation) if id(job) not in blocked]

    def _full(self, jobs: list[_Job]) -> bool:
        """Whether `jobs` (`_eligible()`) have a batch's texts or work left to take."""
        texts = sum(len(j.texts) - j.next for j in jobs)
        work = sum(j.unscheduled_work() for j in jobs)
        return texts >= self.max_batch_size or (self.max_batch_work is not None
                                                and work >= self.max_batch_work)

    def _take_batch(self) -> list[tuple[_Job, int]]:
        """(request, text index) pairs of the next batch; see the class docstring."""
        batch: list[tuple[_Job, int]] = []
        work = 0

        def fits(job: _Job) -> bool:
            if not batch:
                return True  # a text with more work than a batch goes alone
            return len(batch) < self.max_batch_size and (
                self.max_batch_work is None or work + job.work[job.next] <= self.max_batch_work)

        def take(job: _Job) -> None:
            nonlocal work
            batch.append((job, job.next))
            work += job.work[job.next]
            job.next += 1
            if job.next < len(job.texts):
                self._rotation.append(job)

        # One text of each request that has not had a turn, oldest first. A
        # request whose text does not fit keeps its place for the next batch,
        # and smaller ones behind it may still join this one.
        blocked = self._blocked()
        waiting = collections.deque()
        for job in self._fresh:
            if id(job) not in blocked and fits(job):
                take(job)
            else:
                waiting.append(job)
        self._fresh = waiting
        # Then one text at a time from each request in turn, passing over a
        # text that does not fit (its request stays first in line), and over
        # requests with texts in a running batch (one request is in one
        # running batch at a time) or heavy ones while a heavy one runs.
        progress = True
        while self._rotation and progress and len(batch) < self.max_batch_size:
            progress, skipped = False, []
            for _ in range(len(self._rotation)):
                job = self._rotation.popleft()
                if id(job) not in blocked and fits(job):
                    take(job)
                    progress = True
                else:
                    skipped.append(job)
            self._rotation.extendleft(reversed(skipped))
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while len(self._batches) >= self.workers or not self._eligible():
                self._wakeup.clear()
                await self._wakeup.wait()
            # A worker is free; a batch that is not full may wait a little.
            # Right after a batch (under load), up to max_wait_s from its end,
            # until as many requests wait as that batch answered: its clients
            # send their next requests, and waiting for them keeps all clients
            # in one batch instead of two half-size batches taking turns (a
            # lone client's next request goes at once). Otherwise only for
            # requests being admitted (read and measured), up to max_wait_s.
            now = loop.time()
            after_batch = now - self._last_batch_end < self.max_wait_s
            deadline = (self._last_batch_end if after_batch else now) + self.max_wait_s
            while loop.time() < deadline:
                eligible = self._eligible()
                if not eligible or self._full(eligible) or not (
                        (after_batch and len(eligible) < self._last_batch_requests)
                        or self._admitting):
                    break
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
            batch = self._take_batch()
            if batch:
                # Registered before the next batch is taken (`_take_batch`).
                self._running[id(batch)] = list({id(job): job for job, _ in batch}.values())
                task = loop.create_task(self._execute(batch, len(self._batches) + 1))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self._batches.discard(task)
        self._wakeup.set()  # a worker is free
        if not task.cancelled() and task.exception() is not None:
            logger.error("batch task failed", exc_info=task.exception())

    async def _execute(self, batch: list[tuple[_Job, int]], sharing: int = 1) -> None:
        """Runs one batch; `sharing`: batches running when it starts, itself included."""
        loop = asyncio.get_running_loop()
        texts = [job.texts[i] for job, i in batch]
        work = sum(job.work[i] for job, i in batch)
        key = id(batch)  # its requests are in `_running[key]`
        self.stats["batches"] += 1
        self.stats["work"] += work
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(texts))
        began = loop.time()
        try:
            try:
                results = await self._in_thread(texts)
                if len(results) != len(texts):
                    raise RuntimeError(f"batch function returned {len(results)} results "
                                       f"for {len(texts)} texts")
            except Exception:  # noqa: BLE001 - isolate the request that failed
                logger.exception("batch of %d texts from %d requests failed; retrying each "
                                 "request's texts alone", len(texts), len(self._running[key]))
                await self._execute_one_by_one(batch)
                return
        finally:
            self.queued_work -= work
            self._last_batch_requests = len(self._running.pop(key))
            self._last_batch_end = loop.time()
        seconds = loop.time() - began
        logger.debug("batch of %d texts, %d units of work, from %d requests: %.3f s",
                     len(texts), work, len({id(job) for job, _ in batch}), seconds)
        if seconds > 0:
            # The batchers' rate: batches that share the cores each take longer.
            rate = work / seconds * sharing
            self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
        for (job, i), result in zip(batch, results):
            self._deliver(job, i, result)

    async def _execute_one_by_one(self, batch: list[tuple[_Job, int]]) -> None:
        for job in {id(job): job for job, _ in batch}.values():
            indices = [i for j, i in batch if j is job]
            if job.future.done():
                continue
            try:
                results = await self._in_thread([job.texts[i] for i in indices])
            except Exception as e:  # noqa: BLE001 - reported to that caller only
                self._drop(job)
                if not job.future.done():
                    job.future.set_exception(e)
                continue
            for i, result in zip(indices, results):
                self._deliver(job, i, result)

    async def _in_thread(self, texts: list[str]) -> Sequence[Any]:
        def call():
            try:
                return self._fn(texts)
            finally:
                with self._busy_lock:
                    self._count_busy_time()
                    self._threads_busy -= 1

        with self._busy_lock:
            self._count_busy_time()
            self._threads_busy += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @staticmethod
    def _deliver(job: _Job, index: int, result: Any) -> None:
        if job.future.done():
            return
        job.results[index] = result
        job.left -= 1
        if job.left == 0:
            job.future.set_result(job.results)


# === Request parsing ===


def parse_tag_request(body: bytes, content_type: str | None, options: ServeOptions) -> list[str]:
    """Validates a `/v1/tag` body and returns its texts.

    Args:
        body: the raw request body (already within `max_body_bytes`).
        content_type: the Content-Type header, or None.
        options: the limits.

    Returns:
        The texts, each a `str` that encodes to UTF-8.

    Raises:
        ApiError: 415, 400 or 422 with a message naming the field.
    """
    if content_type is not None:
        media, _, params = content_type.partition(";")
        media = media.strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                                 and media.endswith("+json")):
            raise ApiError(415, "unsupported_media_type",
                           f"Content-Type must be application/json, got {media or '(empty)'!r}")
        charset = params.strip().lower()
        if charset.startswith("charset=") and charset[8:].strip('"') not in ("utf-8", "utf8"):
            raise ApiError(415, "unsupported_media_type",
                           f"the body must be UTF-8, got {charset[8:]!r}")
    try:
        # A byte-order mark, which JSON allows parsers to ignore, is ignored.
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise ApiError(400, "invalid_utf8",
                       f"the body is not valid UTF-8: byte {e.start} "
                       f"({body[e.start:e.start + 1]!r}) {e.reason}") from None
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ApiError(400, "malformed_json",
                               f"the body is not valid JSON for this API: field {key!r} appears "
                               "more than once", field=key)
            seen.add(key)
        return dict(pairs)

    def not_json(constant: str):
        # Python's parser takes NaN and Infinity; JSON has neither.
        raise ApiError(400, "malformed_json",
                       f"the body is not valid JSON: {constant} is not a JSON value")

    try:
        value = json.loads(text, object_pairs_hook=unique_keys, parse_constant=not_json)
    except json.JSONDecodeError as e:
        # e.msg ends in "at" for some errors ("Unterminated string starting at").
        raise ApiError(400, "malformed_json",
                       f"the body is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
                       ) from None
    except RecursionError:
        # The C parser checks Python's recursion limit, so "[[[[..." is a
        # clean error, not a crash.
        raise ApiError(400, "malformed_json",
                       "the body is not valid JSON: nested too deeply") from None
    except ValueError:  # an integer of more than 4,300 digits (Python's limit)
        raise ApiError(400, "malformed_json",
                       f"the body holds a number of more than {sys.get_int_max_str_digits()} "
                       "digits, which is not read; 'texts' must be an array of strings"
                       ) from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_type",
                       f"the body must be a JSON object, got {json_type(value)}")
    unknown = sorted(set(value) - {"texts"})
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0]!r}; expected only 'texts'",
                       field=unknown[0])
    if "texts" not in value:
        raise ApiError(422, "missing_field", "field 'texts' is required", field="texts")
    texts = value["texts"]
    if not isinstance(texts, list):
        raise ApiError(422, "invalid_type",
                       f"'texts' must be an array of strings, got {json_type(texts)}",
                       field="texts")
    if len(texts) > options.max_texts:
        raise ApiError(422, "too_many_texts",
                       f"'texts' holds {len(texts)} texts; at most {options.max_texts} are allowed "
                       "per request (--max_texts): send them in several requests", field="texts")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ApiError(422, "invalid_type", f"texts[{i}] must be a string, got {json_type(t)}",
                           field=f"texts[{i}]")
        if len(t) > options.max_text_chars:
            raise ApiError(422, "text_too_long",
                           f"texts[{i}] has {len(t)} characters; at most "
                           f"{options.max_text_chars} are allowed (--max_text_chars): split it "
                           "into shorter texts", field=f"texts[{i}]")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            # JSON's "\ud800" escapes decode to lone surrogates, which are
            # not Unicode text and cannot be tokenized.
            raise ApiError(422, "invalid_text",
                           f"texts[{i}] contains a lone surrogate U+{ord(t[e.start]):04X} at "
                           f"character {e.start}", field=f"texts[{i}]") from None
    return texts


# === Application ===


def _cors_middleware():
    """Starlette's `CORSMiddleware` (preflights, headers; no cookies), refusing in JSON.

    Its refused preflight is a 400 in text/plain; here the same 400 has the
    API's JSON error shape.
    """
    from starlette.middleware.cors import CORSMiddleware
    from starlette.responses import JSONResponse

    class JsonCORSMiddleware(CORSMiddleware):
        def preflight_response(self, request_headers):
            response = super().preflight_response(request_headers)
            if response.status_code < 400:
                return response
            message = response.body.decode("utf-8", "replace")
            headers = {k: v for k, v in response.headers.items()
                       if k.lower() not in ("content-length", "content-type")}
            return JSONResponse(
                {"error": {"code": "cors_refused", "field": None,
                           "message": f"{message}: this server's --allow_origins does not "
                                      "allow the page's origin, method or headers"}},
                status_code=response.status_code, headers=headers)

    return JsonCORSMiddleware


def _entity_dict(entity: Any) -> dict[str, Any]:
    return {"label": entity.label, "start": int(entity.start), "end": int(entity.end),
            "text": entity.text, "score": float(entity.score)}


def _openapi_models(options: ServeOptions):
    """Pydantic models of the responses and the JSON Schema of the request."""
    from pydantic import BaseModel, Field

    class Entity(BaseModel):
        label: str = Field(description="Entity type, e.g. PER (never B-PER).")
        start: int = Field(ge=0, description="First character (code point) offset.")
        end: int = Field(ge=0, description="Offset after the last character.")
        text: str = Field(description="text[start:end].")
        score: float = Field(ge=0, le=1, description="CRF probability of the whole span.")

    class TagResponse(BaseModel):
        entities: list[list[Entity]] = Field(description="One list per input text, in order.")

    class ErrorDetail(BaseModel):
        code: str
        message: str
        field: str | None = None

    class ErrorResponse(BaseModel):
        error: ErrorDetail

    class ModelInfo(BaseModel):
        name: str | None = Field(description="The model's name (its training folder's).")
        version: str | None = Field(description="First 12 hex digits of its weights' sha256.")
        labels: list[str]
        created: str | None = None
        library_version: str | None = None

    class Health(BaseModel):
        status: str = Field(description='"ok"; "shutting_down" (with status 503) once SIGTERM '
                                        "has arrived.")
        model: ModelInfo | None = Field(
            description="From the model card (meta.json); null when the model has none.")
        precision: str | None = Field(
            description="How the encoder computes (--precision; what auto chose).")
        int8_ranges: str | None = Field(
            default=None,
            description='In int8: "calibrated" (activation ranges from python -m '
                        'ner.precision, so a text\'s labels hardly depend on the texts '
                        'batched with it) or "each batch\'s own"; null otherwise.')
        entity_types: list[str]
        queued: int
        requests: int
        texts: int
        batches: int
        largest_batch: int
        work: int = Field(description="Wordpieces tagged.")
        overloaded: int = Field(description="Requests answered 503 overloaded.")
        cancelled_texts: int = Field(
            description="Texts dropped untagged because their client had gone.")
        shutdown_refused: int = Field(description="Requests answered 503 shutting_down.")
        seconds_with_threads_busy: list[float] = Field(
            description="Seconds since the start with n tagging threads running a batch, "
                        "n = 0 .. --tagging_threads: under load, time at n below the "
                        "maximum is time a thread had nothing to run.")
        gc_passes: list[int] = Field(
            description="Python garbage-collector passes per generation (0, 1, 2); each "
                        "pass stops every thread.")
        gc_seconds: list[float] = Field(description="Their total seconds per generation.")
        gc_longest_pause_s: float
        counting_calls: int = Field(
            description="Calls that counted requests' wordpieces (for the budgets), each "
                        "over the requests waiting to be counted.")
        counting_texts: int
        counting_seconds: float = Field(
            description="Seconds the counting thread was running a call.")
        limits: dict[str, int | float]

    request_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["texts"],
        "properties": {
            "texts": {
                "type": "array",
                "maxItems": options.max_texts,
                "items": {"type": "string", "maxLength": options.max_text_chars},
                "description": "Raw texts to tag; each is split into sentences and words. "
                               "Also at most "
                               f"{options.max_text_wordpieces} wordpieces (the model's tokens) "
                               f"per text and {options.max_request_wordpieces} per request "
                               "(422 otherwise).",
            }
        },
        "example": {"texts": ["Alice Smith flew from Paris to Berlin on Monday."]},
    }
    return TagResponse, ErrorResponse, Health, request_schema


def _model_info(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if not meta:
        return None
    return {"name": meta.get("name"), "version": meta.get("version"),
            "labels": list(meta.get("labels") or []), "created": meta.get("created"),
            "library_version": (meta.get("library") or {}).get("version")}


def create_app(tag_batch: Callable[[list[str]], Sequence[Sequence[Any]]], options: ServeOptions,
               entity_types: Sequence[str] = (), meta: dict[str, Any] | None = None,
               measure: Callable[[list[str]], Sequence[int]] | None = None,
               precision: str | None = None, int8_ranges: str | None = None):
    """Builds the FastAPI application.

    Args:
        tag_batch: texts -> per text a list of entities (objects with label,
            start, end, text and score), e.g. `Tagger.tag_batch`.
        options: limits and batching settings.
        entity_types: reported by `/healthz`.
        meta: the model card (`Tagger.meta`), whose name, version and labels
            `/healthz` reports; None for a model without one.
        measure: texts -> per text its work in wordpieces, e.g.
            `wordpiece_counter(tagger.tokenizer)`; runs in its own thread. None
            counts characters, which bound wordpieces from above for all but
            a few letters that normalisation expands.
        precision: how the encoder computes, reported by `/healthz`.
        int8_ranges: in int8, `Tagger.int8_ranges`, reported by `/healthz`.

    Returns:
        A `fastapi.FastAPI` app; run it with uvicorn (see `make_server`).
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    TagResponse, ErrorResponse, Health, request_schema = _openapi_models(options)
    _GC_PAUSES.install()
    batcher = MicroBatcher(lambda texts: [[_entity_dict(e) for e in ents]
                                          for ents in tag_batch(texts)],
                           options.max_batch_size, options.max_wait_ms / 1000.0,
                           max_batch_work=options.max_batch_wordpieces,
                           max_queued_work=options.max_queued_wordpieces,
                           assumed_rate=_ASSUMED_WORDPIECES_PER_S,
                           workers=options.tagging_threads,
                           heavy_work=options.max_batch_wordpieces // 2)
    # Counting has its own thread, so that a request is measured (and refused
    # if over a budget) while a batch runs; requests waiting to be counted
    # share a call, without waiting for one another (max_wait 0).
    counter = MicroBatcher(measure or (lambda texts: [len(t) for t in texts]),
                           max_batch_size=_COUNT_CHUNK_CHARS, max_wait_s=0.0,
                           max_batch_work=_COUNT_CHUNK_CHARS)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await counter.start()
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            await counter.stop()

    app = FastAPI(
        title="BERT NER",
        version=_version(),
        description="Named-entity recognition with BERT: character offsets and CRF span scores.",
        lifespan=lifespan,
        # No /docs or /redoc: their pages load scripts from a CDN. No redirect
        # of "/path/" to "/path": its Location would be built from the Host
        # header, which the client chooses.
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.batcher = batcher
    app.state.counter = counter
    app.state.stopping = False  # set at SIGTERM (`make_server`)
    origins = [o.strip() for o in options.allow_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(_cors_middleware(), allow_origins=origins,
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
                           max_age=600)

    def error_response(status: int, code: str, message: str, field: str | None = None,
                       headers: dict[str, str] | None = None):
        return JSONResponse({"error": {"code": code, "message": message, "field": field}},
                            status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded):
        return error_response(
            503, "overloaded",
            f"the server has {exc.queued} wordpieces of work queued and takes at most "
            f"{exc.limit} (--max_queued_wordpieces); send the request again after "
            f"{exc.retry_after_s} s (Retry-After)",
            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(ShuttingDown)
    async def _shutting_down(request: Request, exc: ShuttingDown):
        return error_response(503, "shutting_down", str(exc),
                              headers={"Retry-After": "5", "Connection": "close"})

    @app.exception_handler(_ClientGone)
    async def _client_gone(request: Request, exc: _ClientGone):
        # Never sent: the connection is closed. uvicorn wants a response.
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        return error_response(500, "internal_error",
                              "the server failed on this request; its log has the details")

    errors = {
        400: {"model": ErrorResponse,
              "description": "The body is not UTF-8 or not JSON, or the request is not HTTP."},
        408: {"model": ErrorResponse,
              "description": f"The body took longer than {options.body_timeout_s:g} s to arrive."},
        413: {"model": ErrorResponse,
              "description": f"The body exceeds {options.max_body_bytes} bytes."},
        415: {"model": ErrorResponse, "description": "Content-Type is not application/json."},
        422: {"model": ErrorResponse,
              "description": "Wrong shape or types, too many texts, a text too long, or more "
                             f"wordpieces than a text ({options.max_text_wordpieces}) or a "
                             f"request ({options.max_request_wordpieces}) may have."},
        431: {"model": ErrorResponse,
              "description": f"The request line and headers exceed {options.max_header_bytes} "
                             "bytes."},
        500: {"model": ErrorResponse, "description": "Tagging failed on this request."},
        503: {"model": ErrorResponse,
              "description": "Too much work queued (retry after Retry-After seconds), too many "
                             "connections, or shutting down."},
    }

    async def count_wordpieces(texts: list[str]) -> list[int]:
        """Per text its wordpieces; 422 as soon as a budget is exceeded."""
        work: list[int] = []
        while len(work) < len(texts):
            # Counted in pieces, stopping at the first budget exceeded, so a
            # request over budget costs little to refuse and the counting
            # thread serves other requests in between.
            end, chars = len(work) + 1, len(texts[len(work)])
            while end < len(texts) and chars + len(texts[end]) <= _COUNT_CHUNK_CHARS:
                chars += len(texts[end])
                end += 1
            chunk = texts[len(work):end]
            counts = await counter.submit(chunk, [len(t) for t in chunk])
            for count in counts:
                i = len(work)
                if count > options.max_text_wordpieces:
                    raise ApiError(
                        422, "text_too_many_wordpieces",
                        f"texts[{i}] has {count} wordpieces (the model's tokens: about 1.2 per "
                        f"English word, more for rare or long words); at most "
                        f"{options.max_text_wordpieces} are allowed per text "
                        "(--max_text_wordpieces): split it into shorter texts",
                        field=f"texts[{i}]")
                work.append(int(count))
                if sum(work) > options.max_request_wordpieces:
                    raise ApiError(
                        422, "too_many_wordpieces",
                        f"texts[0] to texts[{i}] already have {sum(work)} wordpieces (the "
                        "model's tokens: about 1.2 per English word); at most "
                        f"{options.max_request_wordpieces} are allowed per request "
                        "(--max_request_wordpieces): send the texts in several requests",
                        field="texts")
        return work

    @app.post(
        "/v1/tag",
        summary="Tag texts",
        response_model=None,
        responses={200: {"model": TagResponse, "description": "Entities per text."}, **errors},
        openapi_extra={"requestBody": {
            "required": True, "content": {"application/json": {"schema": request_schema}}}},
    )
    async def tag(request: Request) -> Response:
        began = time.monotonic()
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ApiError(415, "unsupported_content_encoding",
                           f"Content-Encoding {encoding!r} is not supported: send the JSON body "
                           "uncompressed")
        body = await _read_body(request, options, batcher.stopped)
        with batcher.admitting():  # not while the body arrives: a slow client would hold batches
            texts = parse_tag_request(body, request.headers.get("content-type"), options)
            if not texts:
                return Response(b'{"entities": []}', media_type="application/json")
            batcher.check_admission()  # refuse at once, before counting, when full
            work = await count_wordpieces(texts)
            # Queued before the batcher sees that this admission ended.
            tagging = asyncio.ensure_future(batcher.submit(texts, work))
        if await _first_of(tagging, _disconnected(request)) is not tagging:
            # Cancelling `tagging` dropped the texts no batch had taken.
            logger.info("client %s closed the connection %.1f s into a request of %d texts; "
                        "its untagged texts were dropped", _client(request),
                        time.monotonic() - began, len(texts))
            raise _ClientGone()
        try:
            entities = tagging.result()
        except (Overloaded, ShuttingDown):
            raise
        except Exception as e:  # noqa: BLE001 - the batcher logged the traceback
            raise ApiError(500, "tagging_failed",
                           f"tagging failed on these texts ({type(e).__name__}); the server "
                           "log has the details") from None
        payload = json.dumps({"entities": entities}, ensure_ascii=False, allow_nan=False)
        # While --shutdown_delay_s runs: clients and proxies leave pooled
        # connections, which the listener's closing would drop.
        headers = {"Connection": "close"} if app.state.stopping else None
        return Response(payload.encode("utf-8"), media_type="application/json", headers=headers)

    # HEAD too, as HTTP asks of a GET resource and as uptime monitors and
    # `curl -I` probe. From SIGTERM on: 503, so that a load balancer's probe
    # takes this server out while --shutdown_delay_s lets requests still in
    # its routing arrive and be answered.
    @app.head("/healthz", include_in_schema=False)  # one OpenAPI operation, the GET
    @app.get("/healthz", response_model=Health, summary="Liveness and batching counters",
             responses={503: {"model": Health, "description": "Shutting down."}})
    async def healthz(response: Response) -> dict[str, Any]:
        limits = {k: v for k, v in dataclasses.asdict(options).items()
                  if k.startswith("max_")}
        stopping = app.state.stopping or batcher.draining
        if stopping:
            response.status_code = 503
            response.headers["Connection"] = "close"
        return {"status": "shutting_down" if stopping else "ok", "model": _model_info(meta),
                "precision": precision, "int8_ranges": int8_ranges,
                "entity_types": list(entity_types),
                "queued": batcher.queued,
                **batcher.stats, "seconds_with_threads_busy": [
                    round(x, 3) for x in batcher.busy_seconds()],
                "counting_calls": counter.stats["batches"], "counting_texts":
                    counter.stats["texts"], "counting_seconds": round(
                    counter.busy_seconds()[1], 3),
                **_GC_PAUSES.snapshot(), "limits": limits}

    return app


async def _read_body(request, options: ServeOptions, stopped: asyncio.Event) -> bytes:
    """The request body; 413 as soon as it exceeds the limit, 408 if it is too slow.

    A client that disconnects meanwhile raises `_ClientGone` (one INFO line),
    and the shutdown deadline raises `ShuttingDown`.
    """
    from starlette.requests import ClientDisconnect

    limit = options.max_body_bytes
    too_large = (f"at most {limit} bytes are allowed (--max_body_bytes); send fewer or shorter "
                 "texts per request")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the body has {declared} bytes; {too_large}")

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"the body exceeds {limit} bytes; "
                               f"{too_large}")
            chunks.append(chunk)
        return b"".join(chunks)

    reading = asyncio.ensure_future(read())
    ended = await _first_of(reading, stopped.wait(), timeout=options.body_timeout_s)
    if ended is reading:
        try:
            return reading.result()
        except ClientDisconnect:
            logger.info("client %s closed the connection while sending its body",
                        _client(request))
            raise _ClientGone() from None
    if ended is None:
        raise ApiError(408, "body_timeout",
                       f"the body did not arrive within {options.body_timeout_s:g} s "
                       "(--body_timeout_s); send it in one go, or less of it",
                       headers={"Connection": "close"})
    raise ShuttingDown("the server is shutting down; send the request again once it is back")


class _ClientGone(Exception):
    """The client closed its connection before the answer; nothing is sent."""


async def _first_of(main: asyncio.Future, other: Awaitable, timeout: float | None = None):
    """Waits until `main` or `other` ends, or `timeout` passes; cancels what is left.

    Returns:
        `main` if it ended first, None on timeout, else the task of `other`.
    """
    rival = asyncio.ensure_future(other)
    try:
        done, _ = await asyncio.wait({main, rival}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        left = [t for t in (main, rival) if not t.done()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
    if main in done:
        return main
    return rival if rival in done else None


async def _disconnected(request) -> None:
    """Returns when the client has closed the connection (the body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _client(request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "(unknown)"


def _version() -> str:
    from ner import __version__

    return __version__


# === Running ===


def load_tagger(model_dir: str, precision: str = "auto"):
    """(`Tagger.tag_batch`, entity types, model card or None, wordpiece counter,
    precision, int8 ranges).

    `precision` as `ner.Tagger.load`; the last two items are what it chose and,
    in int8, `Tagger.int8_ranges`.
    """
    from ner.tagger import Tagger

    tagger = Tagger.load(model_dir, precision=precision)
    logger.info("tagging in %s (--precision=%s)%s", tagger.precision, precision,
                f", int8 activation ranges: {tagger.int8_ranges}" if tagger.int8_ranges else "")
    return (tagger.tag_batch, tagger.entity_types, tagger.meta,
            wordpiece_counter(tagger.tokenizer), tagger.precision, tagger.int8_ranges)


def wordpiece_counter(tokenizer) -> Callable[[list[str]], list[int]]:
    """texts -> per text, the wordpieces the tagger encodes for it.

    What the tagger's own first steps (`ner.pipeline`: the tokenizer's word
    splitter, then WordPiece on each word) give, counted by
    `Tokenizer.tf_count_wordpieces` at under half their cost. Every word has at
    least one wordpiece, so the count also bounds the words (the CRF's work).
    Not counted: [CLS] and [SEP] and the overlap of the windows that a
    sentence of more than `max_seq_length - 2` wordpieces is cut into.

    Args:
        tokenizer: the tagger's `ner.Tokenizer`.
    """
    import tensorflow as tf

    from ner.tokenization import text_batch

    count = tf.function(tokenizer.tf_count_wordpieces, autograph=False,
                        input_signature=[tf.TensorSpec([None], tf.string)])

    return lambda texts: count(text_batch(texts)).numpy().tolist()


def _json_bytes(status: int, code: str, message: str, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 error response with the JSON error shape, for the protocol layer."""
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
             "content-type: application/json", f"content-length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items()), "connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _protocol_class(options: ServeOptions):
    """uvicorn's h11 protocol, with JSON errors, a connection cap and a deadline for request heads.

    The limits themselves are h11's and uvicorn's settings (see `make_server`);
    this class changes what happens at them:

    * h11's header-size limit and malformed requests: uvicorn answers 400
      text/plain; here a JSON error with h11's status (431 for headers over
      `max_header_bytes`, else 400). h11 applies its limit only to a head
      still incomplete; a head that arrives whole in one read is measured here
      against the same limit.
    * uvicorn's `limit_concurrency` would answer 503 text/plain, and only
      once a request arrives, holding the socket (and a file descriptor) until
      then; here a connection beyond `max_connections` is answered a JSON 503
      when it is accepted and closed at once.
    * uvicorn's keep-alive timer closes a connection idle after a response,
      and stops at the first byte of the next request; here it also runs from
      the moment a connection is accepted and until a whole request head has
      arrived, so a client that connects and sends nothing, or trickles a
      header block, is closed after `keep_alive_timeout_s` too.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    refused = {"count": 0, "logged": 0.0}

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > options.max_connections:
                refused["count"] += 1
                if time.monotonic() - refused["logged"] > 10:  # one line per 10 s, not per socket
                    logger.warning("refusing connections: %d open, at most %d "
                                   "(--max_connections); %d refused so far",
                                   len(self.connections) - 1, options.max_connections,
                                   refused["count"])
                    refused["logged"] = time.monotonic()
                transport.write(_json_bytes(
                    503, "too_many_connections",
                    f"the server has {options.max_connections} connections open, its limit "
                    "(--max_connections); retry after 1 s, or reuse one connection for several "
                    "requests", {"retry-after": "1"}))
                transport.close()
                return
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

        def data_received(self, data: bytes) -> None:
            # uvicorn's own version first stops the keep-alive timer; here it
            # runs on until handle_events sees a whole request head.
            if self.conn.their_state is h11.IDLE and self._head_too_large(data):
                self.logger.warning("Request head over --max_header_bytes received.")
                self._refuse(431)
                return
            self.conn.receive_data(data)
            self.handle_events()

        def _head_too_large(self, data: bytes) -> bool:
            # h11 measures a head only while it is incomplete; one that
            # arrives whole in a single read would pass, so measure it here.
            head = self.conn.trailing_data[0] + data
            end = head.find(b"\r\n\r\n")
            return (len(head) if end < 0 else end + 4) > options.max_header_bytes

        def _unsupported_upgrade_warning(self) -> None:
            # uvicorn warns at every request with an Upgrade header (and
            # advises installing a WebSocket library); the request is served
            # as plain HTTP, so a debug line is enough.
            self.logger.debug("ignored an Upgrade header")

        def send_400_response(self, msg: str) -> None:
            error = sys.exc_info()[1]  # called while handling h11's RemoteProtocolError
            self._refuse(getattr(error, "error_status_hint", 400), str(error or msg))

        def _refuse(self, status: int, reason: str = "") -> None:
            if status == 431:
                code = "headers_too_large"
                message = (f"the request line and headers exceed {options.max_header_bytes} "
                           "bytes (--max_header_bytes); send a shorter URL or fewer, shorter "
                           "headers")
            else:
                code = "bad_http_request"
                message = (f"the request is not valid HTTP/1.1 ({reason}); fix the request "
                           "line, the headers or Content-Length")
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_json_bytes(status, code, message, {}))
            self.transport.close()

    return GuardedH11Protocol


def make_server(app, options: ServeOptions, log_level: str = "info"):
    """A `uvicorn.Server` for `app` (not started), with the connection limits of `options`.

    From uvicorn and h11's own settings: the HTTP/1.1 implementation is h11
    (its `max_incomplete_event_size` is `max_header_bytes`; httptools, which
    uvicorn would pick when installed, has no such limit), `timeout_keep_alive`
    is `keep_alive_timeout_s`. `_protocol_class` adds the connection cap and
    JSON errors. On SIGTERM the app's batcher gets `shutdown_timeout_s` to
    finish (`MicroBatcher.drain`), and so do requests being counted;
    uvicorn's own graceful timeout is a second later, as a backstop.
    """
    import uvicorn

    batcher, counter = app.state.batcher, app.state.counter

    class Server(uvicorn.Server):
        stopping_since: float | None = None
        announced = False

        def handle_exit(self, sig, frame) -> None:
            # The first signal, with a delay: /healthz turns 503 and requests
            # are still served until the delay ends (`on_tick`); a second
            # signal shuts down at once. (A signal handler: no logging here.)
            # Ctrl+C (SIGINT) means now: only SIGTERM waits out the delay.
            if (options.shutdown_delay_s > 0 and self.stopping_since is None
                    and sig == signal.SIGTERM):
                self._captured_signals.append(sig)
                self.stopping_since = time.monotonic()
                app.state.stopping = True
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.stopping_since is not None and not self.should_exit:
                if not self.announced:
                    self.announced = True
                    logger.info("stopping: /healthz answers 503 and requests are still served "
                                "for %g s (--shutdown_delay_s), then the shutdown",
                                options.shutdown_delay_s)
                if time.monotonic() - self.stopping_since >= options.shutdown_delay_s:
                    self.should_exit = True
            return await super().on_tick(counter)

        async def shutdown(self, sockets=None):
            # Before uvicorn closes the listeners and waits: new work is
            # refused and the deadline starts now, also for requests still
            # being counted (whose counting may wait for the tagging threads'
            # ops to let go of TensorFlow's threads).
            batcher.drain(options.shutdown_timeout_s)
            counter.drain(options.shutdown_timeout_s)
            await super().shutdown(sockets=sockets)

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if sockets and self.started:  # uvicorn says where only of sockets it opened
                host, port = sockets[0].getsockname()[:2]
                logger.info("Uvicorn running on http://%s:%d (press Ctrl+C to quit)",
                            f"[{host}]" if ":" in host else host, port)

    proxies = options.forwarded_allow_ips.strip()
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level=log_level,
        http=_protocol_class(options), h11_max_incomplete_event_size=options.max_header_bytes,
        timeout_keep_alive=options.keep_alive_timeout_s,
        timeout_graceful_shutdown=options.shutdown_timeout_s + _SHUTDOWN_BACKSTOP_S,
        lifespan="on", access_log=options.access_log, server_header=False,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
        root_path=options.root_path,
        # No WebSocket endpoint: an Upgrade header is ignored, not answered
        # with a warning per request that advises installing a library.
        ws="none",
        # uvicorn's loggers propagate to the root logger, so its lines share
        # the format of the server's own (absl's under `python -m ner.serve`).
        log_config=None)
    if options.access_log:  # an earlier Config without it turned propagation off
        logging.getLogger("uvicorn.access").propagate = True
    return Server(config)


def bind(host: str, port: int, backlog: int = 2048):
    """A socket listening on `host:port` from now on (before the model loads).

    A port in use or a bad host fails at once, not after minutes of loading.
    Connections made while the model loads wait (in the kernel's backlog of
    `backlog`) and are answered once the server runs. "::" listens on IPv6
    and IPv4 alike (dual stack), as "0.0.0.0" does on IPv4.

    Raises:
        ValueError: the address cannot be bound, naming it and why.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(backlog)  # SO_REUSEADDR lets two sockets bind; only one may listen
    except OSError as e:
        sock.close()
        bracket = family == socket.AF_INET6 and "/" not in host and "[" not in host
        where = f"[{host}]:{port}" if bracket else f"{host}:{port}"
        raise ValueError(f"cannot listen on {where} (--host, --port): "
                         f"{e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


class _GcPauses:
    """Python's cyclic garbage collections in this process, counted and timed per generation.

    Every pass stops every thread (it holds the GIL), so its time is time the
    event loop and the tagging threads all lose; `/healthz` reports them
    (`_freeze_loaded_objects` is why the oldest generation's are short).
    `install()` adds one callback to `gc.callbacks`, once per process: two
    short Python calls a pass.
    """

    def __init__(self):
        self.passes = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest_s = 0.0
        self._began: float | None = None
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began is not None:
            seconds = time.perf_counter() - self._began
            self._began = None
            generation = min(int(info.get("generation", 0)), 2)
            self.passes[generation] += 1
            self.seconds[generation] += seconds
            self.longest_s = max(self.longest_s, seconds)

    def snapshot(self) -> dict[str, Any]:
        return {"gc_passes": list(self.passes),
                "gc_seconds": [round(s, 4) for s in self.seconds],
                "gc_longest_pause_s": round(self.longest_s, 4)}


_GC_PAUSES = _GcPauses()


def _freeze_loaded_objects() -> None:
    """Moves every object alive now (the model, TensorFlow's traced functions) out of the GC.

    Python's oldest-generation collection walks every tracked object: with the
    default model loaded, about 480,000. Under 64 clients such a pass came
    every few seconds and stopped the whole server, event loop and tagging
    threads alike, for 0.24 s; after the freeze, 0.01-0.03 s (BENCHMARKS.md,
    issue 12). The cyclic collector never frees frozen objects; these live as
    long as the process anyway, and reference counting still frees the rest.
    """
    gc.collect()
    gc.freeze()


def _leave_a_thread_for_counting(tagging_threads: int) -> None:
    """Gives TensorFlow's inter-op pool a thread beyond the tagging threads' batches.

    TensorFlow runs a graph's ops on a pool of one thread per core by default.
    With as many batches running as cores, the wordpiece counter's ops waited
    for theirs: on 2 cores, with six maximal requests in flight, the first
    one-text request took 2.59 s to be counted and tagged, and two requests
    over the queue bound 1.56-2.00 s to be refused; with a pool of 3 threads,
    0.73-0.88 s and 0.37-0.38 s, at the same throughput under 64 clients
    within the noise (BENCHMARKS.md, issue 12, "Two tagging threads"). Left
    alone when `TF_NUM_INTEROP_THREADS` is set, or once TensorFlow has started
    (then it says so).
    """
    import tensorflow as tf

    wanted = tagging_threads + 1
    if "TF_NUM_INTEROP_THREADS" in os.environ or len(os.sched_getaffinity(0)) >= wanted:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(wanted)
    except RuntimeError as e:  # TensorFlow already initialised
        logger.warning("could not give TensorFlow %d inter-op threads: %s", wanted, e)


def serve(model_dir: str, options: ServeOptions, precision: str = "auto") -> None:
    """Loads the model and serves until SIGTERM or SIGINT; then drains, and exits.

    On the signal: no new connections or requests; requests in flight get
    `shutdown_timeout_s` to finish, the rest are answered 503; the process then
    ends without waiting for batches still running in the tagging threads.

    Raises:
        ImportError: the `serve` extra is not installed (before the model loads).
    """
    missing = cli.missing_extra("serve", SERVE_MODULES, "ner.serve")
    if missing:
        raise ImportError(missing)
    sock = bind(options.host, options.port)
    _leave_a_thread_for_counting(options.tagging_threads)
    tag_batch, types, meta, count, chosen, int8_ranges = load_tagger(model_dir, precision)
    # Warm up: the first call traces the TensorFlow functions (seconds).
    tag_batch(["Warm-up sentence from Paris ."])
    count(["Warm-up sentence from Paris ."])
    _freeze_loaded_objects()
    soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit != resource.RLIM_INFINITY and options.max_connections + 64 > soft_limit:
        logger.warning("--max_connections=%d leaves little of the open-file limit (%d) for the "
                       "model's own files; raise the limit (ulimit -n) or lower the flag",
                       options.max_connections, soft_limit)
    app = create_app(tag_batch, options, types, meta=meta, measure=count, precision=chosen,
                     int8_ranges=int8_ranges)
    server = make_server(app, options)
    # uvicorn re-raises the signal it stopped on once it has shut down; a
    # no-op handler makes a graceful stop exit with status 0 instead of -15.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    batcher = app.state.batcher
    logger.info("stopped after %s", batcher.stats)
    if batcher.busy:
        # Its requests were answered 503 at the deadline; Python would wait
        # for the thread at exit.
        logger.info("exiting without waiting for the batches still being tagged")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _define_flags() -> None:
    from absl import flags

    defaults = ServeOptions()
    flags.DEFINE_string("model_dir", None, "Trained model folder (from python -m ner.train).")
    flags.DEFINE_enum("precision", "auto", ["auto", "float32", "bfloat16", "int8"],
                      "How the encoder computes (python -m ner.precision): auto picks the "
                      "fastest here among float32 and the precisions the model folder's "
                      "accuracy check accepted; float32 when it has none.")
    flags.DEFINE_string("host", defaults.host, "Address to bind; loopback by default.")
    flags.DEFINE_integer("port", defaults.port, "TCP port.", lower_bound=0, upper_bound=65535)
    # Request limits (JSON 413/422 naming the field and the flag).
    flags.DEFINE_integer("max_texts", defaults.max_texts, "Texts per request.", lower_bound=1)
    flags.DEFINE_integer("max_text_chars", defaults.max_text_chars, "Characters per text.",
                         lower_bound=1)
    flags.DEFINE_integer("max_body_bytes", defaults.max_body_bytes, "Request body size.",
                         lower_bound=1)
    flags.DEFINE_integer("max_text_wordpieces", defaults.max_text_wordpieces,
                         "Work budget of one text, in wordpieces (the model's tokens, counted "
                         "with its tokenizer; about 1.2 per English word). A text is tagged in "
                         "one piece, so this bounds the longest step of the tagging thread.",
                         lower_bound=1)
    flags.DEFINE_integer("max_request_wordpieces", defaults.max_request_wordpieces,
                         "Work budget of one request, in wordpieces.", lower_bound=1)
    # Batching, fairness and the queue.
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Texts per tagging batch.",
                         lower_bound=1)
    flags.DEFINE_integer("max_batch_wordpieces", defaults.max_batch_wordpieces,
                         "Wordpieces per tagging batch. Requests are interleaved text by text "
                         "in batches of this size, so a request waits at most for the batch "
                         "running when it arrives plus its own: smaller is fairer, larger is "
                         "faster.", lower_bound=1)
    flags.DEFINE_float("max_wait_ms", defaults.max_wait_ms,
                       "How long a batch that follows another waits for the clients it "
                       "answered to send more, until as many requests wait as it answered "
                       "(fuller batches cost less per text); a request that finds a tagging "
                       "thread idle starts at once.", lower_bound=0)
    flags.DEFINE_integer("tagging_threads", defaults.tagging_threads,
                         "Batches tagged at once, each in its own thread; a request has texts "
                         "in one running batch at a time, and requests of more than half "
                         "--max_batch_wordpieces take turns in one thread, so heavy requests "
                         "leave the other threads to small ones (answered in tens of "
                         "milliseconds instead of up to a batch's time). Batches running "
                         "together share the cores.", lower_bound=1)
    flags.DEFINE_integer("max_queued_wordpieces", defaults.max_queued_wordpieces,
                         "Bound on work accepted and not finished; beyond it a request is "
                         "answered 503 with Retry-After at once.", lower_bound=1)
    # Connections (h11 and uvicorn settings).
    flags.DEFINE_integer("max_connections", defaults.max_connections,
                         "Open connections; one more is answered 503 and closed when accepted. "
                         "Keep it well under the open-file limit (ulimit -n).", lower_bound=1)
    flags.DEFINE_integer("max_header_bytes", defaults.max_header_bytes,
                         "Request line plus headers (h11's max_incomplete_event_size); more is "
                         "answered 431 and the connection closed.", lower_bound=1024)
    flags.DEFINE_float("keep_alive_timeout_s", defaults.keep_alive_timeout_s,
                       "A connection is closed when a whole request head has not arrived this "
                       "long after it opened or after its last response (uvicorn's "
                       "timeout_keep_alive).", lower_bound=0.1)
    flags.DEFINE_float("body_timeout_s", defaults.body_timeout_s,
                       "Time for a request body to arrive once its head has; then 408.",
                       lower_bound=0.1)
    flags.DEFINE_float("shutdown_timeout_s", defaults.shutdown_timeout_s,
                       "On SIGTERM: stop accepting, finish what fits in this many seconds, "
                       "answer the rest 503, and exit.", lower_bound=0)
    flags.DEFINE_float("shutdown_delay_s", defaults.shutdown_delay_s,
                       "On SIGTERM, first go on serving this many seconds with /healthz "
                       "answering 503 (and every response saying Connection: close), so that "
                       "a load balancer or Kubernetes stops routing here before the listener "
                       "closes; a second signal, or SIGINT (Ctrl+C), skips it.",
                       lower_bound=0)
    # Deployment behind proxies and browsers.
    flags.DEFINE_string("allow_origins", defaults.allow_origins,
                        "Comma-separated origins (https://app.example.com) whose browser pages "
                        "may call the API (CORS); '*' for any. Empty: no CORS headers, so "
                        "browsers refuse cross-origin calls.")
    flags.DEFINE_string("forwarded_allow_ips", defaults.forwarded_allow_ips,
                        "Comma-separated addresses of reverse proxies whose X-Forwarded-For "
                        "and X-Forwarded-Proto headers are trusted, so logs name the real "
                        "client. Empty: none.")
    flags.DEFINE_string("root_path", defaults.root_path,
                        "Path prefix a reverse proxy serves the API under (e.g. /ner), for "
                        "/openapi.json's server URL; the proxy strips it from requests.")
    flags.DEFINE_boolean("access_log", defaults.access_log,
                         "One log line per request: client, method, path, status (never the "
                         "texts).")
    flags.mark_flag_as_required("model_dir")


def main(argv: list[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        print(f"serve: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    values = {f.name: getattr(flags.FLAGS, f.name) for f in dataclasses.fields(ServeOptions)}
    # absl's handler on the root logger writes every line (uvicorn's too:
    # `make_server`); INFO, so that startup, disconnects and shutdown show.
    logging.getLogger().setLevel(logging.INFO)
    try:
        options = ServeOptions(**values)
        serve(flags.FLAGS.model_dir, options, flags.FLAGS.precision)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"serve: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from ner import cli

    _define_flags()
    cli.run_absl(main)
