"""LLM backends: one request for all code files, one more per repair round, every exchange
recorded for the project's transcript."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import ScriptgenError, UserError
from ..lock import LLM_DECODING
from ..parse import parse_reply
from ..plan import Plan
from ..prompts import generation_messages, repair_message
from . import OnToken

Messages = list[dict[str, str]]
# Every request's reply is capped at this many tokens (unless the decoding says otherwise),
# and must fit in the model's context beside its prompt.
REPLY_TOKENS = 4096
# Every request ends within this many seconds, finished or not...
REQUEST_SECONDS = 600.0
# ... and all the requests of one run (generation and repairs) within this many, unless
# `[llm] budget` says otherwise: a run with a slow local model ends in minutes.
RUN_SECONDS = 900.0


class Measure(Protocol):
    """Tokens a request's messages take, and the model's context window (None: unknown);
    ``exact`` says whether the count is the model's own tokenizer's or an estimate."""

    def __call__(self, messages: Messages) -> tuple[int, int | None, bool]: ...


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float | None = None  # set for a recorded reply: the time it took then


class Chat(Protocol):
    """A chat function: messages and decoding parameters in, one reply out, within
    ``seconds`` (a reply cut short, or an error)."""

    def __call__(
        self,
        messages: Messages,
        decoding: Mapping[str, Any],
        *,
        on_token: OnToken | None = None,
        seconds: float = REQUEST_SECONDS,
    ) -> Reply: ...


@dataclass
class LLMBackend:
    """Adapts a chat function to the Backend protocol; keeps the conversation for repairs."""

    name: str
    chat: Chat
    model: str = ""
    decoding: Mapping[str, Any] = field(default_factory=lambda: dict(LLM_DECODING))
    accepts_requirements: bool = True
    can_repair: bool = True
    transcript: list[dict[str, Any]] = field(default_factory=list)
    on_token: OnToken | None = None  # set by whoever shows progress
    problems: list[str] = field(default_factory=list)  # of the last reply's parse
    budget: float = RUN_SECONDS  # seconds for all of this run's requests
    _spent: float = 0.0
    _conversation: Messages = field(default_factory=list)

    def generate(self, plan: Plan) -> dict[str, str]:
        full = generation_messages(plan)
        if self._fits(full):
            self._conversation = full
        else:  # no exemplar, no tests: the contracts only
            compact = generation_messages(plan, compact=True)
            self._require_fit(compact, full)
            self._conversation = compact
        return self._ask(plan, "generate")

    def repair(
        self, plan: Plan, *, stage: str, diagnostics: str, failing: Mapping[str, str]
    ) -> dict[str, str]:
        message = repair_message(
            plan, stage=stage, diagnostics=diagnostics, failing=failing
        )
        conversation = [*self._conversation, message]
        if not self._fits(conversation):
            # The failing files are in the message: start again from the compact request.
            shorter = [*generation_messages(plan, compact=True), message]
            self._require_fit(shorter, conversation, error=ScriptgenError)
            conversation = shorter
        self._conversation = conversation
        return self._ask(plan, "repair")

    @property
    def reply_tokens(self) -> int:
        cap = self.decoding.get("max_new_tokens") or self.decoding.get("max_tokens")
        return int(cap or REPLY_TOKENS)

    def _fits(self, messages: Messages) -> bool:
        measure: Measure | None = getattr(self.chat, "measure", None)
        if measure is None:
            return True  # recorded replies: nothing is sent
        prompt, context, _ = measure(messages)
        return context is None or prompt + self.reply_tokens <= context

    def _require_fit(
        self,
        messages: Messages,
        larger: Messages,
        error: type[ScriptgenError] = UserError,
    ) -> None:
        """Raise ``error`` naming the numbers when ``messages`` (the smaller variant of
        ``larger``) does not fit either."""
        measure: Measure | None = getattr(self.chat, "measure", None)
        if measure is None or self._fits(messages):
            return
        prompt, context, exact = measure(messages)
        full, _, _ = measure(larger)
        counted = "tokens" if exact else "tokens (estimated)"
        raise error(
            f"{self.name}: the request does not fit the model's context of {context} "
            f"tokens: {prompt} {counted} of prompt (without the exemplar and tests; "
            f"{full} with them) + {self.reply_tokens} for the reply; use a model with a "
            "longer context"
        )

    def _ask(self, plan: Plan, kind: str) -> dict[str, str]:
        left = self.budget - self._spent
        if left <= 0:
            raise ScriptgenError(
                f"{self.name}: this run's LLM time ({self.budget:g}s, [llm] budget) is "
                f"spent after {len(self.transcript)} request(s); nothing was written"
            )
        start = time.perf_counter()
        try:
            reply = self.chat(
                self._conversation,
                self.decoding,
                on_token=self.on_token,
                seconds=min(REQUEST_SECONDS, left),
            )
        finally:
            self._spent += time.perf_counter() - start
        self.model = reply.model or self.model
        self.transcript.append(
            {
                "kind": kind,
                "backend": self.name,
                "model": self.model,
                "parameters": dict(self.decoding),
                "messages": self._conversation,
                "reply": reply.text,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "seconds": (
                    reply.seconds
                    if reply.seconds is not None
                    else round(time.perf_counter() - start, 3)
                ),
            }
        )
        self._conversation = [
            *self._conversation,
            {"role": "assistant", "content": reply.text},
        ]
        parsed = parse_reply(reply.text, {f.path for f in plan.manifest.code_files})
        self.problems = parsed.problems
        return parsed.files

    def transcript_jsonl(self) -> str:
        return "".join(
            json.dumps(entry, sort_keys=True) + "\n" for entry in self.transcript
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

    return chat


def openai_chat(base_url: str, model: str | None, context: int | None = None) -> Chat:
    """A chat function over an OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama).

    Its context window: ``context`` (``[llm] context``), else what ``/models`` says."""
    from .openai_client import BackendError, OpenAIClient, Unreachable

    # A whole reply (four files) from a slow local model can take minutes: the per-attempt
    # deadline is generous; connection failures still fail within seconds.
    client = OpenAIClient(base_url, model=model, timeout=REQUEST_SECONDS)

    def measure(messages: Messages) -> tuple[int, int | None, bool]:
        """No tokenizer here: about 3 characters a token, on the safe side for code."""
        window = context
        if window is None:
            try:
                window = client.context_window()
            except Unreachable:
                raise
            except BackendError:
                window = None  # a server without /models: sent as it is
        text = sum(len(m["content"]) + 8 for m in messages)
        return text // 3, window, False

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
        )
        return Reply(
            result.text, result.model, result.prompt_tokens, result.completion_tokens
        )

    chat.measure = measure  # type: ignore[attr-defined]
    return chat
