"""LLM backends: one request for all code files, one more per repair round, every exchange
recorded for the project's transcript."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..change import (
    check_request,
    edit_repair_message,
    edit_request,
    read_settings_reply,
    said_yes,
    settings_request,
    show_message,
    wanted_files,
)
from ..changes import Record, apply_settings, reapply
from ..definitions import apply_any, edit_schema
from ..errors import ScriptgenError, UserError
from ..lock import LLM_DECODING
from ..parse import parse_reply
from ..planning import Plan
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
# Edits mode: the settings reply is a short JSON object; an edit reply a few blocks (or a
# new module). A prompt is built to fit beside them.
SETTINGS_TOKENS = 512
EDIT_TOKENS = 3072
DEFAULT_CONTEXT = 16384  # where the model's context is unknown: a small local model's
# The edit request's prompt: a quarter of the context, at least this many tokens. A CPU
# reads a prompt at tens of tokens a second: each file shown costs a minute there.
EDIT_PROMPT_TOKENS = 4096


def reference_files(plan: Plan) -> dict[str, str]:
    """The vetted reference's code files (formatted, as a candidate is) and config.yaml:
    what an LLM changes."""
    from ..fmt import format_files
    from ..render import render_scaffold
    from .reference import ReferenceBackend

    config = render_scaffold(plan).get("config.yaml")
    code, _ = format_files(ReferenceBackend().generate(plan))
    return {**code, "config.yaml": config} if config is not None else code


def estimate_tokens(messages: Messages) -> int:
    """About 3 characters a token, on the safe side for code: where no tokenizer counts."""
    return sum(len(m["content"]) + 8 for m in messages) // 3


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``response_format`` for a reply constrained to ``schema`` (OpenAI's shape, which
    llama.cpp's server and vLLM accept)."""
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def _new_module(path: str) -> bool:
    """A new module the model may add: a Python file at the project's top level."""
    return "/" not in path and path.endswith(".py") and path.isascii()


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
    """Adapts a chat function to the Backend protocol; keeps the conversation for repairs.

    ``edits`` mode (the default): the model changes the vetted reference to meet the
    spec's requirements, through settings first, then SEARCH/REPLACE edits (see
    ``scriptgen.change``); without requirements no request is made. ``definitions``
    and ``lines``: the edits in JSON (``scriptgen.definitions``). ``files``: it retypes
    every code file (kept to measure the difference)."""

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
    mode: str = "edits"
    # regen: what landed last time, re-applied to the new reference before asking.
    recorded: Record | None = None
    notes: list[str] = field(default_factory=list)  # what the run did, for the user
    _spent: float = 0.0
    _conversation: Messages = field(default_factory=list)
    _shown: list[str] = field(default_factory=list)  # the edit request's files in full

    @property
    def json_edits(self) -> str:
        """The JSON shape edits are asked in ("definitions", "lines"), or "" (blocks)."""
        return self.mode if self.mode in ("definitions", "lines") else ""

    @property
    def blocking(self) -> bool:
        """The last reply's edits did not all apply: repair before proving."""
        return self.mode != "files" and bool(self.problems)

    def generate(self, plan: Plan) -> dict[str, str]:
        requirements = list(plan.spec.requirements)
        if not requirements:
            self.notes.append(
                "no requirements: the reference is the answer, no LLM request made"
            )
            return reference_files(plan)
        if self.mode == "files":
            return self._generate_files(plan)
        reference = reference_files(plan)
        record = self.recorded
        if record is not None and record.requirements == requirements:
            files, failed = reapply(record, reference)
            if not failed:
                self.notes.append(
                    f"re-applied the recorded changes ({len(record.settings)} setting(s), "
                    f"{len(record.edits)} edit(s)): no LLM request made"
                )
                return files
            self.notes.append(
                f"{len(failed)} recorded edit(s) no longer apply: asking {self.name} again"
            )
            return self._change(plan, reference, requirements, hint=record.describe())
        return self._change(plan, reference, requirements)

    def _change(
        self,
        plan: Plan,
        reference: dict[str, str],
        requirements: list[str],
        hint: str = "",
    ) -> dict[str, str]:
        messages, schema, declared = settings_request(plan, reference, requirements)
        self._conversation = messages
        self._require_fit(messages, messages, reply_tokens=SETTINGS_TOKENS)
        reply = self._send(
            "settings",
            {"max_tokens": SETTINGS_TOKENS, "response_format": _json_schema(schema)},
        )
        met, refused = read_settings_reply(
            reply, declared, requirements, reference.get("config.yaml", "")
        )
        changes: dict[str, Any] = {}
        for requirement, found in met.items():
            question, answer = check_request(requirement, found, declared)
            self._conversation = question
            verdict = self._send(
                "check", {"max_tokens": 16, "response_format": _json_schema(answer)}
            )
            if said_yes(verdict):
                changes.update(found)
            else:
                self.notes.append(f"settings {', '.join(found)} do not meet "
                                  f"{requirement!r} on their own: left to the code")  # fmt: skip
        remaining = [
            r for r in requirements
            if r not in met or not set(met[r]) <= set(changes)
        ]  # fmt: skip
        files = apply_settings(reference, changes)
        self.problems = []
        if not remaining and not hint:
            return files
        request = edit_request(
            plan, files, remaining or requirements, settings=changes, refused=refused,
            measure=self._count, budget=self._prompt_budget(EDIT_TOKENS), hint=hint,
            shown=getattr(self.chat, "shown", None),  # a replayed request's files
            json_edits=self.json_edits,
        )  # fmt: skip
        self._shown = request.shown
        self._conversation = request.messages
        self._require_fit(request.messages, request.messages, reply_tokens=EDIT_TOKENS)
        return self._edit(plan, files, "edit")

    def repair(
        self,
        plan: Plan,
        *,
        stage: str,
        diagnostics: str,
        failing: Mapping[str, str],
        current: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        if self.mode != "files" and plan.spec.requirements:
            message = edit_repair_message(
                plan,
                stage=stage,
                diagnostics=diagnostics,
                failing=failing,
                json_edits=self.json_edits,
            )
            conversation = [*self._conversation, message]
            if not self._fits(conversation, EDIT_TOKENS):
                # The failing files are in the message: the rules, then it.
                conversation = [self._conversation[0], message]
                self._require_fit(
                    conversation, conversation, ScriptgenError, EDIT_TOKENS
                )
            self._conversation = conversation
            return self._edit(plan, dict(current or failing), "repair")
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

    def _edit(self, plan: Plan, files: dict[str, str], kind: str) -> dict[str, str]:
        """Ask for edits, show the files the model asks to see (twice at most), apply."""
        code = [f.path for f in plan.manifest.code_files]
        if self.json_edits:
            schema = edit_schema(self.json_edits, files, code)
            reply = self._send(
                kind,
                {"max_tokens": EDIT_TOKENS, "response_format": _json_schema(schema)},
            )
        for _ in range(0 if self.json_edits else 3):
            reply = self._send(kind, {"max_tokens": EDIT_TOKENS})
            wanted = wanted_files(reply, files)
            if not wanted or "<<<<<<<" in reply:
                break
            self._conversation = [*self._conversation, show_message(files, wanted)]
        said = [
            m["content"].strip() for m in self._conversation if m["role"] == "assistant"
        ]
        if kind == "repair" and len(said) > 1 and said[-1] == said[-2]:
            raise ScriptgenError(
                f"{self.name} answered the repair request with its last reply, word for "
                "word: no round will do better; stopping"
            )
        applied = apply_any(reply, files, code, _new_module, bool(self.json_edits))
        self.problems = applied.problems
        return {**files, **applied.files}

    def _generate_files(self, plan: Plan) -> dict[str, str]:
        full = generation_messages(plan)
        if self._fits(full):
            self._conversation = full
        else:  # no exemplar, no tests: the contracts only
            compact = generation_messages(plan, compact=True)
            self._require_fit(compact, full)
            self._conversation = compact
        return self._ask(plan, "generate")

    def _count(self, messages: Messages) -> int:
        measure: Measure | None = getattr(self.chat, "measure", None)
        return 0 if measure is None else measure(messages)[0]

    def _prompt_budget(self, reply_tokens: int) -> int:
        """Tokens the edit request's prompt may take beside a reply of ``reply_tokens``."""
        measure: Measure | None = getattr(self.chat, "measure", None)
        context = (None if measure is None else measure([])[1]) or DEFAULT_CONTEXT
        return min(context - reply_tokens, max(EDIT_PROMPT_TOKENS, context // 4))

    @property
    def reply_tokens(self) -> int:
        cap = self.decoding.get("max_new_tokens") or self.decoding.get("max_tokens")
        return int(cap or REPLY_TOKENS)

    def _fits(self, messages: Messages, reply_tokens: int | None = None) -> bool:
        measure: Measure | None = getattr(self.chat, "measure", None)
        if measure is None:
            return True  # recorded replies: nothing is sent
        prompt, context, _ = measure(messages)
        reply = self.reply_tokens if reply_tokens is None else reply_tokens
        return context is None or prompt + reply <= context

    def _require_fit(
        self,
        messages: Messages,
        larger: Messages,
        error: type[ScriptgenError] = UserError,
        reply_tokens: int | None = None,
    ) -> None:
        """Raise ``error`` naming the numbers when ``messages`` (the smaller variant of
        ``larger``) does not fit either."""
        measure: Measure | None = getattr(self.chat, "measure", None)
        if measure is None or self._fits(messages, reply_tokens):
            return
        prompt, context, exact = measure(messages)
        counted = "tokens" if exact else "tokens (estimated)"
        counted += " of prompt"
        if larger is not messages:
            counted += (
                f" (without the exemplar and tests; {measure(larger)[0]} with them)"
            )
        raise error(
            f"{self.name}: the request does not fit the model's context of {context} "
            f"tokens: {prompt} {counted} + {reply_tokens or self.reply_tokens} "
            "for the reply; use a model with a longer context"
        )

    def _ask(self, plan: Plan, kind: str) -> dict[str, str]:
        """Whole files: send the conversation, parse the files of the reply."""
        reply = self._send(kind)
        parsed = parse_reply(reply, {f.path for f in plan.manifest.code_files})
        self.problems = parsed.problems
        return parsed.files

    def _send(self, kind: str, extra: Mapping[str, Any] | None = None) -> str:
        """Send the conversation (with ``extra`` decoding for this request), record the
        exchange, add the reply to the conversation and return its text."""
        left = self.budget - self._spent
        if left <= 0:
            raise ScriptgenError(
                f"{self.name}: this run's LLM time ({self.budget:g}s, [llm] budget) is "
                f"spent after {len(self.transcript)} request(s); nothing was written"
            )
        decoding = {**self.decoding, **(extra or {})}
        start = time.perf_counter()
        try:
            reply = self.chat(
                self._conversation,
                decoding,
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
                "parameters": decoding,
                "messages": self._conversation,
                "reply": reply.text,
                **({"shown": self._shown} if kind == "edit" else {}),
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
        return reply.text

    def transcript_jsonl(self) -> str | None:
        """Every exchange of this run; None when it made none (no requirements, or the
        recorded changes re-applied): a project's earlier transcript then stays."""
        if not self.transcript:
            return None
        return "".join(
            json.dumps(entry, sort_keys=True) + "\n" for entry in self.transcript
        )
