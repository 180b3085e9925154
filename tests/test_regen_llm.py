"""`scriptgen regen` of a project an LLM changed to meet a requirement: the recorded
changes (.scriptgen/changes.json) are re-applied to the new reference with no request;
where they no longer apply, the model is asked again with them as a hint (requests the
transcript holds are answered from it; only new ones reach the server, a real one on
127.0.0.1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from scriptgen.changes import CHANGES_FILE
from scriptgen.lock import LOCK_FILE, SPEC_FILE, TRANSCRIPT_FILE

from .conftest import build_file_tree, init_repo, run_scriptgen, snapshot
from .llm_replies import edit, settings_reply
from .openai_server import ScriptedServer
from .test_llm_pipeline import LOGGED, REQUIREMENT, TRAIN
from .test_regen import IDENTITY, head, project_of, set_learning_rate

pytestmark = pytest.mark.slow
MODEL = "qwen2.5-coder-7b"
LOGGED_AGAIN = LOGGED.replace("training on", "training with")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo holding a project the scripted "LLM" changed for REQUIREMENT: a log line in
    train.py (validated and committed)."""
    root = init_repo(tmp_path_factory.mktemp("regen-llm") / "repo", env=IDENTITY)
    with ScriptedServer(models=[MODEL]) as server:
        server.reply(settings_reply(REQUIREMENT)).reply(edit("train.py", TRAIN, LOGGED))
        result = run_scriptgen("new", "textclf", "--model", "bert-base", "--require",
                               REQUIREMENT, "--llm", f"openai:{server.url}", cwd=root,
                               env=IDENTITY)  # fmt: skip
        assert len(server.chat_requests) == 2
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def repo(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(pristine, root, symlinks=True)
    return root


def use_server(repo: Path, server: ScriptedServer) -> None:
    """The team's scriptgen.toml names the server; the lock names only the backend kind."""
    build_file_tree(repo, {"scriptgen.toml": f'[llm]\nuri = "openai:{server.url}"\n'})


def transcript(repo: Path) -> list[dict[str, object]]:
    lines = (project_of(repo) / TRANSCRIPT_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_force_with_no_server_at_all_reapplies_the_recorded_changes(repo: Path) -> None:
    before, commit = snapshot(repo), head(repo)
    result = run_scriptgen("regen", "--force", cwd=repo, env=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert "re-applied the recorded changes (0 setting(s), 1 edit(s))" in result.stderr
    assert "the same files, nothing written" in result.stdout
    assert snapshot(repo) == before and head(repo) == commit


def test_force_with_a_live_server_sends_no_request(repo: Path) -> None:
    with ScriptedServer(models=[MODEL]) as server:
        server.reply("this reply must never be asked for")
        use_server(repo, server)
        before = snapshot(repo)
        result = run_scriptgen("regen", "--force", cwd=repo, env=IDENTITY)
        assert server.requests == []  # not even GET /models
    assert result.returncode == 0, result.stderr
    assert "the same files, nothing written" in result.stdout
    assert snapshot(repo) == before


def test_a_spec_change_reapplies_the_edits_without_asking(repo: Path) -> None:
    with ScriptedServer(models=[MODEL]) as server:
        use_server(repo, server)
        set_learning_rate(repo, "3.0e-05")
        result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
        assert server.chat_requests == []
    assert result.returncode == 0, result.stderr
    project = project_of(repo)
    assert (
        yaml.safe_load((project / "config.yaml").read_text())["learning_rate"] == 3e-05
    )
    assert LOGGED in (project / "train.py").read_text()
    assert [e["kind"] for e in transcript(repo)] == ["settings", "edit"]


def test_edits_that_no_longer_apply_are_asked_again_with_them_as_a_hint(
    repo: Path,
) -> None:
    """As after a template change that rewrote the lines an edit was anchored on."""
    record_path = project_of(repo) / CHANGES_FILE
    record = json.loads(record_path.read_text())
    record["edits"][0]["search"] = record["edits"][0]["search"].replace(
        "resume", "restart"
    )
    record_path.write_text(json.dumps(record))
    with ScriptedServer(models=[MODEL]) as server:
        server.reply(edit("train.py", TRAIN, LOGGED_AGAIN))
        use_server(repo, server)
        result = run_scriptgen("regen", "--force", cwd=repo, env=IDENTITY)
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    assert "1 recorded edit(s) no longer apply: asking openai again" in result.stderr
    # The settings request is the recorded one (answered from the transcript); the edit
    # request is new: it carries the old edits.
    (chat,) = chats
    prompt = chat.body["messages"][-1]["content"]
    assert "to an earlier version of the project" in prompt and "restart" in prompt
    assert LOGGED_AGAIN in (project_of(repo) / "train.py").read_text()
    record = json.loads(record_path.read_text())
    assert "training with" in record["edits"][0]["replace"]


def test_a_requirement_change_without_a_server_fails_that_project(repo: Path) -> None:
    """New questions with no server to ask: that project's failure, named with what to
    pass (other projects would still be regenerated), and nothing written."""
    spec = project_of(repo) / SPEC_FILE
    spec.write_text(spec.read_text().replace(REQUIREMENT, "log the label names"))
    before = snapshot(repo)
    result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    failed = [ln for ln in result.stdout.splitlines() if ": failed" in ln]
    assert (
        len(failed) == 1 and "name an LLM backend (--llm openai:" in failed[0]
    ), result.stdout
    assert snapshot(repo) == before


def test_recorded_changes_edited_into_junk_are_that_projects_failure(
    repo: Path,
) -> None:
    (project_of(repo) / CHANGES_FILE).write_text('{"requirements": 3}')
    result = run_scriptgen("regen", "--force", cwd=repo, env=IDENTITY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot read the recorded changes" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_change_is_stale_and_asks_the_new_model(repo: Path) -> None:
    with ScriptedServer(models=["coder-14b"]) as server:
        server.reply(settings_reply(REQUIREMENT)).reply(edit("train.py", TRAIN, LOGGED))
        build_file_tree(
            repo,
            {
                "scriptgen.toml": f'[llm]\nuri = "openai:{server.url}"\nmodel = "coder-14b"\n'
            },
        )
        check = run_scriptgen("regen", "--check", cwd=repo)
        assert (
            check.returncode == 1 and f"llm model: {MODEL} -> coder-14b" in check.stdout
        )
        result = run_scriptgen("regen", cwd=repo, env=IDENTITY)
        chats = server.chat_requests
    assert result.returncode == 0, result.stderr
    # Not the old replies, not the old edits: the new model is asked.
    assert [c.body["model"] for c in chats] == ["coder-14b", "coder-14b"]
    assert (
        json.loads((project_of(repo) / LOCK_FILE).read_text())["llm_model"]
        == "coder-14b"
    )
    assert (project_of(repo) / SPEC_FILE).is_file()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"messages": [], "reply": "x"}\n{"messages": [\n', "cannot read transcript"),
        (b"[1, 2]\n", "entry 1: not an object"),
        (b'{"messages": [], "reply": "x"}\n{"reply": "y"}\n', "entry 2: not an object"),
        (b'{"messages": "hi", "reply": 3}\n', "entry 1: not an object"),
        (b"\xff\xfe", "cannot read transcript"),
    ],
    ids=["truncated", "not-objects", "no-messages", "wrong-types", "not-utf8"],
)
def test_a_hand_edited_transcript_is_bad_input(
    tmp_path: Path, content: bytes, says: str
) -> None:
    from scriptgen.backends.chats import recorded_chat
    from scriptgen.errors import UserError

    path = tmp_path / "transcript.jsonl"
    path.write_bytes(content)
    with pytest.raises(UserError, match=says):
        recorded_chat(path, None)
