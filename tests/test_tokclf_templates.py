"""tokclf's manifest and templates, rendered without running anything: the spec's data
block, its defaults, the family-dependent parts of the judge.
(What the rendered project does is its judge's business: tests/test_catalog.py validates
every family and method, tests/test_tokclf_judge.py breaks projects on purpose.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.errors import UserError
from scriptgen.planning import make_plan
from scriptgen.render import render_judge, render_scaffold
from scriptgen.spec import build_spec

from .conftest import build_file_tree

CONLL_TAGS = [
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-MISC",
    "I-MISC",
]
ROW = '{"tokens": ["Ada", "Lovelace", "lived", "in", "London"], "ner_tags": ["B-PER", "I-PER", "O", "O", "B-LOC"]}\n'


def plan_for(tmp_path: Path, model: str = "bert-base", sets: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    raw, base = build_spec("tokclf", model=model, sets=list(sets), cwd=tmp_path)
    return make_plan(raw, base, tmp_path / "generated")


def rendered(plan) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**ReferenceBackend().generate(plan), **render_scaffold(plan)}


def test_without_data_options_it_trains_on_conll2003(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    data = plan.spec.data
    assert data["format"] == "hf"
    assert (data["train"], data["validation"]) == (
        "eriktks/conll2003:train",
        "eriktks/conll2003:validation",
    )
    assert data["labels"] == CONLL_TAGS
    assert (data["tokens_column"], data["tags_column"]) == ("tokens", "ner_tags")
    assert data["label_all_tokens"] is False
    config = yaml.safe_load(rendered(plan)["config.yaml"])
    assert config["dataset_name"] == "eriktks/conll2003"
    assert (config["train_split"], config["validation_split"]) == (
        "train",
        "validation",
    )
    assert config["labels"] == CONLL_TAGS


def test_a_spec_naming_only_its_files_works(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"train.jsonl": ROW, "valid.jsonl": ROW})
    plan = plan_for(
        tmp_path, sets=("data.train=train.jsonl", "data.validation=valid.jsonl")
    )
    assert plan.spec.data["format"] == "json"
    config = yaml.safe_load(rendered(plan)["config.yaml"])
    assert config["train_file"].endswith("train.jsonl")
    assert config["tokens_column"] == "tokens" and config["tags_column"] == "ner_tags"
    assert config["labels"] is None and config["label_all_tokens"] is False
    assert "dataset_name" not in config


def test_csv_is_not_a_tokclf_format(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"train.csv": "tokens,ner_tags\n"})
    with pytest.raises(UserError, match="set data.format to one of json, hf"):
        plan_for(tmp_path, sets=("data.train=train.csv",))


def test_data_keys_are_typed(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"data\.label_all_tokens"):
        plan_for(tmp_path, sets=("data.label_all_tokens=sometimes",))
    with pytest.raises(UserError, match=r"data\.labels: values must be distinct"):
        plan_for(tmp_path, sets=("data.labels=[O, O]",))


@pytest.mark.parametrize(
    ("model", "tokenizer_kind"),
    [
        ("bert-base", "WordPiece"),
        ("roberta-base", "RobertaTokenizer"),
        ("modernbert-base", "ByteLevel"),
        ("deberta-v3-base", "Unigram"),
    ],
)
def test_the_judge_builds_a_tokenizer_of_the_familys_kind(
    tmp_path: Path, model: str, tokenizer_kind: str
) -> None:
    plan = plan_for(tmp_path, model=model)
    judge = render_judge(plan)
    # The judge builds its twin's tokenizer with the shared twin module's builder.
    assert "build_family_tokenizer(" in judge[".scriptgen/judge/conftest.py"]
    assert "from twin import" in judge[".scriptgen/judge/conftest.py"]
    # The rendered twin module builds that kind of tokenizer for this family.
    namespace: dict = {"__name__": "twin"}
    exec(compile(judge[".scriptgen/judge/twin.py"], "twin.py", "exec"), namespace)
    tokenizer = namespace["build_family_tokenizer"](["alice met bruno in lima"] * 4)
    backend = tokenizer.backend_tokenizer
    kind = {
        "WordPiece": type(backend.model).__name__,
        "Unigram": type(backend.model).__name__,
        "ByteLevel": type(backend.pre_tokenizer).__name__,
        "RobertaTokenizer": type(tokenizer).__name__,
    }[tokenizer_kind]
    assert kind == tokenizer_kind


def test_method_options_reach_config_and_requirements(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        sets=(
            "training.method=lora",
            "training.lora.r=4",
            "data.label_all_tokens=true",
        ),
    )
    files = rendered(plan)
    config = yaml.safe_load(files["config.yaml"])
    assert (config["lora_r"], config["label_all_tokens"]) == (4, True)
    assert "method" not in config and "unfreeze_layers" not in config
    assert (
        config["eval_strategy"] == "epoch" and config["resume_from_checkpoint"] is None
    )
    assert "peft" in files["requirements.txt"]
    assert "peft" not in rendered(plan_for(tmp_path))["requirements.txt"]
    assert (
        "LABEL_ALL_TOKENS = True" in render_judge(plan)[".scriptgen/judge/conftest.py"]
    )
