"""Every LLM request is measured against the model's context before it is sent. In files
mode (every code file retyped) a request that does not fit goes out in its compact form
(contracts only, no exemplar or tests), or is refused up front with both numbers (exit 2),
nothing sent and nothing written. In edits mode the edit request carries as many files in
full as the context holds, maps the rest, and shows one when the model asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.backends import get_backend
from scriptgen.backends.llm import REPLY_TOKENS
from scriptgen.config import LLMSettings
from scriptgen.errors import UserError
from scriptgen.planning import make_plan
from scriptgen.prompts import generation_messages
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen, tree
from .openai_server import ScriptedServer
from .test_hf_backend import build_tiny_chat_model

EXEMPLAR = "# Reference implementation"

pytestmark = pytest.mark.slow


REQUIREMENT = "log the number of training examples before training"
FILES_MODE = '[llm]\nmode = "files"\n'


def textclf_plan(tmp_path: Path):
    raw, base = build_spec(
        "textclf", model="bert-base", cwd=tmp_path, requires=[REQUIREMENT]
    )
    return make_plan(raw, base, tmp_path / "generated")


def test_the_compact_prompt_keeps_the_contracts_only(tmp_path: Path) -> None:
    plan = textclf_plan(tmp_path)
    full, compact = generation_messages(plan), generation_messages(plan, compact=True)
    full_text, compact_text = full[1]["content"], compact[1]["content"]
    assert EXEMPLAR in full_text and EXEMPLAR not in compact_text
    assert "### .scriptgen/judge/test_contract.py" in full_text
    assert ".scriptgen/judge/" in compact_text and "### .scriptgen/" not in compact_text
    for f in plan.manifest.code_files:  # every contract is still there
        assert f"## `{f.path}`" in compact_text
        for name in f.defines:
            assert f"`{name}`" in compact_text
    assert "judge/harness.py" not in full_text  # the judge's plumbing is never shown
    assert len(compact_text) * 5 < len(full_text)


def tokens(model_dir: Path, messages: list[dict[str, str]]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(encoded["input_ids"])


@pytest.fixture(scope="module")
def sizes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A plan, and its full and compact prompts' tokens under the tiny model's tokenizer."""
    folder = tmp_path_factory.mktemp("sizes")
    probe = build_tiny_chat_model(folder / "probe")
    plan = textclf_plan(folder)
    full = tokens(probe, generation_messages(plan))
    compact = tokens(probe, generation_messages(plan, compact=True))
    assert compact < full
    return folder, full, compact


def hf_backend(model_dir: Path, reply_tokens: int):
    backend = get_backend(f"hf:{model_dir}", settings=LLMSettings(mode="files"))
    backend.decoding = {"temperature": 0.0, "seed": 0, "max_new_tokens": reply_tokens}  # type: ignore[misc]
    return backend


def test_hf_sends_the_compact_prompt_when_the_full_one_does_not_fit(
    sizes: tuple[Path, int, int], tmp_path: Path
) -> None:
    folder, full, compact = sizes
    model = build_tiny_chat_model(tmp_path / "model", max_positions=compact + 64)
    backend = hf_backend(model, 16)
    backend.generate(textclf_plan(folder))
    (entry,) = backend.transcript  # type: ignore[attr-defined]
    assert EXEMPLAR not in entry["messages"][1]["content"]
    assert entry["prompt_tokens"] == compact
    # With room for the full prompt and its reply, the full one goes.
    roomy = hf_backend(
        build_tiny_chat_model(tmp_path / "roomy", max_positions=full + 16), 16
    )
    roomy.generate(textclf_plan(folder))
    assert EXEMPLAR in roomy.transcript[0]["messages"][1]["content"]  # type: ignore[attr-defined]


def test_hf_refuses_a_request_that_fits_in_no_form(
    sizes: tuple[Path, int, int], tmp_path: Path
) -> None:
    folder, full, compact = sizes
    model = build_tiny_chat_model(tmp_path / "model", max_positions=compact + 100)
    backend = hf_backend(model, 200)  # the reply budget tips it over
    with pytest.raises(UserError) as caught:
        backend.generate(textclf_plan(folder))
    message = str(caught.value)
    assert f"context of {compact + 100} tokens" in message
    assert f"{compact} tokens of prompt" in message and f"{full} with them" in message
    assert "+ 200 for the reply" in message
    assert backend.transcript == []  # type: ignore[attr-defined]


def test_openai_context_from_models_compact_then_refused(repo: Path) -> None:
    """vLLM lists max_model_len: a window too small for the full request gets the compact
    one; one too small for that is refused before any chat request, exit 2, one line,
    nothing written."""
    (repo / "scriptgen.toml").write_text(FILES_MODE, encoding="utf-8")
    with ScriptedServer(max_model_len=REPLY_TOKENS + 6000) as server:
        server.reply("I cannot help with that.")
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--require", REQUIREMENT, "--max-repairs", "0", "--no-validate", cwd=repo,
        )  # fmt: skip
        chats = server.chat_requests
    assert result.returncode == 1, result.stderr  # prose: refused by the parser
    (chat,) = chats
    assert EXEMPLAR not in chat.body["messages"][1]["content"]
    assert chat.body["max_tokens"] == REPLY_TOKENS

    before, head = tree(repo), git(repo, "rev-parse", "HEAD")
    with ScriptedServer(max_model_len=REPLY_TOKENS + 500) as server:
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--require", REQUIREMENT, cwd=repo,
        )  # fmt: skip
        chats = server.chat_requests
    assert result.returncode == 2, result.stderr
    # One error line (after the progress line of the planning stage).
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("scriptgen:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        f"does not fit the model's context of {REPLY_TOKENS + 500} tokens" in lines[0]
    )
    assert "(estimated)" in lines[0] and f"+ {REPLY_TOKENS} for the reply" in lines[0]
    assert chats == []
    assert tree(repo) == before and git(repo, "rev-parse", "HEAD") == head


def test_llm_context_setting(repo: Path) -> None:
    """A server that does not say its context (Ollama, TGI): [llm] context does."""
    (repo / "scriptgen.toml").write_text("[llm]\ncontext = 1024\n", encoding="utf-8")
    with ScriptedServer() as server:
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--require", REQUIREMENT, cwd=repo,
        )  # fmt: skip
        assert server.chat_requests == []
    assert result.returncode == 2, result.stderr
    assert "context of 1024 tokens" in result.stderr
    (repo / "scriptgen.toml").write_text('[llm]\ncontext = "big"\n', encoding="utf-8")
    result = run_scriptgen(
        "new", "textclf", "--llm", "openai:http://127.0.0.1:9/v1", cwd=repo
    )
    assert result.returncode == 2
    assert "[llm] context must be a number of tokens" in result.stderr
