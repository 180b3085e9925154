"""Fixtures for the contract tests: a tiny twin of the model, learnable synthetic data in
the project's schema, and one short training run that every test shares.

Rendered by scriptgen from the project's spec. These tests are the judge of data.py,
model.py, train.py and predict.py; they run offline on a CPU in seconds.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = TESTS_DIR.parent
# This folder, for the tests to import; never the project's own modules, which run in a
# process of their own (harness.py).
sys.path.insert(0, str(TESTS_DIR))

# Nothing here comes from the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# isort: off
import harness
from twin import (
    MAX_LENGTH,
    build_tokenizer,
    cached_twin,
    cue_sentences,
    pretrain_encoder,
    save_twin,
)

# isort: on

# From the spec.
DATA_FORMAT = "hf"  # csv | json | hf (a local folder laid out like one)
TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
LABELS = ["neg", "pos"]  # None: the project infers them from the data
MULTI_LABEL = False
LABEL_SEPARATOR = ","
METHOD = "full"
# --unfreeze_layers for the judge's run of freeze: the twin has only a few
# layers, so 1 (one frozen, one trained) when the spec unfreezes any, else 0.
UNFREEZE_LAYERS = 0
# The judge's run: the spec's options where the twin can take them.
GRADIENT_ACCUMULATION_STEPS = 1
GRADIENT_CHECKPOINTING = False
# The metric the task is judged by, and the others train.py must write (manifest).
METRIC = "eval_accuracy"
METRICS = ["eval_accuracy", "eval_f1_macro"]

SEED = 0
LABEL_NAMES = [str(label) for label in LABELS] if LABELS else ["neg", "pos"]
DATA_SUFFIX = ".csv" if DATA_FORMAT == "csv" else ".jsonl"

# A short run that every family and method passes with room to spare (measured over
# seeds: 0.875 to 0.94 single-label, 0.72 to 0.94 multi-label), while a project that
# trains wrong stays near chance. Multi-label needs more steps to get every label right.
TRAIN_STEPS = 150 if MULTI_LABEL else 60
BATCH_SIZE = 8
# Full fine-tuning diverges on the twin above ~5e-3; frozen encoders need more. LoRA
# over 4-bit weights does not take 1e-2 either: on one machine the distilbert twin stayed
# at chance (0.50), bert's and electra's reached 0.78 and 0.75 on another; at 3e-3 every
# qlora twin reaches 0.91 to 0.94.
LEARNING_RATE = 3e-3 if METHOD in ("full", "qlora") else 1e-2
# The judged metric must beat chance (what always giving the data's most frequent
# answer scores) by this much: for single-label 2 labels, 0.5 + 0.3; multi-label
# (every label of a text right) has more possible answers, and a lower chance.
PASS_MARGIN = 0.25 if MULTI_LABEL else 0.3

# Words that give a label away, so that the synthetic data is learnable.
CUE_WORDS = [
    ["great", "wonderful", "loved", "superb"],
    ["awful", "boring", "hated", "terrible"],
    ["okay", "average", "fine", "decent"],
    ["strange", "odd", "weird", "unusual"],
]
FILLER_WORDS = "the this a film movie story book it was is really quite and so".split()
PREDICT_TEXTS = ["a great and wonderful film", "an awful, boring story"]


def cue_words(label_id: int) -> list[str]:
    if label_id < len(CUE_WORDS):
        return CUE_WORDS[label_id]
    return [f"cue{label_id}{letter}" for letter in "abcd"]


def cue_text(rng: random.Random, label_ids: list[int]) -> str:
    words = rng.sample(FILLER_WORDS, 4)
    for label_id in label_ids:
        words += rng.sample(cue_words(label_id), 2)
    rng.shuffle(words)
    return " ".join(words)


def make_examples(rng: random.Random, n: int) -> list[tuple[str, list[int]]]:
    """(text, label ids) pairs, every label equally often; multi-label texts have the
    cues of one or two labels."""
    examples = []
    for i in range(n):
        label_ids = [i % len(LABEL_NAMES)]
        if MULTI_LABEL and rng.random() < 0.5:
            label_ids.append(
                (i + 1 + rng.randrange(len(LABEL_NAMES) - 1)) % len(LABEL_NAMES)
            )
        examples.append((cue_text(rng, sorted(label_ids)), sorted(label_ids)))
    return examples


def ambiguous_examples(rng: random.Random, pairs: int) -> list[tuple[str, list[int]]]:
    """The same text twice with different labels: no model gets both right, so perfect
    accuracy is out of reach, and a made-up metric of 1.0 shows."""
    examples = []
    for i in range(pairs):
        text = " ".join(rng.sample(FILLER_WORDS, 6))
        first = i % len(LABEL_NAMES)
        second = (first + 1) % len(LABEL_NAMES)
        examples += [(text, [first]), (text, [second])]
    return examples


def label_value(label_ids: list[int]):
    """A label as the data stores it: names in files, class ids in hub datasets;
    multi-label: a list (a joined string in CSV)."""
    if DATA_FORMAT == "hf":
        values = list(label_ids)
    else:
        values = [LABEL_NAMES[i] for i in label_ids]
    if not MULTI_LABEL:
        return values[0]
    if DATA_FORMAT == "csv":
        return LABEL_SEPARATOR.join(values)
    return values


def chance_score(examples: list[tuple[str, list[int]]]) -> float:
    """What always giving the most frequent answer (label, or set of labels) scores."""
    answers = Counter(tuple(label_ids) for _, label_ids in examples)
    return answers.most_common(1)[0][1] / len(examples)


def write_rows(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        lines = [json.dumps(row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_hub_dataset(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """A dataset folder as on the hub (data/<split>-00000-of-00001.parquet) with typed
    features: the label column a ClassLabel (a list of them for multi-label)."""
    label = harness.class_label(LABEL_NAMES)
    features = {
        TEXT_COLUMN: harness.value("string"),
        LABEL_COLUMN: harness.list_of(label) if MULTI_LABEL else label,
    }
    return harness.write_hub_dataset(folder, splits, features)


def rows_of(examples: list[tuple[str, list[int]]]) -> list[dict]:
    return [
        {TEXT_COLUMN: text, LABEL_COLUMN: label_value(ids)} for text, ids in examples
    ]


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint of the spec's architecture, with its tokenizer, saved like a
    pretrained model on the hub; its encoder has learnt to notice the cue words."""
    groups = [cue_words(i) for i in range(len(LABEL_NAMES))]
    corpus = [" ".join(FILLER_WORDS), *PREDICT_TEXTS, *(" ".join(g) for g in groups)]

    def make(folder: Path) -> Path:
        tokenizer = build_tokenizer(corpus * 4)
        texts, targets = cue_sentences(groups, FILLER_WORDS, 512, seed=SEED + 1)
        encoder = pretrain_encoder(tokenizer, texts, targets, seed=SEED)
        return save_twin(folder, tokenizer, encoder)

    return cached_twin(make, tmp_path_factory.mktemp("twin"), corpus, groups, SEED)


@pytest.fixture(scope="session")
def examples() -> dict[str, list[tuple[str, list[int]]]]:
    """The synthetic data: (text, label ids) per split."""
    rng = random.Random(SEED)
    validation = make_examples(rng, 28) + ambiguous_examples(rng, 2)
    rng.shuffle(validation)
    return {"train": make_examples(rng, 32), "validation": validation}


@pytest.fixture(scope="session")
def data_args(examples: dict, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """train.py's flags for the synthetic data in the spec's format: files, or a local
    hub-style dataset through --dataset_name (train and test splits only, so that the
    default validation split falls back to test)."""
    folder = tmp_path_factory.mktemp("data")
    train, validation = rows_of(examples["train"]), rows_of(examples["validation"])
    if DATA_FORMAT == "hf":
        dataset = write_hub_dataset(
            folder / "dataset", {"train": train, "test": validation}
        )
        return ["--dataset_name", str(dataset)]
    return [
        "--train_file",
        str(write_rows(folder / f"train{DATA_SUFFIX}", train)),
        "--validation_file",
        str(write_rows(folder / f"valid{DATA_SUFFIX}", validation)),
    ]


@pytest.fixture(scope="session")
def train_argv(twin_dir: Path, data_args: list[str]) -> list[str]:
    """train.py's command line for the judge's run, but --output_dir."""
    argv = [
        "--model_name_or_path",
        str(twin_dir),
        *data_args,
        "--max_steps",
        str(TRAIN_STEPS),
        "--per_device_train_batch_size",
        str(BATCH_SIZE // GRADIENT_ACCUMULATION_STEPS),
        "--gradient_accumulation_steps",
        str(GRADIENT_ACCUMULATION_STEPS),
        "--per_device_eval_batch_size",
        "16",
        "--learning_rate",
        str(LEARNING_RATE),
        "--max_length",
        str(MAX_LENGTH),
        "--seed",
        str(SEED),
        "--bf16",
        "false",
        "--fp16",
        "false",
        "--multi_label",
        str(MULTI_LABEL),
        # TrainingArguments flags: no evaluation or checkpoint on the way, one at the end.
        "--eval_strategy",
        "no",
        "--save_strategy",
        "steps",
        "--save_steps",
        str(TRAIN_STEPS),
        "--warmup_steps",
        "2",
    ]
    if LABELS:
        # Checked against the data's own names (a data source on the command line
        # drops config.yaml's).
        argv += ["--labels", *LABEL_NAMES]
    if METHOD == "freeze":
        argv += ["--unfreeze_layers", str(UNFREEZE_LAYERS)]
    if GRADIENT_CHECKPOINTING:
        argv += ["--activation_checkpointing"]
    return argv


@pytest.fixture(scope="session", autouse=True)
def project_process():
    """The process the project's code runs in, ended with the session."""
    yield harness.WORKER_PROCESS
    harness.WORKER_PROCESS.close()


@pytest.fixture(scope="session")
def trained(train_argv: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.py's output directory after the judge's short run on the twin.

    Runs once per session, in the project's process, from an unrelated working directory.
    """
    output_dir = tmp_path_factory.mktemp("outputs")
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        harness.module("train").main([*train_argv, "--output_dir", str(output_dir)])
    finally:
        os.chdir(cwd)
    return output_dir
