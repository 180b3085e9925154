"""The pipeline, orchestration only: Plan -> Generate, Check, Format, Validate, Repair
(``repair.produce``) -> Write -> Lock (``record``) -> Commit (``vcs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .backends import Backend, get_backend
from .planning import Plan
from .progress import QUIET, Progress
from .record import meta_files
from .repair import produce
from .report import ValidationReport
from .validation import Sandbox
from .vcs import CommitResult, commit_generation
from .write import refuse_existing, write_new


@dataclass
class Result:
    target: Path
    files: dict[str, str]
    validation: ValidationReport | None = None
    commit: CommitResult | None = None
    notices: list[str] = field(default_factory=list)


def generate(
    plan: Plan,
    *,
    backend: Backend | None = None,
    validate: bool = True,
    commit: bool = True,
    sandbox: Sandbox | None = None,
    max_repairs: int = 3,
    progress: Progress = QUIET,
) -> Result:
    """Generate, prove and write a new project at ``plan.target``; commit it if asked."""
    sandbox = sandbox or Sandbox()  # one per call: stop() ends only its own runs
    backend = backend or get_backend(None)
    refuse_existing(plan.target)
    files, report = produce(
        plan,
        backend,
        validate=validate,
        sandbox=sandbox,
        max_repairs=max_repairs,
        progress=progress,
    )
    written = {**files, **meta_files(plan, backend, files, report)}
    with progress.stage(f"wrote {plan.target}"):
        write_new(plan.target, written)
    result = Result(target=plan.target, files=written, validation=report)
    if commit:
        result.commit = commit_generation(
            plan,
            backend,
            report,
            verb="new",
            paths=[plan.target],
            notices=result.notices,
        )
    for notice in result.notices:
        progress.note(notice)
    return result
