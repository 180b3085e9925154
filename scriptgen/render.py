"""Jinja2 rendering of task templates: sandboxed, strict about undefined names."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .errors import ScriptgenError


def templates_root() -> Path:
    """The templates folder: packaged beside the code in a wheel, at the repo root in a checkout."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def _to_yaml(value: Any) -> str:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False)
    # A bare scalar is dumped as a document with an explicit end ("abc\n...\n").
    return text.removesuffix("...\n").rstrip("\n")


def _to_py(value: Any) -> str:
    """A Python literal for a plain value (str, number, bool, None, list, dict)."""
    return repr(value)


@lru_cache(maxsize=None)
def environment(root: Path | None = None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(root or templates_root())),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["yaml"] = _to_yaml
    env.filters["py"] = _to_py
    return env


def render(template: str, context: dict[str, Any], root: Path | None = None) -> str:
    """Render ``template`` (a path relative to the templates root, POSIX separators)."""
    try:
        return environment(root).get_template(template).render(**context)
    except TemplateError as exc:
        # A template bug is ours, not the user's: report it with the template's name.
        raise ScriptgenError(f"template {template} failed to render: {exc}") from exc


def hash_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder``, keyed by POSIX path relative to it."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(folder).as_posix()
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
