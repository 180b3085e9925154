"""Generation backends: one Protocol, a plain dict registry, chosen by a URI.

``reference`` (default) renders the vetted reference code; LLM backends (``hf:``,
``openai:``, ``replay:``) register here as they land and also implement ``repair``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..config import LLMSettings
from ..errors import UserError
from ..planning import Plan

OnToken = Callable[[int], None]  # called with the number of tokens just generated


class Backend(Protocol):
    """Writes the code files of a plan; what the pipeline uses of a backend, all of it."""

    name: str  # the backend, for the lock and the commit trailers
    model: str  # the model behind it ("" for reference)
    decoding: Mapping[str, Any]  # decoding parameters, recorded in the lock
    accepts_requirements: bool  # honours the spec's free-text requirements
    can_repair: bool  # takes failures back (`repair`); False: a failure is final
    problems: list[str]  # why files of the last reply were missing or refused
    on_token: OnToken | None  # set by whoever shows progress; called as tokens stream

    def generate(self, plan: Plan) -> dict[str, str]:
        """Return {project-relative path: text} for the manifest's code files."""
        ...

    def repair(
        self,
        plan: Plan,
        *,
        stage: str,
        diagnostics: str,
        failing: Mapping[str, str],
        current: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Corrected files for what failed (only those it changed); ``can_repair`` only.
        ``failing``: the files the diagnostics name; ``current``: every file of the
        candidate as it is now (what edits apply to)."""
        ...

    def transcript_jsonl(self) -> str | None:
        """Every exchange so far, as JSON Lines; None for a backend with no conversation."""
        ...


def _reference(arg: str, **options: Any) -> Backend:
    from .reference import ReferenceBackend

    if arg:
        raise UserError(
            f"the reference backend takes no argument (got 'reference:{arg}')"
        )
    return ReferenceBackend()


def _replay(arg: str, *, settings: LLMSettings, **options: Any) -> Backend:
    from pathlib import Path

    from .chats import replay_chat
    from .llm import LLMBackend

    if not arg:
        raise UserError(
            "replay needs a transcript: --llm replay:path/to/transcript.jsonl"
        )
    if not Path(arg).is_file():
        raise UserError(f"replay: no such transcript: {arg}")
    return LLMBackend(
        name="replay", chat=replay_chat(Path(arg)), mode=settings.mode or "edits"
    )


def _openai(
    arg: str, *, llm_model: str | None = None, settings: LLMSettings, **options: Any
) -> Backend:
    from .chats import openai_chat
    from .llm import RUN_SECONDS, LLMBackend

    if not arg.startswith(("http://", "https://")):
        raise UserError(
            f"openai needs a base URL: --llm openai:http://HOST:PORT/v1 (got {arg!r})"
        )
    return LLMBackend(
        name="openai",
        chat=openai_chat(arg, llm_model, settings.context),
        model=llm_model or "",
        budget=settings.budget or RUN_SECONDS,
        mode=settings.mode or "edits",
    )


def _hf(arg: str, *, settings: LLMSettings, **options: Any) -> Backend:
    from .hf_chat import hf_chat
    from .llm import RUN_SECONDS, LLMBackend

    if not arg:
        raise UserError("hf needs a model: --llm hf:<hub id, folder or .gguf>")
    budget = settings.budget or RUN_SECONDS
    return LLMBackend(
        name="hf", chat=hf_chat(arg), model=arg, budget=budget,
        mode=settings.mode or "edits",
    )  # fmt: skip


BACKENDS: dict[str, Callable[..., Backend]] = {
    "reference": _reference,
    "hf": _hf,
    "openai": _openai,
    "replay": _replay,
}


def get_backend(
    uri: str | None, *, settings: LLMSettings | None = None, **options: Any
) -> Backend:
    """``reference``, or ``scheme:argument`` for a registered scheme. ``settings``:
    scriptgen.toml's [llm] as the caller resolved it (none read here)."""
    uri = uri or "reference"
    scheme, _, arg = uri.partition(":")
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise UserError(
            f"unknown backend {scheme!r} in --llm {uri!r}; available: {', '.join(sorted(BACKENDS))}"
        )
    return factory(arg, settings=settings or LLMSettings(), **options)
