"""textclf's judge catches projects that run but train wrong: a generated project is broken
on purpose and `scriptgen validate` must fail, naming the contract tests that caught it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import run_scriptgen

pytestmark = pytest.mark.slow

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # Every label becomes class 0: the model learns one class.
    "labels-collapse-to-one-class": (
        "data.py",
        "        return _label_id(value, scheme)\n",
        "        return 0\n",
        ["test_label_mapping_follows_the_column_type", "test_model_learns_the_task"],
    ),
    # The model is told the label names in another order than the ids the data was
    # encoded with (id2label and label2id agree with each other, not with the data).
    "wrong-id2label": (
        "train.py",
        "        args.model_name_or_path,\n        scheme.names,\n",
        "        args.model_name_or_path,\n        scheme.names[::-1],\n",
        ["test_saved_config_names_the_labels", "test_model_learns_the_task"],
    ),
    # --method freeze freezes nothing: the model still learns, only the weight
    # comparison can tell.
    "freeze-trains-everything": (
        "model.py",
        "    for param in model.parameters():\n        param.requires_grad = False\n",
        "    for param in model.parameters():\n        param.requires_grad = True\n",
        ["test_freeze_trains_only_the_top_layers_and_head"],
    ),
    # A made-up metric: eval_results.json claims what the predictions do not earn.
    "hard-coded-accuracy": (
        "train.py",
        '        metrics = {"accuracy": accuracy,',
        '        metrics = {"accuracy": 1.0,',
        ["test_model_learns_the_task"],
    ),
}


@pytest.fixture(scope="module")
def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--set", "training.method=freeze",
        "--no-validate", "--no-commit", "--out", str(out), cwd=out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "textclf-bert-base"


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validate_fails_a_broken_project(
    reference_project: Path, tmp_path: Path, breakage: str
) -> None:
    path, good, bad, must_fail = BREAKAGES[breakage]
    project = tmp_path / "project"
    shutil.copytree(reference_project, project)
    source = (project / path).read_text(encoding="utf-8")
    assert source.count(good) == 1, f"{path} no longer has the code this test breaks"
    (project / path).write_text(source.replace(good, bad), encoding="utf-8")

    result = run_scriptgen("validate", str(project), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "validation failed" in output, output
    for test in must_fail:
        assert f"(in {test}" in output, f"{test} did not catch {breakage}:\n{output}"
