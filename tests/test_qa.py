"""qa beyond the catalog's rows: its judge catches broken projects (broken the way a code
LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); the example spec (JSON Lines, unanswerable questions) generates and validates.
Its LLM repair through a scripted server: tests/test_llm_repair.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import assert_example_validates, breakage_tests

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
    # Gold answers that normalize to "" kept: an empty prediction matches "The".
    "empty-gold-answers-kept": (
        "metrics.py",
        '        golds = [answer for answer in answers if normalize_answer(answer)] or [""]\n',
        '        golds = answers or [""]\n',
        ["test_squad_scores_are_the_official_ones"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "qa", BREAKAGES
)


def test_the_example_spec_with_unanswerable_questions_validates(tmp_path: Path) -> None:
    """examples/qa-squad-v2.yaml: JSON Lines files, version_2_with_negative; the judge
    writes its data in that format, with questions that have no answer."""
    assert_example_validates(
        tmp_path,
        "qa-squad-v2.yaml",
        ("version_2_with_negative: true", "train_file:"),
        {"test_model_learns_the_task"},
    )
