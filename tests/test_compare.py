"""`scriptgen compare`: the table, the verdict and the costs follow from the results files
train.py and baseline.py write (here: written by hand, with known numbers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, run_scriptgen

# The project's model is a hub id: offline, plan's estimate is not to be had (said so).
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def project_with_results(tmp_path: Path, fine_tune: float, prompted: float) -> Path:
    project = tmp_path / "textclf-bert-base"
    shutil.copytree(REPO / "generated" / "textclf-bert-base", project)
    out = project / "outputs"
    out.mkdir()
    results = {"eval_accuracy": fine_tune, "eval_f1_macro": fine_tune - 0.01,
               "eval_samples_per_second": 200.0}  # fmt: skip
    (out / "eval_results.json").write_text(json.dumps(results))
    (out / "train_results.json").write_text(json.dumps({"train_runtime": 1800.0}))
    baseline = {
        "eval_accuracy": prompted, "eval_f1_macro": prompted - 0.02, "examples_per_second": 2.0,
        "prompt_tokens_per_example": 180.0, "completion_tokens_per_example": 2.0,
        "llm": "Qwen/Qwen2.5-1.5B-Instruct", "settings": {"shots": 4}, "unparseable": 3,
    }  # fmt: skip
    (out / "baseline_results.json").write_text(json.dumps(baseline))
    return project


def test_the_fine_tune_wins_and_the_costs_are_derived(tmp_path: Path) -> None:
    project = project_with_results(tmp_path, 0.91, 0.84)
    result = run_scriptgen(
        "compare", str(project), "--price-per-hour", "2", cwd=tmp_path, env=OFFLINE
    )
    assert result.returncode == 0, result.stderr
    table = (project / "comparison.md").read_text(encoding="utf-8")
    assert table == result.stdout.split("\nwrote ")[0] + "\n"
    # Half an hour of training at $2/hour; 1,000 predictions at 200/s and 2/s.
    assert (
        "| fine-tune (bert-base-uncased) | 0.9100 | 0.9000 | 30.0 min | $1.0000 | 200.00 | $0.0028 |"
        in table
    )
    assert (
        "| prompt (Qwen2.5-1.5B-Instruct, 4-shot) | 0.8400 | 0.8200 | none | $0 | 2.00 | $0.2778 |"
        in table
    )
    assert (
        "fine-tune (bert-base-uncased) wins on eval_accuracy by 0.0700 (0.9100 vs 0.8400), at 100.0x lower "
        "cost per 1,000 predictions, after 30.0 min of training ($1.0000)."
    ) in table
    assert "3 unparseable answer(s), counted wrong" in table
    assert (
        "No estimate of `scriptgen plan` to compare with: cannot read the config"
        in table
    )
    assert (project / "comparison.png").read_bytes().startswith(b"\x89PNG")


def test_the_baseline_can_win_priced_by_the_token(tmp_path: Path) -> None:
    project = project_with_results(tmp_path, 0.62, 0.80)
    result = run_scriptgen(
        "compare", str(project), "--price-per-mtok", "0.5", cwd=tmp_path, env=OFFLINE
    )
    assert result.returncode == 0, result.stderr
    table = (project / "comparison.md").read_text(encoding="utf-8")
    # 182 tokens an example, 1,000 examples, $0.50 per million tokens.
    assert "| 2.00 | $0.0910 |" in table
    assert "182.0 tokens per example" in table
    assert (
        "prompt (Qwen2.5-1.5B-Instruct, 4-shot) wins on eval_accuracy by 0.1800"
        in table
    )
    assert "with no training at all." in table


@pytest.mark.parametrize("price", ["-1", "cheap"])
def test_a_bad_price_is_refused(tmp_path: Path, price: str) -> None:
    project = project_with_results(tmp_path, 0.9, 0.8)
    result = run_scriptgen(
        "compare", str(project), "--price-per-hour", price, cwd=tmp_path, env=OFFLINE
    )
    assert result.returncode == 2 and "price-per-hour" in result.stderr
    assert not (project / "comparison.md").exists()


def test_a_tokclf_project_is_compared_on_its_entity_f1(tmp_path: Path) -> None:
    project = tmp_path / "tokclf-bert-base"
    shutil.copytree(REPO / "generated" / "tokclf-bert-base", project)
    out = project / "outputs"
    out.mkdir()
    metrics = {"eval_precision": 0.9, "eval_recall": 0.8, "eval_f1": 0.85,
               "eval_accuracy": 0.97}  # fmt: skip
    (out / "eval_results.json").write_text(
        json.dumps({**metrics, "eval_samples_per_second": 100.0})
    )
    (out / "train_results.json").write_text(json.dumps({"train_runtime": 600.0}))
    baseline = {
        "eval_precision": 0.6, "eval_recall": 0.5, "eval_f1": 0.55, "eval_accuracy": 0.9,
        "examples_per_second": 1.0, "prompt_tokens_per_example": 300.0,
        "completion_tokens_per_example": 25.0, "llm": "Qwen/Qwen2.5-1.5B-Instruct",
        "settings": {"shots": 4}, "unparseable": 0, "dropped_entities": 7,
    }  # fmt: skip
    (out / "baseline_results.json").write_text(json.dumps(baseline))
    # The fine-tune's per-class report (class_report: true), as class_report.py writes it.
    report = (
        "| class | precision | recall | F1 | support | predicted |\n| PER | 0.9000 |\n"
    )
    (out / "eval_class_report.md").write_text(report)
    result = run_scriptgen("compare", str(project), cwd=tmp_path, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    table = (project / "comparison.md").read_text(encoding="utf-8")
    assert "| eval_precision | eval_recall | eval_f1 | eval_accuracy |" in table
    assert "wins on eval_f1 by 0.3000 (0.8500 vs 0.5500)" in table
    assert "7 entit(ies) of an unknown type or not in the sentence, dropped" in table
    assert "The fine-tune per class (eval_class_report.md):\n\n" + report in table
