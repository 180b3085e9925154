"""Where an LLM backend's replies come from: a recorded transcript (``replay:``, and
``regen`` re-asking only what its recording does not answer) or an OpenAI-compatible
server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ScriptgenError, UserError
from . import OnToken
from .llm import (
    REPLY_TOKENS,
    REQUEST_SECONDS,
    Chat,
    Messages,
    Reply,
    estimate_tokens,
)


def replay_chat(path: Path) -> Chat:
    """Serve recorded replies, matched by the request's messages: no network at all."""
    return recorded_chat(
        path,
        None,
        missing=ScriptgenError(
            f"replay: {path} has no recorded reply for this request "
            "(the spec, templates or an earlier reply differ from the recording)"
        ),
    )


def recorded_chat(
    path: Path, live: Chat | None, *, missing: ScriptgenError | None = None
) -> Chat:
    """Answer a request whose messages match a recorded one from the transcript at
    ``path``; send any other to ``live``, or raise ``missing`` when there is none."""
    try:
        entries = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except FileNotFoundError:
        entries = []
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read transcript {path}: {exc}") from None
    for number, entry in enumerate(entries, 1):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("messages"), list)
            and isinstance(entry.get("reply"), str)
        ):
            raise UserError(
                f"transcript {path}, entry {number}: not an object with a list of "
                '"messages" and a "reply" string (edited by hand?)'
            )
    recorded = {json.dumps(e["messages"], sort_keys=True): e for e in entries}
    # The files the recorded edit request showed in full (chosen by the model's tokenizer
    # then): a replay builds the same request.
    shown = next(
        (e["shown"] for e in entries if isinstance(e.get("shown"), list)), None
    )

    def chat(
        messages: Messages,
        decoding: Mapping[str, Any],
        *,
        on_token: OnToken | None = None,
        seconds: float = REQUEST_SECONDS,
    ) -> Reply:
        entry = recorded.get(json.dumps(messages, sort_keys=True))
        if entry is not None:
            return Reply(
                entry["reply"],
                entry.get("model", ""),
                entry.get("prompt_tokens"),
                entry.get("completion_tokens"),
                entry.get("seconds"),
            )
        if live is None:
            raise missing or ScriptgenError(
                f"{path} has no recorded reply for this request"
            )
        return live(messages, decoding, on_token=on_token, seconds=seconds)

    if shown is not None:
        chat.shown = [str(p) for p in shown]  # type: ignore[attr-defined]
    return chat


def openai_chat(base_url: str, model: str | None, context: int | None = None) -> Chat:
    """A chat function over an OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama).

    Its context window: ``context`` (``[llm] context``), else what ``/models`` says."""
    from .openai_client import BackendError, OpenAIClient, Unreachable

    # A whole reply (four files) from a slow local model can take minutes: the per-attempt
    # deadline is generous; connection failures still fail within seconds.
    client = OpenAIClient(base_url, model=model, timeout=REQUEST_SECONDS)

    window: list[int | None] = []  # found once

    def measure(messages: Messages) -> tuple[int, int | None, bool]:
        """The server's own token count where it has a tokenize endpoint (llama.cpp,
        vLLM); else about 3 characters a token, on the safe side for code."""
        if not window:
            found = context
            try:
                found = found or client.server_context() or client.context_window()
            except Unreachable:
                raise
            except BackendError:
                found = None  # a server without /models: sent as it is
            window.append(found)
        if not messages:
            return 0, window[0], False
        text = "".join(m["content"] for m in messages)
        counted = client.count_tokens(text)
        if counted is not None:
            return counted + 8 * len(messages), window[0], True
        return estimate_tokens(messages), window[0], False

    def chat(
        messages: Messages,
        decoding: Mapping[str, Any],
        *,
        on_token: OnToken | None = None,
        seconds: float = REQUEST_SECONDS,
    ) -> Reply:
        # Servers stream about one token per chunk (vLLM, llama.cpp, Ollama): count chunks.
        result = client.chat(
            messages,
            temperature=float(decoding.get("temperature", 0.0)),
            seed=decoding.get("seed"),
            max_tokens=int(decoding.get("max_tokens") or REPLY_TOKENS),
            on_token=(lambda _text: on_token(1)) if on_token else None,
            seconds=seconds,
            response_format=decoding.get("response_format"),
        )
        return Reply(
            result.text, result.model, result.prompt_tokens, result.completion_tokens
        )

    chat.measure = measure  # type: ignore[attr-defined]
    return chat
