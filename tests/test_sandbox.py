"""What the validation sandbox contains, tried by small real projects whose code misbehaves:
writes outside its run, reads a home folder, runs as root, forges its verdict. No ML
imports: fast. Each needs the mechanism it tries (Landlock, namespaces), which this
machine and CI have; `scriptgen doctor` says which a machine lacks.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from scriptgen.errors import UserError
from scriptgen.isolation import FILE_SIZE_LIMIT, PROCESS_LIMIT, Isolation, isolation
from scriptgen.render import environment
from scriptgen.validation import Sandbox, parse_size, run_contract_tests

confined = pytest.mark.skipif(
    "filesystem" not in isolation().contained,
    reason="no Landlock on this kernel (scriptgen doctor says so)",
)
# The judge's harness as a text task's judge has it.
HARNESS = (
    environment().get_template("_common/judge/harness.py.j2").render(task={"vars": {}})
)


def test_this_machine_has_the_whole_sandbox() -> None:
    """CI and development machines are Linux with Landlock and namespaces: the tests
    below must run, not skip."""
    assert {"network", "processes", "filesystem"} <= set(isolation().contained)
    if os.geteuid() == 0:
        assert "unprivileged" in isolation().contained


@confined
def test_writes_outside_the_run_are_refused(tmp_path: Path) -> None:
    """The code under test writes to absolute paths outside its run (and ignores the
    errors, as a careless or hostile script would): nothing lands; its own HOME and
    TMPDIR stay writable."""
    outside = [tmp_path / "escape.txt", Path.cwd() / f"escape-{os.getpid()}.txt"]
    probe = {
        ".scriptgen/judge/test_escape.py": (
            "import os\n"
            "def test_write_everywhere():\n"
            f"    for path in {[str(p) for p in outside]!r}:\n"
            "        try:\n"
            "            with open(path, 'w') as f:\n"
            "                f.write('escaped')\n"
            "        except OSError:\n"
            "            pass\n"
            "    for folder in (os.environ['HOME'], os.environ['TMPDIR']):\n"
            "        with open(os.path.join(folder, 'inside.txt'), 'w') as f:\n"
            "            f.write('fine')\n"
        )
    }
    report = run_contract_tests(probe, timeout=60)
    assert report.passed, report.output_tail
    assert [p for p in outside if p.exists()] == []
    assert "filesystem" in report.isolation


@confined
def test_files_move_between_folders_of_the_run(tmp_path: Path) -> None:
    """A file written in a temporary folder, then moved beside it (ONNX's external data,
    atomic saves), moves: every Landlock layer, the signal scope's too, allows it
    beneath the run's writable folders; a move out of them is refused."""
    outside = tmp_path / "moved-out.txt"
    probe = {
        ".scriptgen/judge/test_move.py": (
            "import os, tempfile\n"
            "def test_move():\n"
            "    folder = os.environ['TMPDIR']\n"
            "    staging = tempfile.mkdtemp(dir=folder, prefix='.staging.')\n"
            "    with open(os.path.join(staging, 'data'), 'w') as f:\n"
            "        f.write('weights')\n"
            "    os.replace(os.path.join(staging, 'data'), os.path.join(folder, 'data'))\n"
            "    try:\n"
            f"        os.replace(os.path.join(folder, 'data'), {str(outside)!r})\n"
            "    except OSError:\n"
            "        pass\n"
        )
    }
    report = run_contract_tests(probe, timeout=60)
    assert report.passed, report.output_tail
    assert not outside.exists()


@confined
def test_the_home_folder_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir(parents=True)
    key.write_text("PRIVATE-KEY-MATERIAL\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    probe = {
        ".scriptgen/judge/test_read.py": (
            "import pytest\n"
            "def test_no_secrets():\n"
            "    with pytest.raises(PermissionError):\n"
            f"        open({str(key)!r}).read()\n"
            "    with pytest.raises(PermissionError):\n"
            "        open('/etc/shadow').read()\n"
        )
    }
    report = run_contract_tests(probe, timeout=60)
    assert report.passed, report.output_tail
    assert "PRIVATE-KEY-MATERIAL" not in report.output_tail


def test_the_code_under_test_is_not_root_and_is_limited() -> None:
    limit = "3G"
    probe = {
        ".scriptgen/judge/test_limits.py": (
            "import os, resource\n"
            "def test_limits():\n"
            "    assert os.geteuid() != 0 and os.getuid() != 0\n"
            "    get = resource.getrlimit\n"
            f"    assert get(resource.RLIMIT_AS)[0] == {parse_size(limit)}\n"
            f"    assert get(resource.RLIMIT_FSIZE)[0] == {FILE_SIZE_LIMIT}\n"
            f"    assert get(resource.RLIMIT_NPROC)[0] == {PROCESS_LIMIT}\n"
            "    assert get(resource.RLIMIT_CPU)[0] != resource.RLIM_INFINITY\n"
            "    assert get(resource.RLIMIT_CORE)[0] == 0\n"
        )
    }
    if os.geteuid() == 0:
        assert "unprivileged" in isolation().contained
    report = run_contract_tests(probe, timeout=60, memory_limit=limit)
    assert report.passed, report.output_tail
    # scriptgen's own process is untouched.
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY


def test_a_forged_exit_status_fails_validation() -> None:
    """Code in the test process turns a failing run's exit status into 0: the judge's
    record says otherwise, and validation says the verdict was forged."""
    forged = {
        ".scriptgen/judge/test_forged.py": (
            "import atexit, os\n"
            "atexit.register(lambda: os._exit(0))\n"
            "def test_fails():\n"
            "    assert False, 'the code is wrong'\n"
        )
    }
    report = run_contract_tests(forged, timeout=60)
    assert report.returncode == 0  # the forgery worked on the exit status...
    assert not report.passed  # ...and was caught
    assert any("forged verdict" in d for d in report.diagnostics), report.diagnostics


def test_a_rewritten_report_fails_validation() -> None:
    """Code in the test process rewrites the test report and the judge's record to a
    pass (it does not know the run's secret) and exits 0."""
    forged = {
        ".scriptgen/judge/test_forged.py": (
            "import atexit, json, os, sys\n"
            "def forge():\n"
            "    report = sys.argv[sys.argv.index('--junitxml') + 1]\n"
            "    with open(report, 'w') as f:\n"
            "        f.write('<testsuites><testsuite><testcase name=\"test_fails\"/>'\n"
            "                '</testsuite></testsuites>')\n"
            "    record = os.path.join(os.path.dirname(report), 'verdict.json')\n"
            "    with open(record, 'w') as f:\n"
            "        json.dump({'secret': 'guessed', 'exitstatus': 0, 'passed': 1,\n"
            "                   'failed': 0, 'skipped': 0, 'judged': {'test_fails':\n"
            "                   {'metric': 'eval_accuracy', 'value': 1.0, 'at_least': 0.5}}}, f)\n"
            "    os._exit(0)\n"
            "atexit.register(forge)\n"
            "def test_fails():\n"
            "    assert False\n"
        )
    }
    report = run_contract_tests(forged, timeout=60)
    assert [(s.name, s.outcome) for s in report.steps] == [("test_fails", "passed")]
    assert not report.passed
    assert report.steps[0].judged is None  # nor is the forged record's figure taken
    assert any("forged verdict" in d for d in report.diagnostics), report.diagnostics


def test_the_judges_figures_come_with_its_steps() -> None:
    """What a contract test records as "judged" (the figure it measured and the least it
    accepts) comes back on its step, from the judge's own record, failed or passed; a
    malformed figure is dropped, not shown."""
    judge = {
        ".scriptgen/judge/test_figures.py": (
            "def test_learns(record_property):\n"
            "    record_property('judged', {'metric': 'eval_accuracy', 'value': 0.9375,\n"
            "                               'at_least': 0.8})\n"
            "def test_short(record_property):\n"
            "    record_property('judged', {'metric': 'eval_f1', 'value': 0.25, 'at_least': 0.5})\n"
            "    assert 0.25 >= 0.5\n"
            "def test_malformed(record_property):\n"
            "    record_property('judged', {'metric': 'eval_f1', 'value': 'high', 'at_least': 0.5})\n"
            "def test_silent():\n"
            "    pass\n"
        )
    }
    report = run_contract_tests(judge, timeout=60)
    judged = {s.name: s.judged for s in report.steps}
    assert judged == {
        "test_learns": {"metric": "eval_accuracy", "value": 0.9375, "at_least": 0.8},
        "test_short": {"metric": "eval_f1", "value": 0.25, "at_least": 0.5},
        "test_malformed": None,
        "test_silent": None,
    }
    lines = [s.line() for s in report.steps]
    assert lines[0].startswith("passed  test_learns (") and lines[0].endswith(
        ") eval_accuracy 0.938, needs 0.8"
    ), lines
    assert lines[1].endswith(") eval_f1 0.25, needs 0.5") and lines[3].endswith("s)")
    assert report.to_dict()["steps"][0]["judged"] == judged["test_learns"]


def test_strict_refuses_llm_code_without_file_system_confinement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where no Landlock exists (simulated: this machine has it), --strict-sandbox
    refuses code an LLM wrote, and lets the reference code through."""
    import scriptgen.validation as validate

    Sandbox(strict=True).admit("openai")  # confined here: admitted
    unconfined = Isolation(contained=("network", "processes"))
    monkeypatch.setattr(validate, "isolation", lambda: unconfined)
    with pytest.raises(
        UserError, match="strict sandbox: the code was written by openai"
    ):
        Sandbox(strict=True).admit("openai")
    Sandbox(strict=True).admit("reference")
    Sandbox(strict=False).admit("openai")


def test_strict_from_scriptgen_toml(tmp_path: Path) -> None:
    from scriptgen.config import validation_strict

    assert validation_strict(tmp_path) is False
    (tmp_path / "scriptgen.toml").write_text("[validate]\nstrict = true\n")
    assert validation_strict(tmp_path) is True
    (tmp_path / "scriptgen.toml").write_text('[validate]\nstrict = "yes"\n')
    with pytest.raises(UserError, match=r"\[validate\] strict must be true or false"):
        validation_strict(tmp_path)
    assert validation_strict(tmp_path, flag=True) is True


def test_validation_json_names_the_isolation(tmp_path: Path) -> None:
    report = run_contract_tests(
        {".scriptgen/judge/test_ok.py": "def test_ok():\n    pass\n"}, timeout=60
    )
    assert report.passed
    assert set(report.isolation) == {*isolation().contained, "limits"}
    assert json.loads(json.dumps(report.to_dict()))["isolation"] == report.isolation


def test_nothing_outlives_a_killed_scriptgen(tmp_path: Path) -> None:
    """scriptgen is killed (SIGKILL) while the code under test runs: every process of the
    run dies with it, and the next run removes its temporary folder."""
    import subprocess
    import sys
    import tempfile
    import uuid

    from scriptgen.validation import remove_leftovers

    from .test_validate import _running, _wait_for

    marker = f"scriptgen-killed-{uuid.uuid4().hex}"
    project = {
        ".scriptgen/judge/test_slow.py": (
            "import subprocess, sys, time\n"
            "def test_slow():\n"
            "    for _ in range(5):\n"
            f"        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}])\n"
            "    time.sleep(300)\n"
        )
    }
    script = tmp_path / "run.py"
    script.write_text(
        "from scriptgen.validation import run_contract_tests\n"
        f"run_contract_tests({project!r}, timeout=600)\n",
        encoding="utf-8",
    )
    scriptgen = subprocess.Popen([sys.executable, str(script)])
    _wait_for(lambda: len(_running(marker)) >= 5, 60)
    assert len(_running(marker)) == 5
    folders = list(
        Path(tempfile.gettempdir()).glob(f"scriptgen-validate-{scriptgen.pid}-*")
    )
    assert len(folders) == 1
    scriptgen.kill()
    scriptgen.wait()
    _wait_for(lambda: not _running(marker), 10)
    assert _running(marker) == []
    remove_leftovers()
    assert not folders[0].exists()


def test_the_next_run_removes_a_killed_runs_half_built_twin(tmp_path: Path) -> None:
    """A judge killed while it built a twin leaves its staging folder in the shared
    cache; the next validation removes it once it is old enough to be no live build's,
    and leaves built twins and fresh staging folders alone."""
    import os
    import time

    from scriptgen.validation import remove_leftovers

    twins = tmp_path / "twins"
    stale, fresh, built = twins / ".0a1b.x9", twins / ".0a1b.y7", twins / "0a1b"
    for folder in (stale, fresh, built):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "model.safetensors").write_bytes(b"0")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    os.utime(built, (hours_ago, hours_ago))
    remove_leftovers(twins)
    assert not stale.exists()
    assert fresh.exists() and built.exists()
