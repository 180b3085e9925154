"""The commands that measure before and after: ``prompt`` (what an LLM backend would be
sent), ``plan`` (what fine-tuning and the prompt baseline would cost) and ``compare``
(what they cost and earned, as measured). Registered on the group in ``cli.py``."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import price_per_mtok_option, require_option, spec_options


@click.command()
@spec_options
@require_option
@click.option(
    "--mode", type=click.Choice(["edits", "definitions", "lines", "files"]), default="edits", show_default=True,
    help="edits: the settings and edit requests a requirement makes; definitions, lines: "
    "the same, edits in JSON (whole definitions, lines at a statement); files: the request that has every code "
    "file retyped.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
def prompt(
    task: str | None,
    model: str | None,
    name: str | None,
    spec_file: Path | None,
    sets: tuple[str, ...],
    baseline: str | None,
    requires: tuple[str, ...],
    mode: str,
    as_json: bool,
) -> int:
    """Print the messages an LLM backend would send for TASK (or the --spec file's task);
    calls nothing."""
    import json

    from . import api

    messages = api.prompt(
        api.plan(
            task, model=model, name=name, spec_file=spec_file, sets=sets,
            baseline=baseline, requires=requires,
        ),
        mode=mode,
    )  # fmt: skip
    if not messages and not as_json:
        click.echo(
            "no requirements: no LLM request is made (give one with --require TEXT)"
        )
        return 0
    if as_json:
        click.echo(json.dumps(messages, indent=2))
    else:
        for message in messages:
            click.echo(f"=== {message['role']} ===\n{message['content']}")
    return 0


@click.command("plan")
@spec_options
@click.option(
    "--examples",
    type=click.IntRange(min=1),
    default=None,
    help="Training examples, where the data is not a local file  [default: counted "
    "from the file, else 10000].",
)
@click.option(
    "--utilisation",
    type=click.FloatRange(0.01, 1.0),
    default=0.3,
    show_default=True,
    help="Share of a device's peak throughput that training reaches.",
)
@click.option(
    "--price-per-hour",
    type=click.FloatRange(min=0),
    default=None,
    help="Dollars per hour for every device  [default: a typical price of each].",
)
@price_per_mtok_option
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON.")
def plan_command(
    task: str | None, model: str | None, name: str | None, spec_file: Path | None,
    sets: tuple[str, ...], baseline: str | None, examples: int | None,
    utilisation: float, price_per_hour: float | None, price_per_mtok: float | None,
    as_json: bool,
) -> int:  # fmt: skip
    """Estimate what fine-tuning TASK costs with each method (parameters, memory, time,
    money), and its prompt baseline, before anything runs; TASK may be a spec file."""
    import json

    from . import api
    from .plan_text import render

    if spec_file is None and task and task.endswith((".yaml", ".yml")):
        if not Path(task).is_file():
            raise click.BadParameter(f"no such spec file: {task}", param_hint="TASK")
        spec_file, task = Path(task), None
    the_plan = api.plan(
        task, model=model, name=name, spec_file=spec_file, sets=sets, baseline=baseline
    )
    result = api.estimate(
        the_plan, examples=examples, utilisation=utilisation,
        price_per_hour=price_per_hour, price_per_mtok=price_per_mtok,
    )  # fmt: skip
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render(result))
    return 0


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--price-per-hour",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Dollars per hour of the machine that trained and predicted.",
)
@price_per_mtok_option
def compare(
    directory: Path, price_per_hour: float, price_per_mtok: float | None
) -> int:
    """Compare a project's fine-tune with its prompt baseline, as measured: writes
    comparison.md and comparison.png into DIRECTORY."""
    from . import api
    from .compare_report import table, write

    comparison = api.compare(
        directory, price_per_hour=price_per_hour, price_per_mtok=price_per_mtok
    )
    md, png = write(comparison)
    click.echo(table(comparison).rstrip())
    click.echo(f"wrote {md} and {png}")
    return 0
