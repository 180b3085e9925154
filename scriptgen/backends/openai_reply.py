"""Reading an OpenAI-compatible chat reply: one JSON body or streamed chunks, and a
reply that broke off or came garbled told apart (another attempt may fix it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import openai_errors as wording


class Broken(Exception):
    """The reply broke off or was garbled after it started: another attempt may fix it."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = wording.one_line(cause)


@dataclass
class Reply:
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    parts: list[str] = field(default_factory=list)


def model_id(entry: dict[str, Any]) -> str:
    name = entry.get("id") or entry.get("name") or entry.get("model")
    return name if isinstance(name, str) else ""


def apply_chunk(reply: Reply, chunk: dict[str, Any]) -> str:
    """Fold one stream chunk into ``reply``; return its new text."""
    if isinstance(chunk.get("model"), str):
        reply.model = chunk["model"]
    if isinstance(chunk.get("usage"), dict):
        reply.usage = chunk["usage"]
    text = ""
    choices = chunk.get("choices") or []
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


def parse_completion(raw: bytes) -> Reply:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise Broken(f"malformed JSON reply: {wording.snippet(raw)}") from None
    if not isinstance(payload, dict):
        raise Broken(f"unexpected reply: {wording.snippet(raw)}")
    if payload.get("error") or payload.get("object") == "error":
        raise Broken(
            f"server error: {wording.error_text(payload.get('error') or payload)}"
        )
    try:
        choice = payload["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise Broken(
            f"reply has no choices[0].message: {wording.snippet(raw)}"
        ) from None
    usage = payload.get("usage")
    return Reply(
        model=payload.get("model") if isinstance(payload.get("model"), str) else None,
        usage=usage if isinstance(usage, dict) else {},
        finish_reason=choice.get("finish_reason"),
        parts=[str(content)],
    )
