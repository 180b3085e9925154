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
import yaml

# conftest.py puts tests/ and the project folder on sys.path. (Kept out of isort's way:
# whether it calls these modules first- or third-party depends on where it runs.)
# isort: off
from conftest import (
    DATA_SUFFIX,
    LABEL_COLUMN,
    LABEL_NAMES,
    LABELS,
    MAX_LENGTH,
    METRIC,
    METRICS,
    MULTI_LABEL,
    PASS_MARGIN,
    PREDICT_TEXTS,
    PROJECT_DIR,
    TEXT_COLUMN,
    TRAIN_STEPS,
    chance_score,
    write_hub_dataset,
    write_rows,
)
from twin import MODEL_TYPE
import data
import predict
import train

# isort: on

# Every flag train.py must accept, with a value and what parse_args must make of it.
TRAIN_FLAGS = {
    "--model_name_or_path": ("some-org/some-model", "some-org/some-model"),
    "--method": ("freeze", "freeze"),
    "--unfreeze_layers": ("2", 2),
    "--lora_r": ("4", 4),
    "--lora_alpha": ("8", 8.0),
    "--lora_dropout": ("0.05", 0.05),
    "--num_virtual_tokens": ("10", 10),
    "--train_file": ("train.csv", "train.csv"),
    "--validation_file": ("valid.csv", "valid.csv"),
    "--text_column": ("sentence", "sentence"),
    "--label_column": ("target", "target"),
    "--labels": ("b", ["b"]),
    "--multi_label": ("true", True),
    "--label_separator": ("|", "|"),
    "--output_dir": ("out", "out"),
    "--max_steps": ("7", 7),
    "--num_train_epochs": ("2", 2.0),
    "--learning_rate": ("0.001", 0.001),
    "--per_device_train_batch_size": ("3", 3),
    "--per_device_eval_batch_size": ("5", 5),
    "--gradient_accumulation_steps": ("4", 4),
    "--gradient_checkpointing": ("true", True),
    "--precision": ("bf16", "bf16"),
    "--max_length": ("48", 48),
    "--seed": ("123", 123),
    "--max_train_samples": ("10", 10),
    "--max_eval_samples": ("6", 6),
    "--resume_from_checkpoint": ("last", "last"),
}
# Paths given on the command line are relative to the working directory.
CLI_PATH_FLAGS = ("--train_file", "--validation_file", "--output_dir")
# Relative paths in config.yaml are relative to the project folder.
CONFIG_PATH_KEYS = ("train_file", "validation_file", "output_dir")


def read_config() -> dict:
    return yaml.safe_load((PROJECT_DIR / "config.yaml").read_text(encoding="utf-8"))


def same_path(actual: str | None, expected: Path) -> bool:
    return actual is not None and Path(actual).resolve() == expected.resolve()


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


def test_parse_args_defaults_come_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # config.yaml is found from any working directory
    args = train.parse_args([])
    for key, value in read_config().items():
        assert hasattr(args, key), f"parse_args([]) has no {key!r} (a config.yaml key)"
        actual = getattr(args, key)
        relative = isinstance(value, str) and not Path(value).is_absolute()
        if key in CONFIG_PATH_KEYS and relative:
            assert same_path(actual, PROJECT_DIR / value), (
                f"{key}: {actual!r} is not config.yaml's {value!r} "
                "resolved against the project folder"
            )
        elif key == "model_name_or_path" and relative:
            assert actual == value or same_path(actual, PROJECT_DIR / value), (
                f"{key}: {actual!r} is neither {value!r} nor that path resolved "
                "against the project folder"
            )
        else:
            assert actual == value, f"{key}: {actual!r}, config.yaml says {value!r}"


def test_every_flag_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [item for flag, (value, _) in TRAIN_FLAGS.items() for item in (flag, value)]
    args = train.parse_args(["--config", str(PROJECT_DIR / "config.yaml"), *argv])
    for flag, (_, expected) in TRAIN_FLAGS.items():
        actual = getattr(args, flag.lstrip("-"))
        if flag in CLI_PATH_FLAGS:
            assert same_path(actual, tmp_path / expected), (
                f"{flag} {expected}: got {actual!r}, expected a path relative to "
                "the working directory"
            )
        else:
            assert actual == expected, f"{flag}: got {actual!r}, expected {expected!r}"

    args = train.parse_args(["--dataset_name", "some-org/some-dataset"])
    assert args.dataset_name == "some-org/some-dataset"


def test_a_data_source_on_the_command_line_replaces_config_labels(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    settings = {**read_config(), "labels": ["x", "y"], "train_file": "a.csv"}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert train.parse_args(["--config", str(config)]).labels == ["x", "y"]
    for flag, value in (("--train_file", "b.csv"), ("--dataset_name", "org/data")):
        args = train.parse_args(["--config", str(config), flag, value])
        assert args.labels is None, f"{flag} kept config.yaml's labels {args.labels}"
    args = train.parse_args(
        ["--config", str(config), "--train_file", "b.csv", "--labels", "p", "q"]
    )
    assert args.labels == ["p", "q"]


def test_training_arguments_from_flags_and_the_trainer_block(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    trainer_block = {
        "weight_decay": 0.01,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 3,
    }
    config.write_text(
        yaml.safe_dump({**read_config(), "trainer": trainer_block}), encoding="utf-8"
    )
    argv = ["--config", str(config), "--output_dir", str(tmp_path / "out")]
    argv += ["--warmup_steps", "7", "--logging_steps", "3", "--report_to", "none"]
    argv += ["--gradient_accumulation_steps", "4", "--learning_rate", "1e-4"]
    argv += ["--precision", "fp32"]  # whatever config.yaml says: this runs on a CPU
    training_args = train.build_training_args(train.parse_args(argv))
    assert training_args.weight_decay == 0.01, "the trainer: block was not applied"
    scheduler = training_args.lr_scheduler_type
    assert getattr(scheduler, "value", scheduler) == "cosine"
    assert (
        training_args.warmup_steps == 7
    ), "a TrainingArguments flag must win over config"
    assert training_args.logging_steps == 3
    assert training_args.gradient_accumulation_steps == 4
    assert training_args.learning_rate == 1e-4
    # precision and gradient checkpointing reach the Trainer (use_cpu: bf16 on a CPU).
    argv += ["--precision", "bf16", "--use_cpu", "true", "--gradient_checkpointing"]
    training_args = train.build_training_args(train.parse_args(argv))
    assert training_args.bf16 and not training_args.fp16
    assert training_args.gradient_checkpointing
    with pytest.raises(SystemExit):
        train.parse_args(["--no_such_flag", "1"])


def test_limit_samples_draws_from_every_label() -> None:
    """IMDB is sorted by label: the first N rows would all be negative."""
    from datasets import Dataset

    dataset = Dataset.from_dict(
        {"text": [str(i) for i in range(100)], "label": [0] * 50 + [1] * 50}
    )
    subset = data.limit_samples(dataset, 20, seed=1)
    assert len(subset) == 20
    assert set(subset["label"]) == {0, 1}, "limit_samples must shuffle before it cuts"
    assert subset["text"] == data.limit_samples(dataset, 20, seed=1)["text"]


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


def test_hub_dataset_validation_fallbacks(tmp_path: Path) -> None:
    """validation, else test, else 10% of train, for a folder laid out like a hub dataset."""
    rows = [
        {TEXT_COLUMN: f"text {i}", LABEL_COLUMN: [0] if MULTI_LABEL else 0}
        for i in range(20)
    ]
    only_train = write_hub_dataset(tmp_path / "a", {"train": rows})
    raw = data.load_raw_datasets(dataset_name=str(only_train), seed=0)
    assert (len(raw["train"]), len(raw["validation"])) == (18, 2)
    with_test = write_hub_dataset(tmp_path / "b", {"train": rows, "test": rows[:5]})
    raw = data.load_raw_datasets(dataset_name=str(with_test))
    assert len(raw["validation"]) == 5, "the test split stands in for validation"
    with pytest.raises(ValueError):
        data.load_raw_datasets(dataset_name=str(with_test), validation_split="dev")


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
