"""The model: a pretrained encoder with a sequence classification head.

Works alike for hub ids and local checkpoint folders.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

METHODS = ("full",)


def load_tokenizer(model_name_or_path: str) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_name_or_path)


def load_model(
    model_name_or_path: str, labels: list[str], method: str = "full"
) -> PreTrainedModel:
    """The pretrained model with a fresh head for ``labels``, ready to fine-tune.

    ``method`` "full" trains every weight.
    """
    if method not in METHODS:
        raise ValueError(
            f"training method {method!r} is not supported; use one of {METHODS}"
        )
    return AutoModelForSequenceClassification.from_pretrained(
        model_name_or_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # A checkpoint that already has a head for another label set gets a new one.
        ignore_mismatched_sizes=True,
        # transformers 5 loads weights in their stored dtype by default; train in fp32
        # (mixed precision, if wanted, comes from `accelerate launch --mixed_precision`).
        dtype=torch.float32,
    )
