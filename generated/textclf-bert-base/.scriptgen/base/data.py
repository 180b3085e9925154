"""Data for text classification: load the splits, settle the label set, tokenize.

Data comes from local files (CSV, or JSON Lines with a .json/.jsonl suffix) or from a
Hugging Face hub dataset. Label values may be names ("neg") or integer indices (0).
"""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json"}


def load_raw_datasets(
    train_file: str | None = None,
    validation_file: str | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    train_split: str = "train",
    validation_split: str | None = "validation",
    seed: int = 42,
) -> DatasetDict:
    """A DatasetDict with "train" and "validation" splits, from files or the hub.

    Local files win over a hub dataset. Without validation data, 10% of the training
    data is held out for evaluation.
    """
    if train_file:
        data_files = {"train": train_file}
        if validation_file:
            data_files["validation"] = validation_file
        builder = _file_format(train_file)
        raw = load_dataset(builder, data_files=data_files)
    elif dataset_name:
        raw = DatasetDict(
            train=load_dataset(dataset_name, dataset_config_name, split=train_split)
        )
        if validation_split:
            raw["validation"] = load_dataset(
                dataset_name, dataset_config_name, split=validation_split
            )
    else:
        raise ValueError("no training data: set train_file or dataset_name")

    if "validation" not in raw:
        split = raw["train"].train_test_split(test_size=0.1, seed=seed)
        raw = DatasetDict(train=split["train"], validation=split["test"])
    return raw


def _file_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ValueError(
            f"cannot tell the format of {path}: use one of {sorted(FILE_FORMATS)}"
        )
    return FILE_FORMATS[suffix]


def check_columns(raw: DatasetDict, text_column: str, label_column: str) -> None:
    for split, dataset in raw.items():
        for column in (text_column, label_column):
            if column not in dataset.column_names:
                raise ValueError(
                    f"column {column!r} not found in the {split} data "
                    f"(columns: {dataset.column_names}); "
                    "set --text_column / --label_column"
                )


def resolve_labels(
    train_dataset: Dataset, label_column: str, labels: list | None = None
) -> list[str]:
    """The label names, in id order: as given, from a ClassLabel feature, or inferred."""
    if labels:
        return [str(label) for label in labels]
    feature = train_dataset.features[label_column]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    return [str(value) for value in sorted(train_dataset.unique(label_column))]


def encode_label(value: str | int, label2id: dict[str, int]) -> int:
    """A label id for a label name, or for an integer that is already an id."""
    if str(value) in label2id:
        return label2id[str(value)]
    if isinstance(value, int) and 0 <= value < len(label2id):
        return value
    raise ValueError(f"unknown label {value!r}: expected one of {list(label2id)}")


def tokenize_datasets(
    raw: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    text_column: str,
    label_column: str,
    label2id: dict[str, int],
    max_length: int,
) -> DatasetDict:
    """Token ids and integer "labels" for every split; other columns are dropped."""

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = [text if text is not None else "" for text in batch[text_column]]
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        encoded["labels"] = [encode_label(v, label2id) for v in batch[label_column]]
        return encoded

    return DatasetDict(
        {
            split: dataset.map(
                tokenize,
                batched=True,
                remove_columns=dataset.column_names,
                desc=f"Tokenizing {split}",
            )
            for split, dataset in raw.items()
        }
    )


def limit_samples(dataset: Dataset, max_samples: int | None) -> Dataset:
    if max_samples is not None and max_samples < len(dataset):
        return dataset.select(range(max_samples))
    return dataset
