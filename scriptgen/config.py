"""User settings from ``scriptgen.toml`` (the working directory or a parent, e.g. a repo's
root), so that a team's backend need not be repeated on every command:

    [llm]
    uri = "openai:http://gpu-box:8000/v1"
    model = "Qwen/Qwen2.5-Coder-7B-Instruct"
    max_repairs = 3

Command-line flags win over the file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_NAME = "scriptgen.toml"


@dataclass(frozen=True)
class LLMSettings:
    uri: str | None = None
    model: str | None = None
    max_repairs: int | None = None
    source: Path | None = None


def find_config(start: Path) -> Path | None:
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def llm_settings(start: Path) -> LLMSettings:
    path = find_config(start)
    if path is None:
        return LLMSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    llm = data.get("llm", {})
    unknown = sorted(set(llm) - {"uri", "model", "max_repairs"})
    if not isinstance(llm, dict) or unknown:
        raise UserError(
            f"{path}: [llm] takes uri, model and max_repairs (unknown: {', '.join(unknown)})"
        )
    repairs = llm.get("max_repairs")
    if repairs is not None and (not isinstance(repairs, int) or not 0 <= repairs <= 20):
        raise UserError(f"{path}: [llm] max_repairs must be an integer from 0 to 20")
    for key in ("uri", "model"):
        if key in llm and not isinstance(llm[key], str):
            raise UserError(f"{path}: [llm] {key} must be a string")
    return LLMSettings(llm.get("uri"), llm.get("model"), repairs, path)
