"""The offline, deterministic backend: renders the task's reference implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..plan import Plan
from ..render import render_files


class ReferenceBackend:
    name = "reference"
    model = ""
    decoding: Mapping[str, Any] = {}
    accepts_requirements = False

    def generate(self, plan: Plan) -> dict[str, str]:
        return render_files(plan, plan.manifest.code_files)
