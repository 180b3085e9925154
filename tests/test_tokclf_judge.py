"""tokclf's judge catches broken projects: a generated project is broken on purpose, the way
a code LLM might break it, and `scriptgen validate` must fail, naming the contract test that
caught it.
"""

from __future__ import annotations

import pytest

from .conftest import breakage_tests

pytestmark = pytest.mark.slow

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # Every sub-token of a word carries the word's tag, although label_all_tokens is false.
    "every-sub-token-labelled": (
        "data.py",
        "        else:\n            labels.append(IGNORE_INDEX)\n        previous = word_id",
        "        else:\n            labels.append(word_labels[word_id])\n        previous = word_id",
        ["test_align_labels", "test_tokenize_datasets_aligns_tags_with_sub_tokens"],
    ),
    # Labels shifted one token to the left after tokenization, in train.py, so that
    # data.py's own functions still pass: only the learning check can see it.
    "labels-shifted-by-one": (
        "train.py",
        '    logger.info("tags: %s", labels)\n',
        '    tokenized = tokenized.map(lambda row: {"labels": row["labels"][1:] + [-100]})\n'
        '    logger.info("tags: %s", labels)\n',
        ["test_the_model_learns"],
    ),
    # Tag ids all collapse to the first tag (O).
    "tags-collapse-to-O": (
        "data.py",
        "    label2id = {i: i for i in range(len(labels))}\n",
        "    label2id = {i: 0 for i in range(len(labels))}\n",
        ["test_tag_names_ids_and_class_labels_encode_alike", "test_the_model_learns"],
    ),
    # The model gets the tag names in another order than the ids the data was encoded with.
    "wrong-id2label": (
        "train.py",
        "load_model(model_args.model_name_or_path, labels)",
        "load_model(model_args.model_name_or_path, sorted(labels))",
        ["test_saved_labels_are_the_datas_tag_names", "test_the_model_learns"],
    ),
    # The error for a missing column names variables that do not exist (an f-string's
    # braces around a tuple): a NameError, not the ValueError naming the column.
    "missing-column-error-broken": (
        "data.py",
        'f"no list column {column!r} in the {split} data (its columns: "',
        'f"no list column {tokens, tags} in the {split} data (its columns: "',
        ["test_a_missing_or_flat_column_is_named"],
    ),
}


reference_project, test_validate_fails_a_broken_project = breakage_tests(
    "tokclf", BREAKAGES
)
