"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit tool in a temp repo.

`pre-commit try-repo` builds each hook's environment from this repository as a user's
pre-commit would: a fresh virtualenv with scriptgen's light dependencies only. The regen
hook validates with the ML stack of another interpreter, named in scriptgen.toml's
`[validate] python` (the README's wiring).
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


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repo with one generated, committed project and the light hook wiring."""
    root = init_repo(tmp_path / "repo", {
        "README.md": "# models\n", "scriptgen.toml": f'[validate]\npython = "{sys.executable}"\n',
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


def try_repo(root: Path, hook: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("PRE_COMMIT", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--all-files"],
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
    fresh = try_repo(user_repo, "scriptgen-check", pre_commit_home)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "scriptgen projects are fresh" in fresh.stdout and "Passed" in fresh.stdout

    spec = user_repo / "generated" / NAME / ".scriptgen/spec.yaml"
    spec.write_text(
        spec.read_text().replace("learning_rate: 2.0e-05", "learning_rate: 3.0e-05")
    )
    stale = try_repo(user_repo, "scriptgen-check", pre_commit_home)
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

    first = try_repo(user_repo, "scriptgen-regen", pre_commit_home)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Failed" in first.stdout and "- exit code: 1" in first.stdout
    assert f"generated/{NAME}: regenerated (spec changed" in first.stdout
    config = yaml.safe_load((project / "config.yaml").read_text())
    assert config["learning_rate"] == 3e-05
    # never commits, never touches the index: the user stages what they reviewed
    assert git(user_repo, "rev-parse", "HEAD") == head
    assert (user_repo / ".git" / "index").read_bytes() == index

    second = try_repo(user_repo, "scriptgen-regen", pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout
    assert try_repo(user_repo, "scriptgen-check", pre_commit_home).returncode == 0


def test_try_repo_sees_this_repository() -> None:
    """try-repo clones this repository: it must be a git checkout holding the hooks file."""
    assert shutil.which("git")
    tracked = git(REPO, "ls-files", ".pre-commit-hooks.yaml").strip()
    assert tracked == ".pre-commit-hooks.yaml"
