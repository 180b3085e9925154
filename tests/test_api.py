"""The library surface: every command's work is a function of `scriptgen.api` (the CLI
only parses arguments and maps results to exit codes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptgen import api
from scriptgen.errors import UserError

from .conftest import run_scriptgen


def test_every_command_has_its_function() -> None:
    for name in ("new", "validate", "check", "regen", "tasks", "plan", "prompt",
                 "estimate", "compare"):  # fmt: skip
        assert callable(getattr(api, name)), name


def test_the_package_names_the_api_functions_whatever_is_imported() -> None:
    """`scriptgen.validate` is api.validate, also once the modules behind the API are
    imported (no module of the package shares a name with a function of it)."""
    import importlib
    import pkgutil

    import scriptgen

    by_path = ("__main__", "warm_server", "confine", "namespaces")  # run, not imported
    for module in pkgutil.iter_modules(scriptgen.__path__):
        if module.name not in by_path:
            importlib.import_module(f"scriptgen.{module.name}")
    for name in scriptgen.__all__:
        assert getattr(scriptgen, name) is getattr(api, name), name


def test_prompt_is_what_the_cli_prints(tmp_path: Path) -> None:
    import json

    assert api.prompt(api.plan("textclf", model="bert-base")) == []  # no requirement
    wanted = ["log the number of examples"]
    messages = api.prompt(api.plan("textclf", model="bert-base", requires=wanted))
    assert [m["role"] for m in messages] == ["system", "user", "system", "user"]
    printed = run_scriptgen(
        "prompt", "textclf", "--model", "bert-base", "--require", wanted[0], "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == messages


def test_compare_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such project folder"):
        api.compare(tmp_path / "nowhere")
