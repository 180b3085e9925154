"""Jinja2 rendering of task templates: sandboxed, strict about undefined names."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import ScriptgenError
from .lock import COMMON_FILES, templates_root, unused_templates

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from .manifests import FileContract, Manifest
    from .planning import Plan


def _to_yaml(value: Any) -> str:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False)
    # A bare scalar is dumped as a document with an explicit end ("abc\n...\n").
    return text.removesuffix("...\n").rstrip("\n")


def _to_py(value: Any) -> str:
    """A Python literal for a plain value (str, number, bool, None, list, tuple, dict),
    written as black writes it: strings in double quotes where that needs no escape."""
    if isinstance(value, str):
        text = repr(value)
        if text.startswith("'") and '"' not in value:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(value, list):
        return "[" + ", ".join(_to_py(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_to_py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        items = (f"{_to_py(k)}: {_to_py(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
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
        return (
            environment(root or templates_root())
            .get_template(template)
            .render(**context)
        )
    except TemplateError as exc:
        # A template bug is ours, not the user's: report it with the template's name.
        raise ScriptgenError(f"template {template} failed to render: {exc}") from exc


def render_files(plan: Plan, contracts: Iterable[FileContract]) -> dict[str, str]:
    """Render the templates of ``contracts`` with the plan's context."""
    context = plan.context()
    return {f.path: render(plan.manifest.template(f), context) for f in contracts}


def render_scaffold(plan: Plan) -> dict[str, str]:
    """The project's files that scriptgen renders itself (config, README, the starter
    test, ...): the user's once written, merged on regen."""
    return render_files(plan, plan.manifest.scaffold_files)


def render_judge(plan: Plan) -> dict[str, str]:
    """The judge (under ``.scriptgen/judge/``): rendered afresh for each validation, never
    written to the project but by ``scriptgen judge``."""
    return render_files(plan, plan.manifest.judge_files)


def shared_templates(manifest: Manifest) -> list[str]:
    """The files under ``_common/`` that the task's templates read: named by the manifest,
    or included, imported or extended by another template, at any depth; for one
    project's manifest (``Manifest.for_spec``), not what only the files of the optional
    parts it leaves out read."""
    from jinja2 import meta

    root = templates_root()
    env = environment(root)
    unused = set(unused_templates(manifest.name, manifest.parts))
    todo = [manifest.template(f) for f in manifest.files]
    todo += [
        p.relative_to(root).as_posix()
        for p in (root / manifest.name).rglob("*.j2")
        if p.is_file()
    ]
    todo = [name for name in todo if name not in unused]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        todo += [
            ref
            for ref in meta.find_referenced_templates(env.parse(source))
            if ref is not None
        ]
    seen.add(COMMON_FILES)  # the files every manifest takes in
    return sorted(name for name in seen if name.startswith("_common/"))
