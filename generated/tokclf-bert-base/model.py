"""The model: a pretrained encoder with a fresh token classification head, trained with
full (the spec's training.method; another is a spec edit and `scriptgen regen`):

    every parameter trains.

save_trained() writes a checkpoint; load_trained() (predict.py) reads it back.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    Trainer,
)

AUTO_CLASS = AutoModelForTokenClassification


def load_tokenizer(model_name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_name_or_path, **kwargs)


def load_model(
    model_name_or_path: str,
    labels: list[str],
) -> nn.Module:
    """The pretrained model with a fresh head for ``labels``."""
    kwargs = dict(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # A checkpoint that already has a head for another label set gets a new one.
        ignore_mismatched_sizes=True,
    )
    # transformers 5 loads weights in their stored dtype by default; train in fp32
    # (bf16 / fp16 in config.yaml give mixed precision through the Trainer).
    return AUTO_CLASS.from_pretrained(model_name_or_path, dtype=torch.float32, **kwargs)


def save_trained(trainer: Trainer, output_dir: str) -> None:
    """Save the model and its tokenizer to ``output_dir``; call it on every
    process (the Trainer's saving gathers sharded weights under FSDP or DeepSpeed)."""
    trainer.save_model(output_dir)


def load_trained(model_dir: str) -> nn.Module:
    """The model that save_trained() wrote, in eval mode."""
    return AUTO_CLASS.from_pretrained(model_dir).eval()
