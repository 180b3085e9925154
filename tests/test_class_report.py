"""The spec's class_report: rendered only when asked for, by the classification tasks
(class_report.py and train.py's call), and proven by the judge on the twin: the report
beside eval_results.json counts the judge's own validation data and agrees with the
run's metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.errors import UserError
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import (
    assert_new_refuses,
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
    run_scriptgen,
)

REPORT_FILES = {"class_report.py", ".scriptgen/judge/test_class_report.py"}
JUDGED = "test_the_class_report_counts_the_validation_data"


@pytest.mark.parametrize(
    ("task", "sets", "asked"),
    [
        ("textclf", ["class_report=true"], True),
        ("tokclf", ["class_report=true"], True),
        ("audioclf", ["class_report=true"], True),
        ("textclf", ["class_report=false"], False),
        ("imgclf", [], False),
    ],
)
def test_only_a_spec_that_asks_renders_the_report(
    tmp_path: Path, task: str, sets: list[str], asked: bool
) -> None:
    model = {"imgclf": "vit-base", "audioclf": "wav2vec2-base"}.get(task, "bert-base")
    raw, base = build_spec(task, model=model, sets=sets, cwd=tmp_path)
    plan = make_plan(raw, base, tmp_path / "generated")
    assert plan.spec.class_report is asked
    # A spec without one keeps its spec.yaml (and hash) as before.
    assert ("class_report" in plan.canonical_spec) is asked
    files = {f.path for f in plan.manifest.files}
    assert (REPORT_FILES <= files) if asked else not (REPORT_FILES & files)


def test_a_bad_value_is_refused(tmp_path: Path) -> None:
    raw, base = build_spec("textclf", model="bert-base", sets=["class_report=maybe"],
                           cwd=tmp_path)  # fmt: skip
    with pytest.raises(UserError, match="class_report"):
        make_plan(raw, base, tmp_path / "generated")


def test_a_task_without_classes_is_refused_in_one_line(tmp_path: Path) -> None:
    said = assert_new_refuses(tmp_path, "qa", "bert-base", "class_report=true")
    assert "task qa has no class report" in said and "tokclf" in said


@pytest.fixture(scope="module")
def report_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("report"), "textclf", "class_report=true"
    )


@pytest.mark.slow
def test_the_judge_proves_the_report(report_project: Path, tmp_path: Path) -> None:
    assert "write_class_report(" in (report_project / "train.py").read_text("utf-8")
    assert_validate_passes(report_project, tmp_path, JUDGED)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "sets"),
    [("tokclf", ["data.format=hf"]), ("textclf", ["data.multi_label=true"])],
    ids=["tokclf-entity-types", "textclf-multi-label"],
)
def test_the_judge_proves_the_other_reports(
    tmp_path: Path, task: str, sets: list[str]
) -> None:
    settings = [
        arg for value in ["class_report=true", *sets] for arg in ("--set", value)
    ]
    result = run_scriptgen("new", task, "--model", "bert-base", *settings,
                           "--no-commit", "--out", str(tmp_path), cwd=tmp_path)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"passed  {JUDGED}" in output, output


@pytest.mark.slow
def test_the_judge_fails_a_report_of_other_data(
    report_project: Path, tmp_path: Path
) -> None:
    """The report counts the training data, not the validation data it is said to."""
    assert_validate_catches(
        report_project, tmp_path,
        ("train.py", 'trainer.predict(tokenized["validation"])',
         'trainer.predict(tokenized["train"])',
         ["test_the_class_report_counts_the_validation_data"]),
    )  # fmt: skip
