"""The words of an OpenAI-compatible server's failures: one short line each, whatever the
server sent (an HTML page, a traceback, a JSON error object)."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import openai

from ..errors import ScriptgenError
from .deadline import DeadlinePassed


class BackendError(ScriptgenError):
    """An LLM backend failed; the one-line message says what and what to do."""

    exit_code = 1


class Unreachable(BackendError):
    """No connection to the server at all (as opposed to a refusal or a bad reply)."""


def detail(exc: openai.APIStatusError) -> str:
    """The server's own error message, from the body shapes servers really send (the
    package has already taken the body's ``error`` member, where there is one)."""
    return error_text(exc.body) if exc.body is not None else snippet(exc.message)


def error_text(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("message", "detail", "error"):  # OpenAI, vLLM, llama.cpp, Ollama
            if isinstance(payload.get(key), str) and payload[key]:
                return snippet(payload[key])
    return snippet(payload)


def snippet(value: Any, limit: int = 200) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    return " ".join(text.split())


def times(attempts: int) -> str:
    return f"{attempts} attempt{'s' if attempts != 1 else ''}"


def transport_cause(exc: BaseException | None, timeout: float) -> str:
    """What went wrong below HTTP, in a few words."""
    if isinstance(exc, DeadlinePassed):
        return str(exc)
    if isinstance(exc, httpx2.TimeoutException):
        return f"no data for {timeout:g}s"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"connection closed mid-reply: {snippet(str(exc))}"
    return cause(exc)


def cause(exc: BaseException | None) -> str:
    """What the connection failure was, in a few words."""
    text = str(exc) if exc is not None else ""
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if (
        "name or service" in lowered
        or "nodename" in lowered
        or "getaddrinfo" in lowered
    ):
        return "unknown host"
    return snippet(text) or "connection failed"


def retry_after(headers: Any) -> float | None:
    """The server's Retry-After in seconds: a number, or an HTTP date."""
    value = headers.get("Retry-After")
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


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# A failed request as one line, with what to do.


def status_error(
    method: str,
    url: str,
    exc: openai.APIStatusError,
    attempts: int,
    key_sent: bool,
    base_url: str,
) -> BackendError:
    """A refusal (an HTTP error status) as one line, with what to do."""
    code = exc.status_code
    text = detail(exc)
    why = f"HTTP {code}" + (f": {text}" if text else "")
    if code in (408, 409, 429) or code >= 500:
        wait = retry_after(exc.response.headers)
        if wait is not None and wait > 120:  # the package waits no longer than that
            return BackendError(
                f"openai backend: {url} is busy ({why}) and asks to wait "
                f"{wait:.0f}s; try again later"
            )
        return BackendError(
            f"openai backend: {method} {url} failed after {times(attempts)} "
            f"({why}); check the server's log"
        )
    if code in (401, 403):
        sent = "the key sent was refused; " if key_sent else ""
        return BackendError(
            f"openai backend: {method} {url} unauthorized ({why}); "
            f"{sent}set SCRIPTGEN_API_KEY or OPENAI_API_KEY"
        )
    if code == 404:
        hint = (
            "check the model name (--llm-model) and the base URL"
            if base_url.endswith("/v1")
            else "the base URL usually ends with /v1, e.g. http://127.0.0.1:8000/v1"
        )
        return BackendError(f"openai backend: {method} {url} not found ({why}); {hint}")
    return BackendError(f"openai backend: {method} {url} was rejected ({why})")


def failure(
    method: str,
    url: str,
    exc: openai.OpenAIError,
    attempts: int,
    connect_timeout: float,
    timeout: float,
) -> BackendError:
    """A request that got no answer at all, or an answer that is not JSON."""
    # The transport's own exception (httpx2's, or httpx's) says which phase failed.
    transport = type(exc.__cause__).__name__
    if transport in ("ConnectError", "ConnectTimeout"):
        why = (
            f"connect timed out after {connect_timeout:g}s"
            if transport == "ConnectTimeout"
            else cause(exc.__cause__)
        )
        return Unreachable(
            f"openai backend: cannot reach {url} after {times(attempts)} "
            f"({why}); check that the server is running and the URL is right"
        )
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        why = transport_cause(exc.__cause__, timeout)
    else:
        why = snippet(str(exc))
    return BackendError(
        f"openai backend: {method} {url} failed after {times(attempts)} "
        f"({why}); check the server's log"
    )
