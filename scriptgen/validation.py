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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .config import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT
from .errors import UserError
from .lock import JUDGE_DIR
from .isolation import (
    RUN_PREFIX,
    UNPRIVILEGED_ID,
    confine_command,
    confine_policy,
    isolation,
    sandbox_env,
    twin_cache,
)
from .report import (
    ValidationReport,
    judged_figure,
    forged_verdict,
    judge_record,
    read_junit,
    diagnose,
    twin_sources,
    worker_mode,
)
from .twins import judge_env, offered as offered_twins
from .warm import lease_policy, unavailable as warm_unavailable, warm_worker
from .write import remove_orphans

VERDICT_PLUGIN = Path(__file__).with_name("verdict_plugin.py")


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

    def warm_up(self) -> None:
        """Start this interpreter's warm worker now, where one will serve: its imports
        then overlap the generating, checking and formatting before the first validation
        (a validation that finds it not serving starts cold and says why)."""
        if warm_unavailable(isolation()) is None:
            try:
                warm_worker(self.python)
            except OSError:
                pass

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


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5g', '1048576' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", text)
    if not match:
        raise UserError(f"--memory-limit: cannot read size {text!r} (try 8G or 4096M)")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[
        match.group(2).lower()
    ]
    return int(float(match.group(1)) * scale)


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
    """Write ``files`` (the candidate with its judge in ``.scriptgen/judge/``) to a temp
    folder and run the judge there. ``python`` must have what the project needs
    (deps.require_for: callers check it before any work)."""
    limit = parse_size(memory_limit)
    boxed = isolation()
    secret = secrets.token_hex(16)
    twins = twin_cache()
    remove_leftovers(twins)
    with tempfile.TemporaryDirectory(prefix=f"{RUN_PREFIX}{os.getpid()}-") as tmp:
        workdir = Path(tmp)
        project = workdir / "project"
        write_tree(project, files)
        env = sandbox_env(workdir)
        scratch = [workdir / sub for sub in ("home", "tmp", "hf")]
        report_dir, judge_dir = workdir / "report", workdir / "judge"
        report_dir.mkdir()
        judge_dir.mkdir()
        shutil.copyfile(VERDICT_PLUGIN, judge_dir / "scriptgen_verdict.py")
        if "unprivileged" in boxed.contained:
            os.chmod(workdir, 0o711)
            for folder in (*scratch, report_dir):
                os.chown(folder, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        shared = () if twins is None else (twins,)
        shipped = offered_twins()
        ready = () if shipped is None else (shipped,)
        confine = partial(
            confine_policy,
            workdir,
            python,
            memory_limit=limit,
            timeout=timeout,
            boxed=boxed,
            readable=(*shared, *ready),
        )
        env.update(
            PYTHONPATH=str(judge_dir),
            SCRIPTGEN_VERDICT=secret,
            SCRIPTGEN_VERDICT_FILE=str(report_dir / "verdict.json"),
        )
        env.update(judge_env(twins, shipped))
        # The project's own processes: not even the report is theirs.
        narrow = confine(writable=scratch)
        if boxed.landlock:
            env["SCRIPTGEN_CONFINE"] = json.dumps(confine_command(narrow))
        not_warm = warm_unavailable(boxed)
        warm = token = None
        if not_warm is None:
            try:
                warm = warm_worker(python)
            except OSError as exc:
                not_warm = f"the warm worker could not start ({exc})"[:200]
        if warm is not None:
            token = warm.lease(lease_policy(narrow, boxed, project, env))
            if token is None:
                not_warm = f"the warm worker is not serving ({warm.why or 'it ended'})"
            else:
                env["SCRIPTGEN_WARM"] = json.dumps(
                    {"socket": warm.socket, "token": token}
                )
        report_xml = report_dir / "report.xml"
        command = [
            *boxed.prefix,
            *confine_command(confine(writable=[*scratch, report_dir, *shared])),
            python, "-m", "pytest", "-q", "-p", "scriptgen_verdict",
            "-p", "no:cacheprovider", "--tb=native", "-o", "addopts=",
            "--junitxml", str(report_xml), "--rootdir", ".", JUDGE_DIR,
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
        if warm is not None and token is not None:
            warm.release(token)
        seconds = time.perf_counter() - start
        output = out.decode("utf-8", "replace").replace(str(project) + os.sep, "")
        steps = read_junit(report_xml, str(project) + os.sep)
        record = judge_record(report_dir / "verdict.json", secret)
        forged = forged_verdict(record, proc.returncode, steps)
        for step in steps:
            step.judged = judged_figure((record or {}).get("judged"), step.name)
    shown = ["pytest", JUDGE_DIR] + ([f"(timeout {timeout:g}s)"] if timed_out else [])
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
        twins=twin_sources(record),
        worker=worker_mode(record, not_warm),
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
    remove_orphans(Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}*-*"), RUN_PREFIX)
    # The judge stages a twin as .<name>.<random> and renames it whole into place; its
    # PID is of the sandbox's own namespace, so age tells a dead build from a live one.
    for staging in twins.glob(".*") if twins else ():
        try:
            stale = time.time() - staging.stat().st_mtime > _STALE_STAGING_SECONDS
        except OSError:
            continue
        if stale and staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)


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
