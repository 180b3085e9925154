"""A scripted OpenAI-compatible server on loopback, for tests of the ``openai:`` backend.

    with ScriptedServer(models=["coder"]) as server:
        server.status(500).reply("print('hi')")
        client = OpenAIClient(server.url)
        ...
        assert len(server.chat_requests) == 2

``/v1/models`` lists ``server.models``; every ``POST /v1/chat/completions`` takes the next
scripted behaviour, and the last one repeats when the queue runs dry (so a server that
always answers prose is ``reply("prose")`` once). Streams are HTTP/1.1 chunked Server-Sent
Events shaped like vLLM's: a role chunk, content chunks of a few characters, a
``finish_reason`` chunk, an optional ``usage`` chunk with empty ``choices``, ``[DONE]``.
Every sleep waits on the server's stop event, so leaving the ``with`` block never waits for
a hanging handler.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_SLEEP = 60.0  # no scripted behaviour may keep a handler thread longer than this


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # the parsed JSON body, None when there was none or it was not JSON


@dataclass
class _Context:
    request: RecordedRequest
    handler: _Handler
    stop: threading.Event
    default_model: str


Behaviour = Callable[[_Context], None]


@dataclass
class _State:
    models: list[str]
    max_model_len: int | None = None  # listed with each model, as vLLM does
    queue: list[Behaviour] = field(default_factory=list)
    last: Behaviour | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def next_behaviour(self) -> Behaviour | None:
        with self.lock:
            if self.queue:
                self.last = self.queue.pop(0)
            return self.last


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # server_close() must not join a handler that still sleeps
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is the point of several tests, not an error.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streams, so a cut stream is visible as one
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with state.lock:
            state.requests.append(request)
        path = self.path.split("?", 1)[0].rstrip("/")
        if self.command == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "owned_by": "test"} for m in state.models
            ]
            if state.max_model_len is not None:
                data = [
                    {**entry, "max_model_len": state.max_model_len} for entry in data
                ]
            self.send_json(200, {"object": "list", "data": data})
            return
        if self.command == "POST" and path == "/v1/chat/completions":
            behaviour = state.next_behaviour()
            if behaviour is None:
                self.send_json(500, {"error": {"message": "no scripted behaviour"}})
                return
            default_model = state.models[0] if state.models else "scripted"
            behaviour(_Context(request, self, state.stop, default_model))
            return
        self.send_json(404, {"error": {"message": f"no route {self.command} {path}"}})

    # Building blocks for behaviours.

    def send_json(
        self, code: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def send_event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.send_chunk(f"data: {text}\n\n".encode())

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self) -> None:
        """Drop the connection where it stands, as a crashed server would."""
        self.close_connection = True
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _chunk(ctx: _Context, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(ctx),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _model(ctx: _Context) -> str:
    body = ctx.request.body
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ctx.default_model


def _send_reply(
    ctx: _Context,
    text: str,
    *,
    stream: bool,
    usage: Mapping[str, int] | None,
    finish_reason: str,
    chunk_size: int,
) -> None:
    h = ctx.handler
    if not stream:
        message = {"role": "assistant", "content": text}
        payload: dict[str, Any] = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": _model(ctx),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason}
            ],
        }
        if usage is not None:
            payload["usage"] = dict(usage)
        h.send_json(200, payload)
        return
    h.start_stream()
    h.send_event(_chunk(ctx, {"role": "assistant", "content": ""}, None))
    for piece in _pieces(text, chunk_size):
        h.send_event(_chunk(ctx, {"content": piece}, None))
    h.send_event(_chunk(ctx, {}, finish_reason))
    if usage is not None:
        final = _chunk(ctx, {}, None)
        final["choices"] = []
        final["usage"] = dict(usage)
        h.send_event(final)
    h.send_event("[DONE]")
    h.end_stream()


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that plays scripted chat behaviours in order."""

    def __init__(
        self,
        models: Sequence[str] = ("scripted-model",),
        max_model_len: int | None = None,
    ) -> None:
        self._state = _State(models=list(models), max_model_len=max_model_len)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle.

    def __enter__(self) -> ScriptedServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._state.stop.set()  # wakes every sleeping handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # What tests read.

    @property
    def url(self) -> str:
        """The base URL a client is given: ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError(
                "ScriptedServer is not running; use it as a context manager"
            )
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def models(self) -> list[str]:
        """What ``GET /v1/models`` lists; assign to change it."""
        return self._state.models

    @models.setter
    def models(self, value: Sequence[str]) -> None:
        self._state.models = list(value)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")
        ]

    # Scripted behaviours for /v1/chat/completions; each returns self for chaining.

    def then(self, behaviour: Behaviour) -> ScriptedServer:
        """Queue any callable that takes the request context and answers it."""
        with self._state.lock:
            self._state.queue.append(behaviour)
        return self

    def reply(
        self,
        text: str,
        *,
        stream: bool = True,
        usage: Mapping[str, int] | None = None,
        finish_reason: str = "stop",
        chunk_size: int = 4,
    ) -> ScriptedServer:
        """Answer ``text``: SSE in chunks of ``chunk_size`` characters, or one JSON body."""

        def behaviour(ctx: _Context) -> None:
            _send_reply(
                ctx,
                text,
                stream=stream,
                usage=usage,
                finish_reason=finish_reason,
                chunk_size=chunk_size,
            )

        return self.then(behaviour)

    def reply_with(
        self, make: Callable[[RecordedRequest], str], *, stream: bool = True
    ) -> ScriptedServer:
        """Answer with ``make(request)``: replies that depend on the prompt (repairs)."""

        def behaviour(ctx: _Context) -> None:
            text = make(ctx.request)
            _send_reply(
                ctx, text, stream=stream, usage=None, finish_reason="stop", chunk_size=4
            )

        return self.then(behaviour)

    def status(
        self,
        code: int,
        *,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> ScriptedServer:
        """Answer with an HTTP error and an OpenAI-shaped error body."""

        def behaviour(ctx: _Context) -> None:
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            error = {"message": message or f"scripted status {code}", "code": code}
            ctx.handler.send_json(code, {"error": error}, headers)

        return self.then(behaviour)

    def hang(self, seconds: float, *, then_reply: str = "") -> ScriptedServer:
        """Say nothing for ``seconds`` (at most MAX_SLEEP), then answer ``then_reply``."""

        def behaviour(ctx: _Context) -> None:
            if ctx.stop.wait(min(seconds, MAX_SLEEP)):
                ctx.handler.cut()
                return
            _send_reply(
                ctx,
                then_reply,
                stream=True,
                usage=None,
                finish_reason="stop",
                chunk_size=4,
            )

        return self.then(behaviour)

    def trickle(
        self, text: str, *, interval: float = 0.2, seconds: float = 10.0
    ) -> ScriptedServer:
        """Send one SSE comment every ``interval`` for ``seconds``: alive, never done."""

        def behaviour(ctx: _Context) -> None:
            h = ctx.handler
            h.start_stream()
            h.send_event(_chunk(ctx, {"role": "assistant", "content": text}, None))
            end = time.monotonic() + min(seconds, MAX_SLEEP)
            while time.monotonic() < end and not ctx.stop.wait(interval):
                h.send_chunk(b": keep-alive\n\n")
            h.cut()

        return self.then(behaviour)

    def broken_stream(self, text: str) -> ScriptedServer:
        """Stream some chunks of ``text``, then drop the connection without ``[DONE]``."""

        def behaviour(ctx: _Context) -> None:
            h = ctx.handler
            h.start_stream()
            h.send_event(_chunk(ctx, {"role": "assistant", "content": ""}, None))
            for piece in _pieces(text, 4):
                h.send_event(_chunk(ctx, {"content": piece}, None))
            h.cut()

        return self.then(behaviour)

    def malformed(self) -> ScriptedServer:
        """Stream a chunk whose data is not JSON (``data: {not json``), then finish."""

        def behaviour(ctx: _Context) -> None:
            h = ctx.handler
            h.start_stream()
            h.send_event(_chunk(ctx, {"role": "assistant", "content": ""}, None))
            h.send_chunk(b"data: {not json\n\n")
            h.send_event("[DONE]")
            h.end_stream()

        return self.then(behaviour)
