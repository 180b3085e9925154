"""`scriptgen regen` end to end: real git repositories, the real CLI, real validation."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from scriptgen.lock import BASE_DIR, LOCK_FILE, SPEC_FILE
from scriptgen.write import exclusive

from .conftest import build_file_tree, git, init_repo, run_scriptgen, snapshot

pytestmark = pytest.mark.slow

NAME = "textclf-bert-base"
IDENTITY = {
    "GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "A U Thor", "GIT_COMMITTER_EMAIL": "a@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo holding one validated, committed `scriptgen new textclf --model bert-base`."""
    root = init_repo(tmp_path_factory.mktemp("regen") / "repo", env=IDENTITY)
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", cwd=root, env=IDENTITY
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def repo(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(pristine, root, symlinks=True)
    return root


def project_of(repo: Path) -> Path:
    return repo / "generated" / NAME


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_learning_rate(repo: Path, value: str) -> None:
    spec = project_of(repo) / SPEC_FILE
    text = spec.read_text()
    old = next(ln for ln in text.splitlines() if "learning_rate:" in ln)
    spec.write_text(text.replace(old, f"  learning_rate: {value}"))


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def config(repo: Path) -> dict[str, object]:
    return yaml.safe_load((project_of(repo) / "config.yaml").read_text())


def test_a_spec_edit_regenerates_keeps_a_comment_validates_and_commits(
    repo: Path,
) -> None:
    project = project_of(repo)
    comment = "# our team: keep the Trainer defaults here (see the wiki)\n"
    edit(project / "train.py", "def main(", comment + "def main(")
    build_file_tree(repo, {"notes.txt": "draft\n"})
    git(repo, "add", "notes.txt")  # the user's own staged work
    staged = git(repo, "diff", "--cached", "--name-status")
    set_learning_rate(repo, "3.0e-05")

    result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"generated/{NAME}: regenerated (spec changed: training.learning_rate: 2e-05 -> 3e-05)"
    ), result.stdout
    assert "your edits kept in train.py" in result.stdout
    assert config(repo)["learning_rate"] == 3e-05
    assert comment in (project / "train.py").read_text()
    assert (
        "merged your edits in train.py" in result.stderr
    )  # proven with the edit in it

    # committed: the regeneration and its spec, not the user's edit nor their staged work
    committed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert f"generated/{NAME}/config.yaml" in committed
    assert f"generated/{NAME}/{SPEC_FILE}" in committed
    assert (
        f"generated/{NAME}/train.py" not in committed and "notes.txt" not in committed
    )
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith(f"scriptgen: regen {NAME} (textclf, bert-base)\n")
    assert "Scriptgen-Validation: passed (" in message
    assert git(repo, "diff", "--cached", "--name-status") == staged
    assert git(repo, "status", "--porcelain", "--", f"generated/{NAME}") == (
        f" M generated/{NAME}/train.py\n"
    )

    again = run_scriptgen("regen", "--check", cwd=repo)
    assert (again.returncode, again.stdout) == (0, "1 project(s) fresh\n")
    valid = run_scriptgen("validate", f"generated/{NAME}", cwd=repo)
    assert valid.returncode == 0 and "validation passed" in valid.stdout, valid.stderr


def test_a_template_change_merges_into_an_edited_file(
    repo: Path, tmp_path: Path
) -> None:
    """A real three-way merge: the reference code changes while the user changed it too."""
    from .conftest import REPO

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    # The encoder tasks' shared train.py, which textclf's extends.
    edit(
        templates / "_common/project/train.py.j2",
        "def main(",
        "# Entry point.\ndef main(",
    )
    project = project_of(repo)
    edit(project / "train.py", "import yaml\n", "import yaml  # config.yaml is YAML\n")
    env = {**IDENTITY, "SCRIPTGEN_TEMPLATES": str(templates)}

    check = run_scriptgen("regen", "--check", cwd=repo, env=env)
    assert check.returncode == 1
    assert "templates changed: _common/project/train.py.j2" in check.stdout
    result = run_scriptgen("regen", cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert "your edits merged into train.py" in result.stdout
    text = (project / "train.py").read_text()
    assert (
        "import yaml  # config.yaml is YAML\n" in text
        and "# Entry point.\ndef main(" in text
    )
    # the merge is what scriptgen wrote now: in the commit, and the base is the new generation
    assert f"generated/{NAME}/train.py" in git(
        repo, "show", "--name-only", "--format=", "HEAD"
    )
    base = (project / BASE_DIR / "train.py").read_text()
    assert "# Entry point." in base and "# config.yaml is YAML" not in base


def test_a_conflict_writes_markers_reports_and_exits_1(repo: Path) -> None:
    project = project_of(repo)
    before = head(repo)
    edit(project / "config.yaml", "learning_rate: 2.0e-05", "learning_rate: 1.0e-04")
    set_learning_rate(repo, "3.0e-05")

    result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert result.returncode == 1
    assert (
        f"CONFLICT generated/{NAME}/config.yaml: your edits and the new generation"
        in result.stdout
    )
    text = (project / "config.yaml").read_text()
    assert (
        "<<<<<<< yours\nlearning_rate: 1.0e-04\n=======\nlearning_rate: 3.0e-05\n>>>>>>> new generation\n"
        in text
    )
    assert head(repo) == before  # nothing committed with markers in it

    check = run_scriptgen("regen", "--check", cwd=repo)
    assert (
        check.returncode == 1
        and "unresolved conflict markers in config.yaml" in check.stdout
    )
    blocked = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert blocked.returncode == 1 and "resolve them" in blocked.stdout

    (project / "config.yaml").write_text(text.replace(
        "<<<<<<< yours\nlearning_rate: 1.0e-04\n=======\nlearning_rate: 3.0e-05\n>>>>>>> new generation\n",
        "learning_rate: 1.0e-04\n"))  # fmt: skip
    assert run_scriptgen("regen", "--check", cwd=repo).returncode == 0


def test_a_failed_regeneration_leaves_the_project_as_it_was(repo: Path) -> None:
    project = project_of(repo)
    edit(
        project / "train.py", "def main(", "import not_a_module_anywhere\n\n\ndef main("
    )
    set_learning_rate(repo, "3.0e-05")
    before, commit = snapshot(repo), head(repo)

    result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert result.returncode == 1
    assert "not_a_module_anywhere" in result.stdout
    assert (
        "the new generation passes, but not with your edits in train.py"
        in result.stdout
    )
    assert "nothing was written" in result.stdout and "Traceback" not in result.stderr
    assert snapshot(repo) == before and head(repo) == commit
    assert run_scriptgen("regen", "--check", cwd=repo).returncode == 1  # still stale


def test_a_deleted_file_stays_deleted_until_the_generation_changes_it(
    repo: Path,
) -> None:
    project = project_of(repo)
    (project / "README.md").unlink()
    set_learning_rate(repo, "3.0e-05")
    result = run_scriptgen("regen", "--no-validate", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert "kept deleted: README.md" in result.stdout
    assert not (project / "README.md").exists()

    spec = project / SPEC_FILE
    spec.write_text(
        spec.read_text().replace("- neg\n  - pos\n", "- negative\n  - positive\n")
    )
    result = run_scriptgen("regen", "--no-validate", cwd=repo, env=IDENTITY)
    assert result.returncode == 1
    assert (
        "README.md: you deleted it and the new generation changes it" in result.stdout
    )
    assert "2 labels (negative, positive)" in (project / "README.md").read_text()


def test_a_project_with_the_judge_in_tests_moves_to_the_new_layout_in_one_commit(
    repo: Path,
) -> None:
    """Projects generated before the judge left tests/ held it there, in the lock and in
    the base copies. Its regen deletes the judge's files the user left alone, keeps the
    one they edited (theirs now), adds the starter test, keeps their code edit, and
    commits all of it at once."""
    import json

    from scriptgen.lock import base_copy, sha256_text

    project = project_of(repo)
    lock_path = project / LOCK_FILE
    lock = json.loads(lock_path.read_text())
    old_judge = {
        "tests/conftest.py": "import sys\n",
        "tests/harness.py": "PROJECT_DIR = None\n",
        "tests/test_contract.py": "def test_learns():\n    pass\n",
    }
    starter = project / "tests/test_train.py"
    starter.unlink()
    (project / base_copy("tests/test_train.py")).unlink()
    del lock["files"]["tests/test_train.py"]
    build_file_tree(project, old_judge)
    build_file_tree(project, {base_copy(rel): text for rel, text in old_judge.items()})
    lock["files"].update({rel: sha256_text(text) for rel, text in old_judge.items()})
    lock["templates"]["textclf/judge/conftest.py.j2"] = "0" * 64  # older templates
    lock_path.write_text(json.dumps(lock, indent=2) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a project of the old layout", env=IDENTITY)
    edit(project / "tests/test_contract.py", "    pass\n", "    assert True  # ours\n")
    edit(project / "train.py", "import yaml\n", "import yaml  # config.yaml is YAML\n")
    before = head(repo)

    result = run_scriptgen("regen", "--no-validate", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert "your edits kept in tests/test_contract.py" in result.stdout
    assert git(repo, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    committed = git(repo, "show", "--name-status", "--format=", "HEAD")
    for rel in ("tests/conftest.py", "tests/harness.py"):
        assert not (project / rel).exists() and not (project / base_copy(rel)).exists()
        assert f"D\tgenerated/{NAME}/{rel}" in committed
    assert f"A\tgenerated/{NAME}/tests/test_train.py" in committed
    assert "# ours" in (project / "tests/test_contract.py").read_text()
    assert "# config.yaml is YAML" in (project / "train.py").read_text()
    assert not (project / ".scriptgen/judge").exists()
    # The user's edits stay theirs to commit; nothing else is left over.
    assert git(repo, "status", "--porcelain", "--", "generated").splitlines() == [
        f" M generated/{NAME}/tests/test_contract.py",
        f" M generated/{NAME}/train.py",
    ]


def test_without_the_ml_stack_it_stops_before_any_project(
    repo: Path, tmp_path: Path
) -> None:
    """What stops every project (no ML stack to validate with) is one line and exit 2
    before anything is written; the specs are read for their methods, not planned."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
        check=True,
    )
    set_learning_rate(repo, "3.0e-05")
    before = snapshot(repo / "generated")
    result = run_scriptgen(
        "regen", "--python", str(tmp_path / "bare/bin/python"), cwd=repo, env=IDENTITY
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "torch" in line and "install" in line, line
    assert snapshot(repo / "generated") == before


def test_inside_a_commit_hook_it_writes_exits_1_and_never_touches_git(
    repo: Path,
) -> None:
    set_learning_rate(repo, "3.0e-05")
    index = (repo / ".git" / "index").read_bytes()
    before = head(repo)
    env = {**IDENTITY, "PRE_COMMIT": "1"}
    first = run_scriptgen("regen", cwd=repo, env=env)
    assert first.returncode == 1, first.stderr
    assert "not committed" in first.stderr
    assert config(repo)["learning_rate"] == 3e-05
    assert head(repo) == before and (repo / ".git" / "index").read_bytes() == index
    second = run_scriptgen("regen", cwd=repo, env=env)
    assert (second.returncode, second.stdout) == (0, "1 project(s) fresh\n")


def test_force_on_a_fresh_project_writes_nothing(repo: Path) -> None:
    before, commit = snapshot(repo), head(repo)
    result = run_scriptgen("regen", "--force", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert "the same files, nothing written" in result.stdout
    assert snapshot(repo) == before and head(repo) == commit


def test_jobs_regenerate_several_projects(repo: Path) -> None:
    other = repo / "generated" / "other"
    shutil.copytree(project_of(repo), other)
    edit(other / SPEC_FILE, f"name: {NAME}", "name: other")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a second project")
    set_learning_rate(repo, "3.0e-05")
    edit(other / SPEC_FILE, "seed: 42", "seed: 7")
    result = run_scriptgen(
        "regen", "--jobs", "2", "--no-validate", cwd=repo, env=IDENTITY
    )
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith(
        "generated/other: regenerated (spec changed: "
        "name: 'textclf-bert-base' -> 'other', training.seed: 42 -> 7)"
    )
    assert lines[1].startswith(f"generated/{NAME}: regenerated (spec changed: "
                               "training.learning_rate: 2e-05 -> 3e-05)")  # fmt: skip
    subjects = git(repo, "log", "-2", "--format=%s").splitlines()
    assert sorted(subjects) == sorted([
        f"scriptgen: regen {NAME} (textclf, bert-base)",
        "scriptgen: regen other (textclf, bert-base)",
    ])  # fmt: skip
    assert yaml.safe_load((other / "config.yaml").read_text())["seed"] == 7


BOMB = "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize(
    "broken, message",
    [
        ({SPEC_FILE: "task: [textclf\n"}, "malformed YAML"),
        ({SPEC_FILE: None}, "training.learning_rate: Input should be less than 1"),
        (
            {SPEC_FILE: "task: textclf\nname: x\nmodel: no-such-model\n"},
            "unknown model 'no-such-model'",
        ),
        # a 200-byte "billion laughs": nine levels of aliases, nine wide
        (
            {SPEC_FILE: "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB
             + "requirements: *i\n"},
            "more than 10,000 elements, its aliases expanded",
        ),
        ({LOCK_FILE: "{not json"}, "lock"),
        ({"train.py": b"import os\n\xff\xfe not text\n"}, "train.py: not UTF-8 text"),
    ],
    ids=["malformed", "out-of-range", "unknown-model", "alias-bomb", "lock-junk",
         "user-file-not-text"],
)  # fmt: skip
def test_one_bad_project_fails_alone(
    repo: Path, broken: dict[str, str | bytes | None], message: str
) -> None:
    """regen over three stale projects, the middle one's input broken: that one is reported
    by name and left as it was, the other two are regenerated and committed, exit 1."""
    for name in ("a-first", "z-last"):
        made = run_scriptgen("new", "textclf", "--model", "bert-base", "--name", name,
                             "--no-validate", cwd=repo, env=IDENTITY)  # fmt: skip
        assert made.returncode == 0, made.stderr
    names = ("a-first", NAME, "z-last")
    for name in names:
        edit(repo / "generated" / name / SPEC_FILE, "learning_rate: 2.0e-05",
             "learning_rate: 3.0e-05")  # fmt: skip
    middle = project_of(repo)
    for rel, content in broken.items():
        if content is None:
            set_learning_rate(repo, "5")
        elif isinstance(content, bytes):
            (middle / rel).write_bytes(content)
        else:
            (middle / rel).write_text(content)
    before = {p: p.read_bytes() for p in middle.rglob("*") if p.is_file()}
    commit = head(repo)

    check = run_scriptgen("regen", "--check", cwd=repo)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "Traceback" not in check.stderr
    assert [ln.split(":")[0] for ln in check.stdout.splitlines()[:3]] == [
        f"generated/{n}" for n in names
    ], check.stdout
    assert all(len(ln) < 300 for ln in check.stdout.splitlines()), check.stdout

    result = run_scriptgen("regen", "--no-validate", cwd=repo, env=IDENTITY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("generated/a-first: regenerated"), result.stdout
    assert lines[2].startswith("generated/z-last: regenerated"), result.stdout
    assert (
        lines[1].startswith(f"generated/{NAME}: failed") and message in lines[1]
    ), lines
    assert len(lines[1]) < 300, lines[1]
    # the broken project as it was; the others committed, one commit each
    assert {p: p.read_bytes() for p in middle.rglob("*") if p.is_file()} == before
    subjects = git(repo, "log", f"{commit}..HEAD", "--format=%s").splitlines()
    assert sorted(subjects) == [
        "scriptgen: regen a-first (textclf, bert-base)",
        "scriptgen: regen z-last (textclf, bert-base)",
    ]


def test_a_second_run_waits_for_the_first(repo: Path) -> None:
    set_learning_rate(repo, "3.0e-05")
    released = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with exclusive(project_of(repo)):
            holding.set()
            released.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scriptgen.cli", "regen", "--no-validate"],
        cwd=repo, env={**os.environ, **IDENTITY}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)
    assert proc.poll() is None  # waiting, and nothing written meanwhile
    assert config(repo)["learning_rate"] == 2e-05
    released.set()
    holder.join()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "waiting for another scriptgen run" in err
    assert config(repo)["learning_rate"] == 3e-05


def test_the_lock_records_the_spec_for_naming_changes(repo: Path) -> None:
    import json

    lock = json.loads((project_of(repo) / LOCK_FILE).read_text())
    assert lock["spec"]["training"]["learning_rate"] == 2e-05
    assert (project_of(repo) / BASE_DIR / "train.py").read_text() == (
        project_of(repo) / "train.py"
    ).read_text()


def test_a_project_that_fails_to_commit_does_not_stop_the_others(
    pristine: Path, tmp_path: Path
) -> None:
    """regen over two repositories: the first one's commit fails (its branch is locked),
    the second is still regenerated and committed, and both are reported."""
    first, second = tmp_path / "first", tmp_path / "second"
    for root in (first, second):
        shutil.copytree(pristine, root, symlinks=True)
        set_learning_rate(root, "3.0e-05")
    branch = git(first, "symbolic-ref", "--short", "HEAD").strip()
    (first / ".git" / "refs" / "heads" / f"{branch}.lock").write_text("")
    head_before = git(second, "rev-parse", "HEAD")

    result = run_scriptgen(
        "regen", "--no-validate", str(first / "generated"), str(second / "generated"),
        cwd=tmp_path, env=IDENTITY,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    shown = "generated/textclf-bert-base"  # as the user would type it, from tmp_path
    assert any(ln.startswith(f"first/{shown}: failed") for ln in lines), result.stdout
    assert any(ln.startswith(f"second/{shown}: regenerated") for ln in lines), lines
    assert (
        git(second, "rev-parse", "HEAD") != head_before
    ), "the second was not committed"


def _validating(proc: subprocess.Popen[str], timeout: float = 180) -> Path:
    """Wait until ``proc`` (a scriptgen run) has its contract tests running; their
    temporary folder."""
    import tempfile

    pattern = f"scriptgen-validate-{proc.pid}-*"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folders = list(Path(tempfile.gettempdir()).glob(pattern))
        if folders and (folders[0] / "report").is_dir():
            time.sleep(2)  # the judge is importing, building data, training
            return folders[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the validation never started")


# The CLI as a terminal starts it: Ctrl-C raises KeyboardInterrupt even where this test
# runs in the background (a shell's background jobs inherit SIGINT ignored).
AT_A_TERMINAL = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv[0] = 'scriptgen'\n"
    "runpy.run_module('scriptgen.cli', run_name='__main__')\n"
)


def _scriptgen(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AT_A_TERMINAL, *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **IDENTITY},
    )


def _slow_judge(request: pytest.FixtureRequest) -> None:
    """Templates (a copy, in use through SCRIPTGEN_TEMPLATES) whose textclf judge sleeps
    five minutes at start: the signal comes while the run validates, and a run that
    waits for its validation after Ctrl-C shows."""
    templates: Path = request.getfixturevalue("templates")
    conftest = templates / "textclf" / "judge" / "conftest.py.j2"
    # Inside its body block: a child template renders nothing outside its blocks.
    body, end, _ = conftest.read_text(encoding="utf-8").rpartition("{% endblock %}")
    assert end, "textclf's judge conftest has no block to sleep in"
    conftest.write_text(body + "\nimport time\n\ntime.sleep(300)\n" + end + "\n")


def _fast_judge(request: pytest.FixtureRequest) -> None:
    """The packaged templates again, after _slow_judge."""
    request.getfixturevalue("monkeypatch").delenv("SCRIPTGEN_TEMPLATES")


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.endswith(".scriptgen-tmp")]


@pytest.mark.parametrize(
    ("sig", "jobs"),
    [(signal.SIGINT, "1"), (signal.SIGINT, "2"), (signal.SIGKILL, "1")],
    ids=["ctrl-c", "ctrl-c-with-jobs", "killed"],
)
def test_an_interrupted_regen_leaves_the_old_version(
    repo: Path, sig: signal.Signals, jobs: str, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C (or SIGKILL) while the new version is validated: the project stays the old
    version, git (commits, the user's staged work) is untouched, Ctrl-C ends at once with
    one line and cleans up, and the next run does the job and removes what a killed run
    left."""
    build_file_tree(repo, {"notes.txt": "draft\n"})
    git(repo, "add", "notes.txt")
    set_learning_rate(repo, "3.0e-05")
    before, commit = snapshot(repo), head(repo)
    staged = git(repo, "diff", "--cached", "--name-status")
    _slow_judge(request)  # else a fast validation may end before the signal comes

    proc = _scriptgen(repo, "regen", "--jobs", jobs)
    sandbox = _validating(proc)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "aborted", err
        assert "Traceback" not in err
        assert time.monotonic() - started < 30, "Ctrl-C waited for the validation"
        assert not sandbox.exists()
    else:
        assert proc.returncode == -signal.SIGKILL
    assert snapshot(repo) == before
    assert head(repo) == commit
    assert git(repo, "diff", "--cached", "--name-status") == staged
    assert _leftovers(repo) == []
    if sig != signal.SIGKILL:
        return
    _fast_judge(request)
    result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert config(repo)["learning_rate"] == 3e-05
    assert not sandbox.exists(), "the next run did not remove the killed run's folder"


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"]
)
def test_an_interrupted_new_writes_nothing(
    tmp_path: Path, sig: signal.Signals, request: pytest.FixtureRequest
) -> None:
    """`new` interrupted while its candidate is validated: no project, no staging folder,
    no commit; Ctrl-C ends at once; the next run writes the project whole."""
    root = init_repo(tmp_path / "repo", env=IDENTITY)
    _slow_judge(request)  # else a fast validation may end before the signal comes
    before, commit = snapshot(root), head(root)
    proc = _scriptgen(root, "new", "textclf", "--model", "bert-base")
    sandbox = _validating(proc)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - started < 30, "Ctrl-C waited for the validation"
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
    assert snapshot(root) == before
    assert not (root / "generated").exists()
    assert head(root) == commit
    if sig == signal.SIGINT:
        assert not sandbox.exists()
        return
    _fast_judge(request)
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", cwd=root, env=IDENTITY
    )
    assert result.returncode == 0, result.stderr
    assert (root / "generated" / NAME / "train.py").is_file()
    assert _leftovers(root) == []
    assert not sandbox.exists()
