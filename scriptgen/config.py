"""User settings from ``scriptgen.toml`` (the working directory or a parent, e.g. a repo's
root), so that a team's backend need not be repeated on every command:

    [llm]
    uri = "openai:http://gpu-box:8000/v1"
    model = "Qwen/Qwen2.5-Coder-7B-Instruct"
    max_repairs = 3
    budget = 900                  # seconds for all of a run's requests
    mode = "edits"                # SEARCH/REPLACE edits; "definitions" / "lines": edits in
                                  # JSON (small models); "files": retype every code file

    [validate]
    python = ".venv/bin/python"   # the interpreter that runs the contract tests

Command-line flags win over the file. Nothing here imports more than the standard library:
the staleness check reads this file too.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

CONFIG_NAME = "scriptgen.toml"
# The validation sandbox's limits (`--timeout`, `--memory-limit`).
DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY_LIMIT = "8G"


# How a user names an LLM backend, for the errors that need one.
NAME_AN_LLM = "--llm openai:<server url> or hf:<model>, or [llm] uri in scriptgen.toml"


@dataclass(frozen=True)
class LLMSettings:
    uri: str | None = None
    model: str | None = None
    max_repairs: int | None = None
    source: Path | None = None
    context: int | None = (
        None  # the server's context window, where /models does not say
    )
    budget: float | None = None  # seconds for all of one run's LLM requests
    # "edits" (default): the LLM changes the reference through settings and SEARCH/REPLACE
    # blocks; "files": it retypes every code file (for measuring the difference).
    mode: str | None = None


def find_config(start: Path) -> Path | None:
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _read(start: Path) -> tuple[Path | None, dict[str, Any]]:
    path = find_config(start)
    if path is None:
        return None, {}
    # Imported here: most runs (a pre-commit hook's `regen --check`) have no such file.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


VALIDATE_KEYS = {"python", "strict"}


def _section(
    path: Path, data: dict[str, Any], name: str, keys: set[str]
) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise UserError(f"{path}: [{name}] must be a table")
    unknown = sorted(set(section) - keys)
    if unknown:
        raise UserError(
            f"{path}: [{name}] takes {', '.join(sorted(keys))} (unknown: {', '.join(unknown)})"
        )
    return section


def llm_settings(start: Path) -> LLMSettings:
    path, data = _read(start)
    if path is None:
        return LLMSettings()
    llm = _section(
        path, data, "llm", {"uri", "model", "max_repairs", "context", "budget", "mode"}
    )
    repairs = llm.get("max_repairs")
    if repairs is not None and (not isinstance(repairs, int) or not 0 <= repairs <= 20):
        raise UserError(f"{path}: [llm] max_repairs must be an integer from 0 to 20")
    context = llm.get("context")
    if context is not None and (
        isinstance(context, bool) or not isinstance(context, int) or context < 512
    ):
        raise UserError(
            f"{path}: [llm] context must be a number of tokens (512 or more)"
        )
    budget = llm.get("budget")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0
    ):
        raise UserError(f"{path}: [llm] budget must be a number of seconds above 0")
    for key in ("uri", "model"):
        if key in llm and not isinstance(llm[key], str):
            raise UserError(f"{path}: [llm] {key} must be a string")
    mode = llm.get("mode")
    if mode is not None and mode not in ("edits", "definitions", "lines", "files"):
        raise UserError(
            f'{path}: [llm] mode must be "edits", "definitions", "lines" or "files"'
        )
    return LLMSettings(
        llm.get("uri"), llm.get("model"), repairs, path, context, budget, mode
    )


def validation_strict(start: Path, flag: bool = False) -> bool:
    """``--strict-sandbox``, else ``[validate] strict``, else false."""
    if flag:
        return True
    path, data = _read(start)
    if path is None:
        return False
    value = _section(path, data, "validate", VALIDATE_KEYS).get("strict", False)
    if not isinstance(value, bool):
        raise UserError(f"{path}: [validate] strict must be true or false")
    return value


def validation_python(start: Path, flag: str | None = None) -> str:
    """The interpreter that runs contract tests: ``--python``, else ``[validate] python``
    (relative to scriptgen.toml's folder), else this one.

    A light environment (a pre-commit hook's) can so validate with the ML stack of another.
    """
    if flag:
        return _interpreter(flag, Path.cwd(), "--python")
    path, data = _read(start)
    if path is None:
        return sys.executable
    value = _section(path, data, "validate", VALIDATE_KEYS).get("python")
    if value is None:
        return sys.executable
    if not isinstance(value, str) or not value:
        raise UserError(f"{path}: [validate] python must be a path to an interpreter")
    return _interpreter(value, path.parent, f"{path}: [validate] python")


def _interpreter(value: str, base: Path, where: str) -> str:
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        import shutil

        if len(candidate.parts) == 1 and shutil.which(value):
            return str(shutil.which(value))  # a bare name on PATH, e.g. python3.11
        candidate = base / candidate
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise UserError(f"{where}: no such interpreter: {value}")
    return str(candidate)
