"""Validate: run a candidate project's contract tests in a sandboxed subprocess.

The candidate is copied to a fresh temporary folder and its contract tests run there under
a time limit, an address-space limit, a scrubbed environment (offline, no tokens or keys, a
throwaway HOME) and, where the OS allows it, in namespaces of their own (``unshare``): no
network, and a PID namespace whose processes all die with the test run. Without one, the
run's process group is killed when it ends, whatever the outcome.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT
from .errors import MissingDependency, UserError

ML_STACK = ("torch", "transformers", "datasets", "accelerate", "yaml", "pytest")
# Environment variables a validation run may inherit; everything else is dropped.
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
# Native frames ('File "train.py", line 3') and pytest's short form for collection errors
# ('train.py:3: in <module>').
_TIMING = re.compile(r" in \d+(?:\.\d+)?s\b")
_FRAME = re.compile(
    r'^\s*(?:File "(?P<file>[^"]+)", line (?P<line>\d+)|(?P<sfile>[^\s:]+\.py):(?P<sline>\d+): in )'
)
_EXC_LINE = re.compile(
    r"^(?:[\w.]+\.)?(?P<name>\w*(?:Error|Exception|Exit|Interrupt)|AssertionError)\b:?(?P<msg>.*)$"
)


@dataclass(frozen=True)
class Sandbox:
    """Where and under which limits contract tests run."""

    timeout: float = DEFAULT_TIMEOUT
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    python: str = sys.executable  # an interpreter with the ML stack

    def __post_init__(self) -> None:
        parse_size(self.memory_limit)  # a bad size is bad input, before any work


@dataclass
class Step:
    name: str
    outcome: str  # passed | failed | error | skipped
    seconds: float
    message: str = ""


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


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5g', '1048576' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", text)
    if not match:
        raise UserError(f"--memory-limit: cannot read size {text!r} (try 8G or 4096M)")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[
        match.group(2).lower()
    ]
    return int(float(match.group(1)) * scale)


def missing_ml_stack(python: str = sys.executable) -> list[str]:
    """The ML stack's modules that ``python`` cannot import (looked up, not imported)."""
    if python == sys.executable:
        return [name for name in ML_STACK if importlib.util.find_spec(name) is None]
    probe = (
        "import importlib.util, sys\n"
        "print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))"
    )
    try:
        proc = subprocess.run(
            [python, "-c", probe, *ML_STACK], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"cannot run the validation interpreter {python}: {exc}"
        ) from None
    if proc.returncode != 0:
        raise UserError(
            f"cannot run the validation interpreter {python} (exit {proc.returncode}): "
            + (proc.stderr.strip().splitlines() or [""])[-1]
        )
    return proc.stdout.split()


def require_ml_stack(python: str = sys.executable) -> None:
    missing = missing_ml_stack(python)
    if missing:
        where = "" if python == sys.executable else f" in {python}"
        raise MissingDependency(
            f"validation needs the ML stack ({', '.join(missing)} missing{where}): on a CPU "
            "machine `pip install torch==2.13.0` first, then `pip install 'scriptgen[ml]'` "
            "(or pass --no-validate, or point --python / scriptgen.toml's [validate] python "
            "at an interpreter that has it)"
        )


@dataclass(frozen=True)
class Isolation:
    """The namespaces a validation run gets: the command prefix, and what it contains."""

    prefix: tuple[str, ...] = ()
    contained: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.contained:
            return "no namespaces (unshare not allowed): network open, process group killed"
        what = {"network": "no network", "processes": "own PID namespace"}
        return f"{', '.join(what[c] for c in self.contained)} ({' '.join(self.prefix[1:])})"


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """The strongest namespaces this OS lets an unprivileged user make: a user namespace with
    no network and its own PIDs (every process dies with the run's first one), else no
    network only, else none."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return Isolation()
    for flags, contained in (
        (("-rnpf", "--kill-child"), ("network", "processes")),
        (("-rn",), ("network",)),
    ):
        try:
            proc = subprocess.run(
                [unshare, *flags, "true"], capture_output=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            return Isolation((unshare, *flags), contained)
    return Isolation()


# Sets the address-space limit, then becomes the command: limits are set in a process of
# their own, not with preexec_fn (which CPython documents as unsafe with threads, and
# validations run in a thread pool).
_LIMITED = (
    "import os, resource, sys; limit = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def sandbox_env(workdir: Path, gpu: bool = False) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    for sub in ("home", "tmp", "hf"):
        (workdir / sub).mkdir(exist_ok=True)
    env.update(
        HOME=str(workdir / "home"),
        TMPDIR=str(workdir / "tmp"),
        HF_HOME=str(workdir / "hf"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        DO_NOT_TRACK="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        # A tiny twin trains fastest on one thread, and `regen --jobs` or pytest-xdist run
        # several validations side by side.
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONNOUSERSITE="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        WANDB_DISABLED="true",
        WANDB_MODE="disabled",
    )
    if gpu:  # a method that needs CUDA (QLoRA) keeps the devices this process sees
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    else:  # the tiny twin trains on the CPU, the same everywhere
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run_contract_tests(
    files: Mapping[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    python: str = sys.executable,
    cancel: threading.Event | None = None,
    gpu: bool = False,
) -> ValidationReport:
    """Write ``files`` (the whole candidate, judge included) to a temp folder and run its tests."""
    require_ml_stack(python)
    limit = parse_size(memory_limit)
    with tempfile.TemporaryDirectory(prefix="scriptgen-validate-") as tmp:
        workdir = Path(tmp)
        project = workdir / "project"
        write_tree(project, files)
        report_xml = workdir / "report.xml"
        boxed = isolation()
        command = [
            python, "-c", _LIMITED, str(limit),
            *boxed.prefix,
            python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=native",
            "-o", "addopts=", "--junitxml", str(report_xml), "tests",
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=sandbox_env(workdir, gpu),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, killed at the end
        )
        out, timed_out = _wait(proc, timeout, cancel)
        seconds = time.perf_counter() - start
        output = out.decode("utf-8", "replace").replace(str(project) + os.sep, "")
        steps = _read_junit(report_xml, str(project) + os.sep)
    shown = (
        ["pytest", "tests"]
        if not timed_out
        else ["pytest", "tests", f"(timeout {timeout:g}s)"]
    )
    report = ValidationReport(
        passed=proc.returncode == 0 and any(s.outcome == "passed" for s in steps),
        seconds=seconds,
        steps=steps,
        returncode=proc.returncode,
        output_tail="\n".join(output.splitlines()[-60:]),
        command=shown,
        isolation=[*boxed.contained, "memory"],
    )
    if timed_out:
        report.diagnostics.append(
            f"validation timed out after {timeout:g}s (raise it with --timeout); last output: "
            + (output.strip().splitlines() or [""])[-1][:200]
        )
    elif proc.returncode == 0 and not report.passed:
        report.diagnostics.append("no contract test ran")
    report.diagnostics += [
        d for s in steps if s.outcome in ("failed", "error") for d in [diagnose(s)]
    ]
    if (
        not report.passed
        and not report.diagnostics
        and proc.returncode is not None
        and proc.returncode < 0
    ):
        report.diagnostics.append(
            f"the test process was killed by signal {-proc.returncode} "
            f"(memory limit {memory_limit}?)"
        )
    return report


def _wait(
    proc: subprocess.Popen[bytes], timeout: float, cancel: threading.Event | None
) -> tuple[bytes, bool]:
    """Wait for the run; kill its process group on timeout or cancel.

    Returns its output and whether it timed out.
    """
    out: list[bytes] = []
    # Drain stdout on a thread so that a chatty run cannot block on a full pipe.
    reader = threading.Thread(
        target=lambda: out.append(proc.stdout.read() if proc.stdout else b""),
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + timeout
    timed_out = False
    while proc.poll() is None:
        if cancel is not None and cancel.is_set():
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(0.05)
    # Whatever the outcome, nothing the run started outlives it: its process group goes
    # (the PID namespace, where there is one, has taken the rest with its first process).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # A process that left the group (setsid) where there is no PID namespace may hold the
    # pipe open: do not wait for it.
    reader.join(timeout=10)
    proc.wait()
    return b"".join(out), timed_out


def _read_junit(path: Path, prefix: str) -> list[Step]:
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
        f for f in frames if not os.path.isabs(f[0]) and not f[0].startswith("tests/")
    ]
    tests = [f for f in frames if f[0].startswith("tests/")]
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
    if syntax and not syntax.group(1).startswith("tests/"):
        return (
            f"{syntax.group(1)}:{syntax.group(2)}: {syntax.group(3)} (in {step.name})"
        )
    loc = f"{where[0]}:{where[1]}: " if where else ""
    return f"{loc}{exc[:500]} (in {step.name})"
