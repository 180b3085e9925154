"""The repair loop: generate the code, prove it (check, format, validate), and while it
fails hand an LLM backend what failed, at most ``max_repairs`` rounds.

A candidate that still fails is kept for inspection and nothing reaches the target.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

from rich.markup import escape

from .backends import Backend
from .checks import Finding, check_project, quick_check
from .config import NAME_AN_LLM
from .errors import ScriptgenError, UserError, ValidationFailed
from .fmt import format_files
from .lock import META_DIR, TRANSCRIPT_FILE, VALIDATION_FILE
from .planning import Plan
from .progress import QUIET, Progress
from .render import render_judge, render_scaffold
from .deps import require_for
from .report import ValidationReport
from .validation import Sandbox, run_contract_tests
from .write import keep_candidate


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
    """The structural check here, the contract tests in their subprocess, at the same time.

    The judge always comes from scriptgen's templates: nothing of the candidate's own
    reaches ``.scriptgen/``."""
    judged = {p: t for p, t in files.items() if not p.startswith(META_DIR + "/")}
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(
            run_contract_tests,
            {**judged, **render_judge(plan)},
            timeout=sandbox.timeout,
            memory_limit=sandbox.memory_limit,
            python=sandbox.python,
            cancel=(cancel, sandbox.stopped),
        )
        try:
            findings = check_project(files, plan.manifest)
            if findings:
                cancel.set()  # the candidate has failed already; stop paying for its tests
            report = running.result()
            if sandbox.stopped.is_set():
                raise KeyboardInterrupt  # another thread was interrupted: so is this one
        except BaseException:
            # Ctrl-C (or an error of ours): end the sandbox now, rather than have the pool
            # wait for the whole validation on the way out.
            cancel.set()
            raise
    return findings, (None if findings else report)


def produce(
    plan: Plan,
    backend: Backend,
    *,
    validate: bool = True,
    sandbox: Sandbox | None = None,
    max_repairs: int = 3,
    progress: Progress = QUIET,
) -> tuple[dict[str, str], ValidationReport | None]:
    """The project's files, generated, checked, formatted and validated (repaired by an LLM
    backend when they fail). Raises ValidationFailed, keeping the candidate, when they
    still fail; writes nothing to the target."""
    sandbox = sandbox or Sandbox()  # one per call: stop() ends only its own runs
    if plan.spec.requirements and not backend.accepts_requirements:
        raise UserError(
            f"the spec has free-text requirements, which the {backend.name} backend cannot "
            f"honour; name an LLM backend ({NAME_AN_LLM}) or remove them"
        )
    if validate:
        require_for(plan, sandbox.python)
        sandbox.admit(backend.name)
        sandbox.warm_up()

    with progress.stage(
        f"planned {plan.manifest.name} for {plan.model.name_or_path} ({plan.model.model_type})"
    ):
        scaffold = render_scaffold(plan)
    with progress.stage(
        f"generated {len(plan.manifest.code_files)} code files ({backend.name})"
    ) as update:
        _count_tokens(backend, update)
        code = backend.generate(plan)
    for note in getattr(backend, "notes", ()):
        progress.note(f"    [dim]{escape(note)}[/]")
    for round_ in range(max_repairs + 1):
        if getattr(backend, "blocking", False):
            # Edits that did not apply: the model fixes them before anything is proven.
            files, findings, report = {**scaffold, **code}, [], None
            stage = "applying the edits"
            why = "edits that did not apply:\n" + "\n".join(
                f"  {p}" for p in backend.problems
            )
        else:
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
            why = failure_text(findings, report, backend.problems)
        if not backend.can_repair or round_ == max_repairs:
            rounds = (
                f" after {max_repairs} repair round(s)" if backend.can_repair else ""
            )
            _fail(plan, files, f"{why}\n{stage} failed{rounds}", report, backend)
        progress.note(
            f"[yellow]✗[/] {stage} failed; repair round {round_ + 1} of {max_repairs}"
        )
        named = {p: t for p, t in code.items() if p in why}
        with progress.stage(f"asked {backend.name} for a repair") as update:
            _count_tokens(backend, update)
            try:
                repaired = backend.repair(
                    plan, stage=stage, diagnostics=why, failing=named or code,
                    current=code,
                )  # fmt: skip
            except UserError:
                raise
            except ScriptgenError as exc:  # the LLM's time spent, the server gone
                _fail(plan, files, f"{exc}\n{why}", report, backend)
        code = {**code, **repaired}
    if report is not None:
        for step in report.steps:
            progress.note(f"    [dim]{escape(step.line())}[/]")
    return files, report


def _count_tokens(backend: Backend, update: Callable[[str], None]) -> None:
    """Streamed token counts drive the progress line."""
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
    transcript = backend.transcript_jsonl() if backend is not None else None
    if transcript is not None:
        kept[TRANSCRIPT_FILE] = transcript
    if report is not None:
        kept[VALIDATION_FILE] = json.dumps(report.to_dict(), indent=2) + "\n"
    folder = keep_candidate(plan.spec.name, kept)
    raise ValidationFailed(
        f"{why}\nnothing was written to {plan.target}; the candidate is kept in {folder}"
    )
