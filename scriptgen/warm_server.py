"""The warm worker: imports the ML stack once, then forks the project's process for each
validation, confined as the sandbox confines a cold one.

Run by path with the validation's interpreter (``warm.py`` starts it, one per scriptgen
process): ``python warm_server.py SOCKET MODULES...``. It speaks JSON lines with scriptgen
on stdin and stdout:

- first it answers ``{"ready": true}`` once MODULES are imported and it is still a single
  thread (forking a process with threads is unsafe), or ``{"ready": false, "why": ...}``;
- ``{"lease": TOKEN, "policy": {...}}`` registers one validation: the confinement its
  project's processes get (``warm.lease_policy``); answered ``{"ok": true}``;
- ``{"release": TOKEN}`` kills every process forked for it.

A validation's judge connects to SOCKET, presents its TOKEN with its environment and the
worker's source, and passes its pipes (requests, replies, stdout, stderr) as SCM_RIGHTS.
The server forks a child that takes new network and PID namespaces, forks again (the
grandchild is the namespace's first process: when it dies, everything it started dies),
drops to the unprivileged user, sets the limits, applies the Landlock policy, and runs the
worker in the grandchild. The judge learns the worker's exit status on the same connection;
closing it (or dying) kills the worker. Nothing a child does reaches the server or the next
child: each has its own copy of the memory, and its own confinement.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confine  # noqa: E402  (beside this file, standard library and landlock only)
import namespaces  # noqa: E402  (beside this file: the standard library and confine)

sys.path.pop(0)

_MAX_MESSAGE = 4 << 20


def _fresh_process_state(env: dict[str, str]) -> None:
    """What a new interpreter would have had: the judge's environment, its PYTHONPATH
    first on sys.path, fresh random seeds, default signal handlers, new standard
    streams."""
    os.environ.clear()
    os.environ.update(env)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = paths
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    import tempfile

    tempfile.tempdir = None  # read TMPDIR again
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=False)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), errors="backslashreplace", line_buffering=True
    )


def _worker(
    policy: dict, request: dict, fds: list[int], server: int, told: int
) -> None:
    """The forked child: namespaces, then the grandchild that confines itself and runs the
    worker; the grandchild's PID goes to the server on ``told``. Never returns."""
    try:
        namespaces.die_with_parent(server)
        _close_fds((*fds, told))  # the server's sockets and pipes are not the worker's
        os.setsid()
        namespaces.contain(policy["contained"])
        namespaces.own_folders(policy["own"])
        alive, holding = os.pipe()
        pid = os.fork()
    except BaseException as exc:
        _report_setup_failure(exc, fds)
    if pid:  # stays in the server's PID namespace: the grandchild's exit is its own
        for fd in (*fds, alive):
            os.close(fd)
        os.write(told, str(pid).encode())
        os.close(told)
        # The namespace's first process exits after every other process in it has: when
        # this wait returns, nothing the worker started is left.
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    try:
        namespaces.die_with_parent(alive=alive)
        requests, replies, stdout, stderr = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        _close_fds((requests, replies, alive))
        _fresh_process_state(request["env"])
        os.chdir(policy["cwd"])
        if policy.get("uid") is not None and os.getuid() == 0:
            namespaces.become_unprivileged(policy["uid"])
        namespaces.die_with_parent(alive=alive)  # a change of user clears it: set after
        os.close(alive)
        confine.confine_self(policy["confine"])
        _close_fds((requests, replies))  # the Landlock ruleset's
        sys.argv = ["-c", str(requests), str(replies), request["project"]]
        code = compile(request["worker"], "<worker>", "exec")
    except BaseException as exc:
        _report_setup_failure(exc, [2])
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status & 0xFF)


def _report_setup_failure(exc: BaseException, fds: list[int]) -> None:
    message = f"scriptgen warm worker: cannot confine the project's process: {exc}\n"
    try:
        import traceback

        os.write(fds[-1], (message + traceback.format_exc()).encode())
    finally:
        os._exit(confine.EXIT_CONFINE)


def _close_fds(keep: tuple[int, ...]) -> None:
    """Close every descriptor above 2 but ``keep``."""
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2 and int(name) not in keep:
            try:
                os.close(int(name))
            except OSError:  # the listing's own, already gone
                pass


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: a 4-byte length, then that much JSON; the pipes ride on the first
    bytes. All of it within 5 seconds: a client that trickles holds the server no longer.
    """
    deadline = time.monotonic() + 5

    def wait() -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ValueError("request too slow")
        conn.settimeout(left)

    fds: list[int] = []
    wait()
    head, ancillary, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(4 * 4))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += list(struct.unpack(f"{usable // 4}i", data[:usable]))
    try:
        if len(head) != 4:
            raise ValueError("short request")
        size = int.from_bytes(head, "big")
        if size > _MAX_MESSAGE:
            raise ValueError("request too large")
        body = b""
        while len(body) < size:
            wait()
            chunk = conn.recv(min(size - len(body), 1 << 16))
            if not chunk:
                raise ValueError("request cut short")
            body += chunk
        return json.loads(body), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _send(stream, message: dict) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _reply(conn: socket.socket, message: dict) -> None:
    try:
        conn.setblocking(True)
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass


def serve(path: str, modules: list[str]) -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    control_out = sys.stdout
    # Listening before the imports: a judge that connects meanwhile waits in the backlog.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o666)  # the judge runs as another user; the token is the key
    listener.listen(16)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # not installed here: the child imports what it needs
            pass
    # What the imports made lives as long as the server: out of the collector's sight, a
    # child's collections neither walk it (accelerate collects at the end of every
    # training: 0.26 s of a twin's 0.8 s run) nor write to the pages it shares with us.
    gc.freeze()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        _send(control_out, {"ready": False, "why": f"{threads} threads after imports"})
        return
    if not confine.landlock_abi():
        why = f"no Landlock for {sys.executable} (pip install landlock)"
        _send(control_out, {"ready": False, "why": why})
        return
    leases: dict[str, dict] = {}
    # intermediate child's PID -> (token, the judge's connection, the worker's PID)
    children: dict[int, tuple[str, socket.socket, int | None]] = {}
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "control")
    selector.register(listener, selectors.EVENT_READ, "listener")
    _send(control_out, {"ready": True})
    pending = b""

    def finish(pid: int, status: int) -> None:
        _, conn, _ = children.pop(pid)
        try:
            selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        _reply(conn, {"exit": os.waitstatus_to_exitcode(status)})
        conn.close()

    def end(pid: int) -> None:
        """Kill the worker, and return once its whole PID namespace is gone."""
        worker = children[pid][2]
        for target in (worker, pid) if worker else (pid,):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the child sees the worker's end
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    finish(pid, status)
                    return
                time.sleep(0.01)

    while True:
        events = selector.select(timeout=0.2)
        # Leases first: a judge never connects before its lease was written.
        events.sort(key=lambda event: event[0].data != "control")
        for key, _ in events:
            if key.data == "control":
                chunk = os.read(0, 1 << 16)
                if not chunk:  # scriptgen is gone
                    for pid in list(children):
                        end(pid)
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    message = json.loads(line)
                    if "lease" in message:
                        leases[message["lease"]] = message["policy"]
                        _send(control_out, {"ok": True})
                    elif "release" in message:
                        leases.pop(message["release"], None)
                        for pid, (token, _, _) in list(children.items()):
                            if token == message["release"]:
                                end(pid)
                        _send(control_out, {"released": True})
            elif key.data == "listener":
                conn, _ = listener.accept()
                fds: list[int] = []
                try:
                    request, fds = _receive(conn)
                    policy = leases.get(str(request.get("token")))
                    if policy is None or len(fds) != 4:
                        raise ValueError("no such validation")
                    server = os.getpid()
                    told, telling = os.pipe()
                    pid = os.fork()
                    if pid == 0:
                        _worker(policy, request, fds, server, telling)
                    os.close(telling)
                    with os.fdopen(told, "rb") as said:
                        worker = int(said.read(32) or 0) or None
                    _reply(conn, {"pid": pid})
                    conn.setblocking(False)
                    children[pid] = (request["token"], conn, worker)
                    selector.register(conn, selectors.EVENT_READ, pid)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    _reply(conn, {"error": str(exc)[:200]})
                    conn.close()
                finally:
                    for fd in fds:
                        os.close(fd)
            else:  # the judge closed its connection, or died: the worker goes
                try:
                    data = key.fileobj.recv(64)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data and key.data in children:
                    end(key.data)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            finish(pid, status)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
