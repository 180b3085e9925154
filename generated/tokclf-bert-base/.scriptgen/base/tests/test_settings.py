"""Contract tests of train.py's settings and data.py's data sources: config.yaml, then flags;
TrainingArguments from the trainer: block and flags; files or a hub dataset, the validation
split's fallbacks, and sample limits.

Rendered by scriptgen; run with `pytest tests` (offline, CPU, seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# conftest.py puts tests/ on sys.path. (Kept out of isort's way: whether it calls these
# modules first- or third-party depends on where it runs.)
# isort: off
from conftest import PROJECT_DIR
import harness

# isort: on

# The project's modules, run in a process of their own (harness.py).
data = harness.module("data")
train = harness.module("train")

# Every flag train.py must accept, with a value and what parse_args must make of it.
TRAIN_FLAGS = {
    "--model_name_or_path": ("some-org/some-model", "some-org/some-model"),
    "--method": ("freeze", "freeze"),
    "--unfreeze_layers": ("2", 2),
    "--lora_r": ("4", 4),
    "--lora_alpha": ("8", 8.0),
    "--lora_dropout": ("0.05", 0.05),
    "--num_virtual_tokens": ("10", 10),
    "--train_file": ("train.jsonl", "train.jsonl"),
    "--validation_file": ("valid.jsonl", "valid.jsonl"),
    "--tokens_column": ("words", "words"),
    "--tags_column": ("labels", "labels"),
    "--labels": ("O", ["O"]),
    "--label_all_tokens": ("true", True),
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
        elif isinstance(value, dict):
            for sub, sub_value in value.items():
                assert actual.get(sub) == sub_value, f"{key}.{sub}: {actual!r}"
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
    assert train.parse_args(["--gradient_checkpointing"]).gradient_checkpointing is True
    assert train.parse_args(["--label_all_tokens", "false"]).label_all_tokens is False
    assert train.parse_args(["--label_all_tokens"]).label_all_tokens is True
    labels = train.parse_args(["--labels", "O", "B-X", "I-X"]).labels
    assert labels == ["O", "B-X", "I-X"]


def test_a_data_source_on_the_command_line_replaces_config_labels(
    tmp_path: Path,
) -> None:
    """config.yaml's labels belong to config.yaml's data, not to other data."""
    config = tmp_path / "config.yaml"
    settings = {**read_config(), "labels": ["x", "y"], "train_file": "a.jsonl"}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert train.parse_args(["--config", str(config)]).labels == ["x", "y"]
    for flag, value in (("--train_file", "b.jsonl"), ("--dataset_name", "org/data")):
        args = train.parse_args(["--config", str(config), flag, value])
        assert args.labels is None, f"{flag} kept config.yaml's labels {args.labels}"
    argv = ["--config", str(config), "--train_file", "b.jsonl", "--labels", "p", "q"]
    assert train.parse_args(argv).labels == ["p", "q"]


def training_arguments(argv: list[str]) -> object:
    """Runs in the project's process: the TrainingArguments that argv makes."""
    import train

    return train.build_training_args(train.parse_args(argv))


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
    training_args = harness.run(training_arguments, argv)
    assert training_args.weight_decay == 0.01, "the trainer: block was not applied"
    scheduler = training_args.lr_scheduler_type
    assert getattr(scheduler, "value", scheduler) == "cosine", scheduler
    assert training_args.warmup_steps == 7, "a TrainingArguments flag must win"
    assert training_args.logging_steps == 3
    assert training_args.gradient_accumulation_steps == 4
    assert training_args.learning_rate == 1e-4
    # precision and gradient checkpointing reach the Trainer (use_cpu: bf16 on a CPU).
    argv += ["--precision", "bf16", "--use_cpu", "true", "--gradient_checkpointing"]
    training_args = harness.run(training_arguments, argv)
    assert training_args.bf16 and not training_args.fp16
    assert training_args.gradient_checkpointing
    with pytest.raises(SystemExit):
        train.parse_args(["--no_such_flag", "1"])


def sampled_rows() -> list:
    """Runs in the project's process: data.limit_samples on a dataset sorted by label."""
    from datasets import Dataset

    import data

    dataset = Dataset.from_dict({"row": list(range(100)), "label": [0] * 50 + [1] * 50})
    subset = data.limit_samples(dataset, 20, seed=1)
    again = data.limit_samples(dataset, 20, seed=1)
    return [
        subset["row"],
        subset["label"],
        again["row"],
        len(data.limit_samples(dataset, None, seed=1)),
    ]


def test_limit_samples_draws_at_random() -> None:
    """Many datasets are sorted by label (IMDB): the first N rows would all share one."""
    rows, labels, again, unlimited = harness.run(sampled_rows)
    assert len(rows) == 20
    assert set(labels) == {0, 1}, "limit_samples must shuffle before it cuts"
    assert rows == again, "limit_samples must draw the same rows for the same seed"
    assert unlimited == 100


def write_parquet_dataset(folder: Path, splits: dict[str, int]) -> Path:
    """A folder laid out as a hub dataset repository (data/<split>-00000-of-00001.parquet)."""
    rows = {split: [{"row": i} for i in range(n)] for split, n in splits.items()}
    return harness.write_hub_dataset(folder, rows, {"row": harness.value("int64")})


def test_hub_dataset_validation_fallbacks(tmp_path: Path) -> None:
    """validation, else test, else 10% of train, for a folder laid out like a hub dataset;
    a split named otherwise must exist."""
    only_train = write_parquet_dataset(tmp_path / "a", {"train": 20})
    raw = data.load_raw_datasets(dataset_name=str(only_train), seed=0)
    assert (len(raw["train"]), len(raw["validation"])) == (18, 2)
    with_test = write_parquet_dataset(tmp_path / "b", {"train": 20, "test": 5})
    raw = data.load_raw_datasets(dataset_name=str(with_test))
    assert len(raw["validation"]) == 5, "the test split stands in for validation"
    with pytest.raises(ValueError):
        data.load_raw_datasets(dataset_name=str(with_test), validation_split="dev")


def test_a_data_file_of_unknown_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"row": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError):
        data.load_raw_datasets(
            train_file=str(tmp_path / "train.jsonl"),
            validation_file=str(tmp_path / "valid.unknown"),
        )
