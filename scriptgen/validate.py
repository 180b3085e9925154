"""Validate: run a candidate project's contract tests in a sandboxed subprocess.

The candidate is copied to a fresh temporary folder and its contract tests run there:
- confined by Landlock where the kernel has it (writes only to the run's own folders,
  homes and /etc's secrets unreadable; ``confine.py``), as uid 65534 when scriptgen runs
  as root (``setpriv``), in namespaces of their own where ``unshare`` is allowed (no
  network; a PID namespace whose processes all die with the run, and with scriptgen);
- under limits: wall clock, address space, CPU time, file size, process count;
- in a scrubbed environment (offline, no tokens or keys, a throwaway HOME).
The judge runs the project's code in a worker process confined more narrowly than itself
(``tests/harness.py``), and writes its verdict with a secret the code never sees.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from .config import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT
from .errors import MissingDependency, UserError
from .spec import METHODS
from .write import pid_alive

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
    # Refuse to run code an LLM wrote where the file system cannot be confined.
    strict: bool = False
    # Set by stop(): every validation under way in this sandbox ends at once (Ctrl-C).
    stopped: threading.Event = field(
        default_factory=threading.Event, compare=False, repr=False
    )

    def stop(self) -> None:
        """End every validation under way in this sandbox (the caller is on its way out)."""
        self.stopped.set()

    def __post_init__(self) -> None:
        parse_size(self.memory_limit)  # a bad size is bad input, before any work

    def admit(self, written_by: str) -> None:
        """Raise UserError (exit 2) when ``strict`` and code that ``written_by`` (a backend
        name) wrote would run without file-system confinement."""
        if not self.strict or written_by == "reference":
            return
        if "filesystem" not in isolation().contained:
            raise UserError(
                f"strict sandbox: the code was written by {written_by}, and file-system "
                "confinement is unavailable here (Landlock needs Linux 5.13+ with it "
                "enabled); validate elsewhere, or drop --strict-sandbox / [validate] strict"
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


def method_requirements(method: str) -> tuple[str, ...]:
    """What validating ``method`` needs beside the ML stack: peft for its methods, and
    bitsandbytes with 4-bit kernels for the CPU (0.46.1 or newer) for the quantized ones.
    """
    needs = []
    if METHODS[method]["peft"]:
        needs.append("peft")
    if METHODS[method]["quantized"]:
        needs.append("bitsandbytes>=0.46.1")
    return tuple(needs)


def _unmet(requirements: Sequence[str]) -> list[str]:
    """The requirements ("module", or "distribution>=version") that this interpreter does
    not meet: looked up and read from package metadata, never imported. Also runs, as
    source, in the validation interpreter (missing_ml_stack)."""
    import importlib.metadata
    import importlib.util
    import re

    def release(version: str) -> list[int]:
        return [int(part) for part in re.findall(r"\d+", version)[:3]]

    unmet = []
    for requirement in requirements:
        name, _, oldest = requirement.partition(">=")
        if importlib.util.find_spec(name) is None:
            unmet.append(requirement)
            continue
        if not oldest:
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            unmet.append(requirement)
            continue
        if release(version) < release(oldest):
            unmet.append(f"{requirement} (has {version})")
    return unmet


def missing_ml_stack(
    python: str = sys.executable, needs: Sequence[str] = ()
) -> list[str]:
    """The ML stack's modules, and ``needs`` (method_requirements), that ``python`` lacks."""
    wanted = [*ML_STACK, *needs]
    if python == sys.executable:
        return _unmet(wanted)
    probe = (
        "from __future__ import annotations\n"
        + inspect.getsource(_unmet)
        + "\nimport json, sys\nprint(json.dumps(_unmet(sys.argv[1:])))"
    )
    try:
        proc = subprocess.run(
            [python, "-c", probe, *wanted], capture_output=True, text=True, timeout=60
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
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def require_ml_stack(python: str = sys.executable, method: str = "full") -> None:
    """Raise MissingDependency, naming what is missing, when ``python`` cannot validate a
    project trained with ``method``."""
    needs = method_requirements(method)
    missing = missing_ml_stack(python, needs)
    if not missing:
        return
    where = "" if python == sys.executable else f" in {python}"
    stack = [m for m in missing if m in ML_STACK]
    if stack:
        raise MissingDependency(
            f"validation needs the ML stack ({', '.join(missing)} missing{where}): on a CPU "
            "machine `pip install torch==2.13.0` first, then `pip install 'scriptgen[ml]'` "
            "(or pass --no-validate, or point --python / scriptgen.toml's [validate] python "
            "at an interpreter that has it)"
        )
    wanted = " ".join(f"'{n.partition(' ')[0]}'" for n in missing)
    raise MissingDependency(
        f"validating training.method {method!r} needs {', '.join(missing)}{where}: "
        f"pip install {wanted} (or pass --no-validate)"
    )


# The unprivileged user that validation runs as when scriptgen runs as root ("nobody").
UNPRIVILEGED_ID = 65534
# Limits beside --memory-limit and --timeout: a file the run writes, and the processes
# (threads count) it may have at once.
FILE_SIZE_LIMIT = 2**30
PROCESS_LIMIT = 512
# Never readable by the code under test, but for what the run itself needs beneath them
# (an interpreter in a home folder): homes, and the secrets in /etc.
PRIVATE_PATHS = (
    "/root",
    "/home",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
)
CONFINE = Path(__file__).with_name("confine.py")
# A validation run's temporary folder: the prefix, scriptgen's PID, a random part.
_RUN_PREFIX = "scriptgen-validate-"


@dataclass(frozen=True)
class Isolation:
    """What a validation run gets: the command prefix, and what it contains.

    ``contained`` names: "network" (a network namespace), "processes" (a PID namespace),
    "unprivileged" (started as root, the run drops to an unprivileged user),
    "filesystem" (Landlock: writes confined to the run's folders, homes unreadable),
    "signals" (Landlock ABI 6: no signal to a process outside the sandbox).
    """

    prefix: tuple[str, ...] = ()
    contained: tuple[str, ...] = ()
    landlock: int = 0  # the kernel's Landlock ABI version, 0 where none

    def describe(self) -> str:
        parts = [
            "no network" if "network" in self.contained else "network open",
            (
                "own PID namespace"
                if "processes" in self.contained
                else "process group killed"
            ),
            (
                f"writes confined and homes unreadable (Landlock ABI {self.landlock})"
                if "filesystem" in self.contained
                else "file system not confined (no Landlock)"
            ),
        ]
        if "signals" in self.contained:
            parts.append("no signals out of the sandbox")
        if "unprivileged" in self.contained:
            parts.append(f"runs as uid {UNPRIVILEGED_ID}, not root")
        elif _is_root():
            parts.append("runs as root (no setpriv)")
        parts.append("memory, CPU time, file size and process limits")
        return ", ".join(parts)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _runs(command: list[str]) -> bool:
    try:
        proc = subprocess.run(command, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """The strongest sandbox this OS allows: namespaces with no network and their own PIDs
    (every process dies with the run's first one), else no network only, else none; an
    unprivileged user where scriptgen runs as root; Landlock where the kernel has it."""
    from .confine import SIGNAL_SCOPE_ABI, landlock_abi

    prefix: tuple[str, ...] = ()
    contained: tuple[str, ...] = ()
    root = _is_root()
    setpriv = shutil.which("setpriv")
    if setpriv is not None and _runs([setpriv, "--pdeathsig=KILL", "true"]):
        # The run dies with scriptgen, even a scriptgen killed with SIGKILL.
        prefix = (setpriv, "--pdeathsig=KILL")
    unshare = shutil.which("unshare")
    if unshare is not None and sys.platform == "linux":
        # As root, no user namespace: it would map root to root, and the drop to an
        # unprivileged user below must be a real one.
        user = () if root else ("-r",)
        for flags, what in (
            (("-npf", "--kill-child"), ("network", "processes")),
            (("-n",), ("network",)),
        ):
            if _runs([unshare, *user, *flags, "true"]):
                prefix, contained = (*prefix, unshare, *user, *flags), what
                break
    if root and setpriv is not None:
        # The interpreter may lie in a folder only root can read (/root/.pyenv): the
        # unprivileged user keeps CAP_DAC_READ_SEARCH, and Landlock decides what it reads.
        drop = (
            setpriv,
            f"--reuid={UNPRIVILEGED_ID}",
            f"--regid={UNPRIVILEGED_ID}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            # Set again after the change of user, which clears unshare's --kill-child.
            "--pdeathsig=KILL",
        )
        if _runs([*prefix, *drop, sys.executable, "-c", "pass"]):
            prefix, contained = (*prefix, *drop), (*contained, "unprivileged")
    abi = landlock_abi()
    if abi:
        contained = (*contained, "filesystem")
    if abi >= SIGNAL_SCOPE_ABI:
        contained = (*contained, "signals")
    return Isolation(prefix, contained, abi)


@lru_cache(maxsize=8)
def interpreter_paths(python: str) -> tuple[str, ...]:
    """The folders ``python`` reads to start and import: its prefixes and sys.path."""
    probe = (
        "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, "
        "sys.exec_prefix, sys.base_exec_prefix, *sys.path]))"
    )
    if python == sys.executable:
        found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
        found += sys.path
    else:
        try:
            out = subprocess.run(
                [python, "-c", probe], capture_output=True, text=True, timeout=60
            ).stdout
            found = json.loads(out) if out.strip() else []
        except (OSError, subprocess.TimeoutExpired, ValueError):
            found = []
    found += [python, os.path.dirname(python)]
    paths = {os.path.realpath(p) for p in found if p and os.path.isabs(p)}
    paths |= {os.path.abspath(p) for p in found if p and os.path.isabs(p)}
    return tuple(sorted(p for p in paths if os.path.exists(p)))


def twin_cache() -> Path | None:
    """Where validations share the judge's tiny twins (one build per family and version):
    writable by the judge, readable by the code under test; None where it cannot be made.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "scriptgen" / "twins"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if (
            "unprivileged" in isolation().contained
            and folder.stat().st_uid != UNPRIVILEGED_ID
        ):
            os.chown(folder, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
    except OSError:
        return None
    return folder


def private_paths() -> tuple[str, ...]:
    home = os.path.realpath(Path.home())
    extra = () if home == "/" else (home,)
    return tuple(sorted({os.path.realpath(p) for p in (*PRIVATE_PATHS, *extra)}))


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies beneath it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def readable_paths(needed: list[str], private: tuple[str, ...]) -> list[str]:
    """Every path but the private ones, as the fewest rules: the entries of each folder
    on the way to a private path are listed one by one; what the run needs beneath a
    private path comes back on its own."""
    found: list[str] = []

    def walk(folder: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            path = entry.path
            if path in private:
                continue
            if any(_within(p, path) for p in private):  # on the way to a private path
                if entry.is_dir(follow_symlinks=False):
                    walk(path)
            elif entry.is_symlink():
                # A rule follows the link: one to a private path or above it would
                # open that path (the real folder is walked where it lies).
                target = os.path.realpath(path)
                if not any(_within(p, target) for p in private):
                    found.append(path)
            else:
                found.append(path)

    walk("/")
    found += [p for p in needed if any(_within(p, q) for q in private)]
    return found


def confine_command(
    workdir: Path,
    python: str,
    *,
    memory_limit: int,
    timeout: float,
    writable: list[Path],
    boxed: Isolation,
    readable: tuple[Path, ...] = (),
) -> list[str]:
    """scriptgen's interpreter running confine.py with this run's policy: its limits, and
    under Landlock, what it may read and write."""
    cpus = os.cpu_count() or 1
    policy: dict[str, Any] = {
        "limits": {
            "AS": memory_limit,
            "CPU": int(timeout * cpus) + 60,  # a backstop behind the wall clock
            "FSIZE": FILE_SIZE_LIMIT,
            "NPROC": PROCESS_LIMIT,
            "CORE": 0,
        },
        "landlock": bool(boxed.landlock),
    }
    if boxed.landlock:
        needed = [
            *interpreter_paths(python),
            *interpreter_paths(sys.executable),
            str(workdir),
            *map(str, readable),
        ]
        policy["read"] = list(dict.fromkeys(readable_paths(needed, private_paths())))
        policy["write"] = [str(p) for p in writable]
        policy["write_files"] = ["/dev/null"]
    return [sys.executable, str(CONFINE), json.dumps(policy), "--"]


# A pytest plugin that the judge loads first (-p): it takes the run's secret out of the
# environment before any of the project's code runs, and writes it with the outcomes where
# only the judge can write. A report without it was not the judge's.
_VERDICT_PLUGIN = """\
import json, os

_SECRET = os.environ.pop("SCRIPTGEN_VERDICT", "")
_PATH = os.environ.pop("SCRIPTGEN_VERDICT_FILE", "")
_OUTCOMES = {"passed": 0, "failed": 0, "skipped": 0}
_JUDGED = {}  # test name -> what it recorded as "judged" (its figure and bar)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _OUTCOMES[report.outcome] = _OUTCOMES.get(report.outcome, 0) + 1
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "judged":
                _JUDGED[report.nodeid.rpartition("::")[2]] = value


def pytest_sessionfinish(session, exitstatus):
    if _PATH:
        record = {"secret": _SECRET, "exitstatus": int(exitstatus), **_OUTCOMES, "judged": _JUDGED}
        with open(_PATH, "w", encoding="utf-8") as f:
            json.dump(record, f, default=repr)
"""


def sandbox_env(workdir: Path) -> dict[str, str]:
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
        # The tiny twin trains on the CPU, the same everywhere (QLoRA too: bitsandbytes'
        # CPU kernels).
        CUDA_VISIBLE_DEVICES="",
    )
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
    cancel: threading.Event | Sequence[threading.Event] = (),
) -> ValidationReport:
    """Write ``files`` (the whole candidate, judge included) to a temp folder and run its tests."""
    require_ml_stack(python)
    limit = parse_size(memory_limit)
    boxed = isolation()
    secret = secrets.token_hex(16)
    twins = twin_cache()
    remove_leftovers(twins)
    with tempfile.TemporaryDirectory(prefix=f"{_RUN_PREFIX}{os.getpid()}-") as tmp:
        workdir = Path(tmp)
        project = workdir / "project"
        write_tree(project, files)
        env = sandbox_env(workdir)
        scratch = [workdir / sub for sub in ("home", "tmp", "hf")]
        report_dir, judge_dir = workdir / "report", workdir / "judge"
        report_dir.mkdir()
        judge_dir.mkdir()
        (judge_dir / "scriptgen_verdict.py").write_text(
            _VERDICT_PLUGIN, encoding="utf-8"
        )
        if "unprivileged" in boxed.contained:
            os.chmod(workdir, 0o711)
            for folder in (*scratch, report_dir):
                os.chown(folder, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        shared = () if twins is None else (twins,)
        confine = partial(
            confine_command,
            workdir,
            python,
            memory_limit=limit,
            timeout=timeout,
            boxed=boxed,
            readable=shared,
        )
        env.update(
            PYTHONPATH=str(judge_dir),
            SCRIPTGEN_VERDICT=secret,
            SCRIPTGEN_VERDICT_FILE=str(report_dir / "verdict.json"),
        )
        if twins is not None:
            env["SCRIPTGEN_TWIN_CACHE"] = str(twins)
        if boxed.landlock:  # the project's own processes: not even the report is theirs
            env["SCRIPTGEN_CONFINE"] = json.dumps(confine(writable=scratch))
        report_xml = report_dir / "report.xml"
        command = [
            *boxed.prefix,
            *confine(writable=[*scratch, report_dir, *shared]),
            python, "-m", "pytest", "-q", "-p", "scriptgen_verdict",
            "-p", "no:cacheprovider", "--tb=native", "-o", "addopts=",
            "--junitxml", str(report_xml), "tests",
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, killed at the end
        )
        cancels = (cancel,) if isinstance(cancel, threading.Event) else tuple(cancel)
        out, timed_out = _wait(proc, timeout, cancels)
        seconds = time.perf_counter() - start
        output = out.decode("utf-8", "replace").replace(str(project) + os.sep, "")
        steps = _read_junit(report_xml, str(project) + os.sep)
        record = _judge_record(report_dir / "verdict.json", secret)
        forged = _forged(record, proc.returncode, steps)
        for step in steps:
            step.judged = _figure((record or {}).get("judged"), step.name)
    shown = (
        ["pytest", "tests"]
        if not timed_out
        else ["pytest", "tests", f"(timeout {timeout:g}s)"]
    )
    report = ValidationReport(
        passed=proc.returncode == 0
        and any(s.outcome == "passed" for s in steps)
        and not forged,
        seconds=seconds,
        steps=steps,
        returncode=proc.returncode,
        output_tail="\n".join(output.splitlines()[-60:]),
        command=shown,
        isolation=[*boxed.contained, "limits"],
    )
    if forged and not timed_out:
        report.diagnostics.append(forged)
    if timed_out:
        report.diagnostics.append(
            f"validation timed out after {timeout:g}s (raise it with --timeout); last output: "
            + (output.strip().splitlines() or [""])[-1][:200]
        )
    elif proc.returncode == 0 and not any(s.outcome == "passed" for s in steps):
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


# A twin is built in seconds: a staging folder this old in the twin cache belongs to a
# validation that was killed while it built one.
_STALE_STAGING_SECONDS = 3600


def remove_leftovers(twins: Path | None = None) -> None:
    """Remove the folders of validation runs whose scriptgen process is gone (killed),
    and the twin cache's (``twins``) half-built twins that such runs left."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_RUN_PREFIX}*-*"):
        pid = folder.name[len(_RUN_PREFIX) :].partition("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    # The judge stages a twin as .<name>.<random> and renames it whole into place; its
    # PID is of the sandbox's own namespace, so age tells a dead build from a live one.
    for staging in twins.glob(".*") if twins else ():
        try:
            stale = time.time() - staging.stat().st_mtime > _STALE_STAGING_SECONDS
        except OSError:
            continue
        if stale and staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)


def _judge_record(verdict_file: Path, secret: str) -> dict[str, Any] | None:
    """The judge's record of the run (written with a secret the code under test never
    sees), or None where it is missing or not the judge's."""
    try:
        record = json.loads(verdict_file.read_text(encoding="utf-8"))
        genuine = isinstance(record, dict) and record.get("secret") == secret
    except (OSError, ValueError):
        return None
    return record if genuine else None


def _figure(judged: Any, name: str) -> dict[str, Any] | None:
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


def _forged(
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


def _wait(
    proc: subprocess.Popen[bytes],
    timeout: float,
    cancels: tuple[threading.Event, ...],
) -> tuple[bytes, bool]:
    """Wait for the run; kill its process group on timeout or when one of ``cancels`` is
    set.

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
        if any(cancel.is_set() for cancel in cancels):
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
