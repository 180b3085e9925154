"""seq2seq beyond the catalog's rows: its judge catches broken projects (broken the way a
code LLM might break them, `scriptgen validate` must fail naming the contract test that
caught it); an LLM's broken project is repaired through a real scripted server; the
example spec (WMT-style translation pairs in JSON Lines, mT5, LoRA) generates and
validates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import file_block
from scriptgen.plan import make_plan
from scriptgen.spec import build_spec

from .conftest import (
    REPO,
    assert_validate_catches,
    generate_reference,
    git,
    run_scriptgen,
)
from .openai_server import ScriptedServer

pytestmark = pytest.mark.slow

STEMMED = "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)\n"
UNSTEMMED = "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES))\n"

# (file, what the reference has, what the broken project has instead, tests that must fail)
BREAKAGES = {
    # T5 fine-tuned without its task prefix: "summarize: " is what it was trained to read.
    "no-t5-prefix": (
        "data.py",
        '    return "summarize: "\n',
        '    return ""\n',
        ["test_source_prefix_is_t5s_task_prefix_unless_given"],
    ),
    # ROUGE without stemming: not the numbers the examples (and papers) report.
    "rouge-unstemmed": (
        "metrics.py",
        STEMMED,
        UNSTEMMED,
        ["test_generation_scores_are_rouge_bleu_and_chrf"],
    ),
    # Generations scored against the sources: eval_results.json says nothing true.
    "scored-against-the-sources": (
        "train.py",
        "        [text_of(t, args.target_lang) for t in references[args.target_column]],\n",
        "        [text_of(t, args.source_lang) for t in references[args.source_column]],\n",
        ["test_model_learns_the_task"],
    ),
    # The Trainer pads generated ids with -100, which the tokenizer cannot decode.
    "padding-not-read-as-pad": (
        "metrics.py",
        "    ids = np.where(ids < 0, tokenizer.pad_token_id, ids)\n",
        "",
        ["test_decode_predictions_reads_the_trainer_padding"],
    ),
}


@pytest.fixture(scope="module")
def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    return generate_reference(out, "seq2seq", model="t5-small")


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validate_fails_a_broken_project(
    reference_project: Path, tmp_path: Path, breakage: str
) -> None:
    assert_validate_catches(reference_project, tmp_path, BREAKAGES[breakage])


def as_reply(files: dict[str, str]) -> str:
    """What a model writes: a sentence, then the files in the requested format."""
    blocks = "\n".join(file_block(path, text) for path, text in files.items())
    return f"Here is the summarization project.\n\n{blocks}\nAll files are complete.\n"


def test_one_repair_round_fixes_the_rouge_scores(repo: Path, tmp_path: Path) -> None:
    raw, base = build_spec("seq2seq", model="t5-small", cwd=tmp_path)
    good = ReferenceBackend().generate(make_plan(raw, base, tmp_path / "generated"))
    assert good["metrics.py"].count(STEMMED) == 1
    broken = dict(
        good, **{"metrics.py": good["metrics.py"].replace(STEMMED, UNSTEMMED)}
    )
    with ScriptedServer(models=["qwen2.5-coder-7b"]) as server:
        server.reply(as_reply(broken)).reply(as_reply(good))
        result = run_scriptgen(
            "new", "seq2seq", "--model", "t5-small", "--llm", f"openai:{server.url}",
            cwd=repo,
        )  # fmt: skip
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 2
    first, second = (r.body for r in chats)
    prompt = first["messages"][-1]["content"]
    assert "# Task: Sequence-to-sequence generation (seq2seq)" in prompt
    for name in ("generation_scores", "source_prefix_for", "text_target"):
        assert name in prompt, name
    repair = second["messages"][-1]["content"]
    assert "(in test_generation_scores_are_rouge_bleu_and_chrf)" in repair, repair
    assert "### metrics.py" in repair
    project = repo / "generated" / "seq2seq-t5-small"
    assert STEMMED in (project / "metrics.py").read_text(encoding="utf-8")
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Scriptgen-Task: seq2seq" in trailers


def test_the_translation_example_validates(tmp_path: Path) -> None:
    """examples/seq2seq-translation.yaml: JSON Lines with one column of {language: text}
    pairs, mT5 with LoRA; the judge writes its data in that layout."""
    spec = REPO / "examples" / "seq2seq-translation.yaml"
    result = run_scriptgen(
        "new", "seq2seq", "--spec", str(spec), "--out", str(tmp_path), "--no-commit",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    project = tmp_path / "seq2seq-en-de"
    config = (project / "config.yaml").read_text(encoding="utf-8")
    assert "source_column: translation" in config and "target_lang: de" in config
    report = json.loads((project / ".scriptgen" / "validation.json").read_text())
    names = {step["name"] for step in report["steps"] if step["outcome"] == "passed"}
    assert {
        "test_model_learns_the_task",
        "test_lora_is_merged_and_changes_only_adapted_weights",
    } <= names
