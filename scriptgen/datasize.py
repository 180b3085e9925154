"""What ``scriptgen plan`` reads of the spec's local data files: how many examples, and
how long their text is."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .errors import UserError
from .planning import Plan

DEFAULT_EXAMPLES = 10_000
# Characters per token of English text for BPE / WordPiece vocabularies.
CHARS_PER_TOKEN = 4.0


def tokens_per_example(plan: Plan, seq: int, seq_how: str) -> tuple[float, str]:
    """Tokens an example trains on: from a local text file's rows (characters / 4, cut at
    max_length) where there is one, else the sequence length (an upper bound)."""
    data = plan.spec.data
    train = data.get("train")
    is_text = seq == plan.spec.training.max_length
    if is_text and data.get("format") in ("csv", "json") and train:
        lengths = _row_lengths(str(train), column_of_text(plan))
        if lengths:
            mean = sum(min(seq, n / CHARS_PER_TOKEN + 2) for n in lengths) / len(
                lengths
            )
            return mean, (
                f"{mean:.1f} tokens an example (its row's characters / "
                f"{CHARS_PER_TOKEN:g} + 2, at most max_length {seq})"
            )
    return seq, seq_how


def count_examples(plan: Plan, given: int | None) -> tuple[int, str]:
    if given is not None:
        return given, f"{given} training examples (--examples)"
    data = plan.spec.data
    train = data.get("train")
    if (
        data.get("format") in ("csv", "json", "text")
        and train
        and Path(train).is_file()
    ):
        with open(train, encoding="utf-8", errors="replace") as f:
            lines = sum(1 for line in f if line.strip())
        n = max(lines - (data.get("format") == "csv"), 0)
        return n, f"{n} rows of {Path(train).name}"
    return DEFAULT_EXAMPLES, (
        f"{DEFAULT_EXAMPLES} training examples (a stated guess for {train}; "
        "pass --examples)"
    )


def column_of_text(plan: Plan) -> str | None:
    """The data column that holds a row's text (the data key the manifest's
    ``text_key`` names, e.g. tokclf's tokens_column), if the spec names one."""
    key = plan.manifest.vars.get("text_key")
    column = plan.spec.data.get(key) if key else None
    return str(column) if column else None


def row_chars(path: str, column: str | None = None) -> float | None:
    """The mean number of characters of a data file's rows' text."""
    lengths = _row_lengths(path, column)
    return sum(lengths) / len(lengths) if lengths else None


def _chars(value: Any) -> int:
    """A value's characters as text: a list of words joined by spaces."""
    if isinstance(value, list):
        return sum(len(str(v)) for v in value) + max(len(value) - 1, 0)
    return len(str(value))


def _row_lengths(path: str, column: str | None = None) -> list[int]:
    """The characters of each of a data file's first 2,000 rows: its text column's where
    the row has it, else all its values'."""
    file = Path(path)
    if not file.is_file():
        return []
    lengths = []
    with open(file, encoding="utf-8", errors="replace") as f:
        if file.suffix.lower() == ".csv":
            rows: Any = csv.DictReader(f)
        else:
            rows = (
                _json_row(line, file, n) for n, line in enumerate(f, 1) if line.strip()
            )
        try:
            for i, row in enumerate(rows):
                if i >= 2000:
                    break
                if isinstance(row, dict) and column in row:
                    lengths.append(_chars(row[column]))
                    continue
                values = row.values() if isinstance(row, dict) else [row]
                lengths.append(sum(_chars(v) for v in values))
        except csv.Error as exc:
            raise UserError(f"{file}: not a CSV file ({exc})") from None
    return lengths


def _json_row(line: str, file: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise UserError(f"{file}: line {number} is not JSON") from None
