"""The library API: what the command line does, as functions (copier's ``run_copy``).

    from scriptgen import api
    result = api.new("textclf", model="bert-base", sets=["training.epochs=1"])
    findings, report = api.validate("generated/textclf-bert-base")
    outcomes = api.regen(["generated"])
    messages = api.prompt(api.plan("textclf", model="bert-base"))
    costs = api.estimate(api.plan("textclf", model="bert-base"))
    measured = api.compare("generated/textclf-bert-base")

Policy (which setting wins over which, exit codes, the pre-commit exit rule) is the CLI's;
these functions take settled values and raise ``ScriptgenError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import Finding
    from .comparison import Comparison
    from .config import LLMSettings
    from .estimation import Estimate
    from .pipeline import Result
    from .planning import Plan
    from .progress import Progress
    from .regeneration import Options, Outcome
    from .stale import Status
    from .report import ValidationReport
    from .validation import Sandbox


def plan(
    task: str | None,
    *,
    model: str | None = None,
    name: str | None = None,
    spec_file: Path | str | None = None,
    sets: Sequence[str] = (),
    baseline: str | None = None,
    out: Path | str = "generated",
    requires: Sequence[str] = (),
) -> Plan:
    """The validated plan for a spec given as a file and/or ``KEY=VALUE`` assignments
    (``task`` None: the spec file's); ``requires``: free-text requirements added to the
    spec's."""
    from .planning import make_plan
    from .spec import build_spec

    raw, model_base = build_spec(
        task,
        spec_file=Path(spec_file) if spec_file is not None else None,
        model=model,
        name=name,
        sets=tuple(sets),
        baseline=baseline,
        requires=tuple(requires),
    )
    return make_plan(raw, model_base, Path(out))


def new(
    task: str | None,
    *,
    model: str | None = None,
    name: str | None = None,
    spec_file: Path | str | None = None,
    sets: Sequence[str] = (),
    baseline: str | None = None,
    out: Path | str = "generated",
    requires: Sequence[str] = (),
    llm: str | None = None,
    llm_model: str | None = None,
    settings: LLMSettings | None = None,
    validate: bool = True,
    commit: bool = True,
    sandbox: Sandbox | None = None,
    max_repairs: int = 3,
    progress: Progress | None = None,
) -> Result:
    """Generate a project, prove it on a tiny twin, write it and commit it. ``settings``:
    scriptgen.toml's [llm] (its context, time budget and mode), as the caller resolved it;
    ``requires``: what the LLM is to change in the reference (none: no LLM request)."""
    from .backends import get_backend
    from .pipeline import generate
    from .progress import QUIET
    from .validation import Sandbox

    the_plan = plan(
        task,
        model=model,
        name=name,
        spec_file=spec_file,
        sets=sets,
        baseline=baseline,
        out=out,
        requires=requires,
    )
    return generate(
        the_plan,
        backend=get_backend(llm, llm_model=llm_model, settings=settings),
        validate=validate,
        commit=commit,
        sandbox=sandbox or Sandbox(),
        max_repairs=max_repairs,
        progress=progress or QUIET,
    )


def validate(
    directory: Path | str,
    *,
    task: str | None = None,
    sandbox: Sandbox | None = None,
    progress: Progress | None = None,
) -> tuple[list[Finding], ValidationReport | None]:
    """Check and validate a project on disk with its task's judge; writes nothing."""
    from .progress import QUIET
    from .project import validate_existing
    from .validation import Sandbox

    return validate_existing(
        Path(directory),
        task=task,
        sandbox=sandbox or Sandbox(),
        progress=progress or QUIET,
    )


def changes(directory: Path | str) -> str:
    """The unified diff from scriptgen's reference for the project's spec to its files
    ("" when it is the reference)."""
    from .changes import reference_diff

    return reference_diff(Path(directory))


def judge(directory: Path | str, *, task: str | None = None) -> Path:
    """Write a project's judge to ``DIR/.scriptgen/judge/`` for a run by hand (``python -m
    pytest DIR/.scriptgen/judge``); git ignores it. Returns the folder."""
    from .project import write_judge

    return write_judge(Path(directory), task)


def check(
    directories: Sequence[Path | str] = (), options: Options | None = None
) -> list[Status]:
    """Which projects (default: under generated/) are stale, from their locks alone."""
    from .regeneration import Options, check_all
    from .stale import find_projects

    return check_all(
        find_projects([Path(d) for d in directories]), options or Options()
    )


def regen(
    directories: Sequence[Path | str] = (),
    options: Options | None = None,
    *,
    sandbox: Sandbox | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Regenerate the stale projects among ``directories`` (all with ``options.force``)."""
    from .progress import QUIET
    from .regeneration import Options, prepare, regen_all
    from .validation import Sandbox

    options = options or Options()
    sandbox = sandbox or Sandbox()
    # A project whose lock or spec is bad input is not fresh: it fails on its own turn.
    todo = [
        s.project for s in check(directories, options) if options.force or not s.fresh
    ]
    if not todo:
        return []
    # No ML stack stops the run before anything is written.
    prepare(todo, options, sandbox)
    return regen_all(
        todo,
        options,
        sandbox=sandbox,
        jobs=jobs,
        progress=progress or QUIET,
        report=report,
    )


def tasks() -> dict[str, Any]:
    """The catalog: tasks with their families, methods, data keys and files; the aliases."""
    from .catalog import catalog

    return catalog()


def prompt(the_plan: Plan, mode: str = "edits") -> list[dict[str, str]]:
    """The messages an LLM backend would send first for ``the_plan``; calls nothing.

    ``edits``: the settings request, then the edit request as a model with a 16k context
    would get it ([] without requirements: no request is made); ``definitions`` and
    ``lines``: the same, the edits asked for in JSON (whole definitions, or lines placed
    at a statement); ``files``: the one request
    for every code file, whole."""
    from .prompts import generation_messages

    if mode == "files":
        return generation_messages(the_plan)
    requirements = list(the_plan.spec.requirements)
    if not requirements:
        return []
    from .backends.llm import EDIT_PROMPT_TOKENS, estimate_tokens, reference_files
    from .change import edit_request, settings_request

    files = reference_files(the_plan)
    settings, _, _ = settings_request(the_plan, files, requirements)
    edits = edit_request(
        the_plan, files, requirements, settings={},
        measure=estimate_tokens,
        budget=EDIT_PROMPT_TOKENS,
        json_edits=mode if mode in ("definitions", "lines") else "",
    )  # fmt: skip
    return [*settings, *edits.messages]


def estimate(
    the_plan: Plan,
    *,
    examples: int | None = None,
    utilisation: float = 0.3,
    price_per_hour: float | None = None,
    price_per_mtok: float | None = None,
) -> Estimate:
    """What fine-tuning costs with each method, and the prompt baseline, before anything
    runs (``scriptgen plan``)."""
    from .estimation import estimate as costs

    return costs(
        the_plan,
        examples=examples,
        utilisation=utilisation,
        price_per_hour=price_per_hour,
        price_per_mtok=price_per_mtok,
    )


def compare(
    directory: Path | str,
    *,
    price_per_hour: float = 1.0,
    price_per_mtok: float | None = None,
) -> Comparison:
    """A project's fine-tune against its prompt baseline, as its last runs measured."""
    from .comparison import compare as measure

    return measure(
        Path(directory), price_per_hour=price_per_hour, price_per_mtok=price_per_mtok
    )
