"""This repo's own generated/ projects are exactly what scriptgen makes from their spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.backends import get_backend
from scriptgen.fmt import format_files
from scriptgen.lock import Lock, base_copy
from scriptgen.project import plan_for_existing
from scriptgen.render import render_scaffold
from scriptgen.stale import status

GENERATED = Path(__file__).resolve().parent.parent / "generated"
PROJECTS = sorted(p.parent.parent for p in GENERATED.glob("*/.scriptgen/lock.json"))


def test_there_is_a_generated_project() -> None:
    assert [p.name for p in PROJECTS] == ["textclf-bert-base", "tokclf-bert-base"]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_generated_project_is_fresh(project: Path) -> None:
    """Stronger than `regen --check` (CI runs that too): the files themselves must be what
    the current code makes, so a change to scriptgen's own formatting shows up here."""
    assert status(project).fresh, "stale: run `scriptgen regen generated/`"
    plan = plan_for_existing(project, None)
    lock = Lock.read(project)
    files, findings = format_files(
        {**render_scaffold(plan), **get_backend(lock.backend).generate(plan)}
    )
    assert findings == []
    for rel, text in files.items():
        assert (project / rel).read_text(
            encoding="utf-8"
        ) == text, f"{rel} differs from a fresh generation"
        assert (project / base_copy(rel)).read_text(encoding="utf-8") == text
