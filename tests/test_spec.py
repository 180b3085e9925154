from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scriptgen.errors import UserError
from scriptgen.lock import spec_hash
from scriptgen.manifests import get_manifest
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec, canonical, parse_spec

from .conftest import EXAMPLES, build_file_tree


def plan_for(tmp_path: Path, *args: str, **kwargs: object):
    raw, base = build_spec("textclf", cwd=tmp_path, **kwargs)  # type: ignore[arg-type]
    return make_plan(raw, base, tmp_path / "generated")


def test_alias_resolves_offline_with_task_defaults(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, model="bert-base")
    assert plan.model.name_or_path == "google-bert/bert-base-uncased"
    assert plan.model.model_type == "bert"
    assert plan.spec.name == "textclf-bert-base"
    # No data options: the task's well-known hub dataset, with its schema.
    assert plan.spec.data["format"] == "hf"
    assert plan.spec.data["train"] == "stanfordnlp/imdb:train"
    assert plan.spec.data["labels"] == ["neg", "pos"]
    assert plan.target == (tmp_path / "generated" / "textclf-bert-base").resolve()


def test_hub_id_of_a_known_model_resolves(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, model="FacebookAI/roberta-base")
    assert (plan.model.alias, plan.model.model_type) == ("roberta-base", "roberta")


def test_local_checkpoint_folder_is_a_model(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"ckpt/config.json": '{"model_type": "distilbert"}'})
    plan = plan_for(tmp_path, model="ckpt")
    assert plan.model.is_local and plan.model.model_type == "distilbert"
    assert plan.spec.name == "textclf-ckpt"
    # Written relative to the project's .scriptgen/ folder, so the project can move.
    assert plan.canonical_spec["model"] == "../../../ckpt"
    assert (
        plan.model_label == "../../../ckpt"
    )  # lock and commit trailer: never absolute
    assert plan.context()["model"]["name_or_path"] == "../../ckpt"


def test_spec_file_paths_are_relative_to_the_spec_and_flags_override(
    tmp_path: Path,
) -> None:
    build_file_tree(
        tmp_path,
        {
            "specs/data/train.csv": "text,label\na,x\n",
            "specs/data/valid.csv": "text,label\nb,y\n",
            "specs/s.yaml": (
                "task: textclf\nname: reviews\nmodel: distilbert\n"
                "data: {train: data/train.csv, validation: data/valid.csv}\n"
                "training: {epochs: 3, learning_rate: 3.0e-5}\n"
            ),
        },
    )
    raw, base = build_spec(
        "textclf",
        spec_file=tmp_path / "specs/s.yaml",
        sets=["training.epochs=1"],
        cwd=tmp_path,
    )
    plan = make_plan(raw, base, tmp_path / "out")
    assert plan.spec.training.epochs == 1
    assert plan.spec.training.learning_rate == 3.0e-5
    assert plan.spec.data["format"] == "csv"
    assert plan.canonical_spec["data"]["train"] == "../../../specs/data/train.csv"
    assert plan.context()["data"]["validation"] == "../../specs/data/valid.csv"


def test_canonical_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    a = plan_for(tmp_path, model="bert-base")
    b = plan_for(
        tmp_path, model="bert-base", sets=["training.seed=42"]
    )  # the default, spelled out
    c = plan_for(tmp_path, model="bert-base", sets=["training.learning_rate=3e-5"])
    assert a.spec_hash == b.spec_hash
    assert a.spec_hash != c.spec_hash
    assert a.spec_hash.startswith("sha256:") and len(a.spec_hash) == 71


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "no-such-model"}, "unknown model 'no-such-model'"),
        ({"model": "bert-base", "name": "../evil"}, "name: must be a safe folder name"),
        (
            {"model": "bert-base", "sets": ["training.epochs=-1"]},
            "training.epochs: Input should be greater than 0",
        ),
        (
            {"model": "bert-base", "sets": ["training.optimizer=sgd"]},
            "training.optimizer: unknown key",
        ),
        (
            {"model": "bert-base", "sets": ["training.method=dreambooth"]},
            "training.method: Input should be 'full', 'freeze', 'lora'",
        ),
        (
            {"model": "bert-base", "sets": ["data.train=missing.csv"]},
            "data.train: no such file",
        ),
        (
            {"model": "bert-base", "sets": ["data.train=x.parquet"]},
            "cannot tell the data format",
        ),
        ({"model": "bert-base", "sets": ["epochs"]}, "--set expects KEY=VALUE"),
        ({}, "no model given"),
    ],
)
def test_bad_input_is_one_clear_user_error(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(UserError) as info:
        plan_for(tmp_path, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_option_of_another_method_is_refused_unless_left_at_its_default(
    tmp_path: Path,
) -> None:
    """Set away from its default, an option the method does not use would be silently
    unused; at its default (what a spec switched to another method keeps) it is dropped.
    """
    with pytest.raises(UserError) as info:
        plan_for(tmp_path, model="bert-base", sets=["training.lora.r=4"])
    assert str(info.value) == (
        "invalid spec: training.lora is an option of method lora / qlora, not of "
        "full; drop it or change training.method"
    )
    with pytest.raises(UserError, match="training.unfreeze_layers is an option of"):
        plan_for(tmp_path, model="bert-base", sets=["training.unfreeze_layers=2"])
    lora = plan_for(tmp_path, model="bert-base", sets=["training.method=lora"])
    switched = {**canonical(lora.spec, tmp_path), "name": "switched"}
    switched["training"] = {**switched["training"], "method": "full"}
    build_file_tree(tmp_path, {"s.yaml": yaml.safe_dump(switched)})
    plan = plan_for(tmp_path, spec_file=tmp_path / "s.yaml")
    assert plan.spec.training.method == "full"
    assert "lora" not in canonical(plan.spec, tmp_path)["training"]


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"bad.yaml": "task: textclf\nmodel: [bert-base\n"})
    with pytest.raises(UserError, match=r"bad\.yaml:3:1: malformed YAML"):
        build_spec("textclf", spec_file=tmp_path / "bad.yaml", cwd=tmp_path)


def test_spec_for_another_task_is_refused(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"s.yaml": "task: qa\nmodel: bert-base\n"})
    with pytest.raises(UserError, match="spec for task 'qa', not 'textclf'"):
        build_spec("textclf", spec_file=tmp_path / "s.yaml", cwd=tmp_path)


def test_the_spec_files_task_serves_when_none_is_given(tmp_path: Path) -> None:
    """`scriptgen new --spec FILE` takes the task from the file's `task:`; without one
    (or without a file) it is one clear error."""
    build_file_tree(
        tmp_path, {"s.yaml": "task: qa\nmodel: bert-base\n", "n.yaml": "model: x\n"}
    )
    raw, _ = build_spec(None, spec_file=tmp_path / "s.yaml", cwd=tmp_path)
    assert raw["task"] == "qa"
    with pytest.raises(
        UserError, match="no task: .*n.yaml names none; give it as TASK"
    ):
        build_spec(None, spec_file=tmp_path / "n.yaml", cwd=tmp_path)
    with pytest.raises(UserError, match="no task: no --spec file names one"):
        build_spec(None, cwd=tmp_path)
    build_file_tree(tmp_path, {"l.yaml": "task: [1, 2]\n"})
    with pytest.raises(UserError, match=r"l.yaml's task \[1, 2\] is not a name; give"):
        build_spec(None, spec_file=tmp_path / "l.yaml", cwd=tmp_path)


def test_example_spec_parses() -> None:
    raw, base = build_spec("textclf", spec_file=EXAMPLES / "textclf-reviews.yaml")
    spec = parse_spec({**raw, "name": raw.get("name", "x")}, get_manifest("textclf"))
    assert spec.data["format"] == "csv"
    assert spec_hash(canonical(spec, Path("/x"))).startswith("sha256:")


def test_hub_validation_split_must_come_from_the_train_dataset(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="same dataset as data.train"):
        plan_for(
            tmp_path,
            model="bert-base",
            sets=["data.format=hf", "data.train=a/b:train", "data.validation=c/d:test"],
        )
    plan = plan_for(
        tmp_path,
        model="bert-base",
        sets=["data.format=hf", "data.train=a/b", "data.validation=a/b:test"],
    )
    assert plan.context()["data"]["validation"] == "a/b:test"


def test_yaml_filter_renders_scalars_without_document_end() -> None:
    from scriptgen.render import _to_yaml

    assert _to_yaml("abc") == "abc"
    assert _to_yaml(None) == "null"
    assert _to_yaml({"a": [1, 2]}) == "a:\n- 1\n- 2"
