"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit tool in a temp repo.

The user's repo names this repository in its `.pre-commit-config.yaml` (the README's
wiring), and `pre-commit run` builds each hook's environment from it as a user's
pre-commit would: a fresh virtualenv with scriptgen's light dependencies only, built once
per revision in the store the run's tests share. The regen hook validates with the ML
stack of another interpreter, named in scriptgen.toml's `[validate] python`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, git, init_repo, run_scriptgen

pytestmark = pytest.mark.slow
NAME = "textclf-bert-base"


@pytest.fixture(scope="session")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """This repository and a revision of it with the working tree's changes to tracked
    files (a commit of them in a clone, as `pre-commit try-repo` makes), for the users'
    configs to name: what is tested is this checkout, committed or not. One per test
    process; pre-commit's store keys the hook environment by it."""
    if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO).returncode == 0:
        return str(REPO), git(REPO, "rev-parse", "HEAD").strip()
    shadow = tmp_path_factory.mktemp("hooks") / "scriptgen"
    git(REPO, "clone", "-q", "--no-hardlinks", str(REPO), str(shadow))
    diff = subprocess.run(["git", "diff", "--binary", "HEAD"], cwd=REPO,
                          capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(
        ["git", "apply", "--whitespace=nowarn"], cwd=shadow, input=diff, check=True
    )
    git(shadow, "-c", "user.name=scriptgen tests", "-c", "user.email=tests@scriptgen.invalid",
        "commit", "-q", "-am", "the working tree's changes")  # fmt: skip
    return str(shadow), git(shadow, "rev-parse", "HEAD").strip()


@pytest.fixture
def user_repo(tmp_path: Path, hooks_repo: tuple[str, str]) -> Path:
    """A user's repo with one generated, committed project and both hooks wired as the
    README says."""
    url, rev = hooks_repo
    config = {"repos": [{"repo": url, "rev": rev,
                         "hooks": [{"id": "scriptgen-check"}, {"id": "scriptgen-regen"}]}]}  # fmt: skip
    root = init_repo(tmp_path / "repo", {
        "README.md": "# models\n", "scriptgen.toml": f'[validate]\npython = "{sys.executable}"\n',
        ".pre-commit-config.yaml": yaml.safe_dump(config),
    })  # fmt: skip
    result = run_scriptgen("new", "textclf", "--model", "bert-base", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit store for the session, shared by pytest-xdist's workers (the
    parent of each worker's temp folder): a hook's environment is built once per
    revision of this repository, as on a user's machine (pre-commit locks the store)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "pre-commit-home"


def run_hook(root: Path, hook: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit run HOOK --all-files` in the user's repo ``root``."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("PRE_COMMIT", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", hook, "--all-files"],
        cwd=root, capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip


def test_hooks_file_names_both_hooks() -> None:
    hooks = {
        h["id"]: h
        for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    }
    assert hooks["scriptgen-check"]["entry"] == "scriptgen regen --check"
    assert hooks["scriptgen-regen"]["entry"] == "scriptgen regen"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["always_run"] is True and "additional_dependencies" not in hook


def test_check_hook_passes_fresh_and_fails_on_a_spec_edit(
    user_repo: Path, pre_commit_home: Path
) -> None:
    fresh = run_hook(user_repo, "scriptgen-check", pre_commit_home)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "scriptgen projects are fresh" in fresh.stdout and "Passed" in fresh.stdout

    spec = user_repo / "generated" / NAME / ".scriptgen/spec.yaml"
    spec.write_text(
        spec.read_text().replace("learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    )
    stale = run_hook(user_repo, "scriptgen-check", pre_commit_home)
    assert stale.returncode == 1
    assert "Failed" in stale.stdout
    assert (f"generated/{NAME}: stale: spec changed: training.learning_rate: 2e-05 -> 3e-05"
            in stale.stdout)  # fmt: skip


def test_regen_hook_rewrites_and_fails_once_then_passes(
    user_repo: Path, pre_commit_home: Path
) -> None:
    project = user_repo / "generated" / NAME
    spec = project / ".scriptgen/spec.yaml"
    spec.write_text(
        spec.read_text().replace("learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    )
    head = git(user_repo, "rev-parse", "HEAD")
    index = (user_repo / ".git" / "index").read_bytes()

    first = run_hook(user_repo, "scriptgen-regen", pre_commit_home)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Failed" in first.stdout and "- exit code: 1" in first.stdout
    assert f"generated/{NAME}: regenerated (spec changed" in first.stdout
    config = yaml.safe_load((project / "config.yaml").read_text())
    assert config["learning_rate"] == 3e-05
    # never commits, never touches the index: the user stages what they reviewed
    assert git(user_repo, "rev-parse", "HEAD") == head
    assert (user_repo / ".git" / "index").read_bytes() == index

    second = run_hook(user_repo, "scriptgen-regen", pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout
    assert run_hook(user_repo, "scriptgen-check", pre_commit_home).returncode == 0


def test_pre_commit_sees_this_repository() -> None:
    """pre-commit clones this repository: it must be a git checkout holding the hooks file."""
    assert shutil.which("git")
    tracked = git(REPO, "ls-files", ".pre-commit-hooks.yaml").strip()
    assert tracked == ".pre-commit-hooks.yaml"
