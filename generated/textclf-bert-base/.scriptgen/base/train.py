"""Fine-tune a pretrained transformer for text classification.

    python train.py                                   # as config.yaml says
    python train.py --learning_rate 3e-5 --num_train_epochs 1
    accelerate launch train.py                        # several GPUs
    torchrun --nproc_per_node 4 train.py

Settings come from config.yaml (next to this file); every key there can be overridden by
the command-line flag of the same name. Relative paths in config.yaml are relative to its
own folder; paths given on the command line are relative to the current directory.

Writes the fine-tuned model, its tokenizer and eval_results.json to --output_dir.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import yaml
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    set_seed,
)

from data import (
    check_columns,
    limit_samples,
    load_raw_datasets,
    resolve_labels,
    tokenize_datasets,
)
from model import load_model, load_tokenizer

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PROJECT_DIR / "config.yaml"

# Built-in defaults, overridden by config.yaml, overridden by the command line.
DEFAULTS = {
    "model_name_or_path": None,
    "method": "full",
    "train_file": None,
    "validation_file": None,
    "dataset_name": None,
    "dataset_config_name": None,
    "train_split": "train",
    "validation_split": "validation",
    "text_column": "text",
    "label_column": "label",
    "labels": None,
    "max_length": 256,
    "max_train_samples": None,
    "max_eval_samples": None,
    "output_dir": "outputs",
    "num_train_epochs": 3.0,
    "max_steps": -1,
    "learning_rate": 2e-5,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 32,
    "seed": 42,
}
# Keys whose relative values in config.yaml are paths relative to config.yaml's folder.
PATH_KEYS = ("train_file", "validation_file", "output_dir")
# A data source given on the command line replaces config.yaml's, both splits together.
DATA_SOURCE_KEYS = (
    "train_file",
    "validation_file",
    "dataset_name",
    "dataset_config_name",
    "train_split",
    "validation_split",
)


def build_parser() -> argparse.ArgumentParser:
    # No argparse defaults: a flag that is not None was given on the command line.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: config.yaml here)")

    model = parser.add_argument_group("model")
    model.add_argument("--model_name_or_path", help="hub id or local checkpoint folder")
    model.add_argument("--method", choices=["full"], help="what to train")

    data = parser.add_argument_group("data")
    data.add_argument("--train_file", help="CSV or JSON Lines file")
    data.add_argument("--validation_file", help="CSV or JSON Lines file")
    data.add_argument("--dataset_name", help="hub dataset id (instead of files)")
    data.add_argument("--dataset_config_name", help="hub dataset configuration")
    data.add_argument("--train_split", help="hub dataset split to train on")
    data.add_argument("--validation_split", help="hub dataset split to evaluate on")
    data.add_argument("--text_column")
    data.add_argument("--label_column")
    data.add_argument("--labels", nargs="+", help="label names, in id order")
    data.add_argument("--max_length", type=int, help="truncate to this many tokens")
    data.add_argument("--max_train_samples", type=int)
    data.add_argument("--max_eval_samples", type=int)

    training = parser.add_argument_group("training")
    training.add_argument("--output_dir")
    training.add_argument("--num_train_epochs", type=float)
    training.add_argument("--max_steps", type=int, help="overrides epochs when > 0")
    training.add_argument("--learning_rate", type=float)
    training.add_argument("--per_device_train_batch_size", type=int)
    training.add_argument("--per_device_eval_batch_size", type=int)
    training.add_argument("--seed", type=int)
    return parser


def load_config(path: Path, parser: argparse.ArgumentParser) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        parser.error(f"unknown key(s) in {path}: {', '.join(unknown)}")
    # YAML reads "2e-5" as a string: apply the flags' types to config values too.
    types = {action.dest: action.type for action in parser._actions if action.type}
    for key, value in config.items():
        if isinstance(value, str) and key in types:
            config[key] = types[key](value)
    for key in PATH_KEYS:
        if config.get(key) and not Path(config[key]).is_absolute():
            config[key] = str(path.parent / config[key])
    # A local checkpoint folder, if it is one; a hub id stays as it is.
    model = config.get("model_name_or_path")
    if model and (path.parent / model).is_dir():
        config["model_name_or_path"] = str(path.parent / model)
    return config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    cli = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    config_path = Path(cli.pop("config", DEFAULT_CONFIG)).resolve()
    config = load_config(config_path, parser)
    if "train_file" in cli or "dataset_name" in cli:
        config = {k: v for k, v in config.items() if k not in DATA_SOURCE_KEYS}
    args = argparse.Namespace(**{**DEFAULTS, **config, **cli})
    if not args.model_name_or_path:
        parser.error("no model: set model_name_or_path in config.yaml or the flag")
    if not args.train_file and not args.dataset_name:
        parser.error("no data: set --train_file or --dataset_name")
    return args


def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    logits = eval_pred.predictions
    if isinstance(logits, tuple):
        logits = logits[0]
    predictions = np.argmax(logits, axis=-1)
    return {"accuracy": float((predictions == eval_pred.label_ids).mean())}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    training_args = TrainingArguments(
        output_dir=args.output_dir,
        num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_eval_batch_size,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        seed=args.seed,
        report_to="none",
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    set_seed(args.seed)

    tokenizer = load_tokenizer(args.model_name_or_path)
    max_length = min(args.max_length, tokenizer.model_max_length)

    # Under torchrun / accelerate the main process loads and tokenizes first; the other
    # processes then read its cache.
    with training_args.main_process_first(desc="loading and tokenizing the data"):
        raw = load_raw_datasets(
            train_file=args.train_file,
            validation_file=args.validation_file,
            dataset_name=args.dataset_name,
            dataset_config_name=args.dataset_config_name,
            train_split=args.train_split,
            validation_split=args.validation_split,
            seed=args.seed,
        )
        check_columns(raw, args.text_column, args.label_column)
        labels = resolve_labels(raw["train"], args.label_column, args.labels)
        label2id = {label: i for i, label in enumerate(labels)}
        raw["train"] = limit_samples(raw["train"], args.max_train_samples)
        raw["validation"] = limit_samples(raw["validation"], args.max_eval_samples)
        tokenized = tokenize_datasets(
            raw, tokenizer, args.text_column, args.label_column, label2id, max_length
        )
    logger.info("labels: %s", labels)

    model = load_model(args.model_name_or_path, labels, method=args.method)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )

    train_result = trainer.train()
    trainer.save_model()  # model, config (with id2label / label2id) and tokenizer
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)  # eval_results.json
    return metrics


if __name__ == "__main__":
    main()
