"""Regenerate existing projects when their spec, the templates or the backend changed.

Per project, holding it (``write.exclusive``): decide staleness from the lock; run the whole
pipeline (generate, check, format, validate, with an LLM's requests answered from the
project's transcript where they are unchanged); merge the new generation into the user's
edits; prove the merged result when it holds any; write every change at once; commit.
A failure anywhere leaves the project as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .config import NAME_AN_LLM, LLMSettings
from .errors import ScriptgenError, UserError, ValidationFailed, shown
from .lock import (
    BASE_DIR,
    OFFLINE_BACKENDS,
    SPEC_FILE,
    TRANSCRIPT_FILE,
    VALIDATION_FILE,
    Lock,
    base_copy,
    spec_hash,
)
from .stale import Status, Wanted, read_raw_spec, status, wanted_for

if TYPE_CHECKING:
    from .backends import Backend
    from .changes import Record
    from .merge import Merge
    from .planning import Plan
    from .progress import Progress
    from .validation import Sandbox
    from .vcs import CommitResult

State = Literal["fresh", "unchanged", "regenerated", "conflict", "failed"]


@dataclass
class Outcome:
    project: Path
    state: State
    reasons: list[str] = field(default_factory=list)  # why it was stale
    written: list[str] = field(default_factory=list)  # paths written or deleted
    merge: Merge | None = None  # how the user's edits met the new generation
    error: str = ""
    commit: CommitResult | None = None
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """How to regenerate; the same for every project of one run."""

    llm: str | None = None  # --llm: switch backend
    llm_model: str | None = None
    settings: LLMSettings = LLMSettings()  # scriptgen.toml's [llm]
    force: bool = False
    validate: bool = True
    commit: bool = True
    max_repairs: int = 3


def check_all(projects: list[Path], options: Options) -> list[Status]:
    """Staleness of each project, from its ``.scriptgen/`` alone; writes nothing. A project
    whose lock or spec cannot be read gets a status with its error; the others are still
    looked at."""
    out, seen = [], {}
    for project in projects:
        try:
            lock = Lock.read(project)
            wanted = wanted_for(lock, options.llm, options.llm_model, options.settings)
            out.append(status(project, wanted, seen))
        except UserError as exc:
            out.append(Status(project, None, error=str(exc)))
    return out


def prepare(projects: list[Path], options: Options, sandbox: Sandbox) -> None:
    """Raise, before any project is written, on what stops every project: no ML stack to
    validate with. Reads each spec's task, method and optional parts only (each project is
    planned on its turn, holding it); a project whose spec is bad input fails on its own
    turn."""
    from .deps import require_ml_stack
    from .lock import spec_parts
    from .manifests import get_manifest
    from .spec import METHODS, TrainingSpec

    if not options.validate:
        return
    default = TrainingSpec.model_fields["method"].default
    needs = []
    for project in projects:
        try:
            raw = read_raw_spec(project)
            task_needs = get_manifest(str(raw.get("task"))).requirements
        except UserError:
            continue
        training = raw.get("training")
        method = (
            training.get("method", default) if isinstance(training, dict) else default
        )
        if method in METHODS:
            needs.append((method, spec_parts(raw), task_needs))
    for method, parts, task_needs in dict.fromkeys(needs):
        require_ml_stack(sandbox.python, method, parts, task_needs)


def regen_all(
    projects: list[Path],
    options: Options,
    *,
    sandbox: Sandbox,
    jobs: int = 1,
    progress: Progress,
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Regenerate each stale project (every one with ``force``), ``jobs`` at a time."""
    from .progress import QUIET

    def one(project: Path) -> Outcome:
        try:
            outcome = regenerate(
                project,
                options,
                sandbox=sandbox,
                progress=progress if jobs == 1 else QUIET,
            )
        except ScriptgenError as exc:
            # Bad input met on the way (a user file that is not text), a backend out of
            # reach, the lock held too long, a git failure: this project failed, and the
            # others are still tried and reported.
            outcome = Outcome(project, "failed", error=str(exc))
        report(outcome)
        return outcome

    if jobs == 1:
        return [one(p) for p in projects]
    # Imported here: `regen --check` never needs a pool (nor the lock below).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            return list(pool.map(one, projects))
        except BaseException:
            # Ctrl-C: start no other project, and end the validations under way rather
            # than wait for them on the way out.
            pool.shutdown(wait=False, cancel_futures=True)
            sandbox.stop()
            raise


def regenerate(
    project: Path, options: Options, *, sandbox: Sandbox, progress: Progress
) -> Outcome:
    """Regenerate one project if it is stale (or forced); see the module's docstring."""
    from .write import exclusive

    with exclusive(project, on_wait=lambda: progress.note(
            f"waiting for another scriptgen run on {project}")):  # fmt: skip
        lock = Lock.read(project)
        wanted = wanted_for(lock, options.llm, options.llm_model, options.settings)
        now = status(project, wanted)
        if now.conflicts:
            return Outcome(
                project,
                "failed",
                now.reasons,
                error="unresolved conflict markers in "
                + ", ".join(now.conflicts)
                + ": resolve them, then regenerate",
            )
        if now.fresh and not options.force:
            return Outcome(project, "fresh")
        try:
            return _regenerate(project, lock, wanted, now, options, sandbox, progress)
        except ValidationFailed as exc:
            return Outcome(project, "failed", now.reasons, error=str(exc))


def _regenerate(
    project: Path,
    lock: Lock,
    wanted: Wanted,
    now: Status,
    options: Options,
    sandbox: Sandbox,
    progress: Progress,
) -> Outcome:
    from .merge import reconcile
    from .project import plan_for_existing
    from .record import meta_files
    from .repair import produce
    from .vcs import commit_generation, in_precommit
    from .write import write_update

    plan = plan_for_existing(project, None)
    # The transcript answers only what the same backend, model and decoding were asked.
    backend = _backend(
        project, lock, wanted, options.settings, use_transcript=not now.backend_changed
    )
    files, report = produce(
        plan,
        backend,
        validate=options.validate,
        sandbox=sandbox,
        max_repairs=options.max_repairs,
        progress=progress,
    )
    merge = reconcile(project, lock.files, files)
    if merge.edited and not merge.conflicts and options.validate:
        _prove_merged(project, plan, merge, files, sandbox, progress)

    written = meta_files(plan, backend, files, report)
    meta: dict[str, str | None] = {
        **written,
        SPEC_FILE: _spec_text(project, plan, written[SPEC_FILE]),
    }
    if report is None:
        meta[VALIDATION_FILE] = None  # it described an earlier version
    changes: dict[str, str | None] = {**merge.final, **meta}
    # Base copies of files scriptgen no longer makes (or under an older name) go.
    kept = {base_copy(rel) for rel in files}
    for path in sorted((project / BASE_DIR).rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and rel not in kept:
            changes[rel] = None
    changes = {rel: text for rel, text in changes.items()
               if _differs(project / rel, text)}  # fmt: skip
    outcome = Outcome(
        project,
        "conflict" if merge.conflicts else "regenerated",
        now.reasons or ["--force"],
        merge=merge,
    )
    if set(changes) <= {VALIDATION_FILE}:
        outcome.state = "unchanged"  # the same files again: nothing to write or commit
        return outcome
    write_update(project, changes)
    outcome.written = sorted(changes)
    if options.commit and not merge.conflicts:
        # The spec goes with it even when scriptgen kept the user's text: it is the input.
        paths = sorted({*changes, SPEC_FILE})
        outcome.commit = commit_generation(
            plan, backend, report, verb="regen",
            paths=[project / rel for rel in paths], notices=outcome.notices,
        )  # fmt: skip
    elif merge.conflicts and not in_precommit():
        outcome.notices.append("not committed: resolve the conflicts first")
    return outcome


def _backend(
    project: Path,
    lock: Lock,
    wanted: Wanted,
    settings: LLMSettings,
    *,
    use_transcript: bool,
) -> Backend:
    from .backends import get_backend
    from .backends.chats import recorded_chat
    from .backends.llm import LLMBackend

    if wanted.backend in OFFLINE_BACKENDS:
        return get_backend(wanted.backend)
    live = (
        get_backend(wanted.uri, llm_model=wanted.llm_model, settings=settings)
        if wanted.uri
        else None
    )
    if not use_transcript:
        if live is None:
            raise UserError(_needs_backend(project, lock))
        backend = live
    else:
        assert live is None or isinstance(live, LLMBackend)
        chat = recorded_chat(
            project / TRANSCRIPT_FILE,
            live.chat if live is not None else None,
            missing=UserError(_needs_backend(project, lock)),
        )
        backend = LLMBackend(
            name=wanted.backend,
            chat=chat,
            model=(live.model if live is not None else "") or lock.llm_model,
            mode=settings.mode or "edits",
        )
    if use_transcript and isinstance(backend, LLMBackend):
        # The same backend and model: what it changed last time is re-applied first.
        backend.recorded = _recorded_changes(project)
    return backend


def _recorded_changes(project: Path) -> Record | None:
    """What the LLM changed last time (``.scriptgen/changes.json``), to re-apply."""
    from .changes import CHANGES_FILE, Record

    path = project / CHANGES_FILE
    if not path.is_file():
        return None
    try:
        return Record.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{path}: cannot read the recorded changes: {shown(str(exc))}"
        ) from None


def _needs_backend(project: Path, lock: Lock) -> str:
    return (
        f"{project} was generated by the {lock.backend} backend and regenerating it asks "
        f"new questions: name an LLM backend ({NAME_AN_LLM})"
    )


def _prove_merged(
    project: Path,
    plan: Plan,
    merge: Merge,
    files: dict[str, str],
    sandbox: Sandbox,
    progress: Progress,
) -> None:
    """The merged project, as it will be on disk, must pass the new judge too."""
    from .project import read_project, validate_as_is
    from .repair import failure_text
    from .write import keep_candidate

    on_disk = read_project(project, always=(f.path for f in plan.manifest.files))
    merged = {**on_disk, **merge.final}
    after = {rel: text for rel, text in merged.items() if text is not None}
    scaffold = {f.path: files[f.path] for f in plan.manifest.scaffold_files}
    progress.note(
        f"    merged your edits in {', '.join(merge.merged + merge.kept) or '-'}"
    )
    findings, report = validate_as_is(after, plan, scaffold, sandbox, progress)
    if findings or (report is not None and not report.passed):
        why = failure_text(findings, report, [])
        folder = keep_candidate(plan.spec.name, after)
        edited = merge.merged + merge.kept + merge.deleted
        raise ValidationFailed(
            f"{why}\nthe new generation passes, but not with your edits in "
            f"{', '.join(edited)}; nothing was written to {project}; "
            f"the merged candidate is kept in {folder}"
        )


def _spec_text(project: Path, plan: Plan, canonical_text: str) -> str:
    """Keep the user's spec.yaml (and its comments) when it says exactly the canonical spec;
    otherwise write the canonical form, so that the next check finds it fresh."""
    try:
        mine = (project / SPEC_FILE).read_text(encoding="utf-8")
        if spec_hash(read_raw_spec(project)) == plan.spec_hash:
            return mine
    except (OSError, ScriptgenError):
        pass
    return canonical_text


def _differs(path: Path, text: str | None) -> bool:
    if text is None:
        return path.exists()
    try:
        return path.read_text(encoding="utf-8") != text
    except (OSError, UnicodeDecodeError):
        return True


def describe(outcome: Outcome, shown: str) -> str:
    """One line for the terminal."""
    why = "; ".join(outcome.reasons)
    if outcome.state == "fresh":
        return f"{shown}: fresh"
    if outcome.state == "failed":
        return (
            f"{shown}: failed ({why}): {outcome.error}"
            if why
            else f"{shown}: failed: {outcome.error}"
        )
    if outcome.state == "unchanged":
        return f"{shown}: regenerated ({why}): the same files, nothing written"
    line = f"{shown}: regenerated ({why}): {len(outcome.written)} file(s) written"
    merge = outcome.merge
    if merge is not None:
        if merge.merged:
            line += f"; your edits merged into {', '.join(merge.merged)}"
        if merge.kept:
            line += f"; your edits kept in {', '.join(merge.kept)}"
        if merge.deleted:
            line += f"; kept deleted: {', '.join(merge.deleted)}"
        for rel, what in merge.conflicts.items():
            line += f"\n  CONFLICT {shown}/{rel}: {what}"
    return line
