"""`scriptgen new tokclf --llm openai:URL` against a real scripted server on 127.0.0.1.

The server stands in for a code LLM. Its first reply is the reference project with a classic
token-classification bug (every sub-token of a word labelled although label_all_tokens is
false); the judge catches it, the repair request says where, and the second reply (the
fixed project) lands.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import file_block
from scriptgen.plan import make_plan
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen
from .openai_server import ScriptedServer

pytestmark = pytest.mark.slow

FIRST_SUB_TOKEN_ONLY = (
    "        else:\n            labels.append(IGNORE_INDEX)\n        previous = word_id"
)
EVERY_SUB_TOKEN = "        else:\n            labels.append(word_labels[word_id])\n        previous = word_id"


def reference_files(tmp_path: Path) -> dict[str, str]:
    raw, base = build_spec("tokclf", model="bert-base", cwd=tmp_path)
    return ReferenceBackend().generate(make_plan(raw, base, tmp_path / "generated"))


def as_reply(files: dict[str, str]) -> str:
    """What a model writes: a sentence, then the files in the requested format."""
    blocks = "\n".join(file_block(path, text) for path, text in files.items())
    return f"Here is the NER project.\n\n{blocks}\nEach file follows the contract.\n"


def test_one_repair_round_fixes_sub_token_alignment(repo: Path, tmp_path: Path) -> None:
    good = reference_files(tmp_path)
    assert good["data.py"].count(FIRST_SUB_TOKEN_ONLY) == 1
    broken = dict(
        good,
        **{"data.py": good["data.py"].replace(FIRST_SUB_TOKEN_ONLY, EVERY_SUB_TOKEN)},
    )
    with ScriptedServer(models=["qwen2.5-coder-7b"]) as server:
        server.reply(as_reply(broken)).reply(as_reply(good))
        result = run_scriptgen(
            "new", "tokclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            cwd=repo,
        )  # fmt: skip
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 2
    first, second = (r.body for r in chats)

    # The generation request is tokclf's: its contract, its judge, its pitfalls.
    prompt = first["messages"][-1]["content"]
    assert "# Task: Token classification (tokclf)" in prompt
    for name in ("align_labels", "entity_scores", "metrics.py", "tests/conftest.py"):
        assert name in prompt, name
    assert "is_split_into_words=True" in prompt

    # The repair request names the failing contract tests and what they saw.
    repair = second["messages"][-1]["content"]
    assert "(in test_align_labels)" in repair, repair
    assert "test_tokenize_datasets_aligns_tags_with_sub_tokens" in repair, repair
    assert "AssertionError" in repair
    assert "### data.py" in repair  # the failing file, as it is now
    assert second["messages"][-2] == {"role": "assistant", "content": as_reply(broken)}

    project = repo / "generated" / "tokclf-bert-base"
    written = (project / "data.py").read_text()
    assert EVERY_SUB_TOKEN not in written and FIRST_SUB_TOKEN_ONLY in written
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Scriptgen-Task: tokclf" in trailers
    assert "Scriptgen-Backend: openai (qwen2.5-coder-7b)" in trailers
    assert "Scriptgen-Validation: passed (" in trailers
    exchanges = [
        json.loads(line)
        for line in (project / ".scriptgen/transcript.jsonl").read_text().splitlines()
    ]
    assert [e["kind"] for e in exchanges] == ["generate", "repair"]
