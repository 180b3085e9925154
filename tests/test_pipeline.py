"""`scriptgen new` end to end: a real git repo, the real CLI, real validation subprocesses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import build_file_tree, git, run_scriptgen, tree

pytestmark = pytest.mark.slow

CODE = ["data.py", "model.py", "predict.py", "train.py"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One real `scriptgen new textclf --model bert-base` in a repo with the user's staged changes."""
    import os

    root = tmp_path_factory.mktemp("e2e") / "repo"
    root.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "A U Thor", "GIT_COMMITTER_EMAIL": "a@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    os.environ.update(env)  # module-scoped: the autouse fixture has not run yet
    git(root, "init", "-q", "-b", "main")
    build_file_tree(root, {"README.md": "# models\n", "notes.txt": "draft\n"})
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "initial")
    # The user's own work in progress, staged: scriptgen must leave it staged and uncommitted.
    build_file_tree(root, {"README.md": "# models\n\nmore\n"})
    git(root, "add", "README.md", "notes.txt")
    staged_before = git(root, "diff", "--cached", "--name-status")
    result = run_scriptgen("new", "textclf", "--model", "bert-base", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return root, staged_before, result.stderr


def test_project_layout(generated: tuple[Path, str, str]) -> None:
    root, _, _ = generated
    project = root / "generated" / "textclf-bert-base"
    files = tree(project)
    for rel in [*CODE, "config.yaml", "README.md", "requirements.txt", ".gitignore",
                "tests/test_train.py",
                ".scriptgen/spec.yaml", ".scriptgen/lock.json", ".scriptgen/validation.json"]:  # fmt: skip
        assert rel in files, rel
    config = yaml.safe_load((project / "config.yaml").read_text())
    assert config["model_name_or_path"] == "google-bert/bert-base-uncased"
    assert "scriptgen" not in (project / "train.py").read_text()  # stands alone
    assert "from data import" in (project / "train.py").read_text()  # cross-file
    assert "accelerate launch" in (project / "README.md").read_text()
    lock = json.loads((project / ".scriptgen/lock.json").read_text())
    assert lock["backend"] == "reference" and lock["validation"]["passed"] is True
    assert set(CODE) <= set(lock["files"])
    # The judge is scriptgen's, rendered for each validation: not in the project.
    assert not [
        f for f in files if f.startswith((".scriptgen/judge", "tests/conftest"))
    ]
    assert any(k.startswith("textclf/reference/") for k in lock["templates"])
    report = json.loads((project / ".scriptgen/validation.json").read_text())
    assert report["passed"] and all(s["outcome"] == "passed" for s in report["steps"])
    (figure,) = [s["judged"] for s in report["steps"] if s["judged"]]
    assert figure["metric"] == "eval_accuracy" and figure["value"] >= figure["at_least"]
    assert len(report["steps"]) >= 3


def test_commit_has_only_scriptgen_paths_and_trailers(
    generated: tuple[Path, str, str],
) -> None:
    root, staged_before, _ = generated
    committed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert committed and all(
        p.startswith("generated/textclf-bert-base/") for p in committed
    )
    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("scriptgen: new textclf-bert-base (textclf, bert-base)\n")
    trailers = git(root, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Scriptgen-Task: textclf" in trailers
    assert "Scriptgen-Model: google-bert/bert-base-uncased" in trailers
    assert "Scriptgen-Backend: reference" in trailers
    assert "Scriptgen-Spec-Hash: sha256:" in trailers
    assert "Scriptgen-Validation: passed (" in trailers
    # The user's staged changes: still staged, exactly as before, and not in the commit.
    assert git(root, "diff", "--cached", "--name-status") == staged_before
    assert "notes.txt" not in committed and "README.md" not in committed
    assert git(root, "status", "--porcelain", "--", "generated") == ""


def test_progress_names_each_stage(generated: tuple[Path, str, str]) -> None:
    _, _, stderr = generated
    for stage in (
        "generated 4 code files (reference)",
        "checked paths and syntax, formatted",
        "checked contracts and imports, validated on a tiny twin",
        "committed",
    ):
        assert stage in stderr
    # What the judge measured, beside its bar: the twin beat chance (0.5) by its margin.
    learned = re.search(
        r"passed  test_model_learns_the_task \(\d+\.\ds\) "
        r"eval_accuracy ([\d.]+), needs ([\d.]+)\n",
        stderr,
    )
    assert learned, stderr
    assert float(learned[1]) >= float(learned[2]) > 0.5


def test_the_users_tests_and_the_judge_run_by_hand(
    generated: tuple[Path, str, str],
) -> None:
    """The project's own tests/ (the starter) run with plain pytest in seconds, offline,
    without scriptgen; the judge, written by `scriptgen judge`, runs by hand too, and git
    does not see it."""
    import os
    import subprocess
    import sys

    root = generated[0]
    project = root / "generated" / "textclf-bert-base"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def pytest(where: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", where],
                              cwd=project, capture_output=True, text=True, env=env)  # fmt: skip

    mine = pytest("tests")
    assert mine.returncode == 0 and "2 passed" in mine.stdout, mine.stdout[-3000:]
    written = run_scriptgen("judge", str(project), cwd=root)
    assert written.returncode == 0, written.stderr
    assert "python -m pytest" in written.stdout
    judged = pytest(".scriptgen/judge")
    assert judged.returncode == 0, judged.stdout[-3000:]
    assert (
        git(root, "status", "--porcelain", "--untracked-files=all", "--", "generated")
        == ""
    )


def test_outside_a_repo_writes_and_says_so(tmp_path: Path) -> None:
    result = run_scriptgen(
        "new", "textclf", "--model", "distilbert", "--no-validate", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "not in a git repository: not committing" in result.stderr
    assert (tmp_path / "generated/textclf-distilbert/train.py").is_file()
    assert not (
        tmp_path / "generated/textclf-distilbert/.scriptgen/validation.json"
    ).exists()


def test_no_commit_flag(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    result = run_scriptgen(
        "new",
        "textclf",
        "--model",
        "roberta-base",
        "--no-validate",
        "--no-commit",
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "generated/textclf-roberta-base/train.py").is_file()
