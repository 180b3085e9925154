"""Contract tests of train.py's settings and data.py's data sources: each setting is one
dataclass field with its help; config.yaml gives the values and a flag overrides each;
files or a hub dataset, the validation split's fallbacks, and sample limits.

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

# Paths: config.yaml's relative to its folder, the command line's to the working directory.
PATH_KEYS = ("train_file", "validation_file", "output_dir")
# This runs on a CPU: bf16 only with use_cpu, fp16 never.
ON_CPU = ["--use_cpu", "true"]


def read_config() -> dict:
    return yaml.safe_load((PROJECT_DIR / "config.yaml").read_text(encoding="utf-8"))


def parsed(argv: list[str]) -> dict:
    """Runs in the project's process: every setting parse_args(argv) made, by name (the
    Trainer's as its to_dict() gives them)."""
    import train

    model_args, data_args, training_args = train.parse_args(argv)
    return {**vars(model_args), **vars(data_args), **training_args.to_dict()}


def declared() -> dict:
    """Runs in the project's process: the settings train.py's parser declares, by name,
    with what a flag takes (choices, a list, a bool) and the --help text."""
    import contextlib
    import dataclasses
    import io

    import train

    parser = train.build_parser()
    own = {
        f.name for kind in parser.dataclass_types[:2] for f in dataclasses.fields(kind)
    }
    settings = {}
    for action in parser._actions:
        if (
            action.dest in settings
            or not action.option_strings
            or action.dest == "help"
        ):
            continue
        settings[action.dest] = {
            "own": action.dest in own,
            "choices": [getattr(c, "value", c) for c in action.choices or ()],
            "list": action.nargs == "+",
            "bool": action.const is True,
            "type": getattr(action.type, "__name__", ""),
            "help": action.help or "",
        }
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        train.parse_args(["--help"])
    return {"settings": settings, "help": text.getvalue()}


@pytest.fixture(scope="module")
def declaration() -> dict:
    return harness.run(declared)


def same_path(actual: str | None, expected: Path) -> bool:
    return actual is not None and Path(actual).resolve() == expected.resolve()


def test_help_lists_every_setting_once_with_its_help(declaration: dict) -> None:
    """`python train.py --help`: each of the project's own settings once, with its help;
    each config.yaml key is a declared setting."""
    options = [
        line.split()[0].rstrip(",")
        for line in declaration["help"].splitlines()
        if line.startswith("  --")
    ]
    settings = declaration["settings"]
    for name, setting in settings.items():
        if setting["own"]:
            assert (
                options.count(f"--{name}") == 1
            ), f"--{name} in --help {options.count(f'--{name}')} times"
            assert setting["help"].strip(), f"--{name} has no help"
    unknown = sorted(set(read_config()) - set(settings))
    assert not unknown, f"config.yaml keys that are no setting of train.py: {unknown}"


def test_parse_args_defaults_come_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # config.yaml is found from any working directory
    settings = harness.run(parsed, [])
    for key, value in read_config().items():
        actual = settings[key]
        relative = isinstance(value, str) and not Path(value).is_absolute()
        if key in PATH_KEYS and relative:
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
            assert same_value(
                actual, value
            ), f"{key}: {actual!r}, config.yaml says {value!r}"


def same_value(actual: object, expected: object) -> bool:
    """TrainingArguments keeps report_to as a list ("none": no tracker, [])."""
    if expected == "none" and actual == []:
        return True
    return actual == expected or actual == [expected]


def another_value(value: object, setting: dict) -> object:
    """A valid value for the setting that differs from ``value``."""
    if setting["choices"]:
        return next(c for c in setting["choices"] if c != value)
    if setting["bool"] or isinstance(value, bool):
        return not value
    if setting["list"]:
        return [*(value or ["a"]), "b"]
    if isinstance(value, int) or setting["type"] == "int":
        return (value or 0) + 3
    if isinstance(value, float) or setting["type"] == "float":
        return (value or 0.25) * 2
    if value is None:
        return "last" if setting["type"] == "" else "some-value"
    return f"{value}-2"


def as_flag(name: str, value: object) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [
        f"--{name}",
        *(str(v).lower() if isinstance(v, bool) else str(v) for v in values),
    ]


def test_each_setting_through_the_file_and_through_a_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declaration: dict
) -> None:
    """Every config.yaml key, set to another value in a copy of config.yaml and then on
    the command line, reaches what parse_args gives the Trainer and the code. (All keys
    at once: one parse each way.)"""
    monkeypatch.chdir(tmp_path)  # flags' paths: against here; the file's: its folder
    (tmp_path / "conf").mkdir()
    config = read_config()
    settings = declaration["settings"]
    # fp16 needs a GPU; trackers need their packages.
    new = {
        key: another_value(value, settings[key])
        for key, value in config.items()
        if key not in ("fp16", "report_to")
    }
    changed = tmp_path / "conf" / "changed.yaml"
    changed.write_text(yaml.safe_dump({**config, **new}), encoding="utf-8")
    through_file = harness.run(parsed, ["--config", str(changed), *ON_CPU])
    original = tmp_path / "config.yaml"
    original.write_text(yaml.safe_dump(config), encoding="utf-8")
    flags = [arg for key, value in new.items() for arg in as_flag(key, value)]
    through_flag = harness.run(parsed, ["--config", str(original), *ON_CPU, *flags])
    for key, value in new.items():
        by_file, by_flag = through_file[key], through_flag[key]
        if key in PATH_KEYS:
            assert same_path(
                by_file, tmp_path / "conf" / value
            ), f"{key} in the file: {by_file!r}"
            assert same_path(by_flag, tmp_path / value), f"--{key}: {by_flag!r}"
        else:
            assert same_value(
                by_file, value
            ), f"{key}: {value!r} in the file gave {by_file!r}"
            assert same_value(by_flag, value), f"--{key} {value!r} gave {by_flag!r}"


def test_any_training_argument_in_the_file_or_as_a_flag(tmp_path: Path) -> None:
    """Fields of the Trainer's arguments that config.yaml does not list work in both; a
    flag wins over the file."""
    config = tmp_path / "config.yaml"
    extra = {"weight_decay": 0.01, "lr_scheduler_type": "cosine", "warmup_steps": 3}
    config.write_text(yaml.safe_dump({**read_config(), **extra}), encoding="utf-8")
    settings = harness.run(
        parsed, ["--config", str(config), "--warmup_steps", "7", *ON_CPU]
    )
    assert (
        settings["weight_decay"] == 0.01
    ), "a TrainingArguments field in config.yaml was not applied"
    assert settings["lr_scheduler_type"] == "cosine"
    assert settings["warmup_steps"] == 7, "a flag must win over config.yaml"


def refusal(argv: list[str]) -> list:
    """Runs in the project's process: parse_args(argv)'s exit code and its last line on
    stderr."""
    import contextlib
    import io

    import train

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            train.parse_args(argv)
        except SystemExit as exc:
            return [exc.code, err.getvalue().strip().splitlines()[-1]]
    return [0, ""]


def test_an_unknown_key_or_flag_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({**read_config(), "no_such_setting": 1}), encoding="utf-8"
    )
    code, line = harness.run(refusal, ["--config", str(config)])
    assert code == 2 and "error:" in line and "no_such_setting" in line, line
    code, line = harness.run(refusal, ["--no_such_flag", "1"])
    assert code == 2 and "error:" in line and "--no_such_flag" in line, line


def test_activation_checkpointing_lets_gradients_through_frozen_inputs() -> None:
    settings = harness.run(parsed, ["--activation_checkpointing", *ON_CPU])
    assert settings["activation_checkpointing"] is True
    assert settings["activation_checkpointing_kwargs"] == {"use_reentrant": False}


def test_label_all_tokens_and_labels_flags() -> None:
    assert (
        harness.run(parsed, ["--label_all_tokens", "false"])["label_all_tokens"]
        is False
    )
    assert harness.run(parsed, ["--label_all_tokens"])["label_all_tokens"] is True
    labels = harness.run(parsed, ["--labels", "O", "B-X", "I-X"])["labels"]
    assert labels == ["O", "B-X", "I-X"]


def test_a_data_source_on_the_command_line_replaces_config_labels(
    tmp_path: Path,
) -> None:
    """config.yaml's labels belong to config.yaml's data, not to other data."""
    config = tmp_path / "config.yaml"
    settings = {**read_config(), "labels": ["x", "y"], "train_file": "a.jsonl"}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert harness.run(parsed, ["--config", str(config)])["labels"] == ["x", "y"]
    for flag, value in (("--train_file", "b.jsonl"), ("--dataset_name", "org/data")):
        labels = harness.run(parsed, ["--config", str(config), flag, value])["labels"]
        assert labels is None, f"{flag} kept config.yaml's labels {labels}"
    argv = ["--config", str(config), "--train_file", "b.jsonl", "--labels", "p", "q"]
    assert harness.run(parsed, argv)["labels"] == ["p", "q"]


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
