"""A requirement met by settings: the project's declared settings read from its train.py
and the installed transformers, a reply's changes checked against them, and config.yaml
written so that train.py reads them (this repo's own generated textclf project)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scriptgen.settings import (
    declared_settings,
    read_changes,
    reply_schema,
    write_settings,
)

from .conftest import REPO

PROJECT = REPO / "generated" / "textclf-bert-base"


def settings():  # type: ignore[no-untyped-def]
    return declared_settings((PROJECT / "train.py").read_text(encoding="utf-8"))


def test_the_declaration_is_train_pys_fields_and_the_installed_training_arguments() -> (
    None
):
    found = settings()
    assert (found["text_column"].kind, found["max_length"].kind) == (
        "string",
        "integer",
    )
    assert found["labels"].kind == "strings" and found["labels"].optional
    assert found["fp16"].kind == "boolean"
    assert found["max_length"].help == "truncate to this many tokens"
    assert found["learning_rate"].kind == "number"
    assert "cosine" in found["lr_scheduler_type"].choices
    assert found["report_to"].kind == "strings"
    # transformers 5 has no warmup_ratio: a model cannot be offered it.
    assert "warmup_ratio" not in found and found["warmup_steps"].kind == "number"
    schema = reply_schema(found)
    names = schema["properties"]["settings"]["items"]["properties"]["name"]["enum"]
    assert "label_smoothing_factor" in names and "warmup_ratio" not in names
    json.dumps(schema)


# As a small code model answers, fenced, numbers sometimes quoted.
REPLY = """```json
{"settings": [
  {"name": "lr_scheduler_type", "value": "cosine"},
  {"name": "warmup_steps", "value": "0.1"},
  {"name": "report_to", "value": "tensorboard"},
  {"name": "logging_steps", "value": 50},
  {"name": "label_smoothing_factor", "value": 0.1},
  {"name": "labels", "value": ["negative", "positive"]}
]}
```"""


def test_a_reply_becomes_typed_changes() -> None:
    changes, problems = read_changes(REPLY, settings())
    assert problems == []
    assert changes == {
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.1,
        "report_to": ["tensorboard"],
        "logging_steps": 50,
        "label_smoothing_factor": 0.1,
        "labels": ["negative", "positive"],
    }


def test_undeclared_names_wrong_types_and_bad_choices_are_diagnosed() -> None:
    reply = json.dumps(
        {
            "settings": [
                {"name": "warmup_ratio", "value": 0.1},
                {"name": "num_train_epochs", "value": "ten"},
                {"name": "lr_scheduler_type", "value": "cosinus"},
                {"name": "max_length", "value": 12.5},
                {"name": "fp16", "value": "maybe"},
                {"name": "learning_rate", "value": 3e-5},
            ]
        }
    )
    changes, problems = read_changes(reply, settings())
    assert changes == {"learning_rate": 3e-5}
    assert problems[0].startswith("'warmup_ratio' is not a setting of this project")
    assert problems[1] == "num_train_epochs: takes a number, not 'ten'"
    assert problems[2].startswith("lr_scheduler_type: takes one of linear, cosine")
    assert problems[3] == "max_length: takes a whole number, not 12.5"
    assert problems[4] == "fp16: takes true or false, not 'maybe'"
    assert read_changes("I would use a cosine schedule.", settings())[1] == [
        "the reply is not JSON (Expecting value at character 0)"
    ]
    assert read_changes('{"lr": 1}', settings())[1] == [
        'the reply has no "settings" list'
    ]


def test_config_yaml_takes_the_changes_and_train_py_reads_them(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".scriptgen"))
    config = project / "config.yaml"
    before = config.read_text(encoding="utf-8")
    changes, _ = read_changes(REPLY, settings())
    after = write_settings(before, changes)
    config.write_text(after, encoding="utf-8")
    # Set in place, the comments and the other settings kept; a new key at the end.
    assert [ln for ln in before.splitlines() if ln.startswith("#")] == [
        ln for ln in after.splitlines() if ln.startswith("#")
    ]
    loaded = yaml.safe_load(after)
    assert loaded["labels"] == ["negative", "positive"]
    assert loaded["learning_rate"] == yaml.safe_load(before)["learning_rate"]
    assert after.rstrip().endswith("label_smoothing_factor: 0.1")
    read = (
        "import train\n"
        "m, d, t = train.parse_args([])\n"
        "print(t.lr_scheduler_type.value, t.warmup_steps, t.report_to,"
        " t.logging_steps, t.label_smoothing_factor, d.labels)\n"
    )
    proc = subprocess.run([sys.executable, "-c", read], cwd=project,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[-2] == (
        "cosine 0.1 ['tensorboard'] 50 0.1 ['negative', 'positive']"
    )


def test_changes_shows_the_project_against_the_reference(tmp_path: Path) -> None:
    """`scriptgen changes DIR`: nothing for the reference itself; an edited line, a new
    module and a deleted file, each as a unified diff against the reference."""
    from .conftest import run_scriptgen

    made = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--no-validate", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "generated" / "textclf-bert-base"
    same = run_scriptgen("changes", str(project), cwd=tmp_path)
    assert same.returncode == 0 and "the reference, unchanged" in same.stdout

    train = project / "train.py"
    train.write_text(
        train.read_text().replace("    set_seed(training_args.seed)\n",
                                  "    set_seed(training_args.seed + 1)\n"),
    )  # fmt: skip
    (project / "losses.py").write_text("def focal_loss():\n    pass\n")
    (project / "predict.py").unlink()
    shown = run_scriptgen("changes", str(project), cwd=tmp_path).stdout
    assert "--- reference/train.py\n+++ train.py\n" in shown
    assert (
        "-    set_seed(training_args.seed)\n+    set_seed(training_args.seed + 1)\n"
        in shown
    )
    assert "--- /dev/null\n+++ losses.py\n" in shown and "+def focal_loss():" in shown
    assert "--- reference/predict.py\n+++ /dev/null\n" in shown
    assert "+++ data.py" not in shown and "+++ config.yaml" not in shown


@pytest.mark.parametrize(
    ("task", "model"), [("clm", "gpt2"), ("audioclf", "wav2vec2-base")]
)
def test_a_fresh_project_is_its_reference(
    tmp_path: Path, task: str, model: str
) -> None:
    """A project as scriptgen wrote it shows no changes, whatever the formatter did to the
    rendered templates (import order)."""
    from .conftest import run_scriptgen

    made = run_scriptgen("new", task, "--model", model, "--no-validate", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (project,) = (tmp_path / "generated").iterdir()
    same = run_scriptgen("changes", str(project), cwd=tmp_path)
    assert (
        same.returncode == 0 and "the reference, unchanged" in same.stdout
    ), same.stdout


def test_a_settings_reply_leaves_to_the_code_what_no_setting_changes(
    tmp_path: Path,
) -> None:
    """Each requirement gets the settings the reply gives it; one whose settings change
    nothing (a small model's ``text_column: text`` for "lowercase the text") or are
    refused has none (it goes to the code), with the refusals said."""
    from scriptgen.backends.llm import reference_files
    from scriptgen.change import read_settings_reply, settings_request

    from .llm_replies import change_plan

    wanted = ["use label smoothing of 0.1", "lowercase the text", "train for many epochs",
              "drop texts shorter than 3 characters"]  # fmt: skip
    plan = change_plan(tmp_path, wanted)
    files = reference_files(plan)
    messages, schema, declared = settings_request(plan, files, wanted)
    answer = schema["properties"]["requirements"]["items"]["properties"]
    assert answer["requirement"]["enum"] == wanted
    assert (
        messages[1]["content"]
        .rstrip()
        .endswith("- drop texts shorter than 3 characters")
    )
    listed = messages[1]["content"]
    assert "- label_smoothing_factor: number" in listed and "ddp_backend" not in listed
    assert "ddp_backend" in declared  # unlisted, still a setting
    reply = json.dumps({"requirements": [
        {"requirement": wanted[0], "settings": [{"name": "label_smoothing_factor", "value": "0.1"}]},
        {"requirement": wanted[1], "settings": [{"name": "text_column", "value": "text"}]},
        {"requirement": wanted[2], "settings": [{"name": "num_train_epochs", "value": "many"}]},
        # A setting the requirement does not name: truncation to 3 tokens.
        {"requirement": wanted[3], "settings": [{"name": "max_length", "value": 3}]},
    ]})  # fmt: skip
    met, refused = read_settings_reply(reply, declared, wanted, files["config.yaml"])
    assert met == {wanted[0]: {"label_smoothing_factor": 0.1}}
    assert refused == ["num_train_epochs: takes a number, not 'many'"]
    assert read_settings_reply("Use label smoothing.", declared, wanted, "") == (
        {},
        ["the settings reply is not JSON"],
    )
