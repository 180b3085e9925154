"""The spec's model_card: rendered only when asked for (model_card.py and train.py's call),
and proven by the judge on the twin: README.md beside the trained model, a model card
the hub reads, true to the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import (
    assert_new_refuses,
    assert_validate_catches,
    assert_validate_passes,
    generate_reference,
)

CARD_FILES = {"model_card.py", ".scriptgen/judge/test_model_card.py"}


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["model_card=true"], {"license": None, "language": None, "intended_use": None}),
        (["model_card.license=mit", "model_card.language=en"],
         {"license": "mit", "language": "en", "intended_use": None}),
        (["model_card=false"], None),
        ([], None),
    ],
)  # fmt: skip
def test_the_spec_asks_for_a_model_card(
    tmp_path: Path, sets: list[str], expected: dict | None
) -> None:
    raw, base = build_spec("textclf", model="bert-base", sets=sets, cwd=tmp_path)
    plan = make_plan(raw, base, tmp_path / "generated")
    card = plan.spec.model_card
    assert (card.model_dump() if card else None) == expected
    # A spec without one keeps its spec.yaml (and hash) as before.
    assert ("model_card" in plan.canonical_spec) == bool(expected)
    files = {f.path for f in plan.manifest.files}
    assert (CARD_FILES <= files) if expected else not (CARD_FILES & files)


def test_a_bad_model_card_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    said = assert_new_refuses(
        tmp_path, "textclf", "bert-base", "model_card.licence=mit"
    )
    assert "model_card" in said


@pytest.fixture(scope="module")
def card_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_reference(
        tmp_path_factory.mktemp("card"), "textclf", "model_card.license=apache-2.0",
        "model_card.intended_use=Sentiment of English product reviews.",
    )  # fmt: skip


@pytest.mark.slow
def test_the_judge_proves_the_model_card(card_project: Path, tmp_path: Path) -> None:
    assert "write_model_card(" in (card_project / "train.py").read_text("utf-8")
    assert_validate_passes(
        card_project, tmp_path, "test_the_model_card_is_true_to_the_run"
    )


@pytest.mark.slow
def test_the_judge_fails_a_card_with_other_results(
    card_project: Path, tmp_path: Path
) -> None:
    """The card's results are not the final evaluation's: the training run's metrics."""
    assert_validate_catches(
        card_project, tmp_path,
        ("model_card.py",
         "    results = {\n        k: round(v, 4) for k, v in metrics.items()\n",
         "    metrics = {k: v / 2 for k, v in metrics.items()}\n"
         "    results = {\n        k: round(v, 4) for k, v in metrics.items()\n",
         ["test_the_model_card_is_true_to_the_run"]),
    )  # fmt: skip
