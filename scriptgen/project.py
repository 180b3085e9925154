"""A project on disk: its files, the plan behind it, and validating it as it stands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .checks import Finding, quick_check
from .errors import UserError
from .lock import JUDGE_DIR, LOCK_FILE, SPEC_FILE, Lock
from .planning import Plan
from .progress import QUIET, Progress
from .render import render_judge, render_scaffold
from .repair import check_while_validating
from .deps import require_for
from .report import ValidationReport
from .validation import Sandbox, write_tree

# Files of an existing project that travel into the validation sandbox.
_TEXT_SUFFIXES = {
    ".py",
    ".yaml",
    ".yml",
    ".json",
    ".jsonl",
    ".csv",
    ".txt",
    ".md",
    ".cfg",
    ".toml",
    ".ini",
}
_SKIP_DIRS = {
    ".scriptgen",
    ".git",
    "__pycache__",
    "outputs",
    ".pytest_cache",
    ".venv",
    "venv",
}
_MAX_FILE_BYTES = 5 * 2**20


def read_project(project: Path, always: Iterable[str] = ()) -> dict[str, str]:
    """The project's text files (and every path in ``always`` that exists), as {path: text}."""
    files: dict[str, str] = {}
    wanted = set(always)
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if not path.is_file() or set(rel.parts[:-1]) & _SKIP_DIRS:
            continue
        if path.suffix not in _TEXT_SUFFIXES and rel.as_posix() not in wanted:
            continue
        if path.stat().st_size > _MAX_FILE_BYTES:
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


def plan_for_existing(project: Path, task: str | None) -> Plan:
    """The plan behind an existing project: its ``.scriptgen/spec.yaml``, or, for a
    hand-written project, the task's defaults with the model its config.yaml names."""
    from .planning import make_plan
    from .spec import absolutize_paths, read_spec_file

    if not project.is_dir():
        raise UserError(f"no such project folder: {project}")
    spec_path = project / SPEC_FILE
    if spec_path.is_file():
        raw = read_spec_file(spec_path)
        if task is not None and raw.get("task") != task:
            raise UserError(f"{project} is a {raw.get('task')} project, not {task}")
        absolutize_paths(raw, spec_path.parent)
        return make_plan(raw, spec_path.parent, project.parent, target=project)
    if task is None:
        raise UserError(
            f"{project} has no {SPEC_FILE}; pass --task for a hand-written project"
        )
    from .manifests import get_manifest

    default_model = get_manifest(task).default_model
    model = default_model
    config = project / "config.yaml"
    if config.is_file():
        import yaml

        try:
            found = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            found = None
        if isinstance(found, dict) and isinstance(found.get("model_name_or_path"), str):
            model = found["model_name_or_path"]
    safe_name = (
        "".join(c if c.isalnum() or c in "._-" else "-" for c in project.name).lstrip(
            "._-"
        )
        or "project"
    )

    def plan(model_value: str) -> Plan:
        raw = {"task": task, "model": model_value, "name": safe_name}
        return make_plan(raw, project, project.parent, target=project)

    try:
        return plan(model)
    except UserError:
        # A config.yaml model that does not resolve offline (an unlisted hub id, a moved
        # folder) must not stop the judging: the twin's family is the task's default's.
        return plan(default_model)


def write_judge(project: Path, task: str | None = None) -> Path:
    """Render the project's judge into ``.scriptgen/judge/`` (replacing what is there),
    for a run by hand; git ignores the folder. Returns it."""
    import shutil

    plan = plan_for_existing(project, task)
    folder = project / JUDGE_DIR
    shutil.rmtree(folder, ignore_errors=True)
    write_tree(project, render_judge(plan))
    # Rendered again for each validation: 1,800 lines that a repo of projects need not hold.
    (folder / ".gitignore").write_text("*\n", encoding="utf-8")
    return folder


def judge_note(project: Path) -> str:
    """What a validation of ``project`` should know of its judge: "" when the project was
    generated with the templates installed now."""
    from .stale import status

    if not (project / LOCK_FILE).is_file():
        return ""
    changed = [r for r in status(project).reasons if r.startswith("templates changed")]
    if not changed:
        return ""
    return (
        "the judge comes from the templates installed now, and the project from older "
        "ones; `scriptgen regen` brings the project up to them"
    )


def validate_existing(
    project: Path,
    *,
    task: str | None = None,
    sandbox: Sandbox | None = None,
    progress: Progress = QUIET,
) -> tuple[list[Finding], ValidationReport | None]:
    """Check and validate a project on disk with the task's own judge; writes nothing."""
    sandbox = sandbox or Sandbox()  # one per call: stop() ends only its own runs
    plan = plan_for_existing(project, task)
    require_for(plan, sandbox.python, skippable=False)
    if (project / LOCK_FILE).is_file():  # a hand-written project is its user's own code
        sandbox.admit(Lock.read(project).backend)
    files = read_project(project, always=(f.path for f in plan.manifest.files))
    if note := judge_note(project):
        progress.note(note)
    if not (project / SPEC_FILE).is_file():
        progress.note(
            f"judged with the {plan.manifest.name} spec's defaults (training.method "
            f"{plan.spec.training.method}); a {SPEC_FILE} in the project gives its own"
        )
    return validate_as_is(files, plan, render_scaffold(plan), sandbox, progress)


def validate_as_is(
    files: Mapping[str, str],
    plan: Plan,
    scaffold: Mapping[str, str],
    sandbox: Sandbox,
    progress: Progress = QUIET,
) -> tuple[list[Finding], ValidationReport | None]:
    """Check and validate ``files`` as they are (not reformatted), with the scaffold they
    lack (README, .gitignore, ...) from ``scaffold``, since only the code is under test.
    """
    files = {**scaffold, **files}
    with progress.stage("checked paths and syntax"):
        findings = quick_check(files)
    if findings:
        return findings, None
    with progress.stage("checked contracts and imports, validated on a tiny twin"):
        return check_while_validating(files, plan, sandbox)
