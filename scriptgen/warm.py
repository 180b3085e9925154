"""The warm worker, from scriptgen's side: one per scriptgen process and interpreter,
started by the first validation and used by every one after it (repair rounds, ``regen
--jobs``, a test session's validations).

It imports the ML stack once (``PRELOAD``) and forks the project's process for each
validation, confined as a cold one is (``warm_server.py``). The judge asks for it with the
token of its validation; where the warm worker cannot be had, or says no, the judge starts
the project's process cold, as it does when run by hand, and says which in
``validation.json``.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from .isolation import UNPRIVILEGED_ID, Isolation, sandbox_env

SERVER = Path(__file__).with_name("warm_server.py")
# What the warm worker imports before it forks: the stack, down to the Trainer. None of
# it starts a thread (checked: the worker does not serve if one did); huggingface_hub,
# datasets and transformers fix their cache folders from HF_HOME when imported, so each
# child sees its own run's HOME, TMPDIR and HF_HOME mounted where the worker's were
# (``OWN_FOLDERS``).
PRELOAD = (
    "torch", "numpy", "scipy", "sympy", "networkx", "pandas", "pyarrow", "safetensors",
    "tokenizers", "datasets", "transformers", "transformers.trainer", "peft",
)  # fmt: skip
OWN_FOLDERS = ("HOME", "TMPDIR", "HF_HOME")
# pyarrow's allocator starts a thread of its own at import unless told not to.
SERVER_ENV = {"JE_ARROW_MALLOC_CONF": "background_thread:false"}
# SCRIPTGEN_WARM=0 turns it off (every validation starts its project's process cold).
SWITCH = "SCRIPTGEN_WARM"


def unavailable(boxed: Isolation) -> str | None:
    """Why a warm worker cannot serve validations here, or None."""
    if os.environ.get(SWITCH, "1") == "0":
        return f"{SWITCH}=0"
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return "no fork on this platform"
    if not boxed.landlock:
        return "no Landlock: a forked worker could reach the judge"
    if os.geteuid() != 0 or "unprivileged" not in boxed.contained:
        return "scriptgen is not root (the warm worker drops to nobody from root only)"
    return None


def _base() -> Path:
    """Where the warm workers' sockets live: in the home folder, which no validation can
    list (Landlock), but the judge reaches a socket there by its name; the temporary
    folder where the home is none, or too deep for a socket's name. Folders that killed
    scriptgen processes left are removed."""
    from .write import remove_orphans

    home = Path.home() / ".cache" / "scriptgen" / "warm"
    for base in (home, Path(tempfile.gettempdir()) / "scriptgen-warm"):
        if base == home and (str(Path.home()) == "/" or len(str(base)) > 60):
            continue
        try:
            base.mkdir(parents=True, exist_ok=True)
            os.chmod(base, 0o711)
            break
        except OSError:
            continue
    remove_orphans(base.iterdir())
    return base


class WarmWorker:
    """The server process and its control pipe."""

    def __init__(self, python: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=_base()))
        os.chmod(self.folder, 0o711)  # others may reach the socket by name, not list it
        self.socket = str(self.folder / f"{secrets.token_hex(8)}.sock")
        env = sandbox_env(self.folder)  # makes its home, tmp and hf folders
        env.update(SERVER_ENV)
        self.process = subprocess.Popen(
            [python, str(SERVER), self.socket, *PRELOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=self.folder,
            text=True,
        )
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self.why = ""

    def _await_ready(self) -> bool:
        if self._ready is None:
            line = self.process.stdout.readline() if self.process.stdout else ""
            answer = json.loads(line) if line.strip() else {"why": "it did not start"}
            self._ready = bool(answer.get("ready"))
            self.why = "" if self._ready else str(answer.get("why"))[:200]
        return self._ready

    def lease(self, policy: dict[str, Any]) -> str | None:
        """Register a validation's confinement; its token, or None where the worker is
        not (or no longer) serving."""
        token = secrets.token_hex(16)
        with self._lock:
            try:
                if not self._await_ready():
                    return None
                self._send({"lease": token, "policy": policy})
                answer = self.process.stdout.readline() if self.process.stdout else ""
            except (OSError, ValueError):
                self._ready, self.why = False, "it ended"
                return None
        return token if answer.strip() else None

    def release(self, token: str) -> None:
        """Kill whatever was forked for the validation ``token``; return once it is gone."""
        with self._lock:
            try:
                self._send({"release": token})
                if self.process.stdout:
                    self.process.stdout.readline()
            except OSError:
                pass

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_WORKERS: dict[str, WarmWorker] = {}
_STARTING = threading.Lock()


def warm_worker(python: str) -> WarmWorker:
    """This process's warm worker for ``python``, started on first use."""
    with _STARTING:
        worker = _WORKERS.get(python)
        if worker is None or worker.process.poll() is not None:
            worker = _WORKERS[python] = WarmWorker(python)
        return worker


@atexit.register
def _close_all() -> None:
    for worker in _WORKERS.values():
        worker.close()


def lease_policy(
    confine: dict[str, Any], boxed: Isolation, project: Path, env: dict[str, str]
) -> dict[str, Any]:
    """What the server applies to each process it forks for one validation: the policy a
    cold project process gets from confine.py, the namespaces and the user of the run,
    and the run's own folders (from its environment ``env``) to mount over the worker's.
    """
    return {
        "confine": confine,
        "contained": list(boxed.contained),
        "uid": UNPRIVILEGED_ID if "unprivileged" in boxed.contained else None,
        "cwd": str(project),
        "own": {name: env[name] for name in OWN_FOLDERS},
    }
