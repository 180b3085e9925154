"""`scriptgen new TASK --llm openai:URL --require TEXT` against a real scripted server on
127.0.0.1, for each task beyond textclf (whose LLM path tests/test_llm_pipeline.py covers
in depth).

The server stands in for a code LLM. It leaves the requirement to the code, then edits
a classic bug of that task into the reference; the judge catches it, the repair request
says where, and the edit that fixes it lands, committed with its provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen
from .llm_replies import edit, settings_reply
from .openai_server import ScriptedServer

pytestmark = pytest.mark.slow


class Bug(NamedTuple):
    model: str
    path: str  # the file the bug is in
    good: str  # what the reference has
    bad: str  # what the LLM's first reply has instead
    title: str  # the task's heading in the generation prompt
    caught_by: tuple[str, ...]  # contract tests the repair request must name


BUGS = {
    # Every sub-token of a word labelled although label_all_tokens is false.
    "tokclf": Bug(
        "bert-base",
        "data.py",
        "        else:\n            labels.append(IGNORE_INDEX)\n        previous = word_id",
        "        else:\n            labels.append(word_labels[word_id])\n        previous = word_id",
        "Token classification (tokclf)",
        ("test_align_labels", "test_tokenize_datasets_aligns_tags_with_sub_tokens"),
    ),
    # A window's answer starts one token late: the off-by-one of answer_positions.
    "qa": Bug(
        "bert-base",
        "data.py",
        "    return start - 1, end + 1\n",
        "    return start, end + 1\n",
        "Extractive question answering (qa)",
        ("test_answer_positions",),
    ),
    # ROUGE without stemming: not the numbers the examples (and papers) report.
    "seq2seq": Bug(
        "t5-small",
        "metrics.py",
        "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)\n",
        "    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES))\n",
        "Sequence-to-sequence generation (seq2seq)",
        ("test_generation_scores_are_rouge_bleu_and_chrf",),
    ),
    # Labels shifted by hand: the model shifts them again and learns the token after next.
    "clm": Bug(
        "smollm2-135m",
        "data.py",
        '        "labels": [list(block) for block in blocks],\n',
        '        "labels": [list(block[1:]) + [IGNORE_INDEX] for block in blocks],\n',
        "Causal language modelling (clm)",
        ("test_pack_texts_ends_documents_and_cuts_blocks",),
    ),
    # The validation images cropped and flipped at random like the training ones.
    "imgclf": Bug(
        "vit-base",
        "data.py",
        '                functools.partial(transform, train=split == "train")\n',
        "                functools.partial(transform, train=True)\n",
        "Image classification (imgclf)",
        ("test_augmentation_keeps_images_with_their_labels",),
    ),
    # Clips handed to the feature extractor at their own sampling rate.
    "audioclf": Bug(
        "wav2vec2-base",
        "data.py",
        "    if rate != sampling_rate:\n",
        "    if False:\n",
        "Audio classification (audioclf)",
        ("test_clips_are_mono_resampled_and_cut",),
    ),
}


REQUIREMENT = "make the data preparation faster"


@pytest.mark.parametrize("task", list(BUGS))
def test_one_repair_round_fixes_the_bug(repo: Path, tmp_path: Path, task: str) -> None:
    bug = BUGS[task]
    raw, base = build_spec(task, model=bug.model, cwd=tmp_path)
    good = ReferenceBackend().generate(make_plan(raw, base, tmp_path / "generated"))
    assert good[bug.path].count(bug.good) == 1, f"{bug.path} no longer has the code"
    good_lines, bad_lines = (
        t if t.endswith("\n") else t + "\n" for t in (bug.good, bug.bad)
    )
    broken = edit(bug.path, good_lines, bad_lines, prose="A faster way:")
    fixed = edit(bug.path, bad_lines, good_lines)
    with ScriptedServer(models=["qwen2.5-coder-7b"]) as server:
        server.reply(settings_reply(REQUIREMENT)).reply(broken).reply(fixed)
        result = run_scriptgen(
            "new", task, "--model", bug.model, "--llm", f"openai:{server.url}",
            "--require", REQUIREMENT, cwd=repo,
        )  # fmt: skip
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 3
    first, second = (r.body for r in chats[1:])

    # The edit request is the task's: its title and contracts, its files shown or mapped.
    prompt = first["messages"][-1]["content"]
    assert bug.title in prompt
    for contract in ReferenceBackend().generate(make_plan(raw, base, tmp_path / "g")):
        assert f"`{contract}`" in prompt or f"{contract}:" in prompt, contract

    # The repair request names the failing contract tests and shows the failing file.
    repair = second["messages"][-1]["content"]
    assert f"(in {bug.caught_by[0]})" in repair, repair
    for test in bug.caught_by[1:]:
        assert test in repair, (test, repair)
    assert "AssertionError" in repair
    assert f"### {bug.path}" in repair
    assert second["messages"][-2] == {"role": "assistant", "content": broken}

    project = repo / "generated" / f"{task}-{bug.model}"
    written = (project / bug.path).read_text(encoding="utf-8")
    assert bug.bad not in written and bug.good in written
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert f"Scriptgen-Task: {task}" in trailers
    assert "Scriptgen-Backend: openai (qwen2.5-coder-7b)" in trailers
    assert "Scriptgen-Validation: passed (" in trailers
    transcript = (project / ".scriptgen/transcript.jsonl").read_text(encoding="utf-8")
    exchanges = [json.loads(line) for line in transcript.splitlines()]
    assert [e["kind"] for e in exchanges] == ["settings", "edit", "repair"]
