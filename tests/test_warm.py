"""The warm worker: the project's process forked from a process that has the ML stack
imported, confined as a cold one is.

Each hostile project below runs through the judge's harness (the project's process, which
the warm worker forks), warm and cold: what it tries fails the same way in both. Then the
warm worker's own promises: one child's changes, in memory or on disk, are not the next
child's; where it cannot serve, the judge starts cold and validation.json says why.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from scriptgen import warm
from scriptgen.isolation import isolation
from scriptgen.validation import run_contract_tests

from .test_sandbox import HARNESS
from .test_validate import _running, _wait_for

pytestmark = pytest.mark.skipif(
    warm.unavailable(isolation()) is not None,
    reason=f"no warm worker here: {warm.unavailable(isolation())}",
)
MODES = ["warm", "cold"]
# Landlock ABI 6: without the signal scope, the project's process could kill the judge.
signals_scoped = pytest.mark.skipif(
    "signals" not in isolation().contained,
    reason="no Landlock signal scope on this kernel (ABI < 6; scriptgen doctor says so)",
)


def harness_project(project_code: str, judge: str) -> dict[str, str]:
    """A project (``project.py``) whose judge (``judge``) calls it as ``project`` through
    the harness."""
    return {
        "project.py": project_code,
        ".scriptgen/judge/harness.py": HARNESS,
        ".scriptgen/judge/conftest.py": (
            "import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\nimport harness\n"
        ),
        ".scriptgen/judge/test_judge.py": "import harness\nproject = harness.module('project')\n"
        + judge,
    }


def judged(project_code: str, judge: str, mode: str, monkeypatch: pytest.MonkeyPatch):
    """Validate ``harness_project(project_code, judge)`` with the warm worker on or off."""
    monkeypatch.setenv(warm.SWITCH, "1" if mode == "warm" else "0")
    report = run_contract_tests(harness_project(project_code, judge), timeout=120)
    expected = "warm" if mode == "warm" else f"cold: {warm.SWITCH}=0"
    assert report.worker == expected, report.output_tail
    return report


def test_the_warm_worker_serves_this_machine() -> None:
    """CI and development machines run validations warm: the tests below must run."""
    assert warm.unavailable(isolation()) is None


@pytest.mark.parametrize("mode", MODES)
def test_the_projects_process_writes_only_its_own_folders(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It writes outside its run (ignoring the errors, as a careless script would), reads
    a home folder, looks at its user: refused, refused, not root; its own HOME and TMPDIR
    are writable."""
    outside = [tmp_path / "escape.txt", Path("/tmp") / f"escape-{uuid.uuid4().hex}.txt"]
    code = (
        "import os, pathlib\n"
        "def write_everywhere(paths):\n"
        "    refused = []\n"
        "    for path in paths:\n"
        "        try:\n"
        "            pathlib.Path(path).write_text('escaped')\n"
        "        except OSError as exc:\n"
        "            refused.append(type(exc).__name__)\n"
        "    for folder in (os.environ['HOME'], os.environ['TMPDIR']):\n"
        "        pathlib.Path(folder, 'inside.txt').write_text('fine')\n"
        "    return refused\n"
        "def read_home():\n"
        "    try:\n"
        "        return os.listdir('/root')\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
        "def uid():\n"
        "    return os.getuid()\n"
    )
    judge = (
        "def test_it():\n"
        f"    refused = project.write_everywhere({[str(p) for p in outside]!r})\n"
        "    assert refused == ['PermissionError', 'PermissionError'], refused\n"
        "    assert project.read_home() == 'PermissionError'\n"
        "    assert project.uid() != 0\n"
    )
    report = judged(code, judge, mode, monkeypatch)
    assert report.passed, report.output_tail
    assert not any(p.exists() for p in outside)


@pytest.mark.parametrize("mode", MODES)
def test_no_process_the_project_leaves_outlives_the_run(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's process starts a process that leaves its session and outlives its
    parent (a daemon): it dies with the run."""
    marker = f"scriptgen-left-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        "def leave():\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
        f"{marker!r}], start_new_session=True)\n"
    )
    report = judged(code, "def test_it():\n    project.leave()\n", mode, monkeypatch)
    assert report.passed, report.output_tail
    assert _running(marker) == []


@pytest.mark.parametrize("mode", MODES)
def test_the_projects_process_serves_on_loopback_and_reaches_nothing_else(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project that serves (serve.py) is asked on 127.0.0.1 inside the sandbox; the
    internet stays out of reach."""
    code = (
        "import http.server, socket, threading, urllib.request\n"
        "class Hello(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b'hello')\n"
        "def ask_itself():\n"
        "    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Hello)\n"
        "    threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "    url = f'http://127.0.0.1:{server.server_address[1]}/'\n"
        "    with urllib.request.urlopen(url, timeout=10) as reply:\n"
        "        body = reply.read().decode()\n"
        "    server.shutdown()\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 80), timeout=2).close()\n"
        "        beyond = 'reached'\n"
        "    except OSError as exc:\n"
        "        beyond = type(exc).__name__\n"
        "    return body, beyond\n"
    )
    judge = (
        "def test_it():\n"
        "    body, beyond = project.ask_itself()\n"
        "    assert body == 'hello'\n"
        "    assert beyond != 'reached'\n"
    )
    report = judged(code, judge, mode, monkeypatch)
    assert report.passed, report.output_tail


@signals_scoped
@pytest.mark.parametrize("mode", MODES)
def test_the_projects_process_cannot_reach_the_judge(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by its command line, the judge's process is out of reach: its environment
    (where the verdict's secret was), its memory, signals; the report cannot be written.
    """
    code = (
        "import atexit, glob, os, signal\n"
        "def judge_pid():\n"
        "    for cmdline in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "        try:\n"
        "            text = open(cmdline, 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        "        if b'scriptgen_verdict' in text:\n"
        "            return int(cmdline.split('/')[2])\n"
        "def try_everything():\n"
        "    pid, tried = judge_pid(), {}\n"
        "    for name, action in (\n"
        "        ('report', lambda: open(glob.glob('/tmp/scriptgen-validate-*/report')[0]\n"
        "                                + '/verdict.json', 'w')),\n"
        "        ('environ', lambda: open(f'/proc/{pid}/environ').read()),\n"
        "        ('memory', lambda: open(f'/proc/{pid}/mem', 'rb')),\n"
        "        ('signal', lambda: os.kill(os.getppid() or pid, signal.SIGKILL)),\n"
        f"        ('socket', lambda: os.listdir({str(warm.warm_worker(sys.executable).folder)!r})),\n"
        "    ):\n"
        "        try:\n"
        "            action()\n"
        "            tried[name] = 'done'\n"
        "        except OSError as exc:\n"
        "            tried[name] = type(exc).__name__\n"
        "    return pid is not None, tried\n"
        "def main():\n"
        "    atexit.register(lambda: os._exit(0))\n"
        "    raise SystemExit(0)\n"
    )
    judge = (
        "def test_it():\n"
        "    found, tried = project.try_everything()\n"
        "    assert found\n"
        "    signal = tried.pop('signal')\n"
        "    assert tried == {'report': 'PermissionError', 'environ': 'PermissionError',\n"
        "                     'memory': 'PermissionError', 'socket': 'PermissionError'}, tried\n"
        # Cold, the judge is the project's parent in their PID namespace, and Landlock's
        # signal scope refuses; warm, the project has a PID namespace of its own, where
        # the judge has no PID.
        f"    assert signal == {'PermissionError' if mode == 'cold' else 'ProcessLookupError'!r}\n"
        "def test_the_code_fails():\n"
        "    project.main()\n"
        "def test_the_judge_cannot_import_the_project():\n"
        "    import importlib.util\n"
        "    assert importlib.util.find_spec('project') is None\n"
    )
    report = judged(code, judge, mode, monkeypatch)
    outcomes = {s.name: s.outcome for s in report.steps}
    assert outcomes == {
        "test_it": "passed",
        "test_the_code_fails": "failed",
        "test_the_judge_cannot_import_the_project": "passed",
    }, report.output_tail
    assert not any("forged" in d for d in report.diagnostics)
    assert any("SystemExit" in d for d in report.diagnostics), report.diagnostics


def test_one_child_leaves_nothing_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two validations served by the same warm worker: what the first changed in the
    modules the worker imported, in its environment and on disk, the second does not see.
    """
    import sys

    monkeypatch.setenv(warm.SWITCH, "1")
    server = warm.warm_worker(sys.executable)
    spoiled = f"spoiled-{uuid.uuid4().hex}.txt"
    code = (
        "import glob, os, pathlib, tempfile, datasets, torch\n"
        "CACHED = pathlib.Path(datasets.config.HF_DATASETS_CACHE, 'spoiled')\n"
        "def spoil():\n"
        "    CACHED.parent.mkdir(parents=True, exist_ok=True)\n"
        "    CACHED.write_text('x')\n"
        "    torch.spoiled = True\n"
        "    torch.manual_seed = None\n"
        "    os.environ['SPOILED'] = '1'\n"
        f"    pathlib.Path(tempfile.gettempdir(), {spoiled!r}).write_text('x')\n"
        "def look():\n"
        "    return [hasattr(torch, 'spoiled'), torch.manual_seed is None,\n"
        "            'SPOILED' in os.environ, tempfile.gettempdir(),\n"
        f"            glob.glob('/tmp/scriptgen-validate-*/tmp/{spoiled}'),\n"
        "            CACHED.exists(),\n"
        "            os.path.exists(os.path.join(os.environ['HF_HOME'], 'datasets', 'spoiled'))]\n"
    )
    first = judged(
        code,
        "import os\n"
        "def test_spoil():\n"
        "    project.spoil()\n"
        "    seen = project.look()\n"
        "    assert seen[:3] == [True, True, True], seen\n"
        f"    assert seen[4] == [os.path.join(os.environ['TMPDIR'], {spoiled!r})], seen\n"
        # datasets fixed its cache folder when the warm worker imported it: that
        # folder is this run's HF_HOME.
        "    assert seen[5:] == [True, True], seen\n",
        "warm",
        monkeypatch,
    )
    assert first.passed, first.output_tail
    second = judged(
        code,
        "import os\n"
        "def test_clean():\n"
        "    seen = project.look()\n"
        "    assert seen == [False, False, False, os.environ['TMPDIR'], [], False, False], seen\n",
        "warm",
        monkeypatch,
    )
    assert second.passed, second.output_tail
    assert warm.warm_worker(sys.executable) is server  # one warm worker served both
    assert server.process.poll() is None


def test_a_childs_collections_skip_what_the_worker_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's imports are frozen out of the collector: a child's gc.collect() (the
    Trainer's accelerate runs one after every training) does not walk the ML stack's
    objects, and what the child itself leaves in a cycle is still collected."""
    code = (
        "import gc, weakref\n"
        "class Node:\n"
        "    pass\n"
        "def collect():\n"
        "    node = Node()\n"
        "    node.itself = node\n"
        "    alive = weakref.ref(node)\n"
        "    del node\n"
        "    gc.collect()\n"
        "    return [gc.get_freeze_count(), alive() is None, gc.isenabled()]\n"
    )
    report = judged(
        code,
        "def test_it():\n"
        "    frozen, collected, enabled = project.collect()\n"
        "    assert frozen > 100_000 and collected and enabled, (frozen, collected)\n",
        "warm",
        monkeypatch,
    )
    assert report.passed, report.output_tail


def test_a_worker_with_threads_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forking a process that has threads is unsafe: a warm worker whose imports started
    one (pyarrow's allocator, when not told otherwise) does not serve, and the judge
    starts its project cold."""
    monkeypatch.setattr(warm, "PRELOAD", ("pyarrow",))
    monkeypatch.setattr(warm, "SERVER_ENV", {})
    monkeypatch.setattr(warm, "_WORKERS", {})
    monkeypatch.setenv(warm.SWITCH, "1")
    files = harness_project(
        "def f():\n    return 1\n", "def test_it():\n    assert project.f() == 1\n"
    )
    report = run_contract_tests(files, timeout=120)
    assert report.passed, report.output_tail
    assert report.worker.startswith("cold: the warm worker is not serving (")
    assert "threads after imports" in report.worker
    for worker in warm._WORKERS.values():
        worker.close()


def test_an_unknown_token_forks_nothing(tmp_path: Path) -> None:
    """The warm worker forks only for a validation scriptgen leased: a judge with a
    wrong token (or anyone else on the machine) gets an error and the judge goes cold.
    """
    import json
    import socket
    import sys

    server = warm.warm_worker(sys.executable)
    assert server.lease({"confine": {}, "contained": [], "uid": None, "cwd": "/"})
    read, write = os.pipe()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(server.socket)
    body = json.dumps({"token": "0" * 32, "env": {}, "worker": "", "project": "/"})
    socket.send_fds(conn, [len(body).to_bytes(4, "big")], [read, write, 1, 2])
    conn.sendall(body.encode())
    answer = json.loads(conn.makefile("rb").readline())
    assert answer == {"error": "no such validation"}
    conn.close()
    os.close(read)
    os.close(write)


def test_a_child_that_cannot_be_confined_starts_cold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm worker cannot confine the project's process (here: its run's folder to
    mount is missing): the child never runs the project's code, and the judge starts it
    cold instead, saying so."""
    import scriptgen.validation as validate

    def broken(*args, **kwargs):
        policy = warm.lease_policy(*args, **kwargs)
        policy["own"]["HOME"] = "/nonexistent/home"
        return policy

    monkeypatch.setattr(validate, "lease_policy", broken)
    monkeypatch.setenv(warm.SWITCH, "1")
    files = harness_project(
        "import os\ndef uid():\n    return os.getuid()\n",
        "def test_it():\n    assert project.uid() != 0\n",
    )
    report = run_contract_tests(files, timeout=120)
    assert report.passed, report.output_tail
    assert (
        report.worker == "cold: the warm worker could not confine the project's process"
    )


def test_a_silent_client_holds_the_worker_no_longer_than_5_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone connects to the warm worker's socket and sends nothing: the worker gives
    up on it within 5 seconds, and the validation queued behind it is served warm."""
    import socket
    import time

    server = warm.warm_worker(sys.executable)
    assert server.lease({"confine": {}, "contained": [], "uid": None, "cwd": "/"})
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(server.socket)
    start = time.monotonic()
    report = judged("def f():\n    return 1\n", "def test_it():\n    assert project.f() == 1\n",
                    "warm", monkeypatch)  # fmt: skip
    assert report.passed, report.output_tail
    assert time.monotonic() - start < 60
    assert silent.makefile("rb").readline().startswith(b'{"error"')
    silent.close()


def _validate_in_a_child(files: dict, tmp_path: Path, wait: bool = True):
    """A separate scriptgen process validates ``files``, with this process's warm workers
    shared with it; it prints its report's worker and which kind of worker it used."""
    import json
    import subprocess

    warm.share()
    script = tmp_path / "child.py"
    script.write_text(
        "import json, sys\n"
        "from scriptgen import warm\n"
        "from scriptgen.validation import run_contract_tests\n"
        f"report = run_contract_tests({files!r}, timeout=120)\n"
        "kind = type(warm._WORKERS[sys.executable]).__name__\n"
        "print(json.dumps({'passed': report.passed, 'worker': report.worker, 'kind': kind}))\n",
        encoding="utf-8",
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    if not wait:
        return child
    out, _ = child.communicate(timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def test_a_scriptgen_it_starts_leases_from_the_shared_worker(tmp_path: Path) -> None:
    """A scriptgen process started with SCRIPTGEN_WARM_SHARED forks its project's process
    from the sharing process's worker (no stack imported again), confined the same way.
    """
    files = harness_project(
        "import os\ndef uid():\n    return os.getuid()\n",
        "def test_it():\n    assert project.uid() != 0\n",
    )
    said = _validate_in_a_child(files, tmp_path)
    assert said == {"passed": True, "worker": "warm", "kind": "SharedWorker"}, said


def test_a_killed_clients_leases_end_with_it(tmp_path: Path) -> None:
    """The scriptgen process that leased from the shared worker is killed while its
    project's process runs: that process, and what it started, die with it."""
    marker = f"scriptgen-shared-{uuid.uuid4().hex}"
    files = harness_project(
        "import subprocess, sys, time\n"
        "def wait():\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
        f"{marker!r}], start_new_session=True)\n"
        "    time.sleep(300)\n",
        "def test_it():\n    project.wait()\n",
    )
    child = _validate_in_a_child(files, tmp_path, wait=False)
    _wait_for(lambda: _running(marker), 120)
    assert _running(marker), "the project's process never started"
    child.kill()
    child.wait()
    _wait_for(lambda: not _running(marker), 15)
    assert _running(marker) == []
