"""`scriptgen new --llm openai:URL` against a real scripted server on 127.0.0.1.

The server stands in for a code LLM (none that writes good code can run here); it is fed
realistic replies: the reference project with a transformers 4 import in it, then the fixed
project; prose only; errors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import file_block
from scriptgen.plan import make_plan
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen, tree
from .openai_server import ScriptedServer

pytestmark = pytest.mark.slow


def reference_files(tmp_path: Path) -> dict[str, str]:
    raw, base = build_spec("textclf", model="bert-base", cwd=tmp_path)
    return ReferenceBackend().generate(make_plan(raw, base, tmp_path / "generated"))


def as_reply(files: dict[str, str]) -> str:
    """What a model writes: a sentence, then the files in the requested format."""
    blocks = "\n".join(file_block(path, text) for path, text in files.items())
    return f"Here is the project.\n\n{blocks}\nEach file follows the contract.\n"


def test_one_repair_round_fixes_a_transformers_4_import(
    repo: Path, tmp_path: Path
) -> None:
    good = reference_files(tmp_path)
    broken = dict(
        good,
        **{
            "train.py": good["train.py"].replace(
                "import yaml\n", "import yaml\nfrom transformers import AdamW\n", 1
            )
        },
    )
    assert broken["train.py"] != good["train.py"]
    with ScriptedServer(models=["qwen2.5-coder-7b"]) as server:
        server.reply(as_reply(broken)).reply(as_reply(good))
        result = run_scriptgen(
            "new",
            "textclf",
            "--model",
            "bert-base",
            "--llm",
            f"openai:{server.url}",
            cwd=repo,
        )
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 2
    first, second = (r.body for r in chats)
    assert (
        first["temperature"] == 0
        and first["seed"] == 0
        and first["model"] == "qwen2.5-coder-7b"
    )
    repair = second["messages"][-1]["content"]
    assert "ImportError: cannot import name 'AdamW' from 'transformers'" in repair
    assert second["messages"][-2] == {"role": "assistant", "content": as_reply(broken)}
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Scriptgen-Backend: openai (qwen2.5-coder-7b)" in trailers
    assert "Scriptgen-Validation: passed (" in trailers
    project = repo / "generated" / "textclf-bert-base"
    assert "AdamW" not in (project / "train.py").read_text()
    lock = json.loads((project / ".scriptgen/lock.json").read_text())
    assert (lock["backend"], lock["llm_model"]) == ("openai", "qwen2.5-coder-7b")
    assert lock["decoding"] == {"temperature": 0.0, "seed": 0}
    exchanges = [
        json.loads(line)
        for line in (project / ".scriptgen/transcript.jsonl").read_text().splitlines()
    ]
    assert [e["kind"] for e in exchanges] == ["generate", "repair"]
    assert exchanges[1]["reply"] == as_reply(good)

    # replay: the recorded generation reproduced byte for byte, with no server at all.
    replayed = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--out", str(tmp_path / "again"),
        "--llm", f"replay:{project / '.scriptgen/transcript.jsonl'}", "--no-commit", cwd=repo,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    for rel in ("data.py", "model.py", "train.py", "predict.py"):
        assert (tmp_path / "again/textclf-bert-base" / rel).read_bytes() == (
            project / rel
        ).read_bytes()


def test_prose_only_fails_after_the_repairs_and_writes_nothing(repo: Path) -> None:
    before, head = tree(repo), git(repo, "rev-parse", "HEAD")
    with ScriptedServer() as server:
        server.reply(
            "I would be glad to help! A text classifier needs data, a model and a training loop."
        )
        result = run_scriptgen(
            "new",
            "textclf",
            "--model",
            "bert-base",
            "--llm",
            f"openai:{server.url}",
            cwd=repo,
        )
        chats = server.chat_requests
    assert result.returncode == 1
    assert len(chats) == 4  # the generation and 3 repair rounds
    assert "no fenced block in the reply" in result.stderr
    assert "failed after 3 repair round(s)" in result.stderr
    assert "the candidate is kept in" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(repo) == before and git(repo, "rev-parse", "HEAD") == head


def test_nothing_listening_fails_in_one_line_within_the_retry_budget(
    repo: Path,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    result = run_scriptgen(
        "new",
        "textclf",
        "--model",
        "bert-base",
        "--llm",
        f"openai:http://127.0.0.1:{port}/v1",
        cwd=repo,
    )
    assert result.returncode == 1
    assert time.monotonic() - start < 60
    errors = [ln for ln in result.stderr.strip().splitlines() if not ln.startswith("✓")]
    assert len(errors) == 1 and "cannot reach" in errors[0], result.stderr
    assert not (repo / "generated").exists()


@pytest.mark.parametrize("behaviour", ["status-500", "malformed"])
def test_server_errors_end_cleanly(repo: Path, behaviour: str) -> None:
    with ScriptedServer() as server:
        if behaviour == "status-500":
            server.status(500)
        else:
            server.malformed()
        result = run_scriptgen(
            "new",
            "textclf",
            "--model",
            "bert-base",
            "--llm",
            f"openai:{server.url}",
            cwd=repo,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if not ln.startswith("✓")]
    assert len(errors) == 1 and errors[0].startswith(
        "scriptgen: error: openai backend"
    ), result.stderr
    assert not (repo / "generated").exists()


def test_openai_stream_chunks_drive_the_token_count() -> None:
    from scriptgen.backends.llm import openai_chat

    seen: list[int] = []
    with ScriptedServer() as server:
        server.reply("def f():\n    return 42\n")
        reply = openai_chat(server.url, None)(
            [{"role": "user", "content": "hi"}],
            {"temperature": 0.0},
            on_token=seen.append,
        )
    assert reply.text == "def f():\n    return 42\n"
    assert len(seen) > 3 and set(seen) == {1}
