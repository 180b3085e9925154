"""What ``scriptgen compare`` writes of a Comparison: the Markdown table
(``comparison.md``) and the plot of the metric against cost (``comparison.png``)."""

from __future__ import annotations

import math
from pathlib import Path

from .comparison import PLOT_FILE, TABLE_FILE, Comparison
from .errors import UserError
from .plan_text import format_duration


def table(comparison: Comparison) -> str:
    """The comparison as Markdown: the table, the verdict, how each cost was derived."""
    c = comparison
    metrics = list(c.fine_tune.metrics)
    header = [
        "",
        *metrics,
        "training",
        "training cost",
        "predictions/s",
        "cost / 1,000",
    ]
    rows = [header, ["---"] * len(header)]
    for side, train_cell, train_cost in (
        (
            c.fine_tune,
            format_duration(c.fine_tune.train_seconds),
            f"${c.train_cost:.4f}",
        ),
        (c.baseline, "none", "$0"),
    ):
        rows.append(
            [
                side.name,
                *(f"{side.metrics[m]:.4f}" for m in metrics),
                train_cell,
                train_cost,
                f"{side.examples_per_second:.2f}",
                f"${side.cost_per_1000:.4f}",
            ]
        )
    lines = [f"# {c.project.name}: fine-tune or prompt?", ""]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", c.verdict(), ""]
    notes = [f"- {s.name}: {n}" for s in (c.fine_tune, c.baseline) for n in s.notes]
    if notes:
        lines += [*notes, ""]
    if c.class_report:
        lines += ["The fine-tune per class (eval_class_report.md):", ""]
        lines += [c.class_report.rstrip(), ""]
    lines += ["How the costs were derived:", ""]
    lines += [f"- {d}" for d in c.derivations]
    if c.against_plan:
        lines += ["", "`scriptgen plan`'s estimate against the measurement:", ""]
        lines += [
            "| | estimate | measured | estimate / measured |",
            "| --- | --- | --- | --- |",
        ]
        for what, planned, measured in c.against_plan:
            lines.append(
                f"| {what} | {planned:,.4g} | {measured:,.4g} | {planned / measured:.2f} |"
            )
        lines += [
            "",
            "(plan's tokens come from the data file's characters, 4 to a token; its "
            "time assumes 30% of the device's peak throughput.)",
        ]
    elif c.no_plan:
        lines += ["", f"No estimate of `scriptgen plan` to compare with: {c.no_plan}"]
    return "\n".join(lines) + "\n"


def plot(comparison: Comparison, path: Path) -> None:
    """The task's metric against the cost of 1,000 predictions, one point per side."""
    try:
        import matplotlib
    except ImportError:
        raise UserError(
            "the plot needs matplotlib: pip install matplotlib "
            "(or pip install 'scriptgen[ml]')"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = comparison
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    sides = (c.fine_tune, c.baseline)
    for side, colour in zip(sides, ("tab:blue", "tab:orange")):
        x, y = side.cost_per_1000, side.metrics[c.metric]
        ax.scatter([x], [y], s=80, color=colour, label=side.name, zorder=3)
    costs = [s.cost_per_1000 for s in sides]
    if all(cost > 0 and math.isfinite(cost) for cost in costs):
        ax.set_xscale("log")
        ax.set_xlim(min(costs) / 3, max(costs) * 3)
    values = [s.metrics[c.metric] for s in sides]
    span = max(max(values) - min(values), 0.05)
    ax.set_ylim(min(values) - span / 2, max(values) + span / 2)
    # (A bare "$" starts matplotlib's math text.)
    price = f"\\${c.price_per_hour:.2f}/hour"
    ax.set_xlabel(f"cost per 1,000 predictions (\\$, at {price})")
    ax.set_ylabel(c.metric)
    ax.set_title(f"{c.project.name}: {c.metric} against cost")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write(comparison: Comparison) -> tuple[Path, Path]:
    """comparison.md and comparison.png in the project."""
    md = comparison.project / TABLE_FILE
    png = comparison.project / PLOT_FILE
    plot(comparison, png)
    md.write_text(table(comparison), encoding="utf-8")
    return md, png
