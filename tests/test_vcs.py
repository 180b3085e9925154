from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from git import Repo

from scriptgen.errors import ScriptgenError
from scriptgen.vcs import (
    CommitResult,
    commit_message,
    commit_paths,
    find_repo,
    in_precommit,
)

TRAILERS = {
    "Scriptgen-Task": "text-classification",
    "Scriptgen-Model": "bert-base-uncased",
    "Scriptgen-Backend": "reference",
    "Scriptgen-Spec-Hash": "sha256:0123abcd",
    "Scriptgen-Validation": "passed (3 tests)",
}
MESSAGE = commit_message(
    "generate", "proj", "text-classification", "bert-base-uncased", TRAILERS
)
IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # When pytest itself runs from a git hook, GIT_INDEX_FILE/GIT_DIR point at the outer
    # repository; every test repo must be on its own (pre-commit's no_git_env).
    for key in list(os.environ):
        if key.startswith("GIT_") or key in {"PRE_COMMIT", "EMAIL"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def build_file_tree(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def init_repo(path: Path, *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if commit:
        build_file_tree(path, {"README.md": "hello\n"})
        git(path, "add", "README.md")
        git(path, "commit", "-q", "-m", "init")
    return path


def open_repo(path: Path) -> Repo:
    repo = find_repo(path)
    assert repo is not None
    return repo


def changed_in(repo_path: Path, rev: str) -> list[str]:
    """``status\\tpath`` lines of a commit against its parent (or the empty tree)."""
    out = git(
        repo_path, "diff-tree", "--root", "--no-commit-id", "-r", "--name-status", rev
    )
    return sorted(out.splitlines())


def staged(repo_path: Path, *paths: str) -> str:
    return git(repo_path, "ls-files", "-s", "--", *paths)


def test_commits_only_our_paths_and_keeps_users_staged_changes(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    build_file_tree(root, {"README.md": "hello, edited\n", "notes.txt": "mine\n"})
    git(root, "add", "README.md", "notes.txt")
    users_stage = staged(root, "README.md", "notes.txt")
    head_before = git(root, "rev-parse", "HEAD").strip()

    build_file_tree(
        root,
        {
            "generated/proj/a.py": "print('a')\n",
            "generated/proj/.scriptgen/lock.json": "{}\n",
        },
    )
    result = commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE)

    assert isinstance(result, CommitResult)
    assert git(root, "rev-parse", "HEAD").strip() == result.sha
    assert git(root, "rev-parse", "HEAD^").strip() == head_before
    assert changed_in(root, "HEAD") == [
        "A\tgenerated/proj/.scriptgen/lock.json",
        "A\tgenerated/proj/a.py",
    ]
    assert git(root, "log", "-1", "--format=%B", "HEAD") == MESSAGE + "\n"
    assert git(root, "log", "-1", "--format=%(trailers)", "HEAD") == (
        "".join(f"{k}: {v}\n" for k, v in TRAILERS.items()) + "\n"
    )
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Ada Lovelace <ada@example.com>|Ada Lovelace <ada@example.com>\n"
    )
    # The user's staged work: same blobs, still staged, not committed.
    assert staged(root, "README.md", "notes.txt") == users_stage
    assert git(root, "diff", "--cached", "--name-only").splitlines() == [
        "README.md",
        "notes.txt",
    ]
    assert git(root, "status", "--porcelain", "--", "generated") == ""
    assert git(root, "branch", "--show-current").strip() == "main"


def test_commit_message_format() -> None:
    assert MESSAGE == (
        "scriptgen: generate proj (text-classification, bert-base-uncased)\n"
        "\n"
        "Scriptgen-Task: text-classification\n"
        "Scriptgen-Model: bert-base-uncased\n"
        "Scriptgen-Backend: reference\n"
        "Scriptgen-Spec-Hash: sha256:0123abcd\n"
        "Scriptgen-Validation: passed (3 tests)\n"
    )
    assert commit_message("update", "p", "t", "m", {}) == "scriptgen: update p (t, m)\n"
    with pytest.raises(ValueError):
        commit_message("update", "p", "t", "m", {"Bad Key": "x"})
    with pytest.raises(ValueError):
        commit_message("update", "p", "t", "m", {"Key": "two\nlines"})


def test_trailers_parse_with_git(tmp_path: Path) -> None:
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=MESSAGE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert parsed == "".join(f"{k}: {v}\n" for k, v in TRAILERS.items())


def test_first_commit_in_empty_repo_is_parentless(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", commit=False)
    build_file_tree(root, {"generated/proj/a.py": "x = 1\n"})
    result = commit_paths(open_repo(root), [root / "generated" / "proj"], MESSAGE)

    assert result is not None
    assert git(root, "rev-list", "--parents", "-n", "1", "HEAD").split() == [result.sha]
    assert git(root, "branch", "--show-current").strip() == "main"
    assert changed_in(root, "HEAD") == ["A\tgenerated/proj/a.py"]
    assert git(root, "status", "--porcelain") == ""
    assert "commit (initial): scriptgen: generate proj" in git(root, "reflog", "-1")


def test_regenerate_deletes_removed_files(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    project = root / "generated" / "proj"
    build_file_tree(project, {"a.py": "a\n", "b.py": "b\n", "sub/c.py": "c\n"})
    repo = open_repo(root)
    assert commit_paths(repo, [project], MESSAGE) is not None

    (project / "b.py").unlink()
    (project / "sub" / "c.py").unlink()
    (project / "sub").rmdir()
    (project / "a.py").write_text("a2\n")
    result = commit_paths(repo, [project], MESSAGE.replace("generate", "update", 1))

    assert result is not None
    assert changed_in(root, "HEAD") == [
        "D\tgenerated/proj/b.py",
        "D\tgenerated/proj/sub/c.py",
        "M\tgenerated/proj/a.py",
    ]
    assert git(root, "status", "--porcelain") == ""


def test_nothing_changed_returns_none(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    build_file_tree(root, {"generated/proj/a.py": "a\n"})
    repo = open_repo(root)
    first = commit_paths(repo, [Path("generated/proj")], MESSAGE)
    assert first is not None

    assert commit_paths(repo, [Path("generated/proj")], MESSAGE) is None
    assert git(root, "rev-parse", "HEAD").strip() == first.sha


def test_users_staged_change_inside_our_paths_gives_way(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    build_file_tree(root, {"generated/proj/a.py": "users version\n"})
    git(root, "add", "generated/proj/a.py")
    build_file_tree(root, {"generated/proj/a.py": "scriptgen's version\n"})

    commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE)

    assert git(root, "show", "HEAD:generated/proj/a.py") == "scriptgen's version\n"
    assert git(root, "status", "--porcelain") == ""


def test_detached_head_moves_head_only(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    main_before = git(root, "rev-parse", "main").strip()
    git(root, "checkout", "-q", "--detach")
    build_file_tree(root, {"generated/proj/a.py": "a\n"})

    result = commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE)

    assert result is not None
    assert git(root, "rev-parse", "HEAD").strip() == result.sha
    assert git(root, "rev-parse", "main").strip() == main_before


def test_users_commit_hooks_do_not_run(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    build_file_tree(root, {"generated/proj/a.py": "a\n"})

    assert commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE) is not None


def test_outside_a_repo(tmp_path: Path) -> None:
    # Assumes the temp dir itself is not inside a git repository (true on CI and here).
    (tmp_path / "plain").mkdir()
    assert find_repo(tmp_path / "plain") is None
    assert find_repo(tmp_path / "plain" / "not" / "yet") is None


def test_find_repo_searches_parents_and_skips_bare(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    repo = find_repo(root / "generated" / "proj")  # does not exist yet
    assert repo is not None
    assert Path(repo.working_tree_dir or "").resolve() == root.resolve()

    git(tmp_path, "init", "-q", "--bare", "bare.git")
    assert find_repo(tmp_path / "bare.git") is None


def test_path_outside_repo_is_an_error(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    with pytest.raises(ScriptgenError, match="outside the repository"):
        commit_paths(open_repo(root), [tmp_path / "elsewhere"], MESSAGE)


def test_git_failure_reports_command_and_code(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    with pytest.raises(ScriptgenError) as excinfo:
        commit_paths(open_repo(root), [Path("missing")], MESSAGE)
    text = str(excinfo.value)
    assert "git add -A -- missing" in text
    assert "return code: 128" in text
    assert "did not match any files" in text
    assert git(root, "rev-list", "--count", "HEAD").strip() == "1"


def test_no_identity_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_repo(tmp_path / "repo")
    for key in IDENTITY:
        monkeypatch.delenv(key)
    build_file_tree(root, {"generated/proj/a.py": "a\n"})

    result = commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE)

    assert result is not None
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "scriptgen <scriptgen@localhost>|scriptgen <scriptgen@localhost>\n"
    )


def test_identity_from_repo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = init_repo(tmp_path / "repo")
    for key in IDENTITY:
        monkeypatch.delenv(key)
    git(root, "config", "user.name", "Grace Hopper")
    git(root, "config", "user.email", "grace@example.com")
    build_file_tree(root, {"generated/proj/a.py": "a\n"})

    commit_paths(open_repo(root), [Path("generated/proj")], MESSAGE)

    assert git(root, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Grace Hopper <grace@example.com>|Grace Hopper <grace@example.com>\n"
    )


def test_in_precommit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert in_precommit() is False
    monkeypatch.setenv("PRE_COMMIT", "1")  # set by pre-commit for every hook it runs
    assert in_precommit() is True
    monkeypatch.delenv("PRE_COMMIT")
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/index")  # set by git for commit hooks
    assert in_precommit() is True


def test_without_a_git_executable_new_writes_and_does_not_commit(
    tmp_path: Path,
) -> None:
    """No git on PATH: scriptgen imports, writes the project and says it did not commit."""
    import sys

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    bin_dir = tmp_path / "bin"  # PATH with python and nothing else
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_PYTHON")}
    env["PATH"] = str(bin_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "scriptgen.cli", "new", "textclf", "--model", "bert-base",
         "--no-validate"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "no git executable found: written, not committed" in proc.stdout + proc.stderr
    )
    assert (repo / "generated" / "textclf-bert-base" / "train.py").is_file()
    assert subprocess.run(["git", "log"], cwd=repo, capture_output=True).returncode != 0
