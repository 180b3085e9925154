"""Code edits in a reply constrained to a JSON shape, for models too small to copy a
file's lines character for character (what a SEARCH block needs). Where the server
constrains decoding to a JSON schema (llama.cpp, vLLM, OpenAI), the edit request asks
for one of two shapes:

- whole definitions (``[llm] mode = "definitions"``)::

    {"edits": [{"path": "train.py", "name": "main", "code": "def main(...):\\n ..."}]}

  ``path`` is one of the code files (an enum), ``name`` a top-level function or class of
  it, or a new one; ``code`` the complete new definition with the imports it needs above
  it. It replaces the definition of that name, or goes before the file's ``if __name__
  == "__main__":`` (else at its end); its imports go after the file's own.
- lines at a statement (``[llm] mode = "lines"``)::

    {"edits": [{"path": "train.py", "where": "before", "statement": "...", "code": "..."}]}

  ``statement`` is the first line of a statement of that file (an enum per file, so what
  the model names exists), ``where`` after, before or replace; the lines are indented as
  that statement is.

isort and black tidy the result afterwards. What cannot be applied (a path that is no
code file, code that does not parse or does not define ``name``, a definition sent back
unchanged) is a diagnostic for the repair turn, as a SEARCH block that matches nothing
is.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .edits import Applied, apply_reply

_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORT = (ast.Import, ast.ImportFrom)
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.S)
MAX_EDITS = 4


def defined_names(text: str) -> list[str]:
    """The top-level functions and classes of a module, in order ([] if it does not
    parse)."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return []
    return [node.name for node in body if isinstance(node, _DEFINITION)]


def reply_schema(files: Mapping[str, str], paths: Collection[str]) -> dict[str, Any]:
    """The JSON schema of a reply: at most MAX_EDITS edits, each a path of ``paths``,
    a name (one the files define, or any other for a new definition) and its code."""
    names = sorted({n for p in paths for n in defined_names(files.get(p, ""))})
    edit = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "enum": sorted(paths)},
            "name": {"type": "string", "description": f"one of {names}, or a new name"},
            "code": {"type": "string"},
        },
        "required": ["path", "name", "code"],
    }
    return {
        "type": "object",
        "properties": {
            "edits": {
                "type": "array",
                "items": edit,
                "minItems": 1,
                "maxItems": MAX_EDITS,
            }
        },
        "required": ["edits"],
    }


def read_reply(reply: str) -> list[dict[str, str]] | None:
    """The edits of a JSON reply, or None when the reply is no such JSON (it may hold
    SEARCH/REPLACE blocks instead)."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return None
    edits = data.get("edits") if isinstance(data, dict) else None
    if not isinstance(edits, list):
        return None
    return [
        {k: str(v) for k, v in e.items() if isinstance(v, (str, int, float))}
        for e in edits
        if isinstance(e, dict)
    ]


def apply_definitions(
    edits: list[dict[str, str]], files: Mapping[str, str], allowed: Collection[str]
) -> Applied:
    """Each edit applied to the text the ones before it left."""

    def one(text: str, edit: dict[str, str]) -> tuple[str, str | None]:
        return replace_definition(text, edit.get("name", ""), edit.get("code", ""))

    return _apply(edits, files, allowed, one, lambda e: e.get("name") or "?")


def _apply(
    edits: list[dict[str, str]],
    files: Mapping[str, str],
    allowed: Collection[str],
    one: Callable[[str, dict[str, str]], tuple[str, str | None]],
    label: Callable[[dict[str, str]], str],
) -> Applied:
    """``one(text, edit)`` for each edit in turn, on the text the ones before it left; a
    path that is no code file, or ``one``'s reason, is a problem named after the edit.
    """
    out = Applied()
    current = dict(files)
    for number, edit in enumerate(edits, 1):
        path = edit.get("path", "")
        where = f"edit {number} ({path}, {label(edit)})"
        if path not in allowed or path not in current:
            out.problems.append(
                f"{where}: {path!r} is not a code file of the project; "
                f"one of {sorted(allowed)}"
            )
            continue
        text, problem = one(current[path], edit)
        if problem:
            out.problems.append(f"{where}: {problem}")
            continue
        current[path] = text
        out.files[path] = text
        out.edits += 1
    return out


def replace_definition(source: str, name: str, code: str) -> tuple[str, str | None]:
    """``source`` with the top-level definition ``name`` replaced by ``code`` (added if
    it has none), and ``code``'s imports added; or ``source`` and why not."""
    code = _unfenced(code).strip("\n") + "\n"
    try:
        new = ast.parse(code)
    except SyntaxError as exc:
        return source, f"the code does not parse: line {exc.lineno}: {exc.msg}"
    if not any(isinstance(n, _DEFINITION) and n.name == name for n in new.body):
        return source, f"the code does not define {name!r} at its top level"
    imports = [n for n in new.body if isinstance(n, _IMPORT)]
    others = [n for n in new.body if not isinstance(n, _IMPORT)]
    # The definition (with what else the code has beside its imports), from its start.
    skip = {i for n in imports for i in range(_start(n), n.end_lineno or 0)}
    definition = "".join(
        line
        for i, line in enumerate(code.splitlines(keepends=True))
        if i >= _start(others[0]) and i not in skip
    )
    tree = ast.parse(source)
    old = source.splitlines(keepends=True)
    found = [n for n in tree.body if isinstance(n, _DEFINITION) and n.name == name]
    if found:
        same = [n for n in others if isinstance(n, _DEFINITION) and n.name == name]
        if ast.dump(same[0]) == ast.dump(found[0]) and len(others) == 1:
            return source, (
                f"the code of {name!r} is the file's own, unchanged: it meets no "
                "requirement; add the lines that do"
            )
        start, end = _start(found[0]), found[0].end_lineno or 0
        old[start:end] = [definition]
    else:
        main = [
            n
            for n in tree.body
            if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)
        ]
        at = _start(main[0]) if main else len(old)
        old[at:at] = ["\n\n" + definition + ("\n\n" if main else "")]
    text = "".join(old)
    have = {ast.unparse(n) for n in tree.body if isinstance(n, _IMPORT)}
    wanted = [ast.unparse(n) for n in imports if ast.unparse(n) not in have]
    if wanted:
        text = _add_imports(text, wanted)
    return text, None


def _unfenced(code: str) -> str:
    """Code as a model wrote it, out of a Markdown fence if it put one around, dedented."""
    fenced = _FENCE.match(code.strip())
    return textwrap.dedent(fenced.group(1) if fenced else code)


def _start(node: ast.stmt) -> int:
    """The 0-based line where a statement starts, its decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1


def _add_imports(text: str, imports: list[str]) -> str:
    """``imports`` after the module's last top-level import (else after its docstring
    and ``from __future__`` lines)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    at = 0
    for node in tree.body:
        if isinstance(node, _IMPORT) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and node is tree.body[0]
        ):  # fmt: skip
            at = node.end_lineno or at
        elif isinstance(node, _DEFINITION):
            break
    lines[at:at] = [line + "\n" for line in imports]
    return "".join(lines)


# Anchored edits: new lines placed after, before or instead of a statement of the file,
# the statement named by its first line (an enum of the schema: what the model names is
# in the file, exactly once).

PLACES = ("after", "before", "replace")


def statements(text: str) -> dict[str, ast.stmt]:
    """Every statement of a module (nested ones too) by its first line, stripped: those
    whose first line is the file's only one of its kind."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    lines = text.splitlines()
    found: dict[str, list[ast.stmt]] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                first = lines[child.lineno - 1].strip()  # a def's, not a decorator's
                found.setdefault(first, []).append(child)
    return {k: v[0] for k, v in found.items() if len(v) == 1 and k}


def anchored_schema(files: Mapping[str, str], paths: Collection[str]) -> dict[str, Any]:
    """The JSON schema of an anchored reply: per code file, its statements' first lines
    as an enum."""
    offered = {p: sorted(statements(files[p])) for p in sorted(paths) if p in files}
    choices = [
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "const": path},
                "where": {"type": "string", "enum": list(PLACES)},
                "statement": {"type": "string", "enum": firsts},
                "code": {"type": "string"},
            },
            "required": ["path", "where", "statement", "code"],
        }
        for path, firsts in offered.items()
        if firsts
    ]
    return {
        "type": "object",
        "properties": {
            "edits": {
                "type": "array",
                "items": {"anyOf": choices},
                "minItems": 1,
                "maxItems": MAX_EDITS,
            }
        },
        "required": ["edits"],
    }


def apply_anchored(
    edits: list[dict[str, str]], files: Mapping[str, str], allowed: Collection[str]
) -> Applied:
    """Each edit applied to the text the ones before it left: ``code`` indented as the
    statement is, put after it, before it or in its place."""

    def label(edit: dict[str, str]) -> str:
        return f"{edit.get('where')} {edit.get('statement', '').strip()[:60]!r}"

    return _apply(edits, files, allowed, place_lines, label)


def place_lines(source: str, edit: dict[str, str]) -> tuple[str, str | None]:
    """``source`` with an anchored edit's lines in place; or ``source`` and why not."""
    first = edit.get("statement", "").strip()
    node = statements(source).get(first)
    if node is None:
        path = edit.get("path", "the file")
        return source, f"no statement of {path} starts with that line (once)"
    segment = ast.get_source_segment(source, node) or first
    where = edit.get("where", "after")
    new = _new_lines(edit.get("code", ""), segment, where)
    if not new:
        return source, "the code adds nothing"
    new = [" " * node.col_offset + line if line.strip() else "\n" for line in new]
    lines = source.splitlines(keepends=True)
    start, end = _start(node), node.end_lineno or 0
    if where == "before":
        lines[start:start] = new
    elif where == "replace":
        lines[start:end] = new
    else:
        lines[end:end] = new
    text = "".join(lines)
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return source, f"the file does not parse with it: line {exc.lineno}: {exc.msg}"
    return text, None


def _new_lines(code: str, statement: str, where: str) -> list[str]:
    """The lines ``code`` adds, dedented, each ending in a newline: the statement
    itself, where a model copied it above (after) or below (before) them, left out."""
    given = _unfenced(code).strip("\n").splitlines()
    own = [line.strip() for line in statement.splitlines()]
    stripped = [line.strip() for line in given]
    if where == "after" and stripped[: len(own)] == own:
        given = given[len(own) :]
    elif where == "before" and stripped[-len(own) :] == own:
        given = given[: -len(own)]
    lines = textwrap.dedent("\n".join(given)).strip("\n").splitlines()
    return [line + "\n" for line in lines] if any(l.strip() for l in lines) else []


def edit_schema(
    shape: str, files: Mapping[str, str], paths: Collection[str]
) -> dict[str, Any]:
    """The reply's JSON schema for ``shape``: "lines" or "definitions"."""
    return (anchored_schema if shape == "lines" else reply_schema)(files, paths)


def apply_any(
    reply: str,
    files: Mapping[str, str],
    code: Collection[str],
    can_create: Callable[[str], bool],
    asked_json: bool,
) -> Applied:
    """A reply's edits in whichever shape it holds them (lines at a statement, whole
    definitions, SEARCH/REPLACE blocks), applied to ``files``; a reply where nothing
    applies and nothing says why is a problem of its own."""
    edits = read_reply(reply)
    if edits and all("statement" in e for e in edits):
        applied = apply_anchored(edits, files, code)
    elif edits is not None:
        applied = apply_definitions(edits, files, code)
    else:
        applied = apply_reply(reply, files, code, can_create=can_create)
    if not applied.files and (
        not applied.problems or any("no fenced block" in p for p in applied.problems)
    ):
        applied.problems = [
            (
                "the reply changed nothing: it has no edit that applies"
                if asked_json
                else "the reply changed nothing: it has no SEARCH/REPLACE block that applies "
                "(the file's path on its own line, then <<<<<<< SEARCH, the exact lines, "
                "=======, the new lines, >>>>>>> REPLACE)"
            )
        ]
    return applied
