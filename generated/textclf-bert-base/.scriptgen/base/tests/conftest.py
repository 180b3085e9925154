"""Fixtures for the contract tests: a tiny twin of the model, synthetic data in the
project's schema, and one short training run that every test shares.

Rendered by scriptgen from the project's spec. These tests are the judge of data.py,
model.py, train.py and predict.py; they run offline on a CPU in seconds.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_DIR = TESTS_DIR.parent
# The project's modules (train, predict, ...) and this file, for the tests to import.
sys.path[:0] = [str(PROJECT_DIR), str(TESTS_DIR)]

# Nothing here comes from the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# From the spec.
MODEL_TYPE = "bert"
TWIN_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
DATA_FORMAT = "hf"  # csv | json | hf (stood in for by JSON Lines)
TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
LABELS = ["neg", "pos"]  # None: the project infers them from the data

SEED = 0
MAX_LENGTH = 32
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0 to 4
LABEL_NAMES = [str(label) for label in LABELS] if LABELS else ["neg", "pos"]
# Hub datasets mostly store labels as class indices, files mostly as names.
LABELS_AS_INDICES = DATA_FORMAT == "hf" and LABELS is not None
DATA_SUFFIX = ".csv" if DATA_FORMAT == "csv" else ".jsonl"

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


def make_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        label_id = i % len(LABEL_NAMES)
        words = rng.sample(FILLER_WORDS, 4) + rng.sample(cue_words(label_id), 2)
        rng.shuffle(words)
        label = label_id if LABELS_AS_INDICES else LABEL_NAMES[label_id]
        rows.append({TEXT_COLUMN: " ".join(words), LABEL_COLUMN: label})
    return rows


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


def build_tokenizer(corpus: list[str]):
    """A WordPiece tokenizer trained on ``corpus``, with BERT-style special tokens."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(corpus, trainer)
    cls_id, sep_id = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        model_max_length=MAX_LENGTH,
        # Not every architecture takes token_type_ids.
        model_input_names=["input_ids", "attention_mask"],
    )


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, randomly initialised checkpoint of the spec's architecture, with its
    tokenizer, saved like a pretrained model on the hub."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    corpus = [" ".join(FILLER_WORDS), *PREDICT_TEXTS]
    corpus += [" ".join(cue_words(i)) for i in range(len(LABEL_NAMES))]
    tokenizer = build_tokenizer(corpus * 4)
    # Token ids that fit the tiny vocabulary, whatever the architecture's defaults.
    config = AutoConfig.for_model(
        MODEL_TYPE,
        **TWIN_CONFIG,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(SEED)
    model = AutoModelForMaskedLM.from_config(config)
    folder = tmp_path_factory.mktemp("twin")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training and validation files in the spec's format, columns and labels."""
    folder = tmp_path_factory.mktemp("data")
    rng = random.Random(SEED)
    return {
        "train": write_rows(folder / f"train{DATA_SUFFIX}", make_rows(rng, 32)),
        "validation": write_rows(folder / f"valid{DATA_SUFFIX}", make_rows(rng, 8)),
    }


@pytest.fixture(scope="session")
def trained(
    twin_dir: Path,
    data_files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """train.py's output directory after two training steps on the twin.

    Runs in-process, once per session, from an unrelated working directory.
    """
    import train

    output_dir = tmp_path_factory.mktemp("outputs")
    argv = [
        "--model_name_or_path",
        str(twin_dir),
        "--train_file",
        str(data_files["train"]),
        "--validation_file",
        str(data_files["validation"]),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "4",
        "--per_device_eval_batch_size",
        "4",
        "--learning_rate",
        "1e-3",
        "--max_length",
        str(MAX_LENGTH),
        "--seed",
        str(SEED),
    ]
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        train.main(argv)
    finally:
        os.chdir(cwd)
    return output_dir
