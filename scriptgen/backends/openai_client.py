"""A small client for OpenAI-compatible chat servers (vLLM, TGI, llama.cpp, Ollama).

Streams by default, retries what another attempt may fix (connection errors, timeouts,
429, 5xx, a stream cut or garbled mid-way) with exponential backoff, and turns every
failure into one ``BackendError`` line that names the URL and the last cause.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from ..errors import ScriptgenError

T = TypeVar("T")

MAX_DELAY = 30.0  # cap on one backoff sleep
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is not worth blocking a CLI run for


class BackendError(ScriptgenError):
    """An LLM backend failed; the one-line message says what and what to do."""

    exit_code = 1


class Unreachable(BackendError):
    """No connection to the server at all (as opposed to a refusal or a bad reply)."""


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float  # wall time of the whole call, retries included
    finish_reason: str | None


class _Retry(Exception):
    """This attempt failed in a way that another attempt may fix."""

    def __init__(
        self, cause: str, *, unreachable: bool = False, wait: float | None = None
    ) -> None:
        super().__init__(cause)
        self.cause = _one_line(cause)
        self.unreachable = unreachable
        self.wait = wait  # the server's Retry-After, used instead of the backoff


class _StreamOptionsRejected(Exception):
    """An older server refused ``stream_options``; ask again without it."""


@dataclass
class _Reply:
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    parts: list[str] = field(default_factory=list)


class OpenAIClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        try:
            parsed = httpx.URL(self.base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise BackendError(
                f"openai backend: bad base URL {base_url!r} ({exc})"
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise BackendError(
                f"openai backend: bad base URL {base_url!r}; "
                "expected something like http://127.0.0.1:8000/v1"
            )
        if api_key is None:
            api_key = (
                os.environ.get("SCRIPTGEN_API_KEY")
                or os.environ.get("OPENAI_API_KEY")
                or None
            )
        self._api_key = api_key or None  # local servers need none; "" means none
        self.model = model
        self._entries: list[dict[str, Any]] | None = None  # GET /models, once
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        headers = {"Accept": "application/json, text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Public API.

    def list_models(self) -> list[str]:
        """The model ids that ``GET {base}/models`` lists, in the server's order."""
        return [_model_id(entry) for entry in self._model_entries()]

    def _model_entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            url = f"{self.base_url}/models"
            self._entries = self._with_retries("GET", url, None, self._read_models)
        return self._entries

    def context_window(self) -> int | None:
        """The model's context in tokens, where ``/models`` says it: vLLM's
        ``max_model_len``, llama.cpp's ``meta.n_ctx_train``, others' ``context_length``.
        """
        model = self.resolve_model()
        for entry in self._model_entries():
            if _model_id(entry) != model:
                continue
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            for value in (
                entry.get("max_model_len"),
                entry.get("context_length"),
                entry.get("context_window"),
                meta.get("n_ctx_train"),
            ):
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return None

    def resolve_model(self) -> str:
        """The configured model, else the first one the server lists."""
        if self.model:
            return self.model
        models = self.list_models()
        if not models:
            raise BackendError(
                f"openai backend: {self.base_url}/models lists no models; "
                "name one with --llm-model"
            )
        self.model = models[0]
        return self.model

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """Send ``messages``; stream the reply through ``on_token`` and return it whole.

        A retried attempt restarts the generation, so ``on_token`` may see the start of
        a reply again after a stream broke.
        """
        start = time.monotonic()
        model = self.resolve_model()
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if seed is not None:
            body["seed"] = seed
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        url = f"{self.base_url}/chat/completions"

        def read(response: httpx.Response, deadline: float) -> _Reply:
            return self._read_chat(response, deadline, on_token)

        try:
            reply = self._with_retries("POST", url, body, read)
        except _StreamOptionsRejected:
            del body["stream_options"]
            reply = self._with_retries("POST", url, body, read)
        return ChatResult(
            text="".join(reply.parts),
            model=reply.model or model,
            prompt_tokens=_int_or_none(reply.usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(reply.usage.get("completion_tokens")),
            seconds=time.monotonic() - start,
            finish_reason=reply.finish_reason,
        )

    # Transport, retries and errors.

    def _with_retries(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        read: Callable[[httpx.Response, float], T],
    ) -> T:
        attempts = self.retries + 1
        last: _Retry | None = None
        for attempt in range(attempts):
            try:
                return self._attempt(method, url, body, read)
            except _Retry as exc:
                last = exc
            if attempt + 1 < attempts:
                delay = last.wait
                if delay is None:
                    delay = min(self.backoff * 2**attempt, MAX_DELAY)
                time.sleep(max(0.0, delay))
        assert last is not None
        plural = "s" if attempts != 1 else ""
        if last.unreachable:
            raise Unreachable(
                f"openai backend: cannot reach {url} after {attempts} attempt{plural} "
                f"({last.cause}); check that the server is running and the URL is right"
            )
        raise BackendError(
            f"openai backend: {method} {url} failed after {attempts} attempt{plural} "
            f"({last.cause}); check the server's log"
        )

    def _attempt(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        read: Callable[[httpx.Response, float], T],
    ) -> T:
        # The read timeout only bounds the gap between bytes; this bounds the attempt.
        deadline = time.monotonic() + self.timeout
        try:
            with self._http.stream(method, url, json=body) as response:
                if response.status_code >= 400:
                    self._fail_on_status(method, url, body, response, deadline)
                return read(response, deadline)
        except httpx.ConnectTimeout as exc:
            raise _Retry(
                f"connect timed out after {self.connect_timeout:g}s", unreachable=True
            ) from exc
        except httpx.ConnectError as exc:
            raise _Retry(_connect_cause(exc), unreachable=True) from exc
        except httpx.ReadTimeout as exc:
            raise _Retry(f"no data for {self.timeout:g}s") from exc
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out ({type(exc).__name__})") from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise BackendError(f"openai backend: cannot send to {url} ({exc})") from exc
        except httpx.RemoteProtocolError as exc:
            raise _Retry(f"connection closed mid-reply: {exc}") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise BackendError(
                f"openai backend: {method} {url} failed ({exc})"
            ) from exc

    def _fail_on_status(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        response: httpx.Response,
        deadline: float,
    ) -> None:
        code = response.status_code
        detail = _error_detail(b"".join(_read_bytes(response, deadline, self.timeout)))
        cause = f"HTTP {code}" + (f": {detail}" if detail else "")
        if code in (408, 429) or code >= 500:
            wait = _retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise BackendError(
                    f"openai backend: {url} is busy ({_one_line(cause)}) and asks to wait "
                    f"{wait:.0f}s; try again later"
                )
            raise _Retry(cause, wait=wait)
        if code in (400, 422) and body and "stream_options" in body:
            if "stream_options" in detail:
                raise _StreamOptionsRejected()
        if code in (401, 403):
            sent = "the key sent was refused; " if self._api_key else ""
            raise BackendError(
                f"openai backend: {method} {url} unauthorized ({_one_line(cause)}); "
                f"{sent}set SCRIPTGEN_API_KEY or OPENAI_API_KEY"
            )
        if code == 404:
            hint = (
                "check the model name (--llm-model) and the base URL"
                if self.base_url.endswith("/v1")
                else "the base URL usually ends with /v1, e.g. http://127.0.0.1:8000/v1"
            )
            raise BackendError(
                f"openai backend: {method} {url} not found ({_one_line(cause)}); {hint}"
            )
        raise BackendError(
            f"openai backend: {method} {url} was rejected ({_one_line(cause)})"
        )

    # Reading replies.

    def _read_models(
        self, response: httpx.Response, deadline: float
    ) -> list[dict[str, Any]]:
        raw = b"".join(_read_bytes(response, deadline, self.timeout))
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise _Retry(f"malformed JSON in the model list: {_snippet(raw)}") from exc
        if not isinstance(payload, dict):
            raise _Retry(f"unexpected model list: {_snippet(raw)}")
        # OpenAI shape is {"data": [{"id": ...}]}; llama.cpp adds {"models": [{"name"}]}.
        entries = payload.get("data") or payload.get("models") or []
        return [
            entry
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and _model_id(entry)
        ]

    def _read_chat(
        self,
        response: httpx.Response,
        deadline: float,
        on_token: Callable[[str], None] | None,
    ) -> _Reply:
        chunks = _read_bytes(response, deadline, self.timeout)
        first = b""
        for chunk in chunks:
            first = chunk
            if chunk.strip():
                break
        content_type = response.headers.get("Content-Type", "")
        head = first.lstrip()
        # Some servers ignore "stream" and answer one JSON body; some stream SSE under
        # a generic content type. Decide by what arrived, not only by the header.
        if "text/event-stream" in content_type or head.startswith((b"data:", b":")):
            return _read_sse(_prepend(first, chunks), on_token)
        raw = first + b"".join(chunks)
        reply = _parse_completion(raw)
        if on_token is not None and reply.parts[0]:
            on_token(reply.parts[0])
        return reply


def _model_id(entry: dict[str, Any]) -> str:
    name = entry.get("id") or entry.get("name") or entry.get("model")
    return name if isinstance(name, str) else ""


def _read_bytes(
    response: httpx.Response, deadline: float, timeout: float
) -> Iterator[bytes]:
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise _Retry(f"reply not finished within {timeout:g}s")
        yield chunk


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _read_sse(
    chunks: Iterator[bytes], on_token: Callable[[str], None] | None
) -> _Reply:
    reply = _Reply()
    pending: list[str] = []  # data lines of an event not yet complete
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while (newline := buffer.find(b"\n")) >= 0:
            raw_line, buffer = buffer[:newline].rstrip(b"\r"), buffer[newline + 1 :]
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Retry(f"invalid UTF-8 in stream: {_snippet(raw_line)}") from exc
            if not line:
                if pending:  # end of an event whose data never parsed
                    raise _Retry(
                        f"malformed JSON in stream: {_snippet(' '.join(pending))}"
                    )
                continue
            if line.startswith(":") or not line.startswith("data:"):
                continue  # keep-alive comment, or event:/id:/retry: fields
            pending.append(line[5:].removeprefix(" "))
            data = "\n".join(pending)
            if data.strip() == "[DONE]":
                return _finished(reply, done=True)
            try:
                event = json.loads(data)
            except ValueError:
                continue  # may go on in the next data line of the same event
            pending.clear()
            piece = _apply_event(reply, event)
            if piece:
                reply.parts.append(piece)
                if on_token is not None:
                    on_token(piece)
    if pending:
        raise _Retry(f"malformed JSON in stream: {_snippet(' '.join(pending))}")
    return _finished(reply, done=False)


def _finished(reply: _Reply, *, done: bool) -> _Reply:
    # Servers that never send [DONE] still send a finish_reason; without either the
    # stream was cut short and the text may be truncated.
    if not done and reply.finish_reason is None:
        raise _Retry("stream ended before [DONE]")
    return reply


def _apply_event(reply: _Reply, event: Any) -> str:
    """Fold one stream chunk into ``reply``; return its new text."""
    if not isinstance(event, dict):
        raise _Retry(f"unexpected stream chunk: {_snippet(event)}")
    if event.get("error") or event.get("object") == "error":
        raise _Retry(f"server error in stream: {_error_text(event)}")
    if isinstance(event.get("model"), str):
        reply.model = event["model"]
    if isinstance(event.get("usage"), dict):
        reply.usage = event["usage"]
    text = ""
    choices = event.get("choices") or []
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str):
            text += content
        if choice.get("finish_reason"):
            reply.finish_reason = str(choice["finish_reason"])
    return text


def _parse_completion(raw: bytes) -> _Reply:
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise _Retry(f"malformed JSON reply: {_snippet(raw)}") from exc
    if not isinstance(payload, dict):
        raise _Retry(f"unexpected reply: {_snippet(raw)}")
    if payload.get("error") or payload.get("object") == "error":
        raise _Retry(f"server error: {_error_text(payload)}")
    try:
        choice = payload["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise _Retry(f"reply has no choices[0].message: {_snippet(raw)}") from exc
    usage = payload.get("usage")
    return _Reply(
        model=payload.get("model") if isinstance(payload.get("model"), str) else None,
        usage=usage if isinstance(usage, dict) else {},
        finish_reason=choice.get("finish_reason"),
        parts=[str(content)],
    )


# Small helpers.


def _error_detail(raw: bytes) -> str:
    """The server's own error message, from the body shapes servers really send."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return _snippet(raw.decode("utf-8", errors="replace"))
    return _error_text(payload)


def _error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _snippet(error["message"])  # OpenAI, vLLM, llama.cpp, Ollama
        if isinstance(error, str) and error:
            return _snippet(error)  # TGI
        for key in ("message", "detail"):  # older vLLM, FastAPI validation errors
            if payload.get(key):
                return _snippet(payload[key])
    return _snippet(payload)


def _snippet(value: Any, limit: int = 200) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _connect_cause(exc: httpx.ConnectError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if (
        "name or service" in lowered
        or "nodename" in lowered
        or "getaddrinfo" in lowered
    ):
        return "unknown host"
    return text or "connection failed"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
