"""The floor for bench_train.py: a plain, hand-written Trainer script for text
classification, as a user would write it from the Hugging Face docs, at given settings.

    python bench/plain_trainer.py MODEL TRAIN.csv VALID.csv OUT --epochs 2 --lr 5e-5 ...
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from datasets import load_dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

parser = argparse.ArgumentParser()
for name in ("model", "train", "valid", "out"):
    parser.add_argument(name)
parser.add_argument("--epochs", type=float, default=3)
parser.add_argument("--lr", type=float, default=2e-5)
parser.add_argument("--batch_size", type=int, default=16)
parser.add_argument("--max_length", type=int, default=256)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()
set_seed(args.seed)

raw = load_dataset("csv", data_files={"train": args.train, "validation": args.valid})
labels = sorted(raw["train"].unique("label"))
label2id = {label: i for i, label in enumerate(labels)}
tokenizer = AutoTokenizer.from_pretrained(args.model)


def encode(batch: dict) -> dict:
    out = tokenizer(batch["text"], truncation=True, max_length=args.max_length)
    out["labels"] = [label2id[v] for v in batch["label"]]
    return out


data = raw.map(encode, batched=True, remove_columns=raw["train"].column_names)
model = AutoModelForSequenceClassification.from_pretrained(
    args.model,
    num_labels=len(labels),
    id2label=dict(enumerate(labels)),
    label2id=label2id,
    dtype=torch.float32,
)


def accuracy(pred) -> dict:  # type: ignore[no-untyped-def]
    return {
        "accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
    }


trainer = Trainer(
    model=model,
    args=TrainingArguments(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        seed=args.seed,
        report_to="none",
    ),
    train_dataset=data["train"],
    eval_dataset=data["validation"],
    processing_class=tokenizer,
    data_collator=DataCollatorWithPadding(tokenizer),
    compute_metrics=accuracy,
)
trainer.train()
trainer.save_model()
metrics = trainer.evaluate()
trainer.save_metrics("eval", metrics)
print(metrics)
