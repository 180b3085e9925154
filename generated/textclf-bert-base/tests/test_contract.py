"""Contract tests: what every version of this project's code must do.

Rendered by scriptgen; run with `pytest tests` (offline, CPU, seconds). The fixtures in
conftest.py build a tiny twin of the model and learnable synthetic data, then train once;
test_method.py judges what the training method changed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

# conftest.py puts tests/ on sys.path. (Kept out of isort's way: whether it calls these
# modules first- or third-party depends on where it runs.)
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
import harness

# isort: on

# The project's modules, run in a process of their own (harness.py).
data = harness.module("data")
predict = harness.module("predict")
train = harness.module("train")


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


def twin_logits_shape(twin_dir: str, texts: list[str]) -> list:
    """Runs in the project's process: the twin through the Auto classes, offline; the
    logits' shape and the model type."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(twin_dir)
    model = AutoModelForSequenceClassification.from_pretrained(twin_dir, num_labels=2)
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    return [list(model(**inputs).logits.shape), model.config.model_type]


def test_twin_loads(twin_dir: Path) -> None:
    """The judge's own fixture: a checkpoint that the Auto classes load offline."""
    shape, model_type = harness.run(twin_logits_shape, str(twin_dir), PREDICT_TEXTS)
    assert shape == [len(PREDICT_TEXTS), 2]
    assert model_type == MODEL_TYPE


def label_schemes() -> list:
    """Runs in the project's process: data.resolve_labels and data.encode_label over
    label columns of every kind; the scheme's names and the ids, or the error's type."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    import data

    cases = [
        ([1, 0, 1], ClassLabel(names=["neg", "pos"]), None),
        ([2, 0, 1], None, ["a", "b", "c"]),
        ([1, 0, 1], None, None),
        (["pos", "neg", "pos"], None, ["pos", "neg"]),
        (["9", "10", "9"], Value("string"), None),
        # Given labels that do not match the data's are an error, not a guess.
        ([0, 1], ClassLabel(names=["neg", "pos"]), ["pos", "neg"]),
        (["neg", "meh"], None, ["neg", "pos"]),
        ([0, 3], None, ["a", "b"]),
    ]
    results = []
    for values, feature, labels in cases:
        features = Features({"label": feature}) if feature else None
        raw = DatasetDict(train=Dataset.from_dict({"label": values}, features=features))
        try:
            scheme = data.resolve_labels(raw, "label", labels=labels)
            ids = [data.encode_label(v, scheme) for v in values]
        except Exception as exc:
            results.append(type(exc).__name__)
        else:
            results.append([list(scheme.names), ids])
    return results


def test_label_mapping_follows_the_column_type() -> None:
    assert harness.run(label_schemes) == [
        # A ClassLabel: its own names, its ids.
        [["neg", "pos"], [1, 0, 1]],
        # Integer ids: named by the given labels, or by themselves.
        [["a", "b", "c"], [2, 0, 1]],
        [["0", "1"], [1, 0, 1]],
        # Names: the given order, or sorted; "10" and "9" are names, not ids.
        [["pos", "neg"], [0, 1, 0]],
        [["10", "9"], [1, 0, 1]],
        "ValueError",
        "ValueError",
        "ValueError",
    ]


def multi_label_schemes() -> list:
    """Runs in the project's process: multi-label columns of lists, of ClassLabel lists,
    and of joined names."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List

    import data

    results = []
    raw = DatasetDict(train=Dataset.from_dict({"label": [["b", "a"], ["c"]]}))
    scheme = data.resolve_labels(raw, "label")
    results.append(
        [scheme.multi_label, list(scheme.names), data.encode_label(["b", "a"], scheme)]
    )
    features = Features({"label": List(ClassLabel(names=["x", "y"]))})
    raw = DatasetDict(
        train=Dataset.from_dict({"label": [[1], [0, 1]]}, features=features)
    )
    scheme = data.resolve_labels(raw, "label")
    results.append(
        [scheme.multi_label, list(scheme.names), data.encode_label([1], scheme)]
    )
    raw = DatasetDict(train=Dataset.from_dict({"label": ["a|b", "b"]}))
    scheme = data.resolve_labels(raw, "label", multi_label=True, label_separator="|")
    results.append(
        [scheme.multi_label, list(scheme.names), data.encode_label("a|b", scheme)]
    )
    return results


def test_multi_label_columns() -> None:
    assert harness.run(multi_label_schemes) == [
        [True, ["a", "b", "c"], [1.0, 1.0, 0.0]],
        [True, ["x", "y"], [0.0, 1.0]],
        [True, ["a", "b"], [1.0, 1.0]],
    ]


def test_train_writes_eval_results(trained: Path) -> None:
    path = trained / "eval_results.json"
    assert path.is_file(), "train.py wrote no eval_results.json in --output_dir"
    results = json.loads(path.read_text(encoding="utf-8"))
    for name in METRICS:
        assert name in results, f"no {name} in {results}"
        assert 0.0 <= results[name] <= 1.0, results


def test_saved_config_names_the_labels(trained: Path) -> None:
    """The saved config carries the data's label names (given: in their order)."""
    config = harness.model_config(trained)
    id2label = {int(i): label for i, label in config.get("id2label", {}).items()}
    names = [id2label[i] for i in range(len(id2label))]
    assert sorted(names) == sorted(LABEL_NAMES), f"id2label {id2label}"
    if LABELS:
        assert (
            names == LABEL_NAMES
        ), f"id2label {id2label}, expected {LABEL_NAMES} in order"
    assert config.get("label2id") == {label: i for i, label in enumerate(names)}
    expected = (
        "multi_label_classification" if MULTI_LABEL else "single_label_classification"
    )
    assert config.get("problem_type") == expected


def test_model_learns_the_task(
    trained: Path, examples: dict, record_property: Callable[[str, object], None]
) -> None:
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
    record_property(
        "judged", {"metric": METRIC, "value": judged[METRIC], "at_least": pass_mark}
    )
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


def test_predict_cli_texts(trained: Path) -> None:
    argv = ["--model_dir", str(trained), "--max_length", str(MAX_LENGTH)]
    for text in PREDICT_TEXTS:
        argv += ["--text", text]
    predictions = json_lines(harness.output("predict.main", argv))
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
