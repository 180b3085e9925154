"""Replies a code model writes in scriptgen's edits mode, for the tests that stand a
scripted server or a recorded transcript in for it: a settings reply (the JSON object the
schema asks for), SEARCH/REPLACE blocks, and a transcript recorded by the real backend
code (so its messages are exactly the ones a run sends)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scriptgen.backends.llm import LLMBackend, Reply
from scriptgen.planning import Plan, make_plan
from scriptgen.spec import build_spec


def change_plan(
    root: Path,
    requirements: Sequence[str],
    task: str = "textclf",
    model: str = "bert-base",
) -> Plan:
    raw, base = build_spec(task, model=model, cwd=root, requires=list(requirements))
    return make_plan(raw, base, root / "generated")


def settings_reply(requirement: str, **settings: Any) -> str:
    """What a server constrained to the settings schema answers: ``settings`` for the
    requirement (none: it is left to the code)."""
    pairs = [{"name": k, "value": v} for k, v in settings.items()]
    return json.dumps(
        {"requirements": [{"requirement": requirement, "settings": pairs}]}
    )


def edit(path: str, search: str, replace: str, *, prose: str = "") -> str:
    """One SEARCH/REPLACE block, as aider's format has it (after a sentence, if any)."""
    lead = prose + "\n\n" if prose else ""
    return f"{lead}{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def recorded_transcript(
    plan: Plan, replies: Sequence[str], model: str = "coder"
) -> str:
    """The transcript the backend records when a model answers ``replies`` in turn to the
    generation of ``plan`` (served again by ``replay:``)."""
    answers = iter(replies)

    def chat(
        messages: list[dict[str, str]],
        decoding: Mapping[str, Any],
        **_: Any,
    ) -> Reply:
        return Reply(next(answers), model)

    backend = LLMBackend(name="replay", chat=chat)
    backend.generate(plan)
    return backend.transcript_jsonl()
