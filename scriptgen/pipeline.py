"""The pipeline: Plan -> Generate -> Check -> Format -> Validate -> Write -> Lock -> Commit."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .backends import Backend, get_backend
from .check import Finding, check_project, quick_check
from .errors import UserError, ValidationFailed
from .fmt import format_files
from .lock import (
    ATTRIBUTES,
    ATTRIBUTES_FILE,
    LOCK_FILE,
    SPEC_FILE,
    TRANSCRIPT_FILE,
    VALIDATION_FILE,
    Lock,
    base_copy,
    sha256_text,
    template_hashes,
)
from .plan import Plan
from .progress import QUIET, Progress
from .render import render_scaffold, shared_templates
from .spec import dump_spec
from .validate import Sandbox, ValidationReport, require_ml_stack, run_contract_tests
from .vcs import CommitResult, commit_message, commit_paths, find_repo, in_precommit
from .write import keep_candidate, write_new

# Commits of projects regenerated in parallel (`regen --jobs`) go one at a time: each
# moves HEAD, and git refuses a move from a HEAD that changed meanwhile.
_COMMITTING = threading.Lock()


@dataclass
class Result:
    target: Path
    files: dict[str, str]
    validation: ValidationReport | None = None
    commit: CommitResult | None = None
    notices: list[str] = field(default_factory=list)


def prove(
    files: Mapping[str, str],
    plan: Plan,
    *,
    validate: bool,
    sandbox: Sandbox,
    progress: Progress,
) -> tuple[dict[str, str], list[Finding], ValidationReport | None]:
    """Check, format and validate a candidate; returns the formatted files and what failed.

    Paths and syntax are checked and the code formatted first, so that only safe, parseable
    files reach the sandbox. The structural check (libcst, CPU-bound) then runs on this core
    while the contract tests run in their subprocess on another; a finding stops the tests.
    """
    with progress.stage("checked paths and syntax, formatted"):
        findings = quick_check(files)
        if not findings:
            files, findings = format_files(files)
    if findings:
        return dict(files), findings, None
    if not validate:
        with progress.stage("checked contracts and imports"):
            return dict(files), check_project(files, plan.manifest), None
    with progress.stage("checked contracts and imports, validated on a tiny twin"):
        findings, report = check_while_validating(files, plan, sandbox)
    return dict(files), findings, report


def check_while_validating(
    files: Mapping[str, str], plan: Plan, sandbox: Sandbox
) -> tuple[list[Finding], ValidationReport | None]:
    """The structural check here, the contract tests in their subprocess, at the same time."""
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(
            run_contract_tests,
            files,
            timeout=sandbox.timeout,
            memory_limit=sandbox.memory_limit,
            python=sandbox.python,
            cancel=cancel,
        )
        findings = check_project(files, plan.manifest)
        if findings:
            cancel.set()  # the candidate has failed already; stop paying for its tests
        report = running.result()
    return findings, (None if findings else report)


def generate(
    plan: Plan,
    *,
    backend: Backend | None = None,
    validate: bool = True,
    commit: bool = True,
    sandbox: Sandbox = Sandbox(),
    max_repairs: int = 3,
    progress: Progress = QUIET,
) -> Result:
    """Generate, prove and write a new project at ``plan.target``; commit it if asked."""
    backend = backend or get_backend(None)
    if plan.target.exists():
        raise UserError(
            f"{plan.target} already exists; regenerate it with `scriptgen regen {plan.target}` "
            "or choose another --name"
        )
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
        commit_project(plan, backend, report, result, verb="new", paths=[plan.target])
    for notice in result.notices:
        progress.note(notice)
    return result


def produce(
    plan: Plan,
    backend: Backend,
    *,
    validate: bool = True,
    sandbox: Sandbox = Sandbox(),
    max_repairs: int = 3,
    progress: Progress = QUIET,
) -> tuple[dict[str, str], ValidationReport | None]:
    """The project's files, generated, checked, formatted and validated (repaired by an LLM
    backend when they fail). Raises ValidationFailed, keeping the candidate, when they
    still fail; writes nothing to the target."""
    if plan.spec.requirements and not backend.accepts_requirements:
        raise UserError(
            f"the spec has free-text requirements, which the {backend.name} backend cannot "
            "honour; use an LLM backend (--llm) or remove them"
        )
    if validate:
        require_ml_stack(sandbox.python)

    with progress.stage(
        f"planned {plan.manifest.name} for {plan.model.name_or_path} ({plan.model.model_type})"
    ):
        scaffold = render_scaffold(plan)
    with progress.stage(
        f"generated {len(plan.manifest.code_files)} code files ({backend.name})"
    ) as update:
        _count_tokens(backend, update)
        code = backend.generate(plan)
    repair = getattr(backend, "repair", None)  # LLM backends only
    for round_ in range(max_repairs + 1):
        files, findings, report = prove(
            {**scaffold, **code},
            plan,
            validate=validate,
            sandbox=sandbox,
            progress=progress,
        )
        code = {path: files[path] for path in code}  # as formatted
        if not findings and (report is None or report.passed):
            break
        stage = "the static check" if findings else "validation"
        why = failure_text(findings, report, getattr(backend, "problems", []))
        if repair is None or round_ == max_repairs:
            rounds = (
                f" after {max_repairs} repair round(s)" if repair is not None else ""
            )
            _fail(plan, files, f"{why}\n{stage} failed{rounds}", report, backend)
        progress.note(
            f"[yellow]✗[/] {stage} failed; repair round {round_ + 1} of {max_repairs}"
        )
        named = {p: t for p, t in code.items() if p in why}
        with progress.stage(f"asked {backend.name} for a repair") as update:
            _count_tokens(backend, update)
            code = {
                **code,
                **repair(plan, stage=stage, diagnostics=why, failing=named or code),
            }
    if report is not None:
        for step in report.steps:
            progress.note(
                f"    [dim]{step.outcome:7} {step.name} ({step.seconds:.1f}s)[/]"
            )
    return files, report


def _count_tokens(backend: Backend, update: Callable[[str], None]) -> None:
    """Streamed token counts drive the progress line (LLM backends only)."""
    if not hasattr(backend, "on_token"):
        return
    count = 0

    def on_token(n: int) -> None:
        nonlocal count
        count += n
        update(f"{count} tokens")

    backend.on_token = on_token


def failure_text(
    findings: list[Finding], report: ValidationReport | None, problems: list[str]
) -> str:
    """What failed, for the user and for a repair prompt: causes first, with file:line."""
    if findings:
        text = "static check failed:\n" + "\n".join(f"  {f}" for f in findings)
    else:
        text = report.describe() if report else "failed"
    if problems:  # why the reply's files were missing or refused
        text += "\nreply problems:\n" + "\n".join(f"  {p}" for p in problems)
    return text


def _fail(
    plan: Plan,
    files: Mapping[str, str],
    why: str,
    report: ValidationReport | None,
    backend: Backend | None = None,
) -> NoReturn:
    kept = dict(files)
    if backend is not None and hasattr(backend, "transcript_jsonl"):
        kept[TRANSCRIPT_FILE] = backend.transcript_jsonl()
    if report is not None:
        kept[VALIDATION_FILE] = json.dumps(report.to_dict(), indent=2) + "\n"
    folder = keep_candidate(plan.spec.name, kept)
    raise ValidationFailed(
        f"{why}\nnothing was written to {plan.target}; the candidate is kept in {folder}"
    )


def meta_files(
    plan: Plan,
    backend: Backend,
    files: Mapping[str, str],
    report: ValidationReport | None,
) -> dict[str, str]:
    """``.scriptgen/``: the resolved spec, the lock, a base copy of every file, the
    transcript and the validation report."""
    validation: dict[str, Any] = (
        {"passed": report.passed, "tests": len(report.steps)}
        if report
        else {"skipped": True}
    )
    lock = Lock(
        task=plan.manifest.name,
        name=plan.spec.name,
        spec_hash=plan.spec_hash,
        model=plan.model_label,
        model_type=plan.model.model_type,
        backend=backend.name,
        llm_model=backend.model,
        decoding=dict(backend.decoding),
        templates=template_hashes(
            plan.manifest.name,
            backend.name,
            [*shared_templates(plan.manifest), *plan.registry_keys],
        ),
        files={path: sha256_text(text) for path, text in sorted(files.items())},
        validation=validation,
        spec=plan.canonical_spec,
    )
    meta = {
        SPEC_FILE: dump_spec(plan.canonical_spec),
        LOCK_FILE: lock.to_json(),
        ATTRIBUTES_FILE: ATTRIBUTES,
        **{base_copy(path): text for path, text in files.items()},
    }
    if hasattr(backend, "transcript_jsonl"):
        meta[TRANSCRIPT_FILE] = backend.transcript_jsonl()
    if report is not None:
        meta[VALIDATION_FILE] = json.dumps(report.to_dict(), indent=2) + "\n"
    return meta


def commit_project(
    plan: Plan,
    backend: Backend,
    report: ValidationReport | None,
    result: Result,
    *,
    verb: str,
    paths: list[Path],
) -> None:
    """Commit ``paths`` (what scriptgen wrote) with the provenance trailers; never inside
    a commit hook, and only with a note outside a git repository."""
    repo = find_repo(plan.target)
    if repo is None:
        result.notices.append(
            f"{plan.target.parent} is not in a git repository: not committing"
        )
        return
    if in_precommit():
        result.notices.append("inside a pre-commit run: written, not committed")
        return
    trailers = {
        "Scriptgen-Task": plan.manifest.name,
        "Scriptgen-Model": plan.model_label,
        "Scriptgen-Backend": backend.name
        + (f" ({backend.model})" if backend.model else ""),
        "Scriptgen-Spec-Hash": plan.spec_hash,
        "Scriptgen-Validation": (
            report.summary() if report else "skipped (--no-validate)"
        ),
    }
    alias = plan.model.alias or Path(plan.model.name_or_path).name
    message = commit_message(verb, plan.spec.name, plan.manifest.name, alias, trailers)
    with _COMMITTING:
        result.commit = commit_paths(repo, paths, message)
    if result.commit is None:
        result.notices.append("nothing changed: no commit")
    else:
        result.notices.append(
            f"committed {result.commit.sha[:10]}: {message.splitlines()[0]}"
        )
