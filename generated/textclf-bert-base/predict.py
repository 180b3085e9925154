"""Predict labels with the fine-tuned model (output_dir in config.yaml, or --model_dir).

    python predict.py --text "A wonderful film." --text "Dull and far too long."
    python predict.py --input_file reviews.csv --output_file predictions.jsonl

Prints (or writes) one JSON line per text: {"text", "label", "score"}, as predict() says.
An input file is CSV or JSON Lines with a text column, or plain text, a text per line.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
from pathlib import Path

import torch
import yaml
from transformers import AutoTokenizer

from model import load_trained

PROJECT_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text("utf-8")) or {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model_dir = PROJECT_DIR / config.get("output_dir", "outputs")  # as train.py does
    parser.add_argument("--model_dir", default=str(model_dir), help="the trained model")
    parser.add_argument("--text", action="append", help="a text to classify (repeat)")
    parser.add_argument("--input_file", help="CSV, JSON Lines or one text per line")
    parser.add_argument("--output_file", help="write JSON lines here, not to stdout")
    parser.add_argument("--text_column", help="default: as trained")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_length", type=int, help="default: as trained")
    args = parser.parse_args(argv)
    if not args.text and not args.input_file:
        parser.error("nothing to predict: give --text or --input_file")
    if not Path(args.model_dir).is_dir():
        parser.error(f"no model in {args.model_dir}: run train.py first")
    # Unset flags: the data settings the model was trained with (else config.yaml's).
    saved = Path(args.model_dir, "data_args.json")
    if not saved.is_file():  # a checkpoint: its output_dir's
        saved = saved.parent.parent / saved.name
    trained = json.loads(saved.read_text()) if saved.is_file() else config
    for key, value in trained.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def read_rows(path: str, column: str) -> list:
    """A CSV or JSON Lines file's ``column``, else the file's lines."""
    suffix = Path(path).suffix.lower()
    with open(path, encoding="utf-8", newline="") as f:
        if suffix == ".csv":
            rows = list(csv.DictReader(f))
        elif suffix in (".json", ".jsonl"):
            rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = [{column: line.strip()} for line in f if line.strip()]
    if any(column not in row for row in rows):
        raise ValueError(f"{path}: a row has no {column!r} column (--text_column)")
    return [row[column] for row in rows]


@functools.cache
def load(model_dir: str):
    """The tokenizer and trained model (on a GPU if any), read once."""
    model = load_trained(model_dir).to("cuda" if torch.cuda.is_available() else "cpu")
    return AutoTokenizer.from_pretrained(model_dir), model


@torch.no_grad()
def predict(
    texts: list[str],
    model_dir: str,
    batch_size: int = 32,
    max_length: int = 256,
) -> list[dict]:
    """One {"text", "label", "score"} dict per text: the most probable label (its name
    from the saved model) and its probability."""
    tokenizer, model = load(model_dir)
    id2label = model.config.id2label
    max_length = min(max_length, tokenizer.model_max_length)
    predictions = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        inputs = tokenizer(
            batch,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        logits = model(**inputs.to(model.device)).logits.float()
        scores, ids = logits.softmax(-1).max(-1)
        for text, i, score in zip(batch, ids.tolist(), scores.tolist()):
            predictions.append({"text": text, "label": id2label[i], "score": score})
    return predictions


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    texts = list(args.text or [])
    if args.input_file:
        texts += read_rows(args.input_file, args.text_column)
    predictions = predict(texts, args.model_dir, args.batch_size, args.max_length)

    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions)
    if args.output_file:
        Path(args.output_file).write_text(lines, encoding="utf-8")
    else:
        print(lines, end="")


if __name__ == "__main__":
    main()
