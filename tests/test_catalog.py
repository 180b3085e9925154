"""Every (task, family, method) the manifests and families.yaml declare generates with the
reference backend and passes its judge, offline, on the CPU.

The rows come from the catalog itself, so a row is tested the day it is declared; qlora's
too (bitsandbytes' CPU kernels).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.catalog import combinations
from scriptgen.manifests import get_manifest
from scriptgen.pipeline import generate
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec
from scriptgen.twins import building, offered
from scriptgen.validation import Sandbox

from .conftest import alias_for

pytestmark = pytest.mark.slow


def rows() -> list:
    """Every row; the first of each twin (one per task, family, and quantized or not:
    the judge's twin.py changes with the family and qlora alone) marked ``twins``, the
    rows `make twins` runs to build them all."""
    out, seen = [], set()
    for task, model_type, method in combinations():
        twin = (task, model_type, method == "qlora")
        marks = [] if twin in seen else [pytest.mark.twins]
        seen.add(twin)
        out.append(pytest.param(task, model_type, method, marks=marks,
                                id=f"{task}-{model_type}-{method}"))  # fmt: skip
    return out


ROWS = rows()


def test_the_catalog_has_rows_for_every_task_and_method() -> None:
    rows = combinations()
    assert {task for task, _, _ in rows} >= {"textclf"}
    assert {method for _, _, method in rows} >= {"full", "freeze", "lora"}


@pytest.mark.parametrize(("task", "model_type", "method"), ROWS)
def test_row_generates_and_validates(
    task: str, model_type: str, method: str, tmp_path: Path
) -> None:
    manifest = get_manifest(task)
    # A task's first family, full fine-tuning: with its prompt baseline, where the task
    # has one (the baseline's judge runs beside the others).
    baseline = "baseline" in manifest.parts and (model_type, method) == (
        manifest.model_types[0],
        "full",
    )
    raw, base = build_spec(
        task,
        model=alias_for(model_type),
        sets=[f"training.method={method}"],
        baseline="" if baseline else None,
        cwd=tmp_path,
    )
    # `make twins` builds every twin, GPT-2's for minutes under load: room for it.
    sandbox = Sandbox(timeout=1800) if building() else None
    result = generate(
        make_plan(raw, base, tmp_path / "generated"), commit=False, sandbox=sandbox
    )
    assert result.validation is not None and result.validation.passed, (
        result.validation.describe() if result.validation else "not validated"
    )
    # The judge ran whole: no contract test skipped its check.
    skipped = [s.name for s in result.validation.steps if s.outcome == "skipped"]
    assert skipped == [], skipped
    # Every twin the judge used is accounted for, and shipped: the build code of today
    # gives the keys that `make twins` shipped (a change to it ships again).
    assert result.validation.twins, "the judge reported no twin"
    if offered() is not None:
        unshipped = {
            key: twin for key, twin in result.validation.twins.items()
            if twin["source"] != "shipped"
        }  # fmt: skip
        assert not unshipped, f"twins not shipped (run `make twins`): {unshipped}"
    # The judge reports what the twin reached beside its bar (the baseline's LLM too).
    figures = {s.name: s.judged for s in result.validation.steps if s.judged}
    assert len(figures) == (2 if baseline else 1), figures
    if baseline:
        passed = {s.name for s in result.validation.steps if s.outcome == "passed"}
        assert {
            "test_the_twin_llm_does_the_task_through_the_baseline",
            "test_results_are_what_the_predictions_earn",
            "test_shots_come_from_the_training_data",
        } <= passed, sorted(passed)
        assert "## Prompt baseline" in result.files["README.md"]
