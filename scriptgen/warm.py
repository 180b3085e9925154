"""The warm worker, from scriptgen's side: one per scriptgen process and interpreter,
started as soon as a run knows it will validate (``Sandbox.warm_up``: its imports overlap
the generating, checking and formatting) and used by every validation of the run (repair
rounds, ``regen --jobs``, a test session's validations).

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
import socket
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
# The control socket of another scriptgen process that shares its warm workers (share()):
# a scriptgen started with it leases from them instead of importing the stack again.
SHARED = "SCRIPTGEN_WARM_SHARED"


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

    def alive(self) -> bool:
        return self.process.poll() is None


class SharedWorker:
    """The warm worker of the scriptgen process that serves ``control`` (share()): leases
    go over that socket, which only this user can reach; the judge then presents its token
    to that worker's socket as to one of this process's own."""

    def __init__(self, control: str, python: str) -> None:
        self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.connection.connect(control)
        self.stream = self.connection.makefile("rw", encoding="utf-8")
        self.python = python
        self.socket = ""
        self.why = ""
        self._lock = threading.Lock()
        self._open = True

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self.stream.write(json.dumps(message) + "\n")
                self.stream.flush()
                line = self.stream.readline()
            except (OSError, ValueError):
                line = ""
            if not line.strip():
                self._open = False
                return {"why": "the sharing process is gone"}
            return json.loads(line)

    def lease(self, policy: dict[str, Any]) -> str | None:
        answer = self._ask({"python": self.python, "lease": policy})
        if "token" not in answer:
            self.why = str(answer.get("why"))[:200]
            return None
        self.socket = answer["socket"]
        return str(answer["token"])

    def release(self, token: str) -> None:
        self._ask({"release": token})

    def alive(self) -> bool:
        return self._open

    def close(self) -> None:
        self.connection.close()


_WORKERS: dict[str, WarmWorker | SharedWorker] = {}
_STARTING = threading.Lock()
_SERVING: list[str] = []  # the control socket this process serves (share())


def warm_worker(python: str) -> WarmWorker | SharedWorker:
    """This process's warm worker for ``python``, started on first use; the sharing
    process's (``SCRIPTGEN_WARM_SHARED``) where one is named and reachable."""
    with _STARTING:
        worker = _WORKERS.get(python)
        if worker is None or not worker.alive():
            worker = _WORKERS[python] = _shared(python) or WarmWorker(python)
        return worker


def _shared(python: str) -> SharedWorker | None:
    control = os.environ.get(SHARED)
    if not control or control in _SERVING:
        return None
    try:
        return SharedWorker(control, python)
    except OSError:  # its process is gone: this one starts its own
        return None


def share() -> str:
    """Serve this process's warm workers to the scriptgen processes it starts (a test
    session's ``scriptgen`` subprocesses: one import of the stack per test worker, not
    one per command). Sets ``SCRIPTGEN_WARM_SHARED`` for them and returns the control
    socket's path: a folder only this user can enter. A client's leases end with its
    connection (it exited, or was killed)."""
    if _SERVING:
        return _SERVING[0]
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-share-", dir=_base()))
    path = str(folder / "control.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    _SERVING.append(path)
    os.environ[SHARED] = path
    atexit.register(shutil.rmtree, folder, True)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_client, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return path


def _serve_client(conn: socket.socket) -> None:
    """One sharing client's leases and releases, until it closes; then its leases end."""
    held: dict[str, WarmWorker | SharedWorker] = {}
    with conn, conn.makefile("rw", encoding="utf-8") as stream:
        for line in stream:
            message = json.loads(line)
            if "lease" in message:
                worker, why = None, ""
                try:
                    worker = warm_worker(str(message["python"]))
                    token = worker.lease(message["lease"])
                except OSError as exc:
                    token, why = None, f"it could not start ({exc})"
                if token is not None and worker is not None:
                    held[token] = worker
                    answer: dict[str, Any] = {"token": token, "socket": worker.socket}
                else:
                    answer = {"why": why or (worker.why if worker else "")}
            else:
                token = str(message.get("release"))
                if token in held:
                    held.pop(token).release(token)
                answer = {"released": True}
            stream.write(json.dumps(answer) + "\n")
            stream.flush()
    for token, worker in held.items():
        worker.release(token)


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
