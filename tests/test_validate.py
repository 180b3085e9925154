"""The validation sandbox, with small real pytest projects (no ML imports: fast)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from scriptgen.errors import UserError
from scriptgen.isolation import sandbox_env
from scriptgen.report import Step, diagnose
from scriptgen.validation import parse_size, run_contract_tests

PASSING = {".scriptgen/judge/test_ok.py": "def test_ok():\n    assert 1 + 1 == 2\n"}


def test_parse_size() -> None:
    assert parse_size("8G") == 8 * 2**30
    assert parse_size("512m") == 512 * 2**20
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size("4096") == 4096
    with pytest.raises(UserError, match="cannot read size"):
        parse_size("lots")


def test_passing_project_reports_each_step() -> None:
    report = run_contract_tests(PASSING, timeout=60)
    assert report.passed, report.output_tail
    assert [(s.name, s.outcome) for s in report.steps] == [("test_ok", "passed")]
    assert report.summary().startswith("passed (1 contract tests")


def test_environment_is_scrubbed_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("SCRIPTGEN_API_KEY", "secret")
    probe = {
        ".scriptgen/judge/test_env.py": (
            "import os\n"
            "def test_env():\n"
            "    leaked = [k for k in os.environ if k.endswith(('_KEY', '_TOKEN'))]\n"
            "    assert leaked == []\n"
            "    assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
            "    assert os.environ['HOME'] != os.path.expanduser('~root')\n"
        )
    }
    report = run_contract_tests(probe, timeout=60)
    assert report.passed, report.output_tail
    env = sandbox_env(__import__("pathlib").Path(__import__("tempfile").mkdtemp()))
    assert "OPENAI_API_KEY" not in env and "HF_TOKEN" not in env


def test_network_is_cut_where_the_os_allows() -> None:
    from scriptgen.isolation import isolation

    if "network" not in isolation().contained:
        pytest.skip("unshare -rn is not allowed on this machine")
    probe = {
        ".scriptgen/judge/test_net.py": (
            "import socket, pytest\n"
            "def test_no_network():\n"
            "    with pytest.raises(OSError):\n"
            "        socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        )
    }
    report = run_contract_tests(probe, timeout=60)
    assert report.passed, report.output_tail
    assert "network" in report.isolation


def _running(marker: str) -> list[str]:
    """Command lines of the live processes that carry ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def _wait_for(condition: Callable[[], object], seconds: float) -> None:
    """Poll ``condition`` every 0.2 s until it holds or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("detach", [False, True], ids=["children", "setsid-children"])
def test_no_process_outlives_a_passing_run(detach: bool) -> None:
    """Code under test starts long-sleeping children (some leaving the process group) and
    passes: when validation returns, none of them is alive."""
    marker = f"scriptgen-leftover-{uuid.uuid4().hex}"
    spawn = {
        ".scriptgen/judge/test_spawn.py": (
            "import subprocess, sys\n"
            "def test_spawn():\n"
            "    for _ in range(20):\n"
            "        subprocess.Popen(\n"
            f"            [sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}],\n"
            f"            start_new_session={detach}, stdout=subprocess.DEVNULL,\n"
            "            stderr=subprocess.DEVNULL)\n"
        )
    }
    report = run_contract_tests(spawn, timeout=60)
    assert report.passed, report.output_tail
    if detach:
        from scriptgen.isolation import isolation

        if "processes" not in isolation().contained:
            pytest.skip("no PID namespace here: a setsid child escapes the group")
    time.sleep(0.5)  # SIGKILL is delivered asynchronously
    assert _running(marker) == []


def test_timeout_kills_the_run_and_says_so() -> None:
    slow = {
        ".scriptgen/judge/test_slow.py": "import time\ndef test_slow():\n    time.sleep(60)\n"
    }
    report = run_contract_tests(slow, timeout=3)
    assert not report.passed
    assert report.seconds < 30
    assert "timed out after 3s" in report.diagnostics[0]


def test_memory_limit_is_enforced() -> None:
    hog = {
        ".scriptgen/judge/test_hog.py": "def test_hog():\n    b = bytearray(600 * 2**20)\n    assert b\n"
    }
    report = run_contract_tests(hog, timeout=60, memory_limit="300M")
    assert not report.passed
    assert "MemoryError" in report.output_tail


def test_failure_points_at_the_project_file_and_line() -> None:
    project = {
        "train.py": "import json\n\ndef main():\n    return json.loadz('{}')\n",
        ".scriptgen/judge/conftest.py": "import sys, os\nsys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))\n",
        ".scriptgen/judge/test_train.py": "import train\n\ndef test_train():\n    train.main()\n",
    }
    report = run_contract_tests(project, timeout=60)
    assert not report.passed
    assert report.diagnostics == [
        "train.py:4: AttributeError: module 'json' has no attribute 'loadz' (in test_train)"
    ]


def test_diagnose_syntax_error_raised_at_import() -> None:
    message = (
        "Traceback (most recent call last):\n"
        '  File ".scriptgen/judge/test_contract.py", line 5, in test_train\n'
        "    import train\n"
        '  File "train.py", line 7\n'
        "    return x\n"
        "    ^^^^^^^^\n"
        "IndentationError: unexpected indent\n"
    )
    assert diagnose(Step("test_train", "failed", 0.1, message)) == (
        "train.py:7: IndentationError: unexpected indent (in test_train)"
    )


def test_cancel_stops_a_running_validation() -> None:
    import threading

    slow = {
        ".scriptgen/judge/test_slow.py": "import time\ndef test_slow():\n    time.sleep(60)\n"
    }
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    report = run_contract_tests(slow, timeout=120, cancel=cancel)
    assert not report.passed
    assert report.seconds < 30


def test_diagnose_collection_error_in_pytest_short_form() -> None:
    message = (
        "ImportError while importing test module '.scriptgen/judge/test_contract.py'.\n"
        "Traceback:\n"
        "/usr/lib/python3.11/importlib/__init__.py:126: in import_module\n"
        "    return _bootstrap._gcd_import(name[level:], package, level)\n"
        ".scriptgen/judge/test_contract.py:29: in <module>\n"
        "    import train\n"
        "train.py:23: in <module>\n"
        "    from transformers import AdamW\n"
        "E   ImportError: cannot import name 'AdamW' from 'transformers' (/x/transformers/__init__.py)\n"
    )
    assert diagnose(Step("tests.test_contract", "error", 0.0, message)) == (
        "train.py:23: ImportError: cannot import name 'AdamW' from 'transformers' "
        "(/x/transformers/__init__.py) (in tests.test_contract)"
    )
