"""What a project holds beyond scriptgen's vetted reference: the unified diff between the
reference rendered for the project's spec now and the files on disk (what an LLM changed
to meet the requirements, and the user's own edits), for review in one screen."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .lock import SPEC_FILE


def reference_diff(project: Path) -> str:
    """The diff from the reference to ``project``'s files ("" when they are the same):
    the manifest's files, and any other Python module the project holds."""
    from .backends.reference import ReferenceBackend
    from .change import unified_diff
    from .project import plan_for_existing, read_project
    from .render import render_scaffold

    if not (project / SPEC_FILE).is_file():
        raise UserError(f"{project} has no {SPEC_FILE}: it was not made by scriptgen")
    plan = plan_for_existing(project, None)
    reference = {**render_scaffold(plan), **ReferenceBackend().generate(plan)}
    on_disk = read_project(project, always=reference)
    extra = {p for p in on_disk if p.endswith(".py") and p not in reference}
    return unified_diff(reference, {p: on_disk[p] for p in reference.keys() | extra
                                    if p in on_disk})  # fmt: skip
