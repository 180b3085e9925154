"""The command line: parse arguments, call one library function, map the result to an exit code.

Exit codes: 0 done; 1 failed (validation, a stale project); 2 bad input. Every expected
error is one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .cli_options import (
    generation_options,
    require_option,
    sandbox_options,
    spec_options,
)
from .cli_measure import compare, plan_command, prompt
from .errors import ScriptgenError

if TYPE_CHECKING:
    from .config import LLMSettings
    from .regeneration import Options
    from .validation import Sandbox

_state = {"debug": False, "interrupted": False}


def _sandbox(
    timeout: float, memory_limit: str, python: str | None, strict: bool
) -> Sandbox:
    from .config import validation_python, validation_strict
    from .validation import Sandbox

    return Sandbox(
        timeout,
        memory_limit,
        validation_python(Path.cwd(), python),
        validation_strict(Path.cwd(), strict),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scriptgen")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(debug: bool) -> None:
    """Turn a task spec into a runnable, tested fine-tuning project."""
    _state["debug"] = debug


@cli.command()
@spec_options
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("generated"),
    show_default=True,
    help="Folder the project is written under.",
)
@require_option
@generation_options(
    "Backend: reference (default, offline), hf:MODEL (transformers), openai:URL "
    "(an OpenAI-compatible server), replay:TRANSCRIPT.jsonl."
)
def new(
    task: str | None, model: str | None, name: str | None, spec_file: Path | None, sets: tuple[str, ...],
    baseline: str | None, out: Path, requires: tuple[str, ...], llm: str | None, llm_model: str | None, max_repairs: int | None, no_validate: bool,
    no_commit: bool, timeout: float, memory_limit: str, python: str | None, strict: bool,
) -> int:  # fmt: skip
    """Generate a project for TASK (or the --spec file's task), prove it on a tiny twin,
    write and commit it."""
    from . import api
    from .config import llm_settings
    from .progress import Progress

    sandbox = _sandbox(timeout, memory_limit, python, strict)
    settings = llm_settings(Path.cwd())
    if llm is None and settings.uri:  # flags win over scriptgen.toml
        llm, llm_model = settings.uri, llm_model or settings.model
    result = api.new(
        task, model=model, name=name, spec_file=spec_file, sets=sets, baseline=baseline,
        out=out, requires=requires, llm=llm, llm_model=llm_model, settings=settings, validate=not no_validate, commit=not no_commit, sandbox=sandbox,
        max_repairs=_max_repairs(max_repairs, settings), progress=Progress(),
    )  # fmt: skip
    click.echo(str(result.target))
    return 0


def _max_repairs(flag: int | None, settings: LLMSettings) -> int:
    if flag is not None:
        return flag
    return settings.max_repairs if settings.max_repairs is not None else 3


@cli.command()
@click.argument(
    "directories", nargs=-1, type=click.Path(path_type=Path, file_okay=False)
)
@click.option(
    "--check",
    is_flag=True,
    help="Only report stale projects (exit 1 if any); write nothing.",
)
@click.option("--force", is_flag=True, help="Regenerate fresh projects too.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Projects regenerated at the same time.",
)
@generation_options(
    "Regenerate with this backend instead of the one each project's lock names."
)
def regen(
    directories: tuple[Path, ...], check: bool, force: bool, jobs: int, llm: str | None,
    llm_model: str | None, max_repairs: int | None, no_validate: bool, no_commit: bool,
    timeout: float, memory_limit: str, python: str | None, strict: bool,
) -> int:  # fmt: skip
    """Regenerate stale projects (default: those under generated/); --check only reports.

    A project is stale when its .scriptgen/spec.yaml, the templates its task uses, or its
    backend, model or decoding changed since its lock was written. Files you edited are
    merged three-way with the new generation; a conflict leaves markers and exits 1.
    Inside a pre-commit run nothing is committed, and writing any file exits 1.
    """
    from . import api
    from .config import llm_settings
    from .regeneration import Options
    from .stale import DEFAULT_ROOT, find_projects

    if check and (
        force or no_validate or no_commit or llm_model or max_repairs is not None
    ):
        raise click.UsageError("--check only reports; it takes no regeneration options")
    projects = find_projects(list(directories))
    if not projects:
        click.echo(f"no scriptgen projects under {DEFAULT_ROOT}/")
        return 0
    options = Options(llm=llm, llm_model=llm_model, settings=llm_settings(Path.cwd()),
                      force=force, validate=not no_validate, commit=not no_commit)  # fmt: skip
    statuses = api.check(projects, options)
    if check:
        stale = [s for s in statuses if not s.fresh and not s.error]
        broken = [s for s in statuses if s.error]
        for st in statuses:
            why = [
                *st.reasons,
                *(f"unresolved conflict markers in {c}" for c in st.conflicts),
            ]
            if st.error:
                click.echo(f"{_shown(st.project)}: failed: {st.error}")
            elif why:
                click.echo(f"{_shown(st.project)}: stale: {'; '.join(why)}")
        if stale:
            click.echo(
                f"{len(stale)} of {len(projects)} project(s) stale: run `scriptgen regen`"
            )
        if broken:
            click.echo(f"{len(broken)} of {len(projects)} project(s) could not be read")
        if stale or broken:
            return 1
        click.echo(f"{len(projects)} project(s) fresh")
        return 0
    todo = [s.project for s in statuses if force or not s.fresh]
    if not todo:
        click.echo(f"{len(statuses)} project(s) fresh")
        return 0
    return _regen(
        todo, options, jobs, max_repairs, timeout, memory_limit, python, strict
    )


def _regen(todo: list[Path], options: Options, jobs: int, max_repairs: int | None,
           timeout: float, memory_limit: str, python: str | None,
           strict: bool) -> int:  # fmt: skip
    """The writing half of `regen`; only here is anything heavy imported."""
    import dataclasses

    from . import api
    from .progress import Progress
    from .regeneration import describe
    from .vcs import in_precommit

    options = dataclasses.replace(
        options, force=True, max_repairs=_max_repairs(max_repairs, options.settings)
    )
    outcomes = api.regen(todo, options, sandbox=_sandbox(timeout, memory_limit, python, strict),
                         jobs=jobs, progress=Progress(),
                         report=lambda o: click.echo(describe(o, _shown(o.project))))  # fmt: skip
    for outcome in outcomes:
        for notice in outcome.notices:
            click.echo(f"  {notice}", err=True)
    if any(o.state in ("failed", "conflict") for o in outcomes):
        return 1
    if in_precommit() and any(o.written for o in outcomes):
        click.echo("scriptgen regenerated files (not committed): review them, `git add` them "
                   "and commit again", err=True)  # fmt: skip
        return 1
    return 0


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--task",
    help="The task of a hand-written project (read from .scriptgen/ otherwise).",
)
@sandbox_options
def validate(
    directory: Path,
    task: str | None,
    timeout: float,
    memory_limit: str,
    python: str | None,
    strict: bool,
) -> int:
    """Check and validate an existing project, generated or hand-written."""
    from . import api
    from .progress import Progress

    findings, report = api.validate(
        directory,
        task=task,
        sandbox=_sandbox(timeout, memory_limit, python, strict),
        progress=Progress(),
    )
    if findings:
        for finding in findings:
            click.echo(f"{directory}/{finding}", err=True)
        click.echo(f"static check failed: {len(findings)} finding(s)", err=True)
        return 1
    assert report is not None
    for step in report.steps:
        click.echo(step.line())
    if not report.passed:
        click.echo(report.describe().replace("\n  ", f"\n  {directory}/"), err=True)
        return 1
    click.echo(f"validation {report.summary()}")
    return 0


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def changes(directory: Path) -> int:
    """Show how a project differs from scriptgen's reference for its spec (what an LLM
    changed, and your edits), as a unified diff."""
    from . import api

    diff = api.changes(directory)
    click.echo(diff.rstrip("\n") if diff else f"{directory}: the reference, unchanged")
    return 0


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--task",
    help="The task of a hand-written project (read from .scriptgen/ otherwise).",
)
def judge(directory: Path, task: str | None) -> int:
    """Write a project's judge to DIR/.scriptgen/judge/, to run by hand with pytest
    (unconfined: `scriptgen validate` runs it in a sandbox)."""
    from . import api

    folder = api.judge(directory, task=task)
    click.echo(f"wrote the judge to {folder}; run it with: python -m pytest {folder}")
    return 0


@cli.command()
@click.option("--llm", metavar="URI", help="Also check this backend (e.g. openai:URL).")
@click.option(
    "--llm-model", metavar="NAME", help="Model name for an OpenAI-compatible server."
)
def doctor(llm: str | None, llm_model: str | None) -> int:
    """Versions, GPUs, the sandbox, whether the backend answers, what to install."""
    from .doctor import report

    for label, value in report(llm, llm_model):
        click.echo(f"{label + ':':18} {value}")
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
def tasks(as_json: bool) -> int:
    """List tasks (model families, methods, data keys, files) and the known model aliases."""
    import json

    from . import api

    found = api.tasks()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return 0
    from .catalog import describe

    click.echo(describe(found))
    return 0


cli.add_command(prompt)
cli.add_command(plan_command)
cli.add_command(compare)


def _remember_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C as usual (KeyboardInterrupt), remembered: code it lands in may turn it into
    another exception on its way out (a library's half-built cache), which is still the
    user's interrupt, not a bug to report."""
    _state["interrupted"] = True
    signal.default_int_handler(signum, frame)


def main(argv: list[str] | None = None) -> int:
    """Entry point; every error is mapped to an exit code here and only here."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _remember_interrupt)
    try:
        rv = cli.main(args=argv, prog_name="scriptgen", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.UsageError as exc:
        # click leaves ctx unset for an option that lacks its value: the command is then
        # the first word of argv that names one.
        words = sys.argv[1:] if argv is None else argv
        command = (
            exc.ctx.command_path.partition(" ")[2]
            if exc.ctx
            else next((w for w in words if w in cli.commands), "")
        )
        hint = " ".join(["scriptgen", command, "--help"]).replace("  ", " ")
        click.echo(f"scriptgen: error: {exc.format_message()} (see `{hint}`)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"scriptgen: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except ScriptgenError as exc:
        if _state["debug"]:
            import traceback  # imported only here: 4 ms of `regen --check`

            traceback.print_exc()
        lines = str(exc).splitlines() or [type(exc).__name__]
        click.echo(f"scriptgen: error: {lines[0]}", err=True)
        for line in lines[1:]:
            click.echo(line, err=True)
        return exc.exit_code
    except Exception as exc:  # a bug of ours: still no traceback unless asked
        if _state["interrupted"]:
            click.echo("aborted", err=True)
            return 130
        if _state["debug"]:
            raise
        click.echo(
            f"scriptgen: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            err=True,
        )
        return 1
    return int(rv or 0)


if __name__ == "__main__":
    sys.exit(main())
