"""The messages an LLM backend sends: system, task and repair parts, rendered from templates.

Nothing here imports torch or transformers: installed versions come from package metadata.
"""

from __future__ import annotations

import ast
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from .parse import file_block
from .planning import Plan
from .render import render, render_judge, render_scaffold

PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers")
# Scaffold the code must fit, shown to the model: the settings, the requirements and the
# judge; the rest (README, .gitignore, ...) is noise.
_SHOWN_SETTINGS = ("config.yaml", "requirements.txt")
# The judge's plumbing (it runs the project's code in a process of its own): nothing the
# code must fit.
_NOT_SHOWN = ("harness.py",)


def installed_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def outline(text: str) -> str:
    """What a module promises: its docstring, then each top-level function's and class's
    signature and docstring, the bodies left out (config.yaml, shown beside it, has the
    settings that train.py's argument classes declare)."""
    tree = ast.parse(text)
    out = [f'"""{ast.get_docstring(tree, clean=False) or ""}"""']
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            doc = node.body[:1] if ast.get_docstring(node) else []
            node.body = [*doc, ast.Expr(ast.Constant(...))]
            out.append(ast.unparse(node))
    return "\n\n".join(out) + "\n"


def _context(plan: Plan, compact: bool = False) -> dict[str, Any]:
    # Imported here: pipeline imports backends, which import this module.
    from .backends.reference import ReferenceBackend

    scaffold = render_scaffold(plan)
    judge = {} if compact else render_judge(plan)
    code_files = plan.manifest.code_files
    reference = ReferenceBackend().generate(plan)
    return {
        **plan.context(),
        "code_files": code_files,
        "versions": installed_versions(),
        "format_example": file_block(code_files[0].path, "...the whole file...\n"),
        "scaffold": {
            **{p: text for p, text in scaffold.items() if p in _SHOWN_SETTINGS},
            **{
                p: t for p, t in judge.items() if p.rpartition("/")[2] not in _NOT_SHOWN
            },
        },
        "reference": {} if compact else reference,
        # The contract of each code file, as its reference states it (the full request
        # shows the reference itself).
        "outlines": (
            {f.path: outline(reference[f.path]) for f in code_files} if compact else {}
        ),
        "compact": compact,
        "requirements": plan.spec.requirements,
        "text_block": file_block,
    }


def generation_messages(plan: Plan, compact: bool = False) -> list[dict[str, str]]:
    """The one request that asks for all of the project's code files; ``compact`` leaves
    out the contract tests and the reference exemplar (the contracts stay), for a model
    whose context cannot hold them."""
    context = _context(plan, compact)
    return [
        {"role": "system", "content": render("_common/prompts/system.md.j2", context)},
        {"role": "user", "content": render("_common/prompts/task.md.j2", context)},
    ]


def repair_message(
    plan: Plan,
    *,
    stage: str,
    diagnostics: str,
    failing: Mapping[str, str],
    template: str = "_common/prompts/repair.md.j2",
    json_edits: str = "",
) -> dict[str, str]:
    """One more user turn: what failed and the failing files, nothing else (``template``:
    the whole-file request's wording, or the edit request's; ``json_edits``: edits as
    JSON, "definitions" or "lines", not SEARCH/REPLACE blocks)."""
    context = {
        "json_edits": json_edits,
        **plan.context(),
        "requirements": list(plan.spec.requirements),
        "stage": stage,
        "diagnostics": diagnostics.strip(),
        "failing": dict(failing),
        "text_block": file_block,
    }
    return {"role": "user", "content": render(template, context)}
