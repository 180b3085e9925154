"""Jinja2 rendering of task templates: sandboxed, strict about undefined names."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import ScriptgenError
from .lock import templates_root

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


def _to_yaml(value: Any) -> str:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False)
    # A bare scalar is dumped as a document with an explicit end ("abc\n...\n").
    return text.removesuffix("...\n").rstrip("\n")


def _to_py(value: Any) -> str:
    """A Python literal for a plain value (str, number, bool, None, list, dict)."""
    return repr(value)


@lru_cache(maxsize=None)
def environment(root: Path | None = None) -> SandboxedEnvironment:
    # jinja2 is imported here: the staleness check must not pay for it.
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

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
    from jinja2 import TemplateError

    try:
        return environment(root).get_template(template).render(**context)
    except TemplateError as exc:
        # A template bug is ours, not the user's: report it with the template's name.
        raise ScriptgenError(f"template {template} failed to render: {exc}") from exc
