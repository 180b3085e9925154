"""What a validation run found: its steps, the judge's own record of them, and a
diagnosis a person (or a repair prompt) reads first."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .lock import JUDGE_DIR

_JUDGE = JUDGE_DIR + "/"

# Native frames ('File "train.py", line 3') and pytest's short form for collection errors
# ('train.py:3: in <module>').
_TIMING = re.compile(r" in \d+(?:\.\d+)?s\b")
_FRAME = re.compile(
    r'^\s*(?:File "(?P<file>[^"]+)", line (?P<line>\d+)|(?P<sfile>[^\s:]+\.py):(?P<sline>\d+): in )'
)
_EXC_LINE = re.compile(
    r"^(?:[\w.]+\.)?(?P<name>\w*(?:Error|Exception|Exit|Interrupt)|AssertionError)\b:?(?P<msg>.*)$"
)


@dataclass
class Step:
    name: str
    outcome: str  # passed | failed | error | skipped
    seconds: float
    message: str = ""
    # What the judge measured in this test and the least it accepts, where the test
    # records it (pytest's record_property("judged", {"metric", "value", "at_least"})):
    # how far the twin cleared its bar. Taken from the judge's own record only.
    judged: dict[str, Any] | None = None

    def line(self) -> str:
        """'passed  test_model_learns_the_task (1.2s) eval_accuracy 0.938, needs 0.55'"""
        text = f"{self.outcome:7} {self.name} ({self.seconds:.1f}s)"
        if self.judged:
            text += (
                f" {self.judged['metric']} {self.judged['value']:.3g},"
                f" needs {self.judged['at_least']:.3g}"
            )
        return text


@dataclass
class ValidationReport:
    passed: bool
    seconds: float
    steps: list[Step] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    returncode: int | None = None
    output_tail: str = ""
    command: list[str] = field(default_factory=list)
    # What the sandbox contained: "network", "processes" (a PID namespace), "memory".
    isolation: list[str] = field(default_factory=list)
    # The judge's twins: {key: {"source": "shipped" | "cached" | "built", "seconds"}}.
    twins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How the project's process started: "warm" (forked by the warm worker), or "cold"
    # and why not warm.
    worker: str = ""

    def summary(self) -> str:
        ran = [s for s in self.steps if s.outcome != "skipped"]
        word = "passed" if self.passed else "failed"
        return f"{word} ({len(ran)} contract tests, {self.seconds:.1f}s)"

    def describe(self) -> str:
        """A few lines for the terminal and for repair prompts: the cause first, with
        file:line. Deterministic (no timings), so a repeated request is the same request.
        """
        if self.passed:
            return self.summary()
        failed = [s for s in self.steps if s.outcome in ("failed", "error")]
        lines = [
            f"validation failed ({len(failed)} of {len(self.steps)} contract tests)"
        ]
        lines += [f"  {d}" for d in self.diagnostics[:5]]
        if not self.diagnostics:
            lines.append(
                f"  command: {' '.join(self.command)} (exit {self.returncode})"
            )
            tail = self.output_tail.splitlines()[-15:]
            lines += [f"  | {_TIMING.sub('', ln)}" for ln in tail]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_record(verdict_file: Path, secret: str) -> dict[str, Any] | None:
    """The judge's record of the run (written with a secret the code under test never
    sees), or None where it is missing or not the judge's."""
    try:
        record = json.loads(verdict_file.read_text(encoding="utf-8"))
        genuine = isinstance(record, dict) and record.get("secret") == secret
    except (OSError, ValueError):
        return None
    return record if genuine else None


def twin_sources(record: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The judge's account of its twins, where well-formed: {key: {"source", "seconds"}}."""
    twins = (record or {}).get("twins")
    if not isinstance(twins, dict):
        return {}
    return {
        str(key)[:32]: {
            "source": str(t.get("source"))[:10],
            "seconds": t.get("seconds"),
        }
        for key, t in list(twins.items())[:20]
        if isinstance(t, dict)
    }


def worker_mode(record: dict[str, Any] | None, not_offered: str | None) -> str:
    """How the judge started the project's process, as it said ("warm", "cold: why"), or
    why no warm worker was offered."""
    said = (record or {}).get("worker")
    if not_offered:
        return f"cold: {not_offered}"
    return str(said)[:200] if isinstance(said, str) else "cold: the judge did not say"


def judged_figure(judged: Any, name: str) -> dict[str, Any] | None:
    """The judge's figure for test ``name`` as {"metric", "value", "at_least"}, where it
    recorded a well-formed one."""
    figure = judged.get(name) if isinstance(judged, dict) else None
    if not (
        isinstance(figure, dict)
        and isinstance(figure.get("metric"), str)
        and all(
            isinstance(figure.get(k), (int, float)) and not isinstance(figure[k], bool)
            for k in ("value", "at_least")
        )
    ):
        return None
    return {
        "metric": figure["metric"][:80],
        "value": float(figure["value"]),
        "at_least": float(figure["at_least"]),
    }


def forged_verdict(
    record: dict[str, Any] | None, returncode: int | None, steps: list[Step]
) -> str:
    """Why the run's verdict is not the judge's own, or "": the judge's record must exist
    and agree with the exit status and the test report."""
    if returncode != 0:
        return ""  # a failure is a failure, whoever caused it
    verdict = record or {}
    if record is None:
        return (
            "forged verdict: the judge's record of this run is missing or was not "
            "written by the judge; the exit status and test report are not trusted"
        )
    failed = [s for s in steps if s.outcome in ("failed", "error")]
    if verdict.get("exitstatus") != 0 or verdict.get("failed") or failed:
        return (
            f"forged verdict: the run exited 0, but the judge recorded exit status "
            f"{verdict.get('exitstatus')} and {verdict.get('failed', 0)} failed tests"
        )
    if verdict.get("passed") != sum(s.outcome == "passed" for s in steps):
        return "forged verdict: the test report does not match the judge's record"
    return ""


def read_junit(path: Path, prefix: str) -> list[Step]:
    if not path.is_file():
        return []
    steps = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "failed" if tag == "failure" else tag
                message = (node.text or node.get("message") or "").replace(prefix, "")
                break
        name = case.get("name") or case.get("classname") or "?"
        steps.append(Step(name, outcome, float(case.get("time") or 0), message))
    return steps


def diagnose(step: Step) -> str:
    """'train.py:12: ImportError: ...' from a native traceback: the deepest frame in the
    project's own code (not its tests) that raised, else the deepest test frame."""
    lines = [
        ln[1:].strip() if ln.startswith("E ") else ln
        for ln in step.message.splitlines()
    ]
    frames = [
        (m.group("file") or m.group("sfile"), int(m.group("line") or m.group("sline")))
        for ln in lines
        if (m := _FRAME.match(ln))
    ]
    project = [
        f for f in frames if not os.path.isabs(f[0]) and not f[0].startswith(_JUDGE)
    ]
    tests = [f for f in frames if f[0].startswith(_JUDGE)]
    exc = next(
        (ln.strip() for ln in reversed(lines) if _EXC_LINE.match(ln.strip())), ""
    )
    if not exc:
        exc = next((ln.strip() for ln in reversed(lines) if ln.strip()), "failed")
    where = project[-1] if project else (tests[-1] if tests else None)
    # SyntaxErrors name the file and line in the exception itself, below the frames.
    syntax = re.search(
        r'File "([^"/][^"]*)", line (\d+)\n(?:.*\n){0,3}\s*(\w*Error: .*)', step.message
    )
    if syntax and not syntax.group(1).startswith(_JUDGE):
        return (
            f"{syntax.group(1)}:{syntax.group(2)}: {syntax.group(3)} (in {step.name})"
        )
    loc = f"{where[0]}:{where[1]}: " if where else ""
    return f"{loc}{exc[:500]} (in {step.name})"
