"""qa beyond the catalog's rows: its judge catches broken projects (broken the way a code
LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (JSON Lines, unanswerable questions) generates and validates.
Its LLM repair through a scripted server: tests/test_llm_repair.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import (
    REPO,
    assert_validate_catches,
    generate_reference,
    run_scriptgen,
)

pytestmark = pytest.mark.slow

# A window's answer starts one token late: the classic off-by-one of answer_positions.
RIGHT_START = "    return start - 1, end + 1\n"
LATE_START = "    return start, end + 1\n"

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    "answer-starts-a-token-late": (
        "data.py",
        RIGHT_START,
        LATE_START,
        [
            "test_answer_positions",
            "test_answers_map_to_tokens_and_back_in_every_window",
        ],
    ),
    # The question's tokens keep their offsets: answers may come from the question.
    "question-tokens-have-offsets": (
        "data.py",
        "            tuple(o) if sequence_ids[k] == context_index else None\n",
        "            tuple(o) if sequence_ids[k] is not None else None\n",
        ["test_eval_windows_keep_their_example_and_context_offsets"],
    ),
    # Scores as fractions where SQuAD (and eval_results.json's contract) says percent.
    "scores-not-in-percent": (
        "metrics.py",
        '        "exact_match": 100.0 * em_total / len(references),\n',
        '        "exact_match": em_total / len(references),\n',
        ["test_squad_scores_are_the_official_ones", "test_model_learns_the_task"],
    ),
    # The end logits are read as start logits: the model trains, its answers are wrong.
    "start-and-end-swapped": (
        "train.py",
        "        start_logits, end_logits = eval_pred.predictions[:2]\n",
        "        end_logits, start_logits = eval_pred.predictions[:2]\n",
        ["test_model_learns_the_task"],
    ),
}


@pytest.fixture(scope="module")
def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(tmp_path_factory.mktemp("reference"), "qa")


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validate_fails_a_broken_project(
    reference_project: Path, tmp_path: Path, breakage: str
) -> None:
    assert_validate_catches(reference_project, tmp_path, BREAKAGES[breakage])


def test_the_example_spec_with_unanswerable_questions_validates(tmp_path: Path) -> None:
    """examples/qa-squad-v2.yaml: JSON Lines files, version_2_with_negative; the judge
    writes its data in that format, with questions that have no answer."""
    spec = REPO / "examples" / "qa-squad-v2.yaml"
    result = run_scriptgen(
        "new", "qa", "--spec", str(spec), "--out", str(tmp_path), "--no-commit",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    project = tmp_path / "qa-squad-v2"
    config = (project / "config.yaml").read_text(encoding="utf-8")
    assert "version_2_with_negative: true" in config
    assert "train_file:" in config
    report = json.loads((project / ".scriptgen" / "validation.json").read_text())
    names = {step["name"] for step in report["steps"] if step["outcome"] == "passed"}
    assert "test_model_learns_the_task" in names
