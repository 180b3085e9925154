"""Data for token classification: load the splits, settle the tag set, align tags to tokens.

Each example is a sentence as a list of words (the tokens column) and a list of tags, one
per word: names ("B-PER"), integer ids, or a Sequence(ClassLabel) as on the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from datasets import (
    ClassLabel,
    Dataset,
    DatasetDict,
    get_dataset_split_names,
    load_dataset,
)
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

FILE_FORMATS = {".json": "json", ".jsonl": "json"}
IGNORE_INDEX = -100  # positions the loss and the metrics skip


def _file_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ValueError(
            f"cannot tell the format of {path}: "
            f"JSON Lines of words and their tags, one of {sorted(FILE_FORMATS)}"
        )
    return FILE_FORMATS[suffix]


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


def check_columns(raw: DatasetDict, *columns: str) -> None:
    """Every split has each of ``columns``, a list per sentence."""
    for split, dataset in raw.items():
        for column in columns:
            if getattr(dataset.features.get(column), "feature", None) is None:
                raise ValueError(
                    f"no list column {column!r} in the {split} data (its columns: "
                    f"{dataset.column_names}); set --tokens_column / --tags_column"
                )


def resolve_labels(
    train_dataset: Dataset, tags_column: str, labels: list | None
) -> list[str]:
    """The tag names in id order, checked against the data's own."""
    labels = [str(label) for label in labels] if labels else None
    feature = train_dataset.features[tags_column].feature
    if isinstance(feature, ClassLabel):
        if labels and labels != feature.names:
            raise ValueError(
                f"labels {labels!r:.120} are not the data's tag names "
                f"{feature.names!r:.120} (in id order): drop --labels"
            )
        return list(feature.names)
    if getattr(feature, "dtype", "").startswith(("int", "uint")):
        if not labels:
            raise ValueError(
                f"{tags_column!r} holds tag ids: set --labels, their names in id order"
            )
        return labels
    seen = {str(tag) for tags in train_dataset[tags_column] for tag in tags}
    unknown = sorted(seen - set(labels or seen))
    if unknown:
        raise ValueError(f"tags {unknown[:5]!r:.120} are not in labels {labels!r:.120}")
    return labels or sorted(seen)


def encode_tags(labels: list[str]) -> Callable[[list], list[int]]:
    """A function from one sentence's tags (names, or ids as a ClassLabel has) to ids."""
    label2id = {i: i for i in range(len(labels))}
    label2id.update((label, i) for i, label in enumerate(labels))

    def encode(tags: list) -> list[int]:
        unknown = [tag for tag in tags if tag not in label2id]
        if unknown:
            raise ValueError(f"unknown tag {unknown[0]!r:.60}: not in {labels!r:.120}")
        return [label2id[tag] for tag in tags]

    return encode


def b_to_i_map(labels: list[str]) -> list[int]:
    """For each tag id, the id of its continuation tag: B-X -> I-X, the others unchanged."""
    label2id = {label: i for i, label in enumerate(labels)}
    return [
        label2id.get("I-" + label[2:], i) if label.startswith("B-") else i
        for i, label in enumerate(labels)
    ]


def align_labels(
    word_ids: list[int | None],
    word_labels: list[int],
    label_all_tokens: bool,
    b_to_i: list[int],
) -> list[int]:
    """One label per token: the word's tag on its first sub-token, -100 elsewhere (or
    with ``label_all_tokens`` on every sub-token, B-X turned into I-X by ``b_to_i``)."""
    labels = []
    previous = None
    for word_id in word_ids:
        if word_id is None:
            labels.append(IGNORE_INDEX)
        elif word_id != previous:
            labels.append(word_labels[word_id])
        elif label_all_tokens:
            labels.append(b_to_i[word_labels[word_id]])
        else:
            labels.append(IGNORE_INDEX)
        previous = word_id
    return labels


def tokenize_datasets(
    raw: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    args,
    labels: list[str],
) -> DatasetDict:
    """Token ids and aligned "labels" for every split, as ``args`` (DataArguments) say;
    label_all_tokens in training only: evaluation scores each word once."""
    max_length = min(args.max_length, tokenizer.model_max_length)
    b_to_i = b_to_i_map(labels)
    encode = encode_tags(labels)

    def tokenize(batch: dict[str, list], split: str) -> dict[str, list]:
        words = [list(map(str, sentence)) for sentence in batch[args.tokens_column]]
        encoded = tokenizer(
            words, is_split_into_words=True, truncation=True, max_length=max_length
        )
        all_tokens = args.label_all_tokens and split == "train"
        encoded["labels"] = []
        for i, tags in enumerate(batch[args.tags_column]):
            if len(tags) != len(words[i]):
                raise ValueError(
                    f"{split}: a sentence of {len(words[i])} words has {len(tags)} tags"
                )
            encoded["labels"].append(
                align_labels(encoded.word_ids(i), encode(tags), all_tokens, b_to_i)
            )
        return encoded

    return DatasetDict(
        {
            split: dataset.map(
                tokenize,
                batched=True,
                fn_kwargs={"split": split},
                remove_columns=dataset.column_names,
                desc=f"Tokenizing {split}",
            )
            for split, dataset in raw.items()
        }
    )
