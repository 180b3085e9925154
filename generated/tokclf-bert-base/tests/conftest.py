"""Fixtures for the contract tests: a tiny twin of the model with a tokenizer in its
family's style, learnable synthetic NER data in the project's schema, and one short
training run that every test shares.

Rendered by scriptgen from the project's spec. These tests are the judge of data.py,
metrics.py, model.py, train.py and predict.py; they run offline on a CPU in seconds.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import re
import sys
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
    MODEL_TYPE,
    build_family_tokenizer,
    cached_twin,
    plant_words,
    save_twin,
    twin_config,
)

# isort: on

# From the spec.
METHOD = "full"
# --unfreeze_layers for the judge's run of freeze: the twin has only a few
# layers, so 1 (one frozen, one trained) when the spec unfreezes any, else 0.
UNFREEZE_LAYERS = 0
# The judge's run: the spec's options where the twin can take them.
GRADIENT_ACCUMULATION_STEPS = 1
GRADIENT_CHECKPOINTING = False
# The metric the task is judged by, and the others train.py must write (manifest).
METRIC = "eval_f1"
METRICS = ["eval_precision", "eval_recall", "eval_f1", "eval_accuracy"]
# json: JSON Lines files; hf: a local hub-style dataset (parquet files with typed features,
# tags as Sequence(ClassLabel)), read through --dataset_name as a hub dataset would be.
DATA_FORMAT = "hf"
TOKENS_COLUMN = "tokens"
TAGS_COLUMN = "ner_tags"
LABEL_ALL_TOKENS = False
# None: the project infers the tag names from the data.
LABELS = [
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-MISC",
    "I-MISC",
] or None


def split_name(name: str, default: str) -> str:
    """A hub split name as the synthetic dataset's, where it is a plain name."""
    return name if re.fullmatch(r"\w+", name) else default


# The spec's hub splits: the synthetic hub dataset has splits of the same names.
TRAIN_SPLIT = split_name("train", "train")
VALIDATION_SPLIT = split_name("validation", "validation")

SEED = 0
# 10 batches per epoch: the run ends on an epoch boundary (transformers 5 trains one step
# too many when it resumes mid-epoch from a checkpoint that is already at max_steps).
TRAIN_SENTENCES = 80
VALIDATION_SENTENCES = 32
# Enough steps at a high learning rate for the twin to learn which words are entities.
TRAIN_STEPS = 40
# Heads and adapters on a frozen encoder learn slower than a full fine-tune: a higher rate.
LEARNING_RATE = 5e-3 if METHOD == "full" else 2e-2
BATCH_SIZE = 8
# Entity F1 the trained twin must reach on the validation sentences (chance: about 0).
MIN_F1 = 0.5
DEFAULT_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
TAG_NAMES = [str(label) for label in LABELS] if LABELS else DEFAULT_TAGS


# --- the tag scheme ---------------------------------------------------------------


def entity_types(tags: list[str]) -> list[str]:
    """The entity types that a tag set can express (B-X, I-X, S-X ...), in order."""
    types = []
    for tag in tags:
        prefix, _, type_ = tag.partition("-")
        if prefix in ("B", "I", "E", "S") and type_ and type_ not in types:
            types.append(type_)
    return types


TYPES = entity_types(TAG_NAMES)
ENTITY_PREFIXES = ("B-", "I-", "E-", "S-")
# The outside tag: O, or else the first tag that is no entity's.
OUTSIDE = next(
    (t for t in ["O", *TAG_NAMES] if t in TAG_NAMES and t[:2] not in ENTITY_PREFIXES),
    TAG_NAMES[0],
)


def entity_tags(type_: str, length: int) -> list[str]:
    """The tags of a ``length``-word entity of ``type_`` in the tag set's scheme."""
    has = {prefix: f"{prefix}-{type_}" in TAG_NAMES for prefix in "BIES"}
    if has["S"] and has["E"]:  # IOBES
        if length == 1:
            return [f"S-{type_}"]
        return [f"B-{type_}", *[f"I-{type_}"] * (length - 2), f"E-{type_}"]
    first = f"B-{type_}" if has["B"] else f"I-{type_}"
    rest = f"I-{type_}" if has["I"] else first
    return [first, *[rest] * (length - 1)]


def can_be_long(type_: str) -> bool:
    """Whether a type's entities can have several words (a B- only type cannot)."""
    return any(f"{p}-{type_}" in TAG_NAMES for p in ("I", "E"))


# The judge's own entity extraction and F1 (seqeval's default mode, conlleval's
# reading), so that the verdict does not rest on the project's metrics.py.
def judge_entities(tags: list[str]) -> set[tuple[str, int, int]]:
    entities, start, prev = set(), 0, ("O", "")
    for i, tag in enumerate([*tags, "O"]):
        prefix, type_ = tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"
        p_prefix, p_type = prev
        if (
            p_prefix in "ES"
            or (p_prefix in "BI" and prefix in "BSO")
            or (p_prefix not in "O." and p_type != type_)
        ):
            entities.add((p_type, start, i - 1))
        if (
            prefix in "BS"
            or (p_prefix in "ESO" and prefix in "EI")
            or (prefix not in "O." and p_type != type_)
        ):
            start = i
        prev = (prefix, type_)
    return entities


def judge_f1(true: list[list[str]], pred: list[list[str]]) -> float:
    gold = {(n, *e) for n, tags in enumerate(true) for e in judge_entities(tags)}
    found = {(n, *e) for n, tags in enumerate(pred) for e in judge_entities(tags)}
    correct = len(gold & found)
    if not correct:
        return 0.0
    precision, recall = correct / len(found), correct / len(gold)
    return 2 * precision * recall / (precision + recall)


# --- synthetic data -----------------------------------------------------------------

# Words that give an entity's type away. First words and continuation words differ, so
# that B- and I- are learnable from the words alone.
ENTITY_WORDS = {
    "PER": (
        ["Alice", "Bruno", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hiro"],
        ["Smith", "Novak", "Garcia", "Okafor", "Tanaka", "Muller"],
    ),
    "ORG": (
        ["Acme", "Globex", "Initech", "Hooli", "Vandelay", "Umbrella"],
        ["Corp", "Group", "Bank", "Labs"],
    ),
    "LOC": (
        ["Berlin", "Lagos", "Osaka", "Quito", "Oslo", "Porto", "Nairobi", "Lima"],
        ["Bay", "Valley", "Island"],
    ),
    "MISC": (
        ["French", "Olympic", "Kenyan", "Nobel", "Buddhist", "Dutch"],
        ["Games", "Prize", "Cup", "Festival"],
    ),
}
FILLER_WORDS = (
    "the a of to and said met visited on with from about for after yesterday we "
    "they reported news people today arrived talks announced new plan week"
).split()
# Appended to some entity words, never seen by the tokenizer's trainer: those words split
# into several sub-tokens whose first one still gives the type away, so that aligning
# tags with sub-tokens matters.
SUFFIXES = ["", "zq", "xkv"]


def _letters(type_: str) -> str:
    return re.sub(r"[^A-Za-z]", "", type_).capitalize() or "Ent"


def words_of(type_: str) -> tuple[list[str], list[str]]:
    """(first words, continuation words) of a type; made up for unknown types."""
    if type_ in ENTITY_WORDS:
        first, rest = ENTITY_WORDS[type_]
    else:
        stem = _letters(type_)
        first = [f"{stem}{s}" for s in ("ka", "lo", "mi", "ru", "te", "vo")]
        rest = [f"{stem}{s}" for s in ("dan", "per", "win")]
    first = [w + SUFFIXES[i % len(SUFFIXES)] for i, w in enumerate(first)]
    rest = [w + SUFFIXES[(i + 1) % len(SUFFIXES)] for i, w in enumerate(rest)]
    return first, rest


def make_sentence(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """One sentence: filler words with 0 to 3 entities at random places."""
    words = rng.sample(FILLER_WORDS, rng.randint(3, 5))
    tags = [OUTSIDE] * len(words)
    # The first sentences show every type, long where it can be, so that every tag of
    # the tag set occurs in the training data.
    if n < len(TYPES):
        chosen = [TYPES[n]]
    else:
        chosen = [rng.choice(TYPES) for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))]
    for type_ in chosen:
        first, rest = words_of(type_)
        length = 1
        if can_be_long(type_) and (n < len(TYPES) or rng.random() < 0.5):
            length = rng.choice([2, 2, 3]) if n >= len(TYPES) else 3
        entity = [rng.choice(first)] + [rng.choice(rest) for _ in range(length - 1)]
        # Between outside words: never inside or against another entity.
        slots = [
            i
            for i in range(len(words) + 1)
            if (i == 0 or tags[i - 1] == OUTSIDE)
            and (i == len(words) or tags[i] == OUTSIDE)
        ]
        at = rng.choice(slots)
        words[at:at] = entity
        tags[at:at] = entity_tags(type_, length)
    return words, tags


def make_sentences(seed: int, count: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    return [make_sentence(rng, n) for n in range(count)]


def tokenizer_corpus() -> list[str]:
    """What the twin's tokenizer learns from: every word but the suffixed ones whole."""
    stems = []
    for type_ in TYPES:
        for word in sum(words_of(type_), []):
            for suffix in SUFFIXES[1:]:
                word = word.removesuffix(suffix)
            stems.append(word)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    lines = [" ".join(FILLER_WORDS), " ".join(stems), alphabet, alphabet[::-1]]
    lines += [alphabet.upper(), " ".join(stems).lower()]
    return lines * 8


def rows_of(sentences: list[tuple[list[str], list[str]]], as_ids: bool) -> list[dict]:
    tag_id = {tag: i for i, tag in enumerate(TAG_NAMES)}
    return [
        {
            TOKENS_COLUMN: words,
            TAGS_COLUMN: [tag_id[t] for t in tags] if as_ids else tags,
        }
        for words, tags in sentences
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    lines = [json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def features() -> dict:
    """Hub-style typed features: words as strings, tags as a list of ClassLabel (JSON,
    as datasets keeps them in a parquet file's schema)."""
    return {
        TOKENS_COLUMN: harness.list_of(harness.value("string")),
        TAGS_COLUMN: harness.list_of(harness.class_label(TAG_NAMES)),
    }


def write_hub_dataset(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """A folder laid out as a hub dataset repository (data/<split>-00000-of-00001.parquet)
    with the features (ClassLabel names) in the parquet schema, as the hub's export has.
    """
    return harness.write_hub_dataset(folder, splits, features())


# --- the twin -----------------------------------------------------------------------


def plant_word_knowledge(model, tokenizer) -> None:
    """Give the twin what pretraining gives a real encoder: word embeddings that tell a
    name from a place, and a name's first word from its last (twin.plant_words). A method
    that trains only a head or adapters on the frozen twin can then learn in a few dozen
    steps, as it can on a real checkpoint; the tags themselves must still be learnt."""
    plant_words(model, tokenizer, [words_of(t)[i] for t in TYPES for i in (0, 1)], SEED)


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint of the spec's architecture, with a tokenizer of its family's
    kind, saved like a pretrained model on the hub; its embeddings know the entity words.
    """

    def make(folder: Path) -> Path:
        import torch
        from transformers import AutoModelForTokenClassification as TaskModel

        tokenizer = build_family_tokenizer(tokenizer_corpus())
        torch.manual_seed(SEED)
        # The base model as the task's head has it (BERT's and RoBERTa's without a pooler).
        encoder = TaskModel.from_config(twin_config(tokenizer)).base_model
        # A clean config, as a hub checkpoint's: no head.
        encoder.config.num_labels = 2
        plant_word_knowledge(encoder, tokenizer)
        return save_twin(folder, tokenizer, encoder)

    # What make() builds from besides twin.py: its code here, the words, the tags.
    key = [inspect.getsource(plant_word_knowledge)]
    key += [tokenizer_corpus(), [words_of(t) for t in TYPES], TYPES, SEED]
    return cached_twin(make, tmp_path_factory.mktemp("twin"), *key)


@pytest.fixture(scope="session")
def sentences() -> dict[str, list[tuple[list[str], list[str]]]]:
    """The synthetic sentences (words, tag names) of each split."""
    return {
        "train": make_sentences(SEED, TRAIN_SENTENCES),
        "validation": make_sentences(SEED + 1, VALIDATION_SENTENCES),
    }


@pytest.fixture(scope="session")
def data_args(
    sentences: dict[str, list], tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """train.py's data flags for the synthetic data, in the spec's format."""
    folder = tmp_path_factory.mktemp("data")
    labels = ["--labels", *LABELS] if LABELS else []
    if DATA_FORMAT == "hf":
        rows = {
            TRAIN_SPLIT: rows_of(sentences["train"], as_ids=True),
            VALIDATION_SPLIT: rows_of(sentences["validation"], as_ids=True),
        }
        hub = write_hub_dataset(folder / "some-org--ner", rows)
        return [
            "--dataset_name", str(hub),
            "--train_split", TRAIN_SPLIT,
            "--validation_split", VALIDATION_SPLIT,
            *labels,
        ]  # fmt: skip
    train = write_jsonl(folder / "train.jsonl", rows_of(sentences["train"], False))
    valid = write_jsonl(folder / "valid.jsonl", rows_of(sentences["validation"], False))
    return ["--train_file", str(train), "--validation_file", str(valid), *labels]


@pytest.fixture(scope="session")
def train_argv(twin_dir: Path, data_args: list[str]) -> list[str]:
    """train.py's command line for the judge's run, but --output_dir."""
    argv = [
        "--model_name_or_path", str(twin_dir),
        *data_args,
                "--label_all_tokens", str(LABEL_ALL_TOKENS).lower(),
        "--max_steps", str(TRAIN_STEPS),
        "--per_device_train_batch_size", str(BATCH_SIZE // GRADIENT_ACCUMULATION_STEPS),
        "--gradient_accumulation_steps", str(GRADIENT_ACCUMULATION_STEPS),
        "--per_device_eval_batch_size", "16",
        "--learning_rate", str(LEARNING_RATE),
        "--max_length", str(MAX_LENGTH),
        "--seed", str(SEED),
        "--bf16", "false", "--fp16", "false",
        # TrainingArguments flags: no evaluation or checkpoint on the way, one at the end.
        "--eval_strategy", "no",
        "--save_strategy", "steps",
        "--save_steps", str(TRAIN_STEPS),
        "--warmup_steps", "2",
    ]  # fmt: skip
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
