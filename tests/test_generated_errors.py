"""A generated project's data errors are one short line: a bad value in a user's data (a
whole review in the label column, a list where a text goes) is cut, not echoed whole.

Each case renders a project with the reference backend, imports its data.py and feeds the
function that checks the value a value of 10,000 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import plan_with, rendered_module

LONG = "x" * 10_000


def data_module(tmp_path: Path, task: str, model: str) -> ModuleType:
    """The project's data.py, imported under a name of its own."""
    plan = plan_with(tmp_path, task, model=model)
    return rendered_module(tmp_path, plan, "data.py", f"{task}_data")


def textclf_label(data: ModuleType) -> None:
    data.encode_label(LONG, data.LabelScheme(["neg", "pos"], values_are_ids=False))


def tokclf_tag(data: ModuleType) -> None:
    from datasets import Dataset

    dataset = Dataset.from_dict({"ner_tags": [["O"]]})
    data.encode_tags(dataset, "ner_tags", ["O", "B-PER"])(["O", LONG])


def seq2seq_text(data: ModuleType) -> None:
    data.text_of(LONG.encode())  # a binary column where text goes


def qa_answers(data: ModuleType) -> None:
    from datasets import Dataset

    rows = {"context": ["a context"], "answers": [{"text": [LONG]}]}
    data.check_answers(Dataset.from_dict(rows), "context", "answers", False)


@pytest.mark.parametrize(
    ("task", "model", "feed"),
    [
        pytest.param("textclf", "bert-base", textclf_label, id="textclf"),
        pytest.param("tokclf", "bert-base", tokclf_tag, id="tokclf"),
        pytest.param("seq2seq", "t5-small", seq2seq_text, id="seq2seq"),
        pytest.param("qa", "bert-base", qa_answers, id="qa"),
    ],
)
def test_a_bad_value_in_the_data_is_cut_in_the_error(
    tmp_path: Path, task: str, model: str, feed: Callable[[ModuleType], None]
) -> None:
    data = data_module(tmp_path, task, model)
    with pytest.raises(ValueError) as raised:
        feed(data)
    message = str(raised.value)
    assert "\n" not in message and len(message) < 200, message[:300]
    assert "xxxxxxxxxx" in message, message  # the value's start is still there


def test_a_missing_column_is_named_with_the_settings_that_name_it(
    tmp_path: Path,
) -> None:
    from datasets import Dataset, DatasetDict

    data = data_module(tmp_path, "tokclf", "bert-base")
    raw = DatasetDict(train=Dataset.from_dict({"words": [["a"]], "ner_tags": [["O"]]}))
    with pytest.raises(ValueError) as raised:
        data.check_columns(raw, "tokens", "ner_tags")
    assert str(raised.value) == (
        "no column 'tokens' in the train data (columns: ['words', 'ner_tags']); "
        "set --tokens_column / --tags_column"
    )
