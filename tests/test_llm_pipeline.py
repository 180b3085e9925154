"""`scriptgen new --llm openai:URL --require TEXT` against a real scripted server on
127.0.0.1.

The server stands in for a code LLM (none that writes good code can run here); it is fed
realistic replies: a settings reply, then edits that meet the requirement but bring in a
transformers 4 import, then the edit that fixes it; prose only; errors. Whole files (files
mode) are covered too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scriptgen.backends.reference import ReferenceBackend
from scriptgen.parse import file_block
from scriptgen.planning import make_plan
from scriptgen.spec import build_spec

from .conftest import git, run_scriptgen, tree
from .llm_replies import edit, settings_reply
from .openai_server import ScriptedServer

pytestmark = pytest.mark.slow

REQUIREMENT = "log the number of training examples before training"
TRAIN = "    train_result = trainer.train(resume_from_checkpoint=resume)\n"
SMOOTHING = "label smoothing of 0.1 and a cosine schedule"
LOGGED = '    logger.info("training on %d examples", len(tokenized["train"]))\n' + TRAIN


def reference_files(tmp_path: Path) -> dict[str, str]:
    raw, base = build_spec("textclf", model="bert-base", cwd=tmp_path)
    return ReferenceBackend().generate(make_plan(raw, base, tmp_path / "generated"))


def as_reply(files: dict[str, str]) -> str:
    """What a model writes: a sentence, then the files in the requested format."""
    blocks = "\n".join(file_block(path, text) for path, text in files.items())
    return f"Here is the project.\n\n{blocks}\nEach file follows the contract.\n"


def new_with(server: ScriptedServer, repo: Path, *extra: str):
    return run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
        "--require", REQUIREMENT, *extra, cwd=repo,
    )  # fmt: skip


def test_one_repair_round_fixes_a_transformers_4_import(
    repo: Path, tmp_path: Path
) -> None:
    broken = edit(
        "train.py", TRAIN, LOGGED, prose="Log the count, and use AdamW."
    ) + edit(
        "train.py", "import yaml\n", "import yaml\nfrom transformers import AdamW\n"
    )
    # Against the file as the repair request shows it: formatted, the import sorted in.
    fixed = edit(
        "train.py",
        "from transformers import (\n    AdamW,\n",
        "from transformers import (\n",
    )
    with ScriptedServer(models=["qwen2.5-coder-7b"]) as server:
        server.reply(settings_reply(REQUIREMENT)).reply(broken).reply(fixed)
        result = new_with(server, repo)
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 3
    settings, first, second = (r.body for r in chats)
    assert settings["response_format"]["type"] == "json_schema"
    schema = settings["response_format"]["json_schema"]["schema"]
    answer = schema["properties"]["requirements"]["items"]["properties"]
    assert answer["requirement"]["enum"] == [REQUIREMENT]
    names = answer["settings"]["items"]["properties"]["name"]["enum"]
    assert {"learning_rate", "label_smoothing_factor", "text_column"} <= set(names)
    assert (first["temperature"], first["seed"], first["model"]) == (
        0,
        0,
        "qwen2.5-coder-7b",
    )
    assert "<<<<<<< SEARCH" in first["messages"][0]["content"]
    assert f"- {REQUIREMENT}" in first["messages"][1]["content"]
    repair = second["messages"][-1]["content"]
    assert "ImportError: cannot import name 'AdamW' from 'transformers'" in repair
    assert second["messages"][-2] == {"role": "assistant", "content": broken}
    log = git(repo, "log", "-1", "--format=%B")
    assert f"Requirements:\n- {REQUIREMENT}\n" in log
    assert "Scriptgen-Backend: openai (qwen2.5-coder-7b)" in log
    assert "Scriptgen-Validation: passed (" in log
    project = repo / "generated" / "textclf-bert-base"
    train = (project / "train.py").read_text()
    assert "AdamW" not in train and LOGGED in train
    diff = (project / ".scriptgen/changes.diff").read_text()
    added = [
        ln
        for ln in diff.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    assert added == [
        "+" + LOGGED.splitlines()[0]
    ], diff  # the requirement, nothing else
    record = json.loads((project / ".scriptgen/changes.json").read_text())
    assert record["requirements"] == [REQUIREMENT] and record["settings"] == {}
    lock = json.loads((project / ".scriptgen/lock.json").read_text())
    assert (lock["backend"], lock["llm_model"]) == ("openai", "qwen2.5-coder-7b")
    exchanges = [
        json.loads(line)
        for line in (project / ".scriptgen/transcript.jsonl").read_text().splitlines()
    ]
    assert [e["kind"] for e in exchanges] == ["settings", "edit", "repair"]

    # replay: the recorded generation reproduced byte for byte, with no server at all.
    replayed = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--out", str(tmp_path / "again"),
        "--require", REQUIREMENT,
        "--llm", f"replay:{project / '.scriptgen/transcript.jsonl'}", "--no-commit", cwd=repo,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    for rel in ("data.py", "model.py", "train.py", "predict.py", "config.yaml"):
        assert (tmp_path / "again/textclf-bert-base" / rel).read_bytes() == (
            project / rel
        ).read_bytes()


def test_a_requirement_met_by_settings_needs_no_edit(repo: Path) -> None:
    """The settings, then a yes/no check that they alone meet the requirement: two short
    requests, no code touched."""
    with ScriptedServer() as server:
        server.reply(settings_reply(SMOOTHING, label_smoothing_factor="0.1",
                                    lr_scheduler_type="cosine"))  # fmt: skip
        server.reply('{"answer": "yes"}')
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--require", SMOOTHING, "--no-validate", cwd=repo,
        )  # fmt: skip
        check = server.chat_requests[1].body
        assert len(server.chat_requests) == 2
    assert result.returncode == 0, result.stderr
    question = check["messages"][0]["content"]
    assert SMOOTHING in question and "- label_smoothing_factor: 0.1 (" in question
    assert check["response_format"]["json_schema"]["schema"]["properties"]["answer"][
        "enum"
    ] == ["yes", "no"]
    project = repo / "generated" / "textclf-bert-base"
    import yaml

    config = yaml.safe_load((project / "config.yaml").read_text())
    assert config["label_smoothing_factor"] == 0.1  # typed: a number, not "0.1"
    assert config["lr_scheduler_type"] == "cosine"
    assert (project / "train.py").read_text() == (
        project / ".scriptgen/base/train.py"
    ).read_text()
    diff = (project / ".scriptgen/changes.diff").read_text()
    assert "+label_smoothing_factor: 0.1" in diff and "train.py" not in diff


def test_settings_that_do_not_meet_the_requirement_leave_it_to_the_code(
    repo: Path,
) -> None:
    """A setting the requirement names but that does not do it (``logging_first_step``
    for "log the number of training examples"): asked whether that alone does it, the
    model says no; the setting is dropped and the code is edited. One the requirement
    does not name at all (``max_length``) is not even asked about."""
    with ScriptedServer() as server:
        server.reply(settings_reply(REQUIREMENT, logging_first_step=True, max_length=3))
        server.reply('{"answer": "no"}')
        server.reply(edit("train.py", TRAIN, LOGGED))
        result = new_with(server, repo, "--no-validate")
        assert len(server.chat_requests) == 3
    assert result.returncode == 0, result.stderr
    assert "do not meet" in result.stderr and "left to the code" in result.stderr
    project = repo / "generated" / "textclf-bert-base"
    config = (project / "config.yaml").read_text()
    assert "logging_first_step" not in config and "max_length: 256" in config
    assert LOGGED in (project / "train.py").read_text()


def test_a_setting_of_the_wrong_type_goes_to_the_code_then_is_repaired(
    repo: Path,
) -> None:
    """An undeclared name or a value of the wrong type is no setting change; the edit
    request hears why, and an edit that matches nothing is repaired in the next round.
    """
    with ScriptedServer() as server:
        server.reply(
            settings_reply(REQUIREMENT, num_train_epochs="many", label_smoothing=0.1)
        )
        server.reply(edit("train.py", "    trainer.fit()\n", "    trainer.train()\n"))
        server.reply(edit("config.yaml", "seed: 42\n", "seed: 42\nlabel_smoothing_factor: 0.1\n")
                     + edit("train.py", TRAIN, LOGGED))  # fmt: skip
        server.reply(edit("train.py", TRAIN, LOGGED))
        result = new_with(server, repo, "--no-validate")
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert len(chats) == 4
    first_edit = chats[1].body["messages"][-1]["content"]
    assert "num_train_epochs: takes a number, not 'many'" in first_edit
    assert (
        "'label_smoothing' is not a setting of this project (did you mean" in first_edit
    )
    assert "match nothing" in chats[2].body["messages"][-1]["content"]
    third = chats[3].body["messages"][-1]["content"]
    assert "config.yaml (reply line 2): refused" in third
    project = repo / "generated" / "textclf-bert-base"
    assert LOGGED in (project / "train.py").read_text()


def test_no_requirement_makes_no_request_and_lands_the_reference(repo: Path) -> None:
    with ScriptedServer() as server:
        server.reply("this reply must never be asked for")
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--llm", f"openai:{server.url}",
            "--no-validate", cwd=repo,
        )  # fmt: skip
        assert server.requests == []  # not even GET /models
    assert result.returncode == 0, result.stderr
    assert (
        "no requirements: the reference is the answer, no LLM request made"
        in result.stderr
    )
    project = repo / "generated" / "textclf-bert-base"
    assert not (project / ".scriptgen/changes.json").exists()


def test_files_mode_takes_the_whole_files(repo: Path, tmp_path: Path) -> None:
    """[llm] mode = "files": every code file retyped, as before edits (for comparing)."""
    good = reference_files(tmp_path)
    changed = dict(good, **{"train.py": good["train.py"].replace(TRAIN, LOGGED, 1)})
    (repo / "scriptgen.toml").write_text('[llm]\nmode = "files"\n', encoding="utf-8")
    with ScriptedServer() as server:
        server.reply(as_reply(changed))
        result = new_with(server, repo, "--no-validate")
        (chat,) = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert "# Reference implementation" in chat.body["messages"][1]["content"]
    project = repo / "generated" / "textclf-bert-base"
    assert LOGGED in (project / "train.py").read_text()
    assert (
        "+" + LOGGED.splitlines()[0]
        in (project / ".scriptgen/changes.diff").read_text()
    )


def test_prose_only_fails_at_the_repeated_reply_and_writes_nothing(repo: Path) -> None:
    before, head = tree(repo), git(repo, "rev-parse", "HEAD")
    with ScriptedServer() as server:
        server.reply(
            "I would be glad to help! A text classifier needs data, a model and a training loop."
        )
        result = new_with(server, repo)
        chats = server.chat_requests
    assert result.returncode == 1
    # Settings, the edit request and one repair round, answered with the same prose:
    # the rounds left would be answered alike.
    assert len(chats) == 3
    assert "the reply changed nothing" in result.stderr
    assert (
        "answered the repair request with its last reply, word for word"
        in result.stderr
    )
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
        "--require",
        REQUIREMENT,
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
        result = new_with(server, repo)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if not ln.startswith("✓")]
    assert len(errors) == 1 and errors[0].startswith(
        "scriptgen: error: openai backend"
    ), result.stderr
    assert not (repo / "generated").exists()


def test_openai_stream_chunks_drive_the_token_count() -> None:
    from scriptgen.backends.chats import openai_chat

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
