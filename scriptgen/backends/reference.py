"""The offline, deterministic backend: renders the task's reference implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..planning import Plan
from ..render import render_files
from . import OnToken


class ReferenceBackend:
    name = "reference"
    model = ""
    decoding: Mapping[str, Any] = {}
    accepts_requirements = False
    can_repair = (
        False  # vetted code: a failure is the templates' bug, not to be retried
    )

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.on_token: OnToken | None = None

    def generate(self, plan: Plan) -> dict[str, str]:
        return render_files(plan, plan.manifest.code_files)

    def repair(
        self,
        plan: Plan,
        *,
        stage: str,
        diagnostics: str,
        failing: Mapping[str, str],
        current: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        raise NotImplementedError("the reference backend does not repair")

    def transcript_jsonl(self) -> str | None:
        return None
