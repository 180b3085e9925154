"""Writing into an existing project: all or nothing; one run at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import scriptgen.write as write
from scriptgen.errors import ScriptgenError
from scriptgen.write import exclusive, write_update

from .conftest import build_file_tree, snapshot, tree


def test_write_update_writes_deletes_and_leaves_the_rest(tmp_path: Path) -> None:
    project = tmp_path / "p"
    build_file_tree(project, {"a.py": "a\n", "tests/old.py": "o\n", "mine.txt": "m\n"})
    os.chmod(project / "a.py", 0o755)
    write_update(project, {"a.py": "A\n", "tests/old.py": None, "new/b.py": "b\n"})
    assert snapshot(project) == {"a.py": b"A\n", "new/b.py": b"b\n", "mine.txt": b"m\n"}
    assert os.stat(project / "a.py").st_mode & 0o777 == 0o755  # the mode survives
    assert not (project / "tests").exists()  # emptied by the deletion
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".scriptgen-tmp")]


def test_a_failure_midway_puts_every_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "p"
    build_file_tree(project, {"a.py": "a\n", "b.py": "b\n", "c.py": "c\n"})
    before, names = snapshot(project), tree(tmp_path)
    real_rename, calls = os.rename, []

    def failing_rename(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 5:  # after a.py and b.py are swapped, while c.py is aside
            raise OSError(28, "No space left on device")
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(write.os, "rename", failing_rename)
    with pytest.raises(
        ScriptgenError, match="No space left on device; every file was put back"
    ):
        write_update(
            project, {"a.py": "A\n", "b.py": None, "c.py": "C\n", "d/e.py": "e\n"}
        )
    assert snapshot(project) == before
    assert tree(tmp_path) == names  # no staging folder, no new folder left behind


@pytest.mark.parametrize("renames", [1, 2, 3, 4, 5])
def test_a_run_killed_midway_is_rolled_back_by_the_next(
    tmp_path: Path, renames: int
) -> None:
    """A process dies (os._exit, as under SIGKILL: no cleanup runs) after ``renames`` of
    an update's swaps: the project is a mix; the next run's hold on it puts every old
    file back and removes the staging folder."""
    project = tmp_path / "p"
    build_file_tree(project, {"a.py": "a\n", "b.py": "b\n", "c.py": "c\n"})
    before, names = snapshot(project), tree(tmp_path)
    killed = (
        "import os, sys\n"
        "import scriptgen.write as write\n"
        "real, calls = os.rename, []\n"
        "def rename(src, dst):\n"
        "    calls.append(dst)\n"
        f"    if len(calls) > {renames}:\n"
        "        os._exit(9)\n"
        "    real(src, dst)\n"
        "write.os.rename = rename\n"
        "write.write_update(write.Path(sys.argv[1]),\n"
        "    {'a.py': 'A\\n', 'b.py': None, 'c.py': 'C\\n', 'd/e.py': 'e\\n'})\n"
    )
    proc = subprocess.run([sys.executable, "-c", killed, str(project)])
    assert proc.returncode == 9
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".scriptgen-tmp")]
    with exclusive(project):
        pass
    assert snapshot(project) == before
    assert tree(tmp_path) == names


def test_a_second_run_waits_for_the_first(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    waited = []
    with exclusive(project):
        with pytest.raises(ScriptgenError, match="held by another scriptgen run"):
            with exclusive(project, wait=0.3, on_wait=lambda: waited.append(True)):
                pass
    assert waited == [True]
    order = []

    def second() -> None:
        with exclusive(project, wait=30):
            order.append("second")

    with exclusive(project):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")
    thread.join(10)
    assert order == ["first done", "second"]


def test_the_lock_holds_across_processes_and_dies_with_its_holder(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from scriptgen.write import exclusive\n"
         "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(project)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ScriptgenError, match="held by another"):
            with exclusive(project, wait=0.3):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(project, wait=5):  # the kernel released it with the process
        pass


def test_a_killed_new_leaves_nothing_the_next_run_keeps(tmp_path: Path) -> None:
    """A `new` killed while it built its project beside the target left the staging
    folder; the next `new` there removes it. A live run's staging folder stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "proj"
    leftover = tmp_path / f".proj.{dead.pid}.abc123.scriptgen-tmp"
    (leftover / "tests").mkdir(parents=True)
    (leftover / "train.py").write_text("half\n")
    live = tmp_path / f".proj.{os.getpid()}.def456.scriptgen-tmp"
    live.mkdir()
    write.write_new(target, {"train.py": "whole\n"})
    assert not leftover.exists() and live.exists()
    assert snapshot(target) == {"train.py": b"whole\n"}


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    """`new` onto a file system that fills up (a 64 KiB tmpfs, mounted in a mount
    namespace of the test's own): exit 1, one line naming the cause, nothing left."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.fail(
            "unshare -rm is not allowed here: the full-disk case cannot be made"
        )
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {small} && "
        f"{sys.executable} -m scriptgen.cli new textclf --model bert-base --no-validate "
        f'--no-commit --out {small}/generated; echo "exit=$?"; ls -A {small}/generated'
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=repo, capture_output=True, text=True
    )
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("scriptgen:")]
    assert errors == [
        f"scriptgen: error: cannot write {small}/generated/textclf-bert-base: "
        "No space left on device; nothing was written"
    ], result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == ["exit=1"]  # and generated/ is empty


@pytest.mark.slow
def test_two_runs_on_one_target(repo: Path) -> None:
    """Two `new` runs race for the same target: one writes it whole, the other writes
    nothing and says why in one line."""
    command = [
        sys.executable, "-m", "scriptgen.cli", "new", "textclf", "--model", "bert-base",
        "--no-validate", "--no-commit",
    ]  # fmt: skip
    runs = [
        subprocess.Popen(command, cwd=repo, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(), run.stderr.read() if run.stderr else "") for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] in (1, 2), results
    (loser,) = [err for code, err in results if code]
    errors = [ln for ln in loser.splitlines() if ln.startswith("scriptgen:")]
    assert len(errors) == 1 and "textclf-bert-base" in errors[0], loser
    assert "Traceback" not in loser
    project = repo / "generated" / "textclf-bert-base"
    assert (project / "train.py").is_file() and (
        project / ".scriptgen" / "lock.json"
    ).is_file()
    assert not [p for p in project.parent.iterdir() if p.name.startswith(".")]
