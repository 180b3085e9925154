"""Tag words and find entities with a fine-tuned model.

    python predict.py --text "Angela Merkel met Emmanuel Macron in Berlin ."
    python predict.py --input_file sentences.jsonl --output_file predictions.jsonl

Prints (or writes) a JSON line per input: its "text", its words ("tokens": a --text split
on whitespace), their "tags" and "entities" ({"text", "type", "start", "end", "score"};
word indices, end exclusive). An input file: JSON Lines or CSV with a tokens column, or
a text a line.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
from pathlib import Path

import torch
import yaml
from seqeval.metrics.sequence_labeling import get_entities

from model import load_tokenizer, load_trained

PROJECT_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text("utf-8")) or {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model_dir = PROJECT_DIR / config.get("output_dir", "outputs")  # as train.py does
    parser.add_argument("--model_dir", default=str(model_dir), help="the trained model")
    parser.add_argument("--text", action="append", help="a text to tag (repeat)")
    parser.add_argument("--input_file", help="CSV, JSON Lines or one text per line")
    parser.add_argument("--output_file", help="write JSON lines here, not to stdout")
    parser.add_argument("--tokens_column", help="default: as trained")
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
        raise ValueError(f"{path}: a row has no {column!r} column (--tokens_column)")
    return [row[column] for row in rows]


@functools.cache
def load(model_dir: str):
    """The tokenizer and trained model (on a GPU if any), read once."""
    model = load_trained(model_dir).to("cuda" if torch.cuda.is_available() else "cpu")
    return load_tokenizer(model_dir), model


@torch.no_grad()
def predict(
    inputs: list[str | list[str]],
    model_dir: str,
    batch_size: int = 32,
    max_length: int = 256,
) -> list[dict]:
    """A dict per input (a text or its words); a long one is read in windows that
    overlap by a quarter (at most 64 tokens)."""
    tokenizer, model = load(model_dir)
    id2label = model.config.id2label
    max_length = min(max_length, tokenizer.model_max_length)
    stride = max(0, min((max_length - tokenizer.num_special_tokens_to_add()) // 4, 64))

    predictions = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        sentences = [
            item.split() if isinstance(item, str) else [str(w) for w in item]
            for item in batch
        ]
        encoded = tokenizer(
            sentences,
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_overflowing_tokens=True,
            stride=stride,
            return_tensors="pt",
        )
        samples = encoded.pop("overflow_to_sample_mapping").tolist()
        probs = model(**encoded.to(model.device)).logits.float().softmax(dim=-1)
        scores, ids = (t.tolist() for t in probs.max(dim=-1))

        # Each word's tag and score at its first sub-token, in the first window with it.
        found = [[None] * len(words) for words in sentences]
        for window, sample in enumerate(samples):
            for position, word in enumerate(encoded.word_ids(window)):
                if word is not None and found[sample][word] is None:
                    label = id2label[ids[window][position]]
                    found[sample][word] = (label, scores[window][position])
        for item, words, tagged in zip(batch, sentences, found):
            # A word the tokenizer drops (a control character) is outside.
            tags = [t[0] if t else "O" for t in tagged]
            word_scores = [t[1] if t else 1.0 for t in tagged]
            entities = [  # an entity's score: the mean of its words' scores
                {
                    "text": " ".join(words[first : last + 1]),
                    "type": type_,
                    "start": first,
                    "end": last + 1,
                    "score": sum(word_scores[first : last + 1]) / (last + 1 - first),
                }
                for type_, first, last in get_entities(tags)
            ]
            text = item if isinstance(item, str) else " ".join(words)
            predictions.append(
                {"text": text, "tokens": words, "tags": tags, "entities": entities}
            )
    return predictions


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    inputs = list(args.text or [])
    if args.input_file:
        inputs += read_rows(args.input_file, args.tokens_column)
    predictions = predict(inputs, args.model_dir, args.batch_size, args.max_length)

    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions)
    if args.output_file:
        Path(args.output_file).write_text(lines, encoding="utf-8")
    else:
        print(lines, end="")


if __name__ == "__main__":
    main()
