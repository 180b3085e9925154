"""Static checks of a candidate project; nothing here executes the code under check.

Parse errors come from ``compile()``, whose file:line:col are exact; libcst's own error
positions are not. Structure (top-level names, imports, argparse flags) comes from libcst
and its scope analysis, so that a parameter named ``data`` is not taken for ``import data``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    ImportAssignment,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    ScopeProvider,
)

from .manifest import Manifest

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
    return sorted(
        set(findings), key=lambda f: (f.path, f.line or 0, f.col or 0, f.message)
    )


def safe_relpath(path: str) -> str:
    """Return ``path`` if it names a file inside the project; raise ValueError saying why not."""
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


@dataclass
class _Import:
    line: int
    col: int
    level: int  # 0: absolute
    module: str | None  # dotted; None for `from . import x`
    names: (
        list[tuple[str, int, int]] | None
    )  # from-import names with positions; None: `import X`
    star: bool = False


@dataclass
class _AttrUse:
    level: int
    module: str | None
    name: str | None  # set when bound by `from module import name`
    chain: tuple[str, ...]
    line: int
    col: int


@dataclass
class _Module:
    names: set[str]
    imports: list[_Import] = field(default_factory=list)
    attr_uses: list[_AttrUse] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)


class _Collector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.imports: list[_Import] = []
        self.flags: set[str] = set()

    def _pos(self, node: cst.CSTNode) -> tuple[int, int]:
        start = self.get_metadata(PositionProvider, node).start
        return start.line, start.column + 1

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self.imports.append(
                _Import(*self._pos(alias), 0, alias.evaluated_name, None)
            )

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = (
            cst.helpers.get_full_name_for_node(node.module) if node.module else None
        )
        level = len(node.relative)
        if isinstance(node.names, cst.ImportStar):
            self.imports.append(_Import(*self._pos(node), level, module, [], star=True))
        else:
            names = [(a.evaluated_name, *self._pos(a)) for a in node.names]
            self.imports.append(_Import(*self._pos(node), level, module, names))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = (
            func.attr.value
            if isinstance(func, cst.Attribute)
            else getattr(func, "value", None)
        )
        if name != "add_argument":
            return
        for arg in node.args:
            if arg.keyword is None and not arg.star:
                value = getattr(arg.value, "evaluated_value", None)
                if isinstance(value, str) and value.startswith("-"):
                    self.flags.add(value)


def _syntax_finding(path: str, src: str) -> Finding | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not ours to report
            compile(src, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        return Finding(
            path, exc.lineno, exc.offset or None, f"{type(exc).__name__}: {exc.msg}"
        )
    except (
        ValueError,
        RecursionError,
        MemoryError,
    ) as exc:  # null bytes, absurd nesting
        return Finding(path, None, None, f"{type(exc).__name__}: {exc}")
    return None


def _bound_target(
    assignment: ImportAssignment,
) -> tuple[int, str | None, str | None] | None:
    """(level, module, name) that an import binding refers to."""
    node = assignment.node
    if isinstance(node, cst.Import):
        for alias in node.names:
            dotted, asname = alias.evaluated_name, alias.evaluated_alias
            if asname == assignment.name or (
                asname is None and (dotted + ".").startswith(assignment.name + ".")
            ):
                return 0, dotted if asname else assignment.name, None
    elif isinstance(node, cst.ImportFrom) and not isinstance(
        node.names, cst.ImportStar
    ):
        module = (
            cst.helpers.get_full_name_for_node(node.module) if node.module else None
        )
        for a in node.names:
            if (a.evaluated_alias or a.evaluated_name) == assignment.name:
                return len(node.relative), module, a.evaluated_name
    return None


def _analyse(src: str) -> _Module:
    wrapper = MetadataWrapper(cst.parse_module(src))
    collector = _Collector()
    wrapper.visit(collector)
    scopes = wrapper.resolve(ScopeProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    contexts = wrapper.resolve(ExpressionContextProvider)
    positions = wrapper.resolve(PositionProvider)
    module = _Module(names=set(), imports=collector.imports, flags=collector.flags)
    global_scope = scopes[wrapper.module]
    assert global_scope is not None
    for assignment in global_scope.assignments:
        parent = parents.get(getattr(assignment, "node", None))
        bare = isinstance(parent, cst.AnnAssign) and parent.value is None
        if "." not in assignment.name and not bare:  # `x: int` alone binds nothing
            module.names.add(assignment.name)
    for scope in {s for s in scopes.values() if s is not None}:
        for assignment in scope.assignments:
            target = (
                _bound_target(assignment)
                if isinstance(assignment, ImportAssignment)
                else None
            )
            if target is None:
                continue
            for access in assignment.references:
                if len(access.referents) != 1:  # rebound somewhere: cannot tell which
                    continue
                chain: list[str] = []
                expr: cst.CSTNode = access.node
                while (
                    isinstance(parent := parents.get(expr), cst.Attribute)
                    and parent.value is expr
                ):
                    chain.append(parent.attr.value)
                    expr = parent
                if chain and contexts.get(expr) == ExpressionContext.LOAD:
                    start = positions[expr].start
                    use = _AttrUse(*target, tuple(chain), start.line, start.column + 1)
                    module.attr_uses.append(use)
    return module


class _Project:
    """Module resolution within the candidate project, the way Python would from its root."""

    def __init__(self, paths: Iterable[str], modules: Mapping[str, _Module]) -> None:
        self.py = {p for p in paths if p.endswith(".py")}
        self.modules = modules
        self._names: dict[str, set[str]] = {}
        self._open: dict[str, bool] = {}

    def find(self, dotted: str) -> str | None:
        """Path of a module, ``dir/`` for a namespace package, None when absent."""
        base = dotted.replace(".", "/")
        for candidate in (
            f"{base}/__init__.py",
            f"{base}.py",
        ):  # a package wins, as in Python
            if candidate in self.py:
                return candidate
        return f"{base}/" if any(p.startswith(f"{base}/") for p in self.py) else None

    def owns(self, dotted: str) -> bool:
        return self.find(dotted.split(".")[0]) is not None

    def absolute(self, path: str, level: int, module: str | None) -> str | None:
        if level == 0:
            return module
        package = path[:-3].split("/")[:-1]
        if level > len(package):
            return None
        return ".".join(
            package[: len(package) - level + 1] + ([module] if module else [])
        )

    def names(self, path: str) -> set[str]:
        if path not in self._names:
            self._names[path] = set()  # guards star-import cycles
            mod = self.modules.get(path)
            found = set(mod.names) if mod else set()
            opened = mod is None and not path.endswith("/")  # unparsed: assume anything
            for imp in mod.imports if mod else ():
                target = (
                    self.absolute(path, imp.level, imp.module) if imp.star else None
                )
                where = self.find(target) if target and self.owns(target) else None
                if where:
                    found |= self.names(where)
                    opened = opened or self._open.get(where, False)
                elif imp.star:
                    opened = True  # star from outside the project: names unknowable
            self._names[path] = found
            self._open[path] = opened or "__getattr__" in found  # PEP 562
        return self._names[path]

    def has(self, path: str, dotted: str, name: str) -> bool:
        if name.startswith("__") and name.endswith("__"):
            return True
        names = self.names(path)
        return (
            name in names
            or self._open[path]
            or self.find(f"{dotted}.{name}") is not None
        )

    def missing_module(self, dotted: str) -> str | None:
        """The first prefix of ``dotted`` that does not resolve, if any."""
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if self.find(prefix) is None:
                return prefix
        return None


def _import_findings(project: _Project, path: str, imp: _Import) -> list[Finding]:
    target = project.absolute(path, imp.level, imp.module)
    if target is None:
        why = (
            "beyond top-level package"
            if "/" in path
            else "with no known parent package"
        )
        return [Finding(path, imp.line, imp.col, f"attempted relative import {why}")]
    if imp.level == 0 and not project.owns(target):
        return []
    if missing := project.missing_module(target):
        return [
            Finding(
                path, imp.line, imp.col, f"No module named '{missing}' in the project"
            )
        ]
    if imp.star:
        msg = f"'from {target} import *' hides what is used; import names explicitly"
        return [Finding(path, imp.line, imp.col, msg)]
    where = project.find(target)
    assert where is not None
    out = []
    for name, line, col in imp.names or ():
        if not project.has(where, target, name):
            msg = f"cannot import name '{name}' from '{target}' ({where})"
            out.append(Finding(path, line, col, msg))
    return out


def _attr_findings(project: _Project, path: str, use: _AttrUse) -> list[Finding]:
    dotted = project.absolute(path, use.level, use.module)
    if dotted is None or not project.owns(dotted) or project.missing_module(dotted):
        return []  # not ours, or the import itself is already reported
    if use.name is not None:
        where = project.find(dotted)
        assert where is not None
        if use.name in project.names(where) or not project.find(f"{dotted}.{use.name}"):
            return []  # bound a name, not a submodule: nothing to follow
        dotted = f"{dotted}.{use.name}"
    for attr in use.chain:
        where = project.find(dotted)
        assert where is not None
        if not project.has(where, dotted, attr):
            msg = f"module '{dotted}' ({where}) has no attribute '{attr}'"
            return [Finding(path, use.line, use.col, msg)]
        if attr in project.names(where) or not project.find(f"{dotted}.{attr}"):
            return []
        dotted = f"{dotted}.{attr}"
    return []


def _contract_findings(
    manifest: Manifest, files: Mapping[str, str], modules: Mapping[str, _Module]
) -> list[Finding]:
    out = []
    for contract in manifest.files:
        path = contract.path
        if path not in files:
            out.append(
                Finding(
                    path, None, None, "missing: the task's manifest requires this file"
                )
            )
            continue
        mod = modules.get(path)
        if mod is None:  # unparsable (already reported) or not Python
            continue
        for name in contract.defines:
            if name not in mod.names:
                out.append(
                    Finding(
                        path, None, None, f"{path} must define '{name}' at top level"
                    )
                )
        for flag in contract.flags:
            flag = flag if flag.startswith("-") else f"--{flag}"
            if flag not in mod.flags:
                msg = (
                    f"{path} must accept {flag} (no add_argument({flag!r}, ...) found)"
                )
                out.append(Finding(path, None, None, msg))
    return out


def check_project(files: Mapping[str, str], manifest: Manifest) -> list[Finding]:
    """Every finding for the candidate project ``files`` (path -> text), sorted; [] if clean."""
    findings: list[Finding] = []
    safe: dict[str, str] = {}
    for path, text in files.items():
        try:
            safe[safe_relpath(path)] = text
        except ValueError as exc:
            findings.append(Finding(path, None, None, f"unsafe path: {exc}"))
    modules: dict[str, _Module] = {}
    for path, text in safe.items():
        if not path.endswith(".py"):
            continue
        if problem := _syntax_finding(path, text):
            findings.append(problem)
            continue
        try:
            modules[path] = _analyse(text)
        except cst.ParserSyntaxError as exc:  # valid for compile(), not for libcst
            msg = f"cannot analyse: {exc.message}"
            findings.append(Finding(path, exc.raw_line, exc.raw_column + 1, msg))
    findings += _contract_findings(manifest, safe, modules)
    project = _Project(safe, modules)
    for path, mod in modules.items():
        for imp in mod.imports:
            findings += _import_findings(project, path, imp)
        for use in mod.attr_uses:
            findings += _attr_findings(project, path, use)
    return sort_findings(findings)
