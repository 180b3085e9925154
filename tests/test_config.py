from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen.config import llm_settings
from scriptgen.errors import UserError

from .conftest import build_file_tree, run_scriptgen
from .openai_server import ScriptedServer


def test_settings_come_from_the_nearest_scriptgen_toml(tmp_path: Path) -> None:
    build_file_tree(
        tmp_path,
        {
            "scriptgen.toml": '[llm]\nuri = "openai:http://h:1/v1"\nmodel = "m"\nmax_repairs = 1\n',
            "a/b/.keep": "",
        },
    )
    settings = llm_settings(tmp_path / "a" / "b")
    assert (settings.uri, settings.model, settings.max_repairs) == (
        "openai:http://h:1/v1",
        "m",
        1,
    )
    assert settings.source == tmp_path / "scriptgen.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [("[llm]\nuri = 3\n", "uri must be a string"), ("[llm]\nmax_repairs = 99\n", "max_repairs must be"),
     ("[llm]\nurl = 'x'\n", "unknown: url"), ("[llm\n", "cannot read")],
)  # fmt: skip
def test_bad_settings_are_user_errors(tmp_path: Path, text: str, message: str) -> None:
    build_file_tree(tmp_path, {"scriptgen.toml": text})
    with pytest.raises(UserError, match=message):
        llm_settings(tmp_path)


def test_new_uses_the_configured_backend_and_flags_win(tmp_path: Path) -> None:
    with ScriptedServer(models=["from-config"]) as server:
        server.reply("No code today, sorry.")
        build_file_tree(
            tmp_path,
            {
                "scriptgen.toml": f'[llm]\nuri = "openai:{server.url}"\nmax_repairs = 1\n'
            },
        )
        result = run_scriptgen(
            "new", "textclf", "--model", "bert-base", "--no-validate", cwd=tmp_path
        )
        assert result.returncode == 1
        assert (
            len(server.chat_requests) == 2
        )  # the generation and the 1 configured repair
        assert server.chat_requests[0].body["model"] == "from-config"
        result = run_scriptgen(
            "new",
            "textclf",
            "--model",
            "bert-base",
            "--no-validate",
            "--llm",
            "reference",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert len(server.chat_requests) == 2
