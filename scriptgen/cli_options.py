"""The command line's shared options: what makes a spec, the backend and its repairs,
the validation sandbox, the baseline's price. Decorators only; cli.py's commands take them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .config import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT

timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT, show_default=True,
    help="Seconds the validation sandbox may run.",
)  # fmt: skip
memory_option = click.option(
    "--memory-limit", default=DEFAULT_MEMORY_LIMIT, show_default=True,
    help="Address-space limit of the validation sandbox (e.g. 8G, 4096M).",
)  # fmt: skip
python_option = click.option(
    "--python", "python", metavar="PATH",
    help="Interpreter with the ML stack that runs the contract tests  "
    "[default: this one, or scriptgen.toml's [validate] python].",
)  # fmt: skip


strict_option = click.option(
    "--strict-sandbox", "strict", is_flag=True,
    help="Refuse to run LLM-written code where the file system cannot be confined "
    "(no Landlock)  [default: scriptgen.toml's [validate] strict, else off].",
)  # fmt: skip


price_per_mtok_option = click.option(
    "--price-per-mtok", type=click.FloatRange(min=0), default=None,
    help="Dollars per million tokens of a baseline LLM served by an API (plan, "
    "compare)  [default: the baseline priced by the hour like the fine-tune].",
)  # fmt: skip


require_option = click.option(
    "--require", "requires", multiple=True, metavar="TEXT",
    help="A requirement the LLM backend meets by changing the reference (repeatable; "
    "added to the spec's requirements). Without any, no LLM request is made.",
)  # fmt: skip


def sandbox_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--timeout, --memory-limit, --python and --strict-sandbox, shared by new, validate
    and regen."""
    return timeout_option(memory_option(python_option(strict_option(command))))


def generation_options(
    llm_help: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The backend, repair, validation, commit and sandbox options of `new` and `regen`."""
    options = [
        click.option("--llm", metavar="URI", help=llm_help),
        click.option("--llm-model", metavar="NAME", help="Model name for an OpenAI-compatible server."),
        click.option(
            "--max-repairs", type=click.IntRange(0, 20), default=None,
            help="Repair rounds for LLM backends  [default: 3, or scriptgen.toml's [llm]].",
        ),
        click.option("--no-validate", is_flag=True, help="Skip the contract tests (static checks still run)."),
        click.option("--no-commit", is_flag=True, help="Write, but do not commit."),
    ]  # fmt: skip

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = sandbox_options(command)  # listed last in --help
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def spec_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """TASK and the options that make a spec, shared by `new` and `prompt`."""
    options = [
        click.argument("task", required=False),
        click.option("--model", "-m", help="Model alias, hub id or local checkpoint folder."),
        click.option("--name", help="Project folder name (default: <task>-<model alias>)."),
        click.option(
            "--spec", "spec_file", type=click.Path(path_type=Path, dir_okay=False), help="Spec YAML file."
        ),
        click.option(
            "--set", "sets", multiple=True, metavar="KEY=VALUE",
            help="Override a spec key, e.g. training.epochs=1.",
        ),
        click.option(
            "--baseline", metavar="[LLM]", is_flag=False, flag_value="", default=None,
            help="Add baseline.py: an instruct LLM prompted for the task on the same "
            "validation data (a hub id, alias, local folder or openai:URL; default: "
            "Qwen/Qwen2.5-1.5B-Instruct). Put it after TASK.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command
