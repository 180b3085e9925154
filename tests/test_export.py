"""The spec's export: export.py rendered only when asked for, by the encoder tasks, and
proven by the judge on the twin: ONNX Runtime, run in the judge's own process, gives
the trained model's outputs on inputs of other sizes than export.py traced."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.errors import UserError
from scriptgen.render import render_scaffold

from .conftest import (
    plan_with,
    assert_new_refuses,
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
)

EXPORT_FILES = {"export.py", ".scriptgen/judge/test_export.py"}


@pytest.mark.parametrize(
    ("task", "model", "asked"),
    [("qa", "bert-base", True), ("audioclf", "wav2vec2-base", True),
     ("textclf", "bert-base", False)],
)  # fmt: skip
def test_only_a_spec_that_asks_renders_the_export(
    tmp_path: Path, task: str, model: str, asked: bool
) -> None:
    plan = plan_with(tmp_path, task, f"export={str(asked).lower()}", model=model)
    assert plan.spec.export is asked and ("export" in plan.canonical_spec) is asked
    assert (EXPORT_FILES <= {f.path for f in plan.manifest.files}) is asked
    requirements = render_scaffold(plan)["requirements.txt"].splitlines()
    assert ("onnxruntime>=1.20" in requirements) is asked


@pytest.mark.parametrize(
    ("task", "sets", "said"),
    [("seq2seq", [], "task seq2seq has no ONNX export: outputs/ is already the whole model"),
     ("textclf", ["training.method=prefix"], "export: training.method prefix's virtual")],
)  # fmt: skip
def test_what_cannot_be_exported_is_refused(
    tmp_path: Path, task: str, sets: list[str], said: str
) -> None:
    model = "t5-small" if task == "seq2seq" else "bert-base"
    with pytest.raises(UserError, match=said.replace("(", r"\(")):
        plan_with(tmp_path, task, "export=true", *sets, model=model)


def test_a_bad_export_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    said = assert_new_refuses(tmp_path, "clm", "gpt2", "export=true")
    assert "no ONNX export" in said


@pytest.fixture(scope="module")
def export_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("export"), "textclf", "export=true"
    )


@pytest.mark.slow
def test_the_judge_runs_the_onnx_model(export_project: Path, tmp_path: Path) -> None:
    assert_validate_passes(
        export_project, tmp_path, "test_onnx_runtime_gives_the_trained_models_outputs"
    )


@pytest.mark.slow
def test_the_judge_fails_an_export_of_fixed_shapes(
    export_project: Path, tmp_path: Path
) -> None:
    """Without dynamic shapes, the ONNX model takes only the traced example's batch
    size and length: the judge's inputs are others."""
    assert_validate_catches(
        export_project, tmp_path,
        ("export.py", "        dynamic_shapes=dynamic,\n", "",
         ["test_onnx_runtime_gives_the_trained_models_outputs"]),
    )  # fmt: skip
