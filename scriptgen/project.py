"""A project on disk: its files, the plan behind it, and validating it as it stands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .check import Finding, quick_check
from .errors import UserError
from .lock import LOCK_FILE, SPEC_FILE, Lock
from .plan import Plan
from .progress import QUIET, Progress
from .render import JUDGE_PREFIX, render_scaffold
from .repair import check_while_validating
from .deps import require_ml_stack
from .report import ValidationReport
from .validate import Sandbox

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
    from .plan import make_plan
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
            f"{project} has no {SPEC_FILE}; pass --task to validate a hand-written project"
        )
    from .tasks import get_manifest

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
    require_ml_stack(sandbox.python, plan.spec.training.method)
    if (project / LOCK_FILE).is_file():  # a hand-written project is its user's own code
        sandbox.admit(Lock.read(project).backend)
    files = read_project(project, always=(f.path for f in plan.manifest.files))
    return validate_as_is(files, plan, render_scaffold(plan), sandbox, progress)


def validate_as_is(
    files: Mapping[str, str],
    plan: Plan,
    scaffold: Mapping[str, str],
    sandbox: Sandbox,
    progress: Progress = QUIET,
) -> tuple[list[Finding], ValidationReport | None]:
    """Check and validate ``files`` as they are (not reformatted), judged by ``scaffold``.

    The judge always comes from scriptgen's templates; other scaffold the files lack
    (README, .gitignore, ...) too, since only the code is under test.
    """
    files = {
        **files,
        **{
            p: t
            for p, t in scaffold.items()
            if p.startswith(JUDGE_PREFIX) or p not in files
        },
    }
    with progress.stage("checked paths and syntax"):
        findings = quick_check(files)
    if findings:
        return findings, None
    with progress.stage("checked contracts and imports, validated on a tiny twin"):
        return check_while_validating(files, plan, sandbox)
