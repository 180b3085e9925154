"""Fine-tune a pretrained transformer for text classification.

    python train.py             # as config.yaml says
    python train.py --learning_rate 3e-5 --num_train_epochs 1
    accelerate launch train.py  # several GPUs

Every setting is a field of ModelArguments or DataArguments below, or of transformers'
TrainingArguments (`python train.py --help` lists them). config.yaml gives their values,
a flag overrides one.

Writes the fine-tuned model, its tokenizer and eval_results.json to --output_dir.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    HfArgumentParser,
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
from model import load_model, load_tokenizer, save_trained

logger = logging.getLogger(__name__)

CONFIG = Path(__file__).resolve().parent / "config.yaml"


def setting(default: object, help: str = "", **options: object) -> dataclasses.Field:
    """A field HfArgumentParser turns into --<name>, with its help."""
    return dataclasses.field(default=default, metadata={"help": help, **options})


@dataclass
class ModelArguments:
    model_name_or_path: str = setting(None, "hub id or local checkpoint folder")


@dataclass
class DataArguments:
    train_file: str | None = setting(None, "CSV or JSON Lines file")
    validation_file: str | None = setting(None, "CSV or JSON Lines file")
    dataset_name: str | None = setting(None, "hub dataset id or folder (not files)")
    dataset_config_name: str | None = setting(None, "hub dataset configuration")
    train_split: str = setting("train", "hub dataset split to train on")
    validation_split: str | None = setting(
        "validation", "hub dataset split to evaluate on (else test, else 10%% of train)"
    )
    text_column: str = setting("text", "the column of texts")
    label_column: str = setting("label", "the column of labels")
    labels: list[str] | None = setting(None, "label names, in id order")
    max_length: int = setting(256, "truncate to this many tokens")
    max_train_samples: int | None = setting(None, "a random subset of this size")
    max_eval_samples: int | None = setting(None, "a random subset of this size")


# A data source given as a flag replaces config.yaml's: both splits and their labels.
DATA_SOURCE_KEYS = (
    "train_file",
    "validation_file",
    "dataset_name",
    "dataset_config_name",
    "train_split",
    "validation_split",
    "labels",
)
MAYBE_LOCAL = ("model_name_or_path", "dataset_name", "resume_from_checkpoint")


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, TrainingArguments),
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
    )
    parser.add_argument("--config", type=Path, default=CONFIG, help="the settings file")
    return parser


def parse_args(
    argv: list[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The settings of config.yaml (or --config FILE), a flag overriding each."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    names = vars(parser.parse_args(argv))  # stops at an unknown flag
    config = read_config(names.pop("config").resolve(), parser, set(names))
    if any(arg.split("=")[0] in ("--train_file", "--dataset_name") for arg in argv):
        config = {k: v for k, v in config.items() if k not in DATA_SOURCE_KEYS}
    parser.set_defaults(**config)
    model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(argv)
    if not model_args.model_name_or_path:
        parser.error("no model: set model_name_or_path in config.yaml or the flag")
    if not data_args.train_file and not data_args.dataset_name:
        parser.error("no data: set --train_file or --dataset_name")
    if data_args.validation_file and not data_args.train_file:
        parser.error("validation_file goes with train_file, not dataset_name")
    return model_args, data_args, training_args


def read_config(path: Path, parser: HfArgumentParser, names: set[str]) -> dict:
    """The settings in ``path``, each checked to be one; paths made relative to its
    folder (a model, dataset or checkpoint where it is a local one)."""
    if not path.is_file():
        parser.error(f"no settings file {path}")
    try:
        with path.open(encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:  # on one line: what, and the file's line and column
        parser.error(" ".join(str(exc).split()))
    unknown = sorted(set(config) - names)
    if unknown:
        parser.error(
            f"unknown setting(s) in {path}: {', '.join(unknown)} "
            "(python train.py --help lists them)"
        )
    for key, value in config.items():
        local = path.parent / str(value)
        if value and (
            key.endswith(("_file", "_dir")) or key in MAYBE_LOCAL and local.exists()
        ):
            config[key] = str(local)
    return config


def compute_metrics(eval_pred: EvalPrediction, labels: list[str]) -> dict[str, float]:
    """Accuracy and macro F1 (over the labels in the data or the predictions, as
    scikit-learn's) of the predicted classes (numpy only)."""
    logits = eval_pred.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    # One-hot both: each label's counts are a column's sums.
    predicted = np.eye(len(labels), dtype=int)[logits.argmax(-1)]
    references = np.eye(len(labels), dtype=int)[eval_pred.label_ids]
    tp = (predicted & references).sum(0)
    n_predicted, n_true = predicted.sum(0), references.sum(0)
    f1 = 2 * tp / np.maximum(n_predicted + n_true, 1)
    seen = n_predicted + n_true > 0  # a label in neither is no class scored 0
    metrics = {
        "accuracy": float((predicted == references).all(-1).mean()),
        "f1_macro": float(f1[seen].mean()),
    }
    return metrics


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, training_args = parse_args(argv)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    set_seed(training_args.seed)

    tokenizer = load_tokenizer(model_args.model_name_or_path)
    max_length = min(data_args.max_length, tokenizer.model_max_length)

    # torchrun / accelerate: the main process tokenizes first, others read its cache.
    with training_args.main_process_first(desc="loading and tokenizing the data"):
        raw = load_raw_datasets(data_args, training_args.seed)
        check_columns(raw, data_args.text_column, data_args.label_column)
        scheme = resolve_labels(raw, data_args.label_column, data_args.labels)
        raw["train"] = limit_samples(
            raw["train"], data_args.max_train_samples, training_args.seed
        )
        raw["validation"] = limit_samples(
            raw["validation"], data_args.max_eval_samples, training_args.seed
        )
        tokenized = tokenize_datasets(
            raw,
            tokenizer,
            data_args.text_column,
            data_args.label_column,
            scheme,
            max_length,
        )
    logger.info("labels: %s", scheme.names)

    model = load_model(
        model_args.model_name_or_path,
        scheme.names,
        # Said explicitly: a checkpoint's config may carry another problem type.
        problem_type="single_label_classification",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=lambda eval_pred: compute_metrics(eval_pred, scheme.names),
    )

    resume = training_args.resume_from_checkpoint
    if resume in ("last", "true", "True"):
        resume = True  # the newest checkpoint in output_dir
    if trainer.is_world_process_zero():  # the data settings predict.py reads
        Path(training_args.output_dir, "data_args.json").write_text(
            json.dumps(vars(data_args), indent=2)
        )
    train_result = trainer.train(resume_from_checkpoint=resume)
    save_trained(trainer, training_args.output_dir)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)  # eval_results.json
    return metrics


if __name__ == "__main__":
    main()
