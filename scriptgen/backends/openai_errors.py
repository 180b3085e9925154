"""The words of an OpenAI-compatible server's failures: one short line each, whatever the
server sent (an HTML page, a traceback, a JSON error object)."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import openai

from .deadline import DeadlinePassed


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
