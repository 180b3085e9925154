"""The offline, deterministic backend: renders the task's reference implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..plan import Plan
from ..render import render


class ReferenceBackend:
    name = "reference"
    model = ""
    decoding: Mapping[str, Any] = {}
    accepts_requirements = False

    def generate(self, plan: Plan) -> dict[str, str]:
        context = plan.context()
        return {
            f.path: render(f"{plan.manifest.name}/{f.template}", context)
            for f in plan.manifest.code_files
        }
