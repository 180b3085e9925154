"""The spec's search: tune.py and tune.yaml rendered only when asked for, the metric
settled against the task's, and proven by the judge on the twin: the trials run with
values drawn from the space, each scored by its own run, and the best comes back as a
config train.py reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scriptgen.errors import UserError
from scriptgen.render import render_scaffold

from .conftest import (
    plan_with,
    assert_new_refuses,
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
)

SEARCH_FILES = {"tune.py", "tune.yaml", ".scriptgen/judge/test_search.py"}


@pytest.mark.parametrize(
    ("task", "sets", "metric", "direction", "knob"),
    [
        ("textclf", ["search=true"], "eval_accuracy", "maximize", None),
        ("textclf", ["search.metric=f1_macro", "search.trials=5", "training.method=lora"],
         "eval_f1_macro", "maximize", "lora_r"),
        ("clm", ["search=true"], "eval_perplexity", "minimize", None),
        ("imgclf", ["search=true", "training.method=freeze"], "eval_accuracy",
         "maximize", "unfreeze_layers"),
    ],
)  # fmt: skip
def test_the_spec_settles_the_search(
    tmp_path: Path, task: str, sets: list[str], metric: str, direction: str, knob
) -> None:
    model = {"clm": "gpt2", "imgclf": "vit-base"}.get(task, "bert-base")
    plan = plan_with(tmp_path, task, *sets, model=model)
    assert plan.spec.search.metric == metric
    assert SEARCH_FILES <= {f.path for f in plan.manifest.files}
    scaffold = render_scaffold(plan)
    tune = yaml.safe_load(scaffold["tune.yaml"])
    assert (tune["metric"], tune["direction"]) == (metric, direction)
    assert tune["n_trials"] == plan.spec.search.trials
    lr = plan.spec.training.learning_rate
    assert (
        tune["space"]["learning_rate"]["low"]
        < lr
        < tune["space"]["learning_rate"]["high"]
    )
    assert (
        (knob in tune["space"])
        if knob
        else not set(tune["space"])
        - {
            "learning_rate",
            "per_device_train_batch_size",
            "num_train_epochs",
            "warmup_steps",
        }
    )
    assert "optuna>=4" in scaffold["requirements.txt"].splitlines()


def test_without_search_nothing_of_it_is_rendered(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, "textclf", "search=false")
    assert plan.spec.search is None and "search" not in plan.canonical_spec
    assert not SEARCH_FILES & {f.path for f in plan.manifest.files}
    assert "optuna" not in render_scaffold(plan)["requirements.txt"]


def test_a_metric_the_task_does_not_report_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="search.metric: 'bleu' is not one textclf"):
        plan_with(tmp_path, "textclf", "search.metric=bleu")


def test_a_bad_search_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    said = assert_new_refuses(tmp_path, "textclf", "bert-base", "search.trials=0")
    assert "search.trials" in said


@pytest.fixture(scope="module")
def search_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("search"), "textclf", "search=true"
    )


@pytest.mark.slow
def test_the_judge_proves_the_search(search_project: Path, tmp_path: Path) -> None:
    assert_validate_passes(
        search_project, tmp_path, "test_the_trials_run_and_the_best_is_written_back"
    )


@pytest.mark.slow
def test_the_judge_fails_trials_scored_by_another_metric(
    search_project: Path, tmp_path: Path
) -> None:
    """tune.py ranks the trials by their loss, not by tune.yaml's metric."""
    assert_validate_catches(
        search_project, tmp_path,
        ("tune.py", 'return metrics[tune["metric"]]', 'return metrics["eval_loss"]',
         ["test_the_trials_run_and_the_best_is_written_back"]),
    )  # fmt: skip
