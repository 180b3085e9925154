"""The sandbox's confinement policy: what this OS allows (namespaces, Landlock, an
unprivileged user), which paths a run may read and write, its limits, and its scrubbed
environment. ``confine.py`` applies the policy inside the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# Environment variables a validation run may inherit; everything else is dropped.
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
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
NAMESPACES = Path(__file__).with_name("namespaces.py")
# A validation run's temporary folder: the prefix, scriptgen's PID, a random part.
RUN_PREFIX = "scriptgen-validate-"


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
            (
                "no network but loopback"
                if "network" in self.contained
                else "network open"
            ),
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
        # The namespace's loopback up (python -S: nothing but the standard library).
        loopback = (sys.executable, "-S", str(NAMESPACES))
        if contained and _runs([*prefix, *loopback, "true"]):
            prefix = (*prefix, *loopback)
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


def confine_policy(
    workdir: Path,
    python: str,
    *,
    memory_limit: int,
    timeout: float,
    writable: list[Path],
    boxed: Isolation,
    readable: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """A run's policy for ``confine.py``: its limits, and under Landlock, what it may read
    and write."""
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
    return policy


def confine_command(policy: dict[str, Any]) -> list[str]:
    """scriptgen's interpreter running confine.py with ``policy``, then the command that
    follows."""
    return [sys.executable, str(CONFINE), json.dumps(policy), "--"]


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
