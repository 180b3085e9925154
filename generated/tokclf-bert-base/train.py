"""Fine-tune a pretrained transformer for token classification (named entities, ...).

    python train.py                                   # as config.yaml says
    python train.py --learning_rate 3e-5 --num_train_epochs 1
    python train.py --method lora --lora_r 16 --warmup_steps 100 --report_to wandb
    python train.py --resume_from_checkpoint last     # go on from outputs/checkpoint-*
    accelerate launch train.py                        # several GPUs
    torchrun --nproc_per_node 4 train.py

Settings come from config.yaml (next to this file); every key there can be overridden by
the command-line flag of the same name. Any other field of transformers' TrainingArguments
can be set in config.yaml's `trainer:` block or given as a flag (--warmup_steps 100,
--bf16, --save_strategy steps, --push_to_hub, ...). Relative paths in config.yaml are
relative to its own folder; paths given on the command line are relative to the current
directory.

Writes the fine-tuned model, its tokenizer and eval_results.json (entity-level precision,
recall and F1, word accuracy) to --output_dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch
import yaml
from transformers import (
    DataCollatorForTokenClassification,
    EvalPrediction,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)

from data import (
    IGNORE_INDEX,
    check_columns,
    limit_samples,
    load_raw_datasets,
    prepare_tokenizer,
    resolve_labels,
    tokenize_datasets,
)
from metrics import entity_scores
from model import METHODS, load_model, load_tokenizer, save_trained

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PROJECT_DIR / "config.yaml"

# Built-in defaults, overridden by config.yaml, overridden by the command line.
DEFAULTS = {
    "model_name_or_path": None,
    "method": "full",
    "unfreeze_layers": 0,
    "lora_r": 8,
    "lora_alpha": 16.0,
    "lora_dropout": 0.1,
    "lora_target_modules": None,
    "num_virtual_tokens": 20,
    "train_file": None,
    "validation_file": None,
    "dataset_name": None,
    "dataset_config_name": None,
    "train_split": "train",
    "validation_split": "validation",
    "tokens_column": "tokens",
    "tags_column": "ner_tags",
    "labels": None,
    "label_all_tokens": False,
    "max_length": 256,
    "max_train_samples": None,
    "max_eval_samples": None,
    "output_dir": "outputs",
    "num_train_epochs": 3.0,
    "max_steps": -1,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 32,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": False,
    "precision": "fp32",
    "seed": 42,
    "resume_from_checkpoint": None,
    # Any other TrainingArguments field: {"warmup_steps": 100, "report_to": "wandb"}.
    "trainer": {},
}
# Keys whose relative values in config.yaml are paths relative to config.yaml's folder.
PATH_KEYS = ("train_file", "validation_file", "output_dir")
# A data source given on the command line replaces config.yaml's, both splits together,
# and the labels that went with it.
DATA_SOURCE_KEYS = (
    "train_file",
    "validation_file",
    "dataset_name",
    "dataset_config_name",
    "train_split",
    "validation_split",
    "labels",
)
# What TrainingArguments gets unless the trainer block or a flag says otherwise.
TRAINER_DEFAULTS = {
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "logging_steps": 10,
    "report_to": "none",
    # peft models hide the forward signature the Trainer reads the label names from.
    "label_names": ["labels"],
}


def str2bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("true", "yes", "1"):
        return True
    if value.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    # No argparse defaults: a flag that is not None was given on the command line.
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        # A TrainingArguments flag must not be read as an abbreviation of one of these.
        allow_abbrev=False,
        epilog="Any other TrainingArguments field is accepted as --name value.",
    )
    parser.add_argument("--config", help="settings file (default: config.yaml here)")

    model = parser.add_argument_group("model")
    model.add_argument("--model_name_or_path", help="hub id or local checkpoint folder")
    model.add_argument("--method", choices=METHODS, help="what to train")
    model.add_argument(
        "--unfreeze_layers", type=int, help="freeze: top layers that train too"
    )
    model.add_argument("--lora_r", type=int, help="lora, qlora: rank")
    model.add_argument("--lora_alpha", type=float, help="lora, qlora: scaling")
    model.add_argument("--lora_dropout", type=float)
    model.add_argument(
        "--lora_target_modules",
        nargs="+",
        help='module names, or "all-linear" (default: the attention projections)',
    )
    model.add_argument(
        "--num_virtual_tokens", type=int, help="prefix, prompt: tokens learnt"
    )

    data = parser.add_argument_group("data")
    data.add_argument("--train_file", help="JSON Lines file")
    data.add_argument("--validation_file", help="JSON Lines file")
    data.add_argument("--dataset_name", help="hub dataset id or folder (not files)")
    data.add_argument("--dataset_config_name", help="hub dataset configuration")
    data.add_argument("--train_split", help="hub dataset split to train on")
    data.add_argument(
        "--validation_split",
        help="hub dataset split to evaluate on (validation: else test, else 10%% of train)",
    )
    data.add_argument("--tokens_column", help="the column with each sentence's words")
    data.add_argument("--tags_column", help="the column with one tag per word")
    data.add_argument("--labels", nargs="+", help="tag names, in id order")
    data.add_argument(
        "--label_all_tokens",
        type=str2bool,
        nargs="?",
        const=True,
        help="train on every sub-token of a word, not only the first (true/false)",
    )
    data.add_argument("--max_length", type=int, help="truncate to this many tokens")
    data.add_argument("--max_train_samples", type=int, help="a random subset")
    data.add_argument("--max_eval_samples", type=int, help="a random subset")

    training = parser.add_argument_group("training")
    training.add_argument("--output_dir")
    training.add_argument("--num_train_epochs", type=float)
    training.add_argument("--max_steps", type=int, help="overrides epochs when > 0")
    training.add_argument("--learning_rate", type=float)
    training.add_argument("--per_device_train_batch_size", type=int)
    training.add_argument("--per_device_eval_batch_size", type=int)
    training.add_argument("--gradient_accumulation_steps", type=int)
    training.add_argument(
        "--gradient_checkpointing", type=str2bool, nargs="?", const=True
    )
    training.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        help="mixed precision (on a GPU)",
    )
    training.add_argument("--seed", type=int)
    training.add_argument(
        "--resume_from_checkpoint",
        help='a checkpoint folder, or "last": the newest in --output_dir',
    )
    return parser


def trainer_parser() -> HfArgumentParser:
    """TrainingArguments' own flags, reporting only those given (no defaults)."""
    parser = HfArgumentParser(TrainingArguments, allow_abbrev=False)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    return parser


def trainer_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}


def load_config(path: Path, parser: argparse.ArgumentParser) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        parser.error(
            f"unknown key(s) in {path}: {', '.join(unknown)} "
            "(TrainingArguments fields go in the trainer: block)"
        )
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
    config["trainer"] = check_trainer_block(config.get("trainer") or {}, parser)
    return config


def check_trainer_block(block: dict, parser: argparse.ArgumentParser) -> dict:
    if not isinstance(block, dict):
        parser.error("trainer: in config.yaml must be a mapping of TrainingArguments")
    fields = trainer_fields()
    for key in block:
        if key in DEFAULTS:
            parser.error(f"trainer: {key} is a top-level key of config.yaml; move it")
        if key not in fields:
            parser.error(f"trainer: {key} is not a field of TrainingArguments")
    # Types as the flags have them ("1e-4" is a string to YAML).
    types = {a.dest: a.type for a in trainer_parser()._actions if a.type}
    return {
        key: types[key](value) if isinstance(value, str) and key in types else value
        for key, value in block.items()
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    known, rest = parser.parse_known_args(argv)
    cli = {k: v for k, v in vars(known).items() if v is not None}
    # The remaining flags must be TrainingArguments fields (--warmup_steps 100, ...).
    trainer_cli, unknown = trainer_parser().parse_known_args(rest)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    config_path = Path(cli.pop("config", DEFAULT_CONFIG)).resolve()
    config = load_config(config_path, parser)
    if "train_file" in cli or "dataset_name" in cli:
        config = {k: v for k, v in config.items() if k not in DATA_SOURCE_KEYS}
    args = argparse.Namespace(**{**DEFAULTS, **config, **cli})
    args.trainer = {**config.get("trainer", {}), **vars(trainer_cli)}
    if not args.model_name_or_path:
        parser.error("no model: set model_name_or_path in config.yaml or the flag")
    if not args.train_file and not args.dataset_name:
        parser.error("no data: set --train_file or --dataset_name")
    return args


def build_training_args(args: argparse.Namespace) -> TrainingArguments:
    """TrainingArguments from the settings: the script's keys, then the trainer block and
    TrainingArguments flags on top."""
    kwargs = dict(
        TRAINER_DEFAULTS,
        output_dir=args.output_dir,
        num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        bf16=args.precision == "bf16",
        fp16=args.precision == "fp16",
        seed=args.seed,
    )
    # Newer transformers 5 releases call it activation_checkpointing (the old name is a
    # deprecated alias).
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in trainer_fields()
        else "gradient_checkpointing"
    )
    kwargs[name] = args.gradient_checkpointing
    if args.gradient_checkpointing:
        # Lets gradients through checkpointed layers whose inputs are frozen.
        kwargs[f"{name}_kwargs"] = {"use_reentrant": False}
    kwargs.update(args.trainer)
    return TrainingArguments(**kwargs)


class EntityMetrics:
    """compute_metrics for the Trainer: entity precision, recall and F1 (seqeval's
    definition) and word accuracy, over each word's first sub-token (the positions whose
    label is not -100); the F1 of each entity type too, and a per-type report for the log.
    """

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.per_type: dict[str, dict] = {}

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float]:
        true_tags, pred_tags = [], []
        for pred_row, label_row in zip(eval_pred.predictions, eval_pred.label_ids):
            scored = label_row != IGNORE_INDEX
            true_tags.append([self.labels[i] for i in label_row[scored]])
            pred_tags.append([self.labels[i] for i in pred_row[scored]])
        scores = entity_scores(true_tags, pred_tags)
        self.per_type = scores.pop("per_type")
        scores.update({f"f1_{type_}": s["f1"] for type_, s in self.per_type.items()})
        return scores

    def log_report(self) -> None:
        width = max([len("type"), *(len(type_) for type_ in self.per_type)])
        lines = [f"{'type':<{width}}  precision  recall     f1  support"]
        for type_, s in self.per_type.items():
            lines.append(
                f"{type_:<{width}}  {s['precision']:9.3f}  {s['recall']:6.3f}"
                f"  {s['f1']:5.3f}  {s['support']:7d}"
            )
        logger.info("entity scores on the validation data:\n%s", "\n".join(lines))


def argmax_logits(logits: torch.Tensor | tuple, labels: torch.Tensor) -> torch.Tensor:
    # Keep only the predicted ids between evaluation steps, not every tag's logit.
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    training_args = build_training_args(args)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    set_seed(training_args.seed)

    # Words come pre-split: a RoBERTa-style BPE must see each one with its leading space.
    tokenizer = prepare_tokenizer(
        load_tokenizer(args.model_name_or_path, add_prefix_space=True)
    )
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
        check_columns(raw, args.tokens_column, args.tags_column)
        labels = resolve_labels(raw["train"], args.tags_column, args.labels)
        raw["train"] = limit_samples(raw["train"], args.max_train_samples, args.seed)
        raw["validation"] = limit_samples(
            raw["validation"], args.max_eval_samples, args.seed
        )
        tokenized = tokenize_datasets(
            raw,
            tokenizer,
            args.tokens_column,
            args.tags_column,
            labels,
            max_length,
            label_all_tokens=args.label_all_tokens,
        )
    logger.info("tags: %s", labels)

    model = load_model(
        args.model_name_or_path,
        labels,
        method=args.method,
        unfreeze_layers=args.unfreeze_layers,
        lora={
            "r": args.lora_r,
            "alpha": args.lora_alpha,
            "dropout": args.lora_dropout,
            "target_modules": _target_modules(args.lora_target_modules),
        },
        num_virtual_tokens=args.num_virtual_tokens,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    metrics_fn = EntityMetrics(labels)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=metrics_fn,
        preprocess_logits_for_metrics=argmax_logits,
    )

    resume = args.resume_from_checkpoint
    if resume in ("last", "true", "True"):
        resume = True  # the newest checkpoint in output_dir
    train_result = trainer.train(resume_from_checkpoint=resume)
    # The model (adapters merged, or the adapter and its head), its config with the
    # labels, and the tokenizer.
    save_trained(trainer, training_args.output_dir)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)  # eval_results.json
    if trainer.is_world_process_zero():
        metrics_fn.log_report()
    return metrics


def _target_modules(value: list[str] | str | None) -> list[str] | str | None:
    """--lora_target_modules all-linear is peft's keyword, not a module name."""
    if isinstance(value, list) and value == ["all-linear"]:
        return "all-linear"
    return value


if __name__ == "__main__":
    main()
