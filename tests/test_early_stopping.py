"""The spec's training.early_stopping: settled against the task's metrics, rendered only
when asked for (config.yaml's settings, train.py's callback, the judge's test file), and
proven by the judge on the twin: a run that stalls stops, and keeps the best checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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

STOPPING_JUDGE = ".scriptgen/judge/test_early_stopping.py"


def plan_for(tmp_path: Path, task: str, model: str, *sets: str):
    raw, base = build_spec(task, model=model, sets=list(sets), cwd=tmp_path)
    return make_plan(raw, base, tmp_path / "generated")


@pytest.mark.parametrize(
    ("task", "model", "sets", "expected"),
    [
        # true: the defaults, on the task's judged metric, higher is better.
        ("textclf", "bert-base", ["training.early_stopping=true"],
         {"patience": 3, "threshold": 0.0, "metric": "eval_accuracy"}),
        # The metric with or without its prefix; the other keys as given.
        ("textclf", "bert-base",
         ["training.early_stopping.patience=5", "training.early_stopping.metric=f1_macro"],
         {"patience": 5, "threshold": 0.0, "metric": "eval_f1_macro"}),
        # clm's perplexity is computed after evaluating: it stops on the loss.
        ("clm", "gpt2", ["training.early_stopping=true"],
         {"patience": 3, "threshold": 0.0, "metric": "eval_loss"}),
        ("textclf", "bert-base", ["training.early_stopping=false"], None),
        ("textclf", "bert-base", [], None),
    ],
)  # fmt: skip
def test_the_spec_settles_the_metric(
    tmp_path: Path, task: str, model: str, sets: list[str], expected: dict | None
) -> None:
    plan = plan_for(tmp_path, task, model, *sets)
    stopping = plan.spec.training.early_stopping
    assert (stopping.model_dump() if stopping else None) == expected
    # Only a spec that stops early says so in spec.yaml (a project made before keeps its
    # spec hash), and only it has the judge's file.
    assert ("early_stopping" in plan.canonical_spec["training"]) == bool(expected)
    judged = {f.path for f in plan.manifest.judge_files}
    assert (STOPPING_JUDGE in judged) == bool(expected)


@pytest.mark.parametrize(
    ("task", "model", "value", "words"),
    [
        ("textclf", "bert-base", "eval_bleu", "is not one textclf can stop on: eval_accuracy, eval_f1_macro"),
        ("clm", "gpt2", "eval_perplexity", "is not one clm can stop on: eval_loss"),
    ],
)  # fmt: skip
def test_a_metric_the_task_does_not_report_is_refused(
    tmp_path: Path, task: str, model: str, value: str, words: str
) -> None:
    with pytest.raises(UserError, match=words) as caught:
        plan_for(tmp_path, task, model, f"training.early_stopping.metric={value}")
    assert "\n" not in str(caught.value)


def test_bad_early_stopping_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    for value in (
        "training.early_stopping.patience=0",
        "training.early_stopping.metric=bleu",
    ):
        said = assert_new_refuses(tmp_path, "textclf", "bert-base", value)
        assert "training.early_stopping" in said


def test_only_a_spec_that_stops_early_renders_it(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "stopping").mkdir()
    plain = generate_reference(tmp_path / "plain", "textclf")
    stopping = generate_reference(
        tmp_path / "stopping", "textclf", "training.early_stopping.patience=4"
    )
    assert "EarlyStopping" not in (plain / "train.py").read_text("utf-8")
    assert "early_stopping" not in (plain / "config.yaml").read_text("utf-8")
    config = yaml.safe_load((stopping / "config.yaml").read_text("utf-8"))
    expected = {
        "load_best_model_at_end": True,
        "metric_for_best_model": "eval_accuracy",
        "early_stopping_patience": 4,
        "early_stopping_threshold": 0.0,
    }
    assert {k: config.get(k) for k in expected} == expected
    # Left to transformers, which reads the metric's name: a --metric_for_best_model
    # eval_loss is then lower-is-better, not pinned to the file's direction.
    assert "greater_is_better" not in config
    assert "EarlyStoppingCallback(" in (stopping / "train.py").read_text("utf-8")


@pytest.fixture(scope="module")
def stopping_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("stopping"), "textclf", "training.early_stopping=true"
    )


@pytest.mark.slow
def test_the_judge_proves_early_stopping(
    stopping_project: Path, tmp_path: Path
) -> None:
    assert_validate_passes(
        stopping_project, tmp_path, "test_training_stops_once_the_metric_stalls",
        "test_the_model_kept_is_the_best_checkpoints",
    )  # fmt: skip


@pytest.mark.slow
def test_early_stopping_with_an_adapter_method_validates(tmp_path: Path) -> None:
    """The best checkpoint an adapter run keeps is an adapter's, and the method's judge
    (a checkpoint of an unfinished run, which evaluates where it saves) runs beside the
    early stopping one."""
    project = generate_reference(
        tmp_path, "textclf", "training.early_stopping=true", "training.method=prefix"
    )
    assert_validate_passes(
        project, tmp_path, "test_training_stops_once_the_metric_stalls",
        "test_a_checkpoint_of_an_unfinished_run_loads_with_its_labels",
    )  # fmt: skip


@pytest.mark.slow
def test_the_judge_fails_a_train_py_that_never_stops(
    stopping_project: Path, tmp_path: Path
) -> None:
    """The settings are there, the callback is not: training runs to its end."""
    callback = (
        "        callbacks=[\n"
        "            EarlyStoppingCallback(\n"
        "                training_args.early_stopping_patience,\n"
        "                training_args.early_stopping_threshold,\n"
        "            )\n"
        "        ],\n"
    )
    assert_validate_catches(
        stopping_project, tmp_path,
        ("train.py", callback, "", ["test_training_stops_once_the_metric_stalls"]),
    )  # fmt: skip


@pytest.mark.slow
def test_the_judge_fails_a_direction_pinned_in_config(
    stopping_project: Path, tmp_path: Path
) -> None:
    """greater_is_better written beside the metric: a --metric_for_best_model eval_loss
    then keeps the old direction, and the worst checkpoint is kept as the best."""
    pinned = "metric_for_best_model: eval_accuracy\n"
    assert_validate_catches(
        stopping_project, tmp_path,
        ("config.yaml", pinned, pinned + "greater_is_better: true\n",
         ["test_the_metrics_direction_follows_the_metric"]),
    )  # fmt: skip


@pytest.mark.slow
def test_a_generative_task_stops_on_its_loss(tmp_path: Path) -> None:
    """clm: lower is better, and the loss is the metric."""
    project = generate_reference(
        tmp_path, "clm", "training.early_stopping=true", model="gpt2"
    )
    config = yaml.safe_load((project / "config.yaml").read_text("utf-8"))
    assert (config["metric_for_best_model"], config.get("greater_is_better")) == (
        "eval_loss",
        None,  # transformers reads a *loss as lower-is-better
    )
    result = run_scriptgen("validate", str(project), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "passed  test_the_model_kept_is_the_best_checkpoints" in output, output
