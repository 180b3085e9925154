from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import parse_reply
from scriptgen.planning import make_plan
from scriptgen.prompts import (
    generation_messages,
    installed_versions,
    outline,
    repair_message,
)
from scriptgen.spec import build_spec

from .conftest import REPO


def plan_for(tmp_path: Path, *sets: str):
    raw, base = build_spec("textclf", model="bert-base", sets=list(sets), cwd=tmp_path)
    return make_plan(raw, base, tmp_path / "generated")


def test_outline_keeps_what_a_module_promises_and_leaves_out_the_bodies() -> None:
    module = (
        '"""Data: load the splits."""\n\nimport os\n\nLIMIT = 3\n\n\n'
        '@dataclass\nclass Args:\n    """The settings."""\n\n    seed: int = 42\n\n\n'
        "def load(path: str, seed: int) -> list:\n"
        '    """The rows of ``path``, shuffled with ``seed``."""\n'
        "    rows = open(path).read().splitlines()\n    return rows\n\n\n"
        "def _helper():\n    return os.sep\n"
    )
    assert outline(module) == (
        '"""Data: load the splits."""\n\n'
        '@dataclass\nclass Args:\n    """The settings."""\n    ...\n\n'
        "def load(path: str, seed: int) -> list:\n"
        '    """The rows of ``path``, shuffled with ``seed``."""\n    ...\n\n'
        "def _helper():\n    ...\n"
    )


def test_the_compact_prompt_states_each_code_file_as_its_reference_does(
    tmp_path: Path,
) -> None:
    """The contract of a code file, in a prompt without the exemplar, is the reference's
    own docstrings and signatures: no second description to go stale."""
    plan = plan_for(tmp_path)
    _, user = generation_messages(plan, compact=True)
    reference = ReferenceBackend().generate(plan)
    for f in plan.manifest.code_files:
        assert outline(reference[f.path]) in user["content"], f.path
    assert "def load_raw_datasets(args, seed: int) -> DatasetDict:" in user["content"]
    assert "    raw = DatasetDict(" not in user["content"]  # no body


def test_generation_prompt_carries_versions_contract_and_exemplar(
    tmp_path: Path,
) -> None:
    plan = plan_for(tmp_path)
    system, user = generation_messages(plan)
    assert (system["role"], user["role"]) == ("system", "user")
    assert f"- transformers {installed_versions()['transformers']}" in system["content"]
    assert "no `transformers.AdamW`" in system["content"]
    assert "`data.py`, `model.py`, `train.py`, `predict.py`" in system["content"]
    assert "Must define at module top level: `parse_args`, `main`." in user["content"]
    assert "--model_name_or_path" in user["content"]
    assert (
        "### .scriptgen/judge/test_contract.py" in user["content"]
    )  # the judge is shown, as fixed
    # The exemplar parses back, byte for byte, as the reference implementation.
    code = {f.path for f in plan.manifest.code_files}
    parsed = parse_reply(user["content"], code)
    assert parsed.files == ReferenceBackend().generate(plan)


def test_requirements_reach_the_prompt(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "requirements=[use a linear warmup of 10% of the steps]")
    assert (
        "- use a linear warmup of 10% of the steps"
        in generation_messages(plan)[1]["content"]
    )
    assert "None beyond the contract" not in generation_messages(plan)[1]["content"]


def test_repair_message_has_only_what_failed(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    msg = repair_message(
        plan,
        stage="validation",
        diagnostics="train.py:3: ImportError: cannot import name 'AdamW' from 'transformers'",
        failing={"train.py": "from transformers import AdamW\n"},
    )
    assert msg["role"] == "user"
    assert "train.py:3: ImportError" in msg["content"]
    assert parse_reply(msg["content"], {"train.py"}).files == {
        "train.py": "from transformers import AdamW\n"
    }
    assert "### data.py" not in msg["content"]


def test_prompt_command_prints_messages_without_heavy_imports(tmp_path: Path) -> None:
    code = (
        "import sys; from scriptgen.cli import main; "
        "rc = main(['prompt', 'textclf', '--model', 'roberta-base', '--mode', 'files']); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules; sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("=== system ===\n")
    assert "=== user ===\n# Task: Text classification (textclf)" in proc.stdout
    assert "model_type `roberta`" in proc.stdout
    assert not (tmp_path / "generated").exists()


@pytest.mark.parametrize("task", ["textclf", "tokclf"])
def test_a_baseline_is_in_the_prompt_only_when_the_spec_has_one(
    tmp_path: Path, task: str
) -> None:
    """--baseline: the LLM writes baseline.py and llm.py to their contracts, is shown their
    judge, and the exemplar still parses back as the reference implementation."""
    raw, base = build_spec(task, model="bert-base", cwd=tmp_path, baseline="")
    plan = make_plan(raw, base, tmp_path / "generated")
    system, user = generation_messages(plan)
    assert "`predict.py`, `baseline.py`, `llm.py`" in system["content"]
    assert (
        "Must define at module top level: `parse_args`, `build_messages`"
        in user["content"]
    )
    assert "### .scriptgen/judge/test_baseline.py" in user["content"]
    code = {f.path for f in plan.manifest.code_files}
    assert parse_reply(user["content"], code).files == ReferenceBackend().generate(plan)
    _, without = generation_messages(plan_for(tmp_path))
    assert "baseline" not in without["content"]


def test_prompt_command_shows_the_edit_requests_of_a_requirement(
    tmp_path: Path,
) -> None:
    """Without a requirement no request is made; with one, the settings request (the
    project's settings listed, the requirement last) and the edit request (the likeliest
    file in full, the rest mapped)."""
    from .conftest import run_scriptgen

    none = run_scriptgen("prompt", "textclf", "--model", "bert-base", cwd=tmp_path)
    assert none.returncode == 0 and none.stdout.startswith(
        "no requirements: no LLM request"
    )
    result = run_scriptgen(
        "prompt", "textclf", "--model", "bert-base",
        "--require", "lowercase the text before tokenizing", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings, edits = result.stdout.split("=== system ===\n")[1:]
    assert "- label_smoothing_factor: number" in settings
    assert settings.rstrip().endswith("- lowercase the text before tokenizing")
    assert "<<<<<<< SEARCH" in edits and "### train.py" in edits
    # What did not fit (at about 3 characters a token, without a tokenizer) is mapped.
    assert "model.py:\n  AUTO_CLASS" in edits and "### model.py" not in edits
    assert not (tmp_path / "generated").exists()


def test_the_likeliest_files_come_first() -> None:
    from scriptgen.change import likely_files

    files = {
        p.name: p.read_text()
        for p in (REPO / "generated/textclf-bert-base").glob("*.py")
    }
    order = lambda r: likely_files(files, [r])[:2]  # noqa: E731
    assert order("lowercase the text before tokenizing") == ["train.py", "data.py"]
    assert order("log the number of trainable parameters") == ["train.py", "model.py"]
