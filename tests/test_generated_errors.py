"""A generated project's data errors are one short line: a bad value in a user's data (a
whole review in the label column, a list where a text goes) is cut, not echoed whole.

Each case renders a project with the reference backend, imports its data.py and feeds the
function that checks the value a value of 10,000 characters.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import generate_reference, plan_with, rendered_module

LONG = "x" * 10_000


def data_module(tmp_path: Path, task: str, model: str) -> ModuleType:
    """The project's data.py, imported under a name of its own."""
    plan = plan_with(tmp_path, task, model=model)
    return rendered_module(tmp_path, plan, "data.py", f"{task}_data")


def textclf_label(data: ModuleType) -> None:
    data.encode_label(LONG, data.LabelScheme(["neg", "pos"], values_are_ids=False))


def tokclf_tag(data: ModuleType) -> None:
    data.encode_tags(["O", "B-PER"])(["O", LONG])


def seq2seq_text(data: ModuleType) -> None:
    data.text_of(LONG.encode())  # a binary column where text goes


def qa_answers(data: ModuleType) -> None:
    from datasets import Dataset

    rows = {"context": ["a context"], "answers": [{"text": [LONG]}]}
    data.check_answers(Dataset.from_dict(rows), "context", "answers", False)


def qa_offset(data: ModuleType) -> None:
    from datasets import Dataset

    rows = {
        "context": ["a context"],
        "answers": [{"text": [LONG], "answer_start": [0]}],
    }
    data.check_answers(Dataset.from_dict(rows), "context", "answers", False)


def seq2seq_languages(data: ModuleType) -> None:
    data.text_of({LONG: "a text", "de": "ein Text"}, "en")


MANY = [f"label-{i}" for i in range(1_000)]


def textclf_many(data: ModuleType) -> None:
    data.encode_label("nope", data.LabelScheme(MANY, values_are_ids=False))


def tokclf_many(data: ModuleType) -> None:
    data.encode_tags(MANY)(["nope"])


def media_many(data: ModuleType) -> None:
    from datasets import Dataset, DatasetDict

    raw = DatasetDict(train=Dataset.from_dict({"label": ["nope", LONG]}))
    data.resolve_labels(raw, "label", MANY)


@pytest.mark.parametrize(
    ("task", "model", "feed"),
    [
        pytest.param("textclf", "bert-base", textclf_label, id="textclf"),
        pytest.param("qa", "bert-base", qa_offset, id="qa-answer-offset"),
        pytest.param("seq2seq", "t5-small", seq2seq_languages, id="seq2seq-languages"),
        pytest.param("tokclf", "bert-base", tokclf_tag, id="tokclf"),
        pytest.param("seq2seq", "t5-small", seq2seq_text, id="seq2seq"),
        pytest.param("qa", "bert-base", qa_answers, id="qa"),
        # A thousand label names, and a value of 10,000 characters among the unknown ones.
        pytest.param("textclf", "bert-base", textclf_many, id="textclf-many-labels"),
        pytest.param("tokclf", "bert-base", tokclf_many, id="tokclf-many-labels"),
        pytest.param("imgclf", "vit-base", media_many, id="imgclf-many-labels"),
        pytest.param(
            "audioclf", "wav2vec2-base", media_many, id="audioclf-many-labels"
        ),
    ],
)
def test_a_bad_value_in_the_data_is_cut_in_the_error(
    tmp_path: Path, task: str, model: str, feed: Callable[[ModuleType], None]
) -> None:
    data = data_module(tmp_path, task, model)
    with pytest.raises(ValueError) as raised:
        feed(data)
    message = str(raised.value)
    assert "\n" not in message and len(message) < 300, message[:400]
    # The value's start is still there (or, among a thousand labels, the first ones).
    assert "xxxxxxxxxx" in message or "label-0" in message, message


def test_a_missing_column_is_named_with_the_settings_that_name_it(
    tmp_path: Path,
) -> None:
    from datasets import Dataset, DatasetDict

    data = data_module(tmp_path, "tokclf", "bert-base")
    raw = DatasetDict(train=Dataset.from_dict({"words": [["a"]], "ner_tags": [["O"]]}))
    with pytest.raises(ValueError) as raised:
        data.check_columns(raw, "tokens", "ner_tags")
    assert str(raised.value) == (
        "no list column 'tokens' in the train data (its columns: ['words', 'ner_tags']); "
        "set --tokens_column / --tags_column"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "model", "column"),
    [("imgclf", "vit-base", "image"), ("audioclf", "wav2vec2-base", "audio")],
)
def test_predict_names_the_column_its_input_table_lacks(
    tmp_path: Path, task: str, model: str, column: str
) -> None:
    """`predict.py --input_file table.csv` on a table without the column of paths: a
    ValueError naming the file, the column and its flag (it was a bare KeyError)."""
    project = generate_reference(tmp_path, task, model=model)
    table = tmp_path / "inputs.csv"
    table.write_text("path,label\nclip-1,a\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "predict.py", "--input_file", str(table), "--model_dir", "."],
        cwd=project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"ValueError: {table}: a row has no {column!r} column (--{column}_column)"
    ), result.stderr[-2000:]
