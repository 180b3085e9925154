"""``scriptgen plan``'s estimate as text a person reads."""

from __future__ import annotations

import math

from .estimation import GIB, Estimate


def _fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB / 10 else f"{n / 2**20:.1f} MiB"


def _fmt_params(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _fmt_money(v: float) -> str:
    return f"${v:.2f}" if v >= 1 else f"${v:.4f}" if v >= 1e-4 else "<$0.0001"


def format_duration(seconds: float) -> str:
    """A time for a person: ms below a second, s below two minutes, min below two
    hours, h above (plan's estimates and compare's measurements alike)."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _fmt_hours(hours: float) -> str:
    return format_duration(hours * 3600)


def render(result: Estimate) -> str:
    """The terminal table: one row per method, then how the numbers were derived."""
    names = [d for d in result.methods[0].hours] if result.methods else []
    gpu = "H100"
    lines = [
        f"{result.task} with {result.model}: {result.tokens.value:,.0f} training tokens",
        f"  ({result.tokens.how})",
        "",
        f"{'method':8} {'params':>9} {'trainable':>10} {'memory':>10} {'smallest GPU':>13} "
        f"{'time ' + gpu:>11} {'cost ' + gpu:>10} {'time CPU':>10}",
    ]
    cpu = names[-1] if names else ""
    for row in result.methods:
        lines.append(
            f"{row.method:8} {_fmt_params(row.total_params):>9} "
            f"{_fmt_params(row.trainable_params):>10} "
            f"{_fmt_bytes(row.memory['total'].value):>10} "
            f"{row.smallest_gpu or 'none listed':>13} "
            f"{_fmt_hours(row.hours[gpu].value):>11} "
            f"{_fmt_money(row.cost[gpu].value):>10} "
            f"{_fmt_hours(row.hours[cpu].value):>10}"
        )
    if result.methods:
        lines += ["", "Launch (the project's accelerate/ configurations):"]
        lines += [f"  {row.method}: {row.launch}" for row in result.methods]
        first = result.methods[0]
        lines += ["", "How (first method's figures; --json has every number):"]
        for part, number in first.memory.items():
            lines.append(f"  memory {part}: {_fmt_bytes(number.value)}: {number.how}")
        assert first.flops is not None
        lines.append(f"  compute: {first.flops.value:.3g} FLOPs: {first.flops.how}")
        for device in names:
            lines.append(
                f"  {device}: {_fmt_hours(first.hours[device].value)}, "
                f"{_fmt_money(first.cost[device].value)}: {first.hours[device].how}; "
                f"{first.cost[device].how}"
            )
    if result.baseline:
        lines += ["", "Prompt baseline, per 1,000 validation examples:"]
        for key, number in result.baseline.items():
            value = (
                f"{number.value:,.1f}" if "tokens" in key
                else _fmt_params(number.value) if key == "llm_params" and math.isfinite(number.value)
                else _fmt_hours(number.value) if key.startswith("hours")
                else _fmt_money(number.value) if key.startswith("cost")
                else str(number.value)
            )  # fmt: skip
            lines.append(f"  {key}: {value}: {number.how}")
    lines += ["", *(f"Assumed: {a}" for a in result.assumptions)]
    return "\n".join(lines)
