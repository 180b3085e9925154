"""Static checks of a candidate project; nothing here executes the code under check.

Parse errors come from ``compile()``, whose file:line:col are exact; libcst's own error
positions are not. Structure (top-level names, imports, argparse flags) comes from
analyse.py (libcst and its scope analysis); here it is checked across the project's files.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import libcst as cst

from .analyse import Analysis, AttrUse, Import, analyse
from .manifests import Manifest

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Finding:
    path: str  # project-relative POSIX path
    line: int | None  # 1-based
    col: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Deduplicated; by path, then position (a finding without one first)."""
    return sorted(
        set(findings), key=lambda f: (f.path, f.line or 0, f.col or 0, f.message)
    )


def safe_relpath(path: str) -> str:
    """``path`` if it names a file inside the project; else ValueError saying why."""
    if not path:
        raise ValueError("empty path")
    if any(ord(c) < 32 for c in path):
        raise ValueError("control character in path")
    if "\\" in path:
        raise ValueError("backslash in path; use '/'")
    if _DRIVE.match(path):
        raise ValueError("drive letter in path")
    if path.startswith("/"):
        raise ValueError("absolute path")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError("'..' escapes the project")
    if any(p in ("", ".") for p in parts):
        raise ValueError("path is not normalized (empty or '.' segment)")
    # A nested .git would make the project an embedded repository (and could carry hooks).
    if any(p.lower() == ".git" for p in parts):
        raise ValueError("'.git' is reserved")
    return path


_ENDS_BLOCK = (ast.Return, ast.Raise, ast.Continue, ast.Break)


def _unreachable(path: str, src: str) -> list[Finding]:
    """Statements after a return, raise, continue or break in the same block: code that
    never runs (a model's addition placed after a function's ``return``)."""
    out = []
    for node in ast.walk(ast.parse(src)):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for stmt, after in zip(block, block[1:]):
                if isinstance(stmt, _ENDS_BLOCK):
                    word = type(stmt).__name__.lower()
                    msg = f"unreachable: this statement follows a `{word}` in its block"
                    out.append(Finding(path, after.lineno, after.col_offset + 1, msg))
                    break
    return out


def _syntax_finding(path: str, src: str) -> Finding | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not ours to report
            compile(src, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        msg = f"{type(exc).__name__}: {exc.msg}"
        return Finding(path, exc.lineno, exc.offset or None, msg)
    except (ValueError, RecursionError, MemoryError) as exc:  # absurd nesting
        return Finding(path, None, None, f"{type(exc).__name__}: {exc}")
    return None


class _Project:
    """Resolves modules within the candidate project as Python would from its root."""

    def __init__(self, paths: Iterable[str], modules: Mapping[str, Analysis]) -> None:
        self.py = {p for p in paths if p.endswith(".py")}
        self.modules = modules
        self._names: dict[str, set[str]] = {}
        self._open: dict[str, bool] = {}

    def find(self, dotted: str) -> str | None:
        """Path of a module, ``dir/`` for a namespace package, None when absent."""
        base = dotted.replace(".", "/")
        for candidate in (f"{base}/__init__.py", f"{base}.py"):  # package first
            if candidate in self.py:
                return candidate
        return f"{base}/" if any(p.startswith(f"{base}/") for p in self.py) else None

    def owns(self, dotted: str) -> bool:
        return self.find(dotted.split(".")[0]) is not None

    def missing(self, dotted: str) -> str | None:
        """The first prefix of ``dotted`` that is not a module of the project."""
        parts = dotted.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return next((p for p in prefixes if self.find(p) is None), None)

    @staticmethod
    def absolute(path: str, level: int, module: str | None) -> str | None:
        if level == 0:
            return module
        package = path.split("/")[:-1]
        if level > len(package):
            return None
        base = package[: len(package) - level + 1]
        return ".".join(base + [module] if module else base)

    def names(self, path: str) -> set[str]:
        """Top-level names of a module, star imports from the project followed."""
        if path not in self._names:
            self._names[path] = set()  # breaks star-import cycles
            mod = self.modules.get(path)
            found = set(mod.names) if mod else set()
            opened = mod is None and not path.endswith("/")  # unparsable: anything
            for imp in mod.imports if mod else ():
                if not imp.star:
                    continue
                target = self.absolute(path, imp.level, imp.module)
                where = self.find(target) if target and self.owns(target) else None
                if where is None:  # a star from outside: the names are unknowable
                    opened = True
                    continue
                found |= self.names(where)
                opened = opened or self._open.get(where, False)
            self._names[path] = found
            self._open[path] = opened or "__getattr__" in found  # PEP 562
        return self._names[path]

    def has(self, dotted: str, name: str) -> bool:
        where = self.find(dotted)
        if where is None or name.startswith("__") and name.endswith("__"):
            return True
        if name in self.names(where) or self._open[where]:
            return True
        return self.find(f"{dotted}.{name}") is not None


def _import_findings(
    project: _Project, path: str, mod: Analysis, imp: Import
) -> list[Finding]:
    target = project.absolute(path, imp.level, imp.module)
    if imp.level == 0 and not project.owns(target or ""):
        return []
    at = (path, *mod.pos(imp.node))
    if target is None:
        why = "beyond top-level package" if "/" in path else "with no parent package"
        return [Finding(*at, f"attempted relative import {why}")]
    if missing := project.missing(target):
        return [Finding(*at, f"No module named '{missing}' in the project")]
    if imp.star:
        return [Finding(*at, f"'from {target} import *': import the names used")]
    source = f"'{target}' ({project.find(target)})"
    return [
        Finding(path, *mod.pos(alias), f"cannot import name '{name}' from {source}")
        for name, alias in imp.names or ()
        if not project.has(target, name)
    ]


def _binds_a_module(project: _Project, path: str, imp: Import) -> bool:
    """Whether ``imp`` binds a name to one of the project's modules (`import data`,
    `from pkg import data`), whose attributes the project then reads."""
    target = project.absolute(path, imp.level, imp.module)
    if target is None or not project.owns(target):
        return False
    if imp.names is None:
        return True
    return any(project.find(f"{target}.{name}") for name, _ in imp.names)


def _attr_findings(project: _Project, path: str, use: AttrUse) -> list[Finding]:
    dotted = project.absolute(path, use.level, use.module)
    if dotted is None or not project.owns(dotted) or project.missing(dotted):
        return []  # not ours, not a module, or the import is reported already
    for attr in use.chain:
        if not project.has(dotted, attr):
            where = project.find(dotted)
            msg = f"module '{dotted}' ({where}) has no attribute '{attr}'"
            return [Finding(path, use.line, use.col, msg)]
        if project.missing(f"{dotted}.{attr}"):
            return []  # a name, not a submodule: its attributes are not ours to know
        dotted = f"{dotted}.{attr}"
    return []


def _contract_findings(
    manifest: Manifest, files: Mapping[str, str], modules: Mapping[str, Analysis]
) -> list[Finding]:
    out = []
    for contract in manifest.files:
        path = contract.path
        if contract.kind == "judge":
            continue  # scriptgen's own, added by validation
        if path not in files:
            out.append(Finding(path, None, None, "missing: the task needs this file"))
        if (mod := modules.get(path)) is None:  # absent, unparsable, or not Python
            continue
        for name in contract.defines:
            if name not in mod.names:
                msg = f"{path} must define '{name}' at top level"
                out.append(Finding(path, None, None, msg))
        for flag in contract.flags:
            flag = flag if flag.startswith("-") else f"--{flag}"
            if flag not in mod.flags:
                msg = f"{path} must accept {flag}: no add_argument({flag!r}, ...)"
                out.append(Finding(path, None, None, msg))
    return out


def quick_check(files: Mapping[str, str]) -> list[Finding]:
    """Paths and syntax only: cheap, and what must hold before a file is written anywhere."""
    findings: list[Finding] = []
    for path, text in files.items():
        try:
            safe_relpath(path)
        except ValueError as exc:
            findings.append(Finding(path, None, None, f"unsafe path: {exc}"))
            continue
        if path.endswith(".py") and (problem := _syntax_finding(path, text)):
            findings.append(problem)
    return sort_findings(findings)


def check_project(files: Mapping[str, str], manifest: Manifest) -> list[Finding]:
    """Every finding for the candidate project ``files`` (path -> text); [] if clean."""
    findings: list[Finding] = []
    safe: dict[str, str] = {}
    for path, text in files.items():
        try:
            safe[safe_relpath(path)] = text
        except ValueError as exc:
            findings.append(Finding(path, None, None, f"unsafe path: {exc}"))
    modules: dict[str, Analysis] = {}
    # The scaffold (the judge, its harness and twin) is scriptgen's own rendering, run by
    # validation and tested with scriptgen: the structure of the code files is checked.
    rendered = {f.path for f in manifest.scaffold_files}
    for path, text in safe.items():
        if not path.endswith(".py") or path in rendered:
            continue
        if problem := _syntax_finding(path, text):
            findings.append(problem)  # later checks of this file would only be noise
            continue
        findings += _unreachable(path, text)
        try:
            modules[path] = analyse(text)
        except cst.ParserSyntaxError as exc:  # valid for compile(), not for libcst
            msg = f"cannot analyse: {exc.message}"
            findings.append(Finding(path, exc.raw_line, exc.raw_column + 1, msg))
    findings += _contract_findings(manifest, safe, modules)
    project = _Project(safe, modules)
    for path, mod in modules.items():
        for imp in mod.imports:
            findings += _import_findings(project, path, mod, imp)
        if any(_binds_a_module(project, path, imp) for imp in mod.imports):
            for use in mod.attr_uses:
                findings += _attr_findings(project, path, use)
    return sort_findings(findings)
