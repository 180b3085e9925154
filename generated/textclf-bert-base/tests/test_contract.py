"""Contract tests: what every version of this project's code must do.

Rendered by scriptgen; run with `pytest tests` (offline, CPU, seconds). The fixtures in
conftest.py build a tiny twin of the model and learnable synthetic data, then train once;
test_method.py judges what the training method changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

# conftest.py puts tests/ and the project folder on sys.path. (Kept out of isort's way:
# whether it calls these modules first- or third-party depends on where it runs.)
# isort: off
from conftest import (
    DATA_SUFFIX,
    LABEL_NAMES,
    LABELS,
    MAX_LENGTH,
    METRIC,
    METRICS,
    MULTI_LABEL,
    PASS_MARGIN,
    PREDICT_TEXTS,
    TEXT_COLUMN,
    TRAIN_STEPS,
    chance_score,
    write_rows,
)
from twin import MODEL_TYPE
import data
import predict
import train

# isort: on


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def gold_names(label_ids: list[int]):
    names = [LABEL_NAMES[i] for i in label_ids]
    return sorted(names) if MULTI_LABEL else names[0]


def predicted_names(prediction: dict):
    label = prediction["label"]
    if MULTI_LABEL:
        assert isinstance(
            label, list
        ), f"a multi-label prediction is a list: {prediction}"
        assert all(name in LABEL_NAMES for name in label), prediction
        return sorted(label)
    assert (
        label in LABEL_NAMES
    ), f"{label!r} is not one of the data's labels {LABEL_NAMES}"
    return label


def macro_f1(gold: list, predicted: list) -> float:
    """The judge's own macro F1 over the labels (multi-label: per label, then averaged)."""
    as_sets = [set(g) if MULTI_LABEL else {g} for g in gold]
    predicted_sets = [set(p) if MULTI_LABEL else {p} for p in predicted]
    scores = []
    for name in LABEL_NAMES:
        tp = sum(name in g and name in p for g, p in zip(as_sets, predicted_sets))
        fp = sum(name not in g and name in p for g, p in zip(as_sets, predicted_sets))
        fn = sum(name in g and name not in p for g, p in zip(as_sets, predicted_sets))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def test_twin_loads(twin_dir: Path) -> None:
    """The judge's own fixture: a checkpoint that the Auto classes load offline."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(twin_dir)
    model = AutoModelForSequenceClassification.from_pretrained(twin_dir, num_labels=2)
    inputs = tokenizer(PREDICT_TEXTS, padding=True, return_tensors="pt")
    assert model(**inputs).logits.shape == (len(PREDICT_TEXTS), 2)
    assert model.config.model_type == MODEL_TYPE


def test_label_mapping_follows_the_column_type() -> None:
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    def scheme_of(values, feature=None, **kwargs):
        features = Features({"label": feature}) if feature else None
        raw = DatasetDict(train=Dataset.from_dict({"label": values}, features=features))
        scheme = data.resolve_labels(raw, "label", **kwargs)
        return scheme, [data.encode_label(v, scheme) for v in values]

    # A ClassLabel: its own names, its ids.
    scheme, ids = scheme_of([1, 0, 1], ClassLabel(names=["neg", "pos"]))
    assert (scheme.names, ids) == (["neg", "pos"], [1, 0, 1])
    # Integer ids: named by the given labels, or by themselves.
    scheme, ids = scheme_of([2, 0, 1], labels=["a", "b", "c"])
    assert (scheme.names, ids) == (["a", "b", "c"], [2, 0, 1])
    scheme, ids = scheme_of([1, 0, 1])
    assert (scheme.names, ids) == (["0", "1"], [1, 0, 1])
    # Names: the given order, or sorted; "10" and "9" are names, not ids.
    scheme, ids = scheme_of(["pos", "neg", "pos"], labels=["pos", "neg"])
    assert (scheme.names, ids) == (["pos", "neg"], [0, 1, 0])
    scheme, ids = scheme_of(["9", "10", "9"], Value("string"))
    assert (scheme.names, ids) == (["10", "9"], [1, 0, 1])
    # Given labels that do not match the data's are an error, not a guess.
    for values, feature, labels in (
        ([0, 1], ClassLabel(names=["neg", "pos"]), ["pos", "neg"]),
        (["neg", "meh"], None, ["neg", "pos"]),
        ([0, 3], None, ["a", "b"]),
    ):
        with pytest.raises(ValueError):
            scheme_of(values, feature, labels=labels)


def test_multi_label_columns() -> None:
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List

    raw = DatasetDict(train=Dataset.from_dict({"label": [["b", "a"], ["c"]]}))
    scheme = data.resolve_labels(raw, "label")
    assert scheme.multi_label and scheme.names == ["a", "b", "c"]
    assert data.encode_label(["b", "a"], scheme) == [1.0, 1.0, 0.0]
    features = Features({"label": List(ClassLabel(names=["x", "y"]))})
    raw = DatasetDict(
        train=Dataset.from_dict({"label": [[1], [0, 1]]}, features=features)
    )
    scheme = data.resolve_labels(raw, "label")
    assert scheme.names == ["x", "y"] and data.encode_label([1], scheme) == [0.0, 1.0]
    raw = DatasetDict(train=Dataset.from_dict({"label": ["a|b", "b"]}))
    scheme = data.resolve_labels(raw, "label", multi_label=True, label_separator="|")
    assert data.encode_label("a|b", scheme) == [1.0, 1.0]


def test_train_writes_eval_results(trained: Path) -> None:
    path = trained / "eval_results.json"
    assert path.is_file(), "train.py wrote no eval_results.json in --output_dir"
    results = json.loads(path.read_text(encoding="utf-8"))
    for name in METRICS:
        assert name in results, f"no {name} in {results}"
        assert 0.0 <= results[name] <= 1.0, results


def test_saved_config_names_the_labels(trained: Path) -> None:
    """The saved config carries the data's label names (given: in their order)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(trained)
    id2label = {int(i): label for i, label in config.id2label.items()}
    names = [id2label[i] for i in range(len(id2label))]
    assert sorted(names) == sorted(LABEL_NAMES), f"id2label {id2label}"
    if LABELS:
        assert (
            names == LABEL_NAMES
        ), f"id2label {id2label}, expected {LABEL_NAMES} in order"
    assert config.label2id == {label: i for i, label in enumerate(names)}
    expected = (
        "multi_label_classification" if MULTI_LABEL else "single_label_classification"
    )
    assert config.problem_type == expected


def test_model_learns_the_task(trained: Path, examples: dict) -> None:
    """After its short run the twin beats chance on the validation data, through
    predict.py, in the data's own label names; the metrics train.py reported are the
    ones its predictions earn."""
    validation = examples["validation"]
    texts = [text for text, _ in validation]
    predictions = predict.predict(texts, str(trained), max_length=MAX_LENGTH)
    assert [p["text"] for p in predictions] == texts
    gold = [gold_names(ids) for _, ids in validation]
    predicted = [predicted_names(p) for p in predictions]
    judged = {
        "eval_accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
        "eval_f1_macro": macro_f1(gold, predicted),
    }
    chance = chance_score(validation)
    pass_mark = chance + PASS_MARGIN
    print(f"judged: {judged}, pass mark {pass_mark:.3f}")  # shown with pytest -rP
    assert judged[METRIC] >= pass_mark, (
        f"{METRIC} {judged[METRIC]:.3f} on the validation data after {TRAIN_STEPS} steps "
        f"is below {pass_mark:.2f} (chance: {chance:.2f}): the model did not learn"
    )
    results = json.loads((trained / "eval_results.json").read_text(encoding="utf-8"))
    # One example's worth of slack: padding can flip a near tie.
    for name in set(METRICS) & set(judged):
        assert abs(results[name] - judged[name]) <= 1 / len(gold) + 1e-6, (
            f"eval_results.json says {name} = {results[name]:.3f}, the saved model's "
            f"predictions on the same data give {judged[name]:.3f}"
        )


def test_predict_function(trained: Path) -> None:
    predictions = predict.predict(PREDICT_TEXTS, str(trained), max_length=MAX_LENGTH)
    assert len(predictions) == len(PREDICT_TEXTS)
    for text, prediction in zip(PREDICT_TEXTS, predictions):
        assert prediction["text"] == text
        predicted_names(prediction)
        scores = prediction["score"] if MULTI_LABEL else [prediction["score"]]
        assert all(0.0 <= s <= 1.0 for s in scores), prediction


def test_predict_cli_texts(trained: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--model_dir", str(trained), "--max_length", str(MAX_LENGTH)]
    for text in PREDICT_TEXTS:
        argv += ["--text", text]
    predict.main(argv)
    predictions = json_lines(capsys.readouterr().out)
    texts = [p["text"] for p in predictions]
    assert texts == PREDICT_TEXTS, f"expected a JSON line per --text, got {predictions}"
    for prediction in predictions:
        predicted_names(prediction)


def test_predict_cli_input_file(trained: Path, tmp_path: Path) -> None:
    input_file = write_rows(
        tmp_path / f"inputs{DATA_SUFFIX}", [{TEXT_COLUMN: t} for t in PREDICT_TEXTS]
    )
    output_file = tmp_path / "predictions.jsonl"
    predict.main(
        [
            "--model_dir",
            str(trained),
            "--input_file",
            str(input_file),
            "--output_file",
            str(output_file),
            "--max_length",
            str(MAX_LENGTH),
        ]
    )
    assert output_file.is_file(), "predict.py wrote no --output_file"
    predictions = json_lines(output_file.read_text(encoding="utf-8"))
    assert [p["text"] for p in predictions] == PREDICT_TEXTS, predictions
    for prediction in predictions:
        predicted_names(prediction)


def test_resume_from_checkpoint(
    trained: Path, train_argv: list[str], tmp_path: Path
) -> None:
    """--resume_from_checkpoint last goes on from the newest checkpoint in output_dir
    (the judge's run saved one at its last step, so nothing is left to train)."""
    checkpoints = sorted(trained.glob("checkpoint-*"))
    assert checkpoints, "no checkpoint-* in output_dir (--save_strategy steps)"
    output_dir = shutil.copytree(trained, tmp_path / "outputs")
    train.main(
        [
            *train_argv,
            "--output_dir",
            str(output_dir),
            "--resume_from_checkpoint",
            "last",
        ]
    )
    state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == TRAIN_STEPS, state["global_step"]
