"""`scriptgen validate DIR` fails, with the cause and file:line, on code that does not run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import run_scriptgen

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "generated" / "textclf-bert-base"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "textclf-bert-base"
    shutil.copytree(PROJECT, dest)
    return dest


def break_file(project: Path, rel: str, old: str, new: str) -> int:
    """Replace the first `old` in a project file; return the 1-based line it is on."""
    path = project / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_generated_project_validates(project: Path) -> None:
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 0, result.stderr
    assert "validation passed" in result.stdout
    assert re.search(
        r"passed  test_model_learns_the_task .* eval_accuracy [\d.]+, needs",
        result.stdout,
    )


def test_import_missing_from_installed_transformers(project: Path) -> None:
    line = (
        break_file(
            project,
            "train.py",
            "import yaml\n",
            "import yaml\nfrom transformers import AdamW\n",
        )
        + 1
    )
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 1
    assert (
        f"train.py:{line}: ImportError: cannot import name 'AdamW' from 'transformers'"
        in result.stderr
    )


def test_removed_keyword(project: Path) -> None:
    # transformers 4's name for the Trainer's tokenizer argument, as an LLM may write it.
    break_file(
        project,
        "train.py",
        "processing_class=tokenizer,",
        "tokenizer=tokenizer,",
    )
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 1
    assert "unexpected keyword argument 'tokenizer'" in result.stderr
    assert "train.py:" in result.stderr


def test_method_that_does_not_exist(project: Path) -> None:
    line = break_file(project, "train.py", "trainer.train(", "trainer.fit(")
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 1
    assert (
        f"train.py:{line}: AttributeError: 'Trainer' object has no attribute 'fit'"
        in result.stderr
    )


def test_indentation_error_is_static(project: Path) -> None:
    line = break_file(project, "data.py", "\ndef ", "\n def ")
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 1
    assert f"data.py:{line + 1}:" in result.stderr
    assert "IndentationError" in result.stderr
    assert "static check failed" in result.stderr


def test_hand_written_project_needs_a_task(project: Path) -> None:
    shutil.rmtree(project / ".scriptgen")
    result = run_scriptgen("validate", str(project), cwd=project.parent)
    assert result.returncode == 2
    assert "pass --task" in result.stderr
    result = run_scriptgen(
        "validate", str(project), "--task", "textclf", cwd=project.parent
    )
    assert result.returncode == 0, result.stderr
    # What it was judged as, and how to say otherwise (a LoRA project fails full's judge).
    assert (
        "judged with the textclf spec's defaults (training.method full); "
        "a .scriptgen/spec.yaml in the project gives its own"
    ) in result.stdout + result.stderr
