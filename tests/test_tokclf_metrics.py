"""tokclf's metrics.py, as the reference backend renders it, scores entities exactly as
seqeval's own scores do (its default mode, conlleval's reading), on thousands of random
tag sequences: well-formed IOB2, IOB1, broken BIO and IOBES, with predictions that are
near misses of the truth.

seqeval is in the `ml` extra (a tokclf project requires it).
"""

from __future__ import annotations

import random
import warnings
from types import ModuleType

import pytest

from .conftest import plan_with, rendered_module

TYPES = ["PER", "LOC", "ORG"]


def seqeval_metrics() -> ModuleType:
    try:
        from seqeval.metrics import sequence_labeling
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("seqeval is not installed: pip install -e '.[ml]'")
    return sequence_labeling


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The rendered metrics.py of a tokclf project, imported from a file of its own."""
    tmp = tmp_path_factory.mktemp("tokclf")
    return rendered_module(
        tmp, plan_with(tmp, "tokclf"), "metrics.py", "tokclf_metrics"
    )


def random_tags(rng: random.Random, prefixes: str) -> list[str]:
    """Any tag in any order: well-formed and broken sequences alike."""
    length = rng.randint(0, 12)
    return [
        "O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}"
        for _ in range(length)
    ]


def iob2_tags(rng: random.Random) -> list[str]:
    """Well-formed IOB2: entities of 1 to 3 words among outside words."""
    tags: list[str] = []
    while len(tags) < rng.randint(1, 14):
        if rng.random() < 0.5:
            tags.append("O")
        else:
            type_ = rng.choice(TYPES)
            tags += [f"B-{type_}"] + [f"I-{type_}"] * rng.randint(0, 2)
    return tags


def near_miss(rng: random.Random, tags: list[str], prefixes: str) -> list[str]:
    """A prediction: the truth with a few tags changed (ends, types, spurious I-)."""
    pred = list(tags)
    for i in range(len(pred)):
        if rng.random() < 0.2:
            pred[i] = (
                "O"
                if rng.random() < 0.3
                else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}"
            )
    return pred


def corpus(seed: int, kind: str) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    prefixes = "BIES" if kind == "iobes" else "BI"
    true, pred = [], []
    for _ in range(rng.randint(1, 8)):
        sentence = iob2_tags(rng) if kind == "iob2" else random_tags(rng, prefixes)
        true.append(sentence)
        if rng.random() < 0.5:
            pred.append(near_miss(rng, sentence, prefixes))
        else:
            pred.append(random_tags(rng, prefixes)[: len(sentence)])
            pred[-1] += ["O"] * (len(sentence) - len(pred[-1]))
    return true, pred


@pytest.mark.parametrize("kind", ["iob2", "bio-broken", "iobes"])
def test_entity_scores_match_seqeval(metrics: ModuleType, kind: str) -> None:
    sl = seqeval_metrics()
    for seed in range(600):
        true, pred = corpus(seed, kind)
        scores = metrics.entity_scores(true, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns where a score is undefined
            expected = {
                "precision": sl.precision_score(true, pred, zero_division=0),
                "recall": sl.recall_score(true, pred, zero_division=0),
                "f1": sl.f1_score(true, pred, zero_division=0),
                "accuracy": sl.accuracy_score(true, pred) if any(true) else 0.0,
            }
            report = sl.classification_report(
                true, pred, output_dict=True, zero_division=0
            )
        for key, value in expected.items():
            assert scores[key] == pytest.approx(value), (key, true, pred)
        # The micro, macro and weighted averages aside.
        per_type = {t: r for t, r in report.items() if not t.endswith(" avg")}
        assert set(scores["per_type"]) == set(per_type), (true, pred)
        for type_, row in per_type.items():
            mine = scores["per_type"][type_]
            for key, theirs in (
                ("precision", "precision"),
                ("recall", "recall"),
                ("f1", "f1-score"),
            ):
                assert mine[key] == pytest.approx(row[theirs]), (type_, true, pred)
            assert mine["support"] == row["support"]


def test_scores_of_a_known_case(metrics: ModuleType) -> None:
    # seqeval's own docstring example.
    true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [
        ["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"],
        ["B-PER", "I-PER", "O"],
    ]
    scores = metrics.entity_scores(true, pred)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.5, 0.5, 0.5)
    assert scores["accuracy"] == pytest.approx(8 / 10)


def test_unequal_lengths_are_refused(metrics: ModuleType) -> None:
    with pytest.raises(ValueError):
        metrics.entity_scores([["O", "B-PER"]], [["O"]])
    with pytest.raises(ValueError):
        metrics.entity_scores([["O"]], [["O"], ["O"]])
