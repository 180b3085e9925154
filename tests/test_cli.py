"""The real command line in a subprocess: exit codes, one-line errors, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import build_file_tree, git, run_scriptgen, tree


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["new", "nosuchtask", "--model", "bert-base"],
            "unknown task 'nosuchtask'; available: audioclf, clm, imgclf, qa, seq2seq, textclf, tokclf",
        ),
        (["new", "textclf", "--model", "gpt-17"], "unknown model 'gpt-17'"),
        (
            ["new", "textclf", "--model", "bert-base", "--name", "a/../b"],
            "name: must be a safe folder name",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--name", "has space"],
            "name: must be a safe folder name",
        ),
        (
            [
                "new",
                "textclf",
                "--model",
                "bert-base",
                "--set",
                "training.batch_size=0",
            ],
            "training.batch_size",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--set", "training.epochs=many"],
            "training.epochs",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--spec", "bad.yaml"],
            "bad.yaml:3:1: malformed YAML: expected ',' or '}', but got '<stream end>' (while parsing a flow mapping at line 2)",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--spec", "missing.yaml"],
            "spec file not found",
        ),
        (
            [
                "new",
                "textclf",
                "--model",
                "bert-base",
                "--set",
                "requirements=[use focal loss]",
            ],
            "free-text requirements",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--llm", "gpt4all:x"],
            "unknown backend 'gpt4all'",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--memory-limit", "lots"],
            "cannot read size",
        ),
        (
            ["new", "textclf", "--model", "bert-base", "--max-repairs", "-1"],
            "--max-repairs",
        ),
        (["validate", "nowhere"], "no such project folder"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(
    repo: Path, args: list[str], expected: str
) -> None:
    build_file_tree(repo, {"bad.yaml": "task: textclf\nmodel: {bert-base\n"})
    git(repo, "add", "bad.yaml")
    git(repo, "commit", "-q", "-m", "add a bad spec")
    before, head = tree(repo), git(repo, "rev-parse", "HEAD")
    result = run_scriptgen(*args, cwd=repo)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert tree(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_scriptgen(
        "--debug", "new", "textclf", "--model", "gpt-17", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "UserError" in result.stderr


def test_existing_target_is_refused_with_a_pointer_to_regen(tmp_path: Path) -> None:
    """A project of scriptgen's is pointed at regen; another folder is left alone."""
    build_file_tree(tmp_path, {"generated/textclf-bert-base/train.py": "# mine\n"})
    new = ("new", "textclf", "--model", "bert-base", "--no-validate")
    result = run_scriptgen(*new, cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists and is not a scriptgen project; choose another --name" in (
        result.stderr
    )
    assert (tmp_path / "generated/textclf-bert-base/train.py").read_text() == "# mine\n"
    result = run_scriptgen(*new, "--no-commit", "--name", "ours", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run_scriptgen(*new, "--name", "ours", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists; regenerate it with `scriptgen regen" in result.stderr


def test_help_and_tasks_do_not_import_torch(tmp_path: Path) -> None:
    import sys

    code = (
        "import sys; from scriptgen.cli import main; rc = main(%r); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'; "
        "sys.exit(rc)"
    )
    for argv in (["--help"], ["new", "--help"], ["tasks"]):
        import subprocess

        result = subprocess.run(
            [sys.executable, "-c", code % argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
    tasks = run_scriptgen("tasks", cwd=tmp_path)
    assert "textclf: " in tasks.stdout
    assert re.search(
        r"\n  bert-base +google-bert/bert-base-uncased \(bert\)\n", tasks.stdout
    )
    assert "defines: parse_args, main" in tasks.stdout
