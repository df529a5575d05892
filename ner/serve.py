"""HTTP JSON API for a trained tagger: `python -m ner.serve --model_dir=...`.

Endpoints:

* `POST /v1/tag` with `{"texts": ["...", ...]}` returns
  `{"entities": [[{"label", "start", "end", "text", "score"}, ...], ...]}`,
  one list per text, in order. `start`/`end` are character (Unicode code
  point) offsets into the text, end exclusive, as `ner.Tagger.tag` gives them.
* `GET /healthz`: liveness plus batching counters.
* `GET /openapi.json` (and `/docs`): the OpenAPI description, with the limits.

Stack: FastAPI on uvicorn. Both are among the most used Python web packages,
released often and typed; FastAPI writes the OpenAPI description that the
fuzzer and clients read, and uvicorn stops gracefully on SIGTERM (it stops
accepting connections and lets requests in flight finish). The request body
is parsed here rather than by FastAPI's pydantic layer, so that each kind of
bad input (too large, not UTF-8, not JSON, wrong types, over a limit) gets
its own status code and a message naming the field.

Micro-batching: requests go into an asyncio queue. One batching task takes
the first waiting request, then keeps adding requests until the batch holds
`max_batch_size` texts or `max_wait_ms` has passed since the first arrived,
and runs the whole batch through `Tagger.tag_batch` in one worker thread
(TensorFlow parallelises inside the op; a second thread would only compete
for the same cores). While the worker is busy, new requests queue up, so the
busier the server, the fuller its batches. A request is never split: one with
more texts than `max_batch_size` forms a batch by itself. If a batch fails,
its requests are retried one by one, so one bad request cannot fail others.

Errors are JSON, `{"error": {"code", "message", "field"}}`: 400 (body not
UTF-8 or not JSON), 413 (body larger than `max_body_bytes`), 415 (not
`application/json`), 422 (JSON of the wrong shape or types, too many texts,
a text too long, a lone surrogate), 404/405 (unknown path or method).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers'
# annotations at run time, and `Request` is imported inside `create_app`.
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["MicroBatcher", "ServeOptions", "create_app", "serve"]


@dataclasses.dataclass
class ServeOptions:
    """Server settings; the flags of `python -m ner.serve`.

    Attributes:
        host: address to bind; loopback unless told otherwise.
        port: TCP port.
        max_batch_size: texts per tagging batch.
        max_wait_ms: how long the first request of a batch waits for others.
        max_texts: texts per request.
        max_text_chars: characters (code points) per text.
        max_body_bytes: request body size.
        shutdown_timeout_s: on SIGTERM, how long requests in flight may take
            to finish before they are cancelled.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_texts: int = 64
    max_text_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    shutdown_timeout_s: float = 30.0

    def __post_init__(self):
        for name in ("max_batch_size", "max_texts", "max_text_chars", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port!r}")


class ApiError(Exception):
    """A client error answered as `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


# === Micro-batching ===


@dataclasses.dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    """Gathers concurrent requests into batches for a blocking batch function.

    Args:
        fn: takes a list of texts and returns one result per text, in order.
            Runs in a single worker thread.
        max_batch_size: texts per batch (a larger request is a batch alone).
        max_wait_s: how long a batch's first request waits for more.

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
                 max_wait_s: float):
        self._fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Pending] | None = None
        self._carry: _Pending | None = None
        self._task: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.stats = {"requests": 0, "texts": 0, "batches": 0, "largest_batch": 0}

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tagger")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stops batching; requests still queued get an error."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pending = [self._carry] if self._carry else []
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            if not item.future.done():
                item.future.set_exception(RuntimeError("server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        """Requests waiting for a batch."""
        return (self._queue.qsize() if self._queue else 0) + (self._carry is not None)

    async def submit(self, texts: list[str]) -> list[Any]:
        """Queues texts and waits for their results (one per text)."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(list(texts), future))
        return await future

    async def _next_batch(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        first = self._carry or await self._queue.get()
        self._carry = None
        batch, size = [first], len(first.texts)
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                # Requests that queued while the worker was busy join at once.
                item = self._queue.get_nowait()
            if size + len(item.texts) > self.max_batch_size:
                self._carry = item  # first of the next batch; never split
                break
            batch.append(item)
            size += len(item.texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [p for p in await self._next_batch() if not p.future.done()]
            if not batch:
                continue
            texts = [t for p in batch for t in p.texts]
            self.stats["batches"] += 1
            self.stats["requests"] += len(batch)
            self.stats["texts"] += len(texts)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(texts))
            try:
                results = await loop.run_in_executor(self._executor, self._fn, texts)
                if len(results) != len(texts):
                    raise RuntimeError(f"batch function returned {len(results)} results "
                                       f"for {len(texts)} texts")
            except Exception:  # noqa: BLE001 - isolate the request that failed
                logger.exception("batch of %d requests failed; retrying one by one", len(batch))
                for p in batch:
                    try:
                        one = await loop.run_in_executor(self._executor, self._fn, p.texts)
                    except Exception as e:  # noqa: BLE001 - reported to that caller only
                        if not p.future.done():
                            p.future.set_exception(e)
                    else:
                        if not p.future.done():
                            p.future.set_result(list(one))
                continue
            offset = 0
            for p in batch:
                if not p.future.done():
                    p.future.set_result(list(results[offset:offset + len(p.texts)]))
                offset += len(p.texts)


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
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "invalid_utf8",
                       f"the body is not valid UTF-8: byte {e.start} "
                       f"({body[e.start:e.start + 1]!r}) {e.reason}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, "malformed_json",
                       f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
                       ) from None
    except RecursionError:
        # The C parser checks Python's recursion limit, so "[[[[..." is a
        # clean error, not a crash.
        raise ApiError(400, "malformed_json",
                       "the body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_type",
                       f"the body must be a JSON object, got {_json_type(value)}")
    unknown = sorted(set(value) - {"texts"})
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0]!r}; expected only 'texts'",
                       field=unknown[0])
    if "texts" not in value:
        raise ApiError(422, "missing_field", "field 'texts' is required", field="texts")
    texts = value["texts"]
    if not isinstance(texts, list):
        raise ApiError(422, "invalid_type",
                       f"'texts' must be an array of strings, got {_json_type(texts)}",
                       field="texts")
    if len(texts) > options.max_texts:
        raise ApiError(422, "too_many_texts",
                       f"'texts' holds {len(texts)} texts; at most {options.max_texts} are allowed "
                       "per request", field="texts")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ApiError(422, "invalid_type", f"texts[{i}] must be a string, got {_json_type(t)}",
                           field=f"texts[{i}]")
        if len(t) > options.max_text_chars:
            raise ApiError(422, "text_too_long",
                           f"texts[{i}] has {len(t)} characters; at most "
                           f"{options.max_text_chars} are allowed", field=f"texts[{i}]")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            # JSON's "\ud800" escapes decode to lone surrogates, which are
            # not Unicode text and cannot be tokenized.
            raise ApiError(422, "invalid_text",
                           f"texts[{i}] contains a lone surrogate U+{ord(t[e.start]):04X} at "
                           f"character {e.start}", field=f"texts[{i}]") from None
    return texts


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "a number"), (float, "a number"),
                       (str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null"


# === Application ===


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

    class Health(BaseModel):
        status: str
        entity_types: list[str]
        queued: int
        requests: int
        texts: int
        batches: int
        largest_batch: int
        limits: dict[str, float]

    request_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["texts"],
        "properties": {
            "texts": {
                "type": "array",
                "maxItems": options.max_texts,
                "items": {"type": "string", "maxLength": options.max_text_chars},
                "description": "Raw texts to tag; each is split into sentences and words.",
            }
        },
        "example": {"texts": ["Alice Smith flew from Paris to Berlin on Monday."]},
    }
    return TagResponse, ErrorResponse, Health, request_schema


def create_app(tag_batch: Callable[[list[str]], Sequence[Sequence[Any]]], options: ServeOptions,
               entity_types: Sequence[str] = ()):
    """Builds the FastAPI application.

    Args:
        tag_batch: texts -> per text a list of entities (objects with label,
            start, end, text and score), e.g. `Tagger.tag_batch`.
        options: limits and batching settings.
        entity_types: reported by `/healthz`.

    Returns:
        A `fastapi.FastAPI` app; run it with uvicorn (see `serve`).
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    TagResponse, ErrorResponse, Health, request_schema = _openapi_models(options)
    batcher = MicroBatcher(lambda texts: [[_entity_dict(e) for e in ents]
                                          for ents in tag_batch(texts)],
                           options.max_batch_size, options.max_wait_ms / 1000.0)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="BERT NER",
        version=_version(),
        description="Named-entity recognition with BERT: character offsets and CRF span scores.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher

    def error_response(status: int, code: str, message: str, field: str | None = None):
        return JSONResponse({"error": {"code": code, "message": message, "field": field}},
                            status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    errors = {
        400: {"model": ErrorResponse, "description": "The body is not UTF-8 or not JSON."},
        413: {"model": ErrorResponse,
              "description": f"The body exceeds {options.max_body_bytes} bytes."},
        415: {"model": ErrorResponse, "description": "Content-Type is not application/json."},
        422: {"model": ErrorResponse,
              "description": "Wrong shape or types, too many texts, or a text too long."},
    }

    @app.post(
        "/v1/tag",
        summary="Tag texts",
        response_model=None,
        responses={200: {"model": TagResponse, "description": "Entities per text."}, **errors},
        openapi_extra={"requestBody": {
            "required": True, "content": {"application/json": {"schema": request_schema}}}},
    )
    async def tag(request: Request) -> Response:
        body = await _read_body(request, options.max_body_bytes)
        texts = parse_tag_request(body, request.headers.get("content-type"), options)
        entities = await batcher.submit(texts) if texts else []
        payload = json.dumps({"entities": entities}, ensure_ascii=False, allow_nan=False)
        return Response(payload.encode("utf-8"), media_type="application/json")

    @app.get("/healthz", summary="Liveness and batching counters", response_model=Health)
    async def healthz() -> dict[str, Any]:
        limits = {k: v for k, v in dataclasses.asdict(options).items()
                  if k.startswith("max_")}
        return {"status": "ok", "entity_types": list(entity_types), "queued": batcher.queued,
                **batcher.stats, "limits": limits}

    return app


async def _read_body(request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large",
                       f"the body has {declared} bytes; at most {limit} are allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _version() -> str:
    from ner import __version__

    return __version__


# === Running ===


def load_tagger(model_dir: str):
    """(`Tagger.tag_batch`, entity types) of a trained model folder."""
    from ner.tagger import Tagger

    tagger = Tagger.load(model_dir)
    return tagger.tag_batch, tagger.entity_types


def make_server(app, options: ServeOptions, log_level: str = "info"):
    """A `uvicorn.Server` for `app` (not started)."""
    import uvicorn

    config = uvicorn.Config(app, host=options.host, port=options.port, log_level=log_level,
                            timeout_graceful_shutdown=options.shutdown_timeout_s,
                            lifespan="on", access_log=False, server_header=False)
    return uvicorn.Server(config)


def serve(model_dir: str, options: ServeOptions) -> None:
    """Loads the model and serves until SIGTERM or SIGINT; then finishes requests in flight."""
    tag_batch, types = load_tagger(model_dir)
    # Warm up: the first call traces the TensorFlow functions (seconds).
    tag_batch(["Warm-up sentence from Paris ."])
    app = create_app(tag_batch, options, types)
    server = make_server(app, options)
    # uvicorn re-raises the signal it stopped on once it has shut down; a
    # no-op handler makes a graceful stop exit with status 0 instead of -15.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    logger.info("stopped after %s", app.state.batcher.stats)


def _define_flags() -> None:
    from absl import flags

    defaults = ServeOptions()
    flags.DEFINE_string("model_dir", None, "Trained model folder (from python -m ner.train).")
    flags.DEFINE_string("host", defaults.host, "Address to bind; loopback by default.")
    flags.DEFINE_integer("port", defaults.port, "TCP port.", lower_bound=0, upper_bound=65535)
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Texts per tagging batch.",
                         lower_bound=1)
    flags.DEFINE_float("max_wait_ms", defaults.max_wait_ms,
                       "How long a batch's first request waits for others.", lower_bound=0)
    flags.DEFINE_integer("max_texts", defaults.max_texts, "Texts per request.", lower_bound=1)
    flags.DEFINE_integer("max_text_chars", defaults.max_text_chars, "Characters per text.",
                         lower_bound=1)
    flags.DEFINE_integer("max_body_bytes", defaults.max_body_bytes, "Request body size.",
                         lower_bound=1)
    flags.DEFINE_float("shutdown_timeout_s", defaults.shutdown_timeout_s,
                       "On SIGTERM, time allowed for requests in flight.", lower_bound=0)
    flags.mark_flag_as_required("model_dir")


def main(argv: list[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        print(f"serve: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    values = {f.name: getattr(flags.FLAGS, f.name) for f in dataclasses.fields(ServeOptions)}
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = ServeOptions(**values)
        serve(flags.FLAGS.model_dir, options)
    except (FileNotFoundError, ValueError) as e:
        print(f"serve: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from absl import app as absl_app

    _define_flags()
    absl_app.run(main)
