"""Data for text classification: load the splits, settle the labels, tokenize.

Data comes from local files (CSV, or JSON Lines with a .json/.jsonl suffix) or from a
Hugging Face hub dataset (an id, or a local folder laid out like one). How label values
map to ids is decided once per label column, from its type:

    ClassLabel feature    values are ids; the names are the feature's own
    integer column        values are ids; the names are --labels, else "0", "1", ...
    string column         values are names: --labels, else the sorted values found
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from datasets import (
    ClassLabel,
    Dataset,
    DatasetDict,
    Value,
    get_dataset_split_names,
    load_dataset,
)
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json"}


def _file_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ValueError(
            f"cannot tell the format of {path}: use one of {sorted(FILE_FORMATS)}"
        )
    return FILE_FORMATS[suffix]


def check_columns(raw: DatasetDict, *columns: str) -> None:
    """Every split has each of ``columns`` (the --*_column settings name them)."""
    for split, dataset in raw.items():
        missing = [c for c in columns if c not in dataset.column_names]
        if missing:
            raise ValueError(
                f"the {split} data has no column {', '.join(map(repr, missing))} "
                f"(its columns: {dataset.column_names}); the --*_column settings "
                "name the columns"
            )


def load_raw_datasets(args, seed: int) -> DatasetDict:
    """A DatasetDict with "train" and "validation" splits, where ``args`` (train.py's
    DataArguments) say: files first, else the hub; without validation data, 10% of the
    training data is held out."""
    if args.train_file:  # each split's file read on its own: their formats may differ
        files = {"train": args.train_file, "validation": args.validation_file}
        raw = DatasetDict(
            {
                split: load_dataset(_file_format(path), data_files=path, split="train")
                for split, path in files.items()
                if path
            }
        )
    else:
        name, config = args.dataset_name, args.dataset_config_name
        validation = args.validation_split
        if validation == "validation":  # else "test", else 10% of train
            splits = get_dataset_split_names(name, config)
            validation = next((s for s in ("validation", "test") if s in splits), None)
        raw = DatasetDict(train=load_dataset(name, config, split=args.train_split))
        if validation:
            raw["validation"] = load_dataset(name, config, split=validation)

    if "validation" not in raw:
        logger.info("no validation data: holding out 10% of the training data")
        split = raw["train"].train_test_split(test_size=0.1, seed=seed)
        raw = DatasetDict(train=split["train"], validation=split["test"])
    return raw


def limit_samples(dataset: Dataset, max_samples: int | None, seed: int) -> Dataset:
    """At most ``max_samples`` rows, at random (a dataset may be sorted by label)."""
    if max_samples is not None and max_samples < len(dataset):
        return dataset.shuffle(seed=seed).select(range(max_samples))
    return dataset


@dataclass(frozen=True)
class LabelScheme:
    """How the label column's values become class ids."""

    names: list[str]  # label names, in id order
    values_are_ids: bool  # ClassLabel or integer values; else names


def resolve_labels(
    raw: DatasetDict,
    label_column: str,
    labels: list | None = None,
) -> LabelScheme:
    """The label names and how values map to ids, from the label column's type.

    ``labels`` (names in id order) are checked against the data's own: a ClassLabel's
    names must equal them, every name in a string column must be one of them, every
    integer id must index them.
    """
    given = [str(label) for label in labels] if labels else None
    feature = raw["train"].features[label_column]
    if isinstance(feature, ClassLabel):
        if given and given != feature.names:
            raise ValueError(
                f"labels {given!r:.120} do not match the {label_column!r} column's "
                f"ClassLabel names {feature.names!r:.120} (in id order); drop --labels"
            )
        return LabelScheme(list(feature.names), True)
    if not isinstance(feature, Value):
        raise ValueError(
            f"the {label_column!r} column holds {type(feature).__name__}: a label name "
            "or integer id per text is expected "
            "(several labels per text: set data.multi_label in the spec and regen)"
        )
    values = [v for dataset in raw.values() for v in dataset[label_column]]
    if any(v is None for v in values):
        raise ValueError(f"a row has no value in the {label_column!r} column")
    if feature.dtype.startswith(("int", "uint")):
        ids = sorted({int(v) for v in values})
        names = given or [str(i) for i in range(ids[-1] + 1 if ids else 0)]
        if ids and not 0 <= ids[0] <= ids[-1] < len(names):
            raise ValueError(
                f"label ids {ids[0]} to {ids[-1]} in {label_column!r} do not index the "
                f"{len(names)} labels {names!r:.120}"
            )
        return LabelScheme(names, True)
    found = sorted({str(v) for v in values})
    unknown = [v for v in found if given and v not in given]
    if unknown:
        raise ValueError(
            f"the {label_column!r} column has label(s) {unknown[:5]!r:.120} that are "
            f"not among the given labels {given!r:.120}"
        )
    return LabelScheme(given or found, False)


def encode_label(value, scheme: LabelScheme) -> int:
    """The class id of one label value."""
    if scheme.values_are_ids:
        if not 0 <= int(value) < len(scheme.names):
            raise ValueError(f"label id {value!r} out of range: {scheme.names!r:.120}")
        return int(value)
    if str(value) not in scheme.names:
        raise ValueError(f"unknown label {value!r:.60}: not in {scheme.names!r:.120}")
    return scheme.names.index(str(value))


def tokenize_datasets(
    raw: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    text_column: str,
    label_column: str,
    scheme: LabelScheme,
    max_length: int,
) -> DatasetDict:
    """Token ids and "labels" (class ids) per split; the other columns go."""

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = [text if text is not None else "" for text in batch[text_column]]
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        encoded["labels"] = [encode_label(v, scheme) for v in batch[label_column]]
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
