"""Static checks of a candidate project; nothing here executes the code under check.

Parse errors come from ``compile()``, whose file:line:col are exact; libcst's own error
positions are not. Structure (top-level names, imports, argparse flags) comes from libcst
and its scope analysis, so that a parameter named ``data`` is not taken for ``import data``.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst import metadata as meta

from .tasks import Manifest

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


@dataclass
class _Import:
    node: cst.CSTNode  # where a finding about the whole statement points
    level: int  # 0: absolute
    module: str | None  # dotted; None in `from . import x`
    names: list[tuple[str, cst.CSTNode]] | None  # (name, its alias); None: `import X`
    star: bool = False


@dataclass
class _AttrUse:
    level: int
    module: str | None  # what the name is bound to, perhaps not a module
    chain: tuple[str, ...]  # `data.load.x` bound to data: ("load", "x")
    line: int
    col: int


def _dotted(node: cst.CSTNode | None) -> str | None:
    return cst.helpers.get_full_name_for_node(node) if node else None


class _Module(cst.CSTVisitor):
    """What one file defines, imports and accepts on its command line.

    Positions and the attribute uses of imported modules are worked out when asked for:
    libcst's position, parent and expression-context analyses cost twice what the rest
    does, and a project's modules rarely import one another as modules. Only the tree is
    kept (a cached module holds no metadata it did not need)."""

    def __init__(self, tree: cst.Module) -> None:
        self.tree = tree
        self.names: set[str] = set()  # top level
        self.imports: list[_Import] = []
        self.flags: set[str] = set()
        self.bare: set[int] = set()  # ids of the targets of `x: int` (binds nothing)

    @functools.cached_property
    def wrapper(self) -> meta.MetadataWrapper:
        # No copy of the tree: the metadata must find the visited nodes.
        return meta.MetadataWrapper(self.tree, unsafe_skip_copy=True)

    def pos(self, node: cst.CSTNode) -> tuple[int, int]:
        start = self.wrapper.resolve(meta.PositionProvider)[node].start
        return start.line, start.column + 1

    def visit_Import(self, node: cst.Import) -> None:
        for a in node.names:
            self.imports.append(_Import(a, 0, a.evaluated_name, None))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        aliases = node.names if isinstance(node.names, Sequence) else ()
        names = [(a.evaluated_name, a) for a in aliases]
        star = isinstance(node.names, cst.ImportStar)
        level, module = len(node.relative), _dotted(node.module)
        self.imports.append(_Import(node, level, module, names, star))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is None:
            self.bare.add(id(node.target))

    def visit_Call(self, node: cst.Call) -> None:
        # Any receiver: parser, argument groups, subparsers, mutually exclusive groups.
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "add_argument"):
            return
        for arg in node.args:
            if arg.keyword is None and not arg.star:
                value = getattr(arg.value, "evaluated_value", None)  # None: f-string
                if isinstance(value, str) and value.startswith("-"):
                    self.flags.add(value)

    @functools.cached_property
    def attr_uses(self) -> list[_AttrUse]:
        """Every `name.attr...` read through a name that an import bound (the module
        it names, perhaps not a module), from libcst's scope analysis."""
        wrapper = self.wrapper
        scopes = wrapper.resolve(meta.ScopeProvider)
        parents = wrapper.resolve(meta.ParentNodeProvider)
        contexts = wrapper.resolve(meta.ExpressionContextProvider)
        uses = []
        # Scope analysis, not name matching: a parameter called `data` is not `import data`.
        for scope in {s for s in scopes.values() if s is not None}:
            for assignment in scope.assignments:
                if (target := _bound_to(assignment)) is None:
                    continue
                for access in assignment.references:
                    if (
                        len(access.referents) != 1
                    ):  # rebound somewhere: cannot tell which
                        continue
                    chain: list[str] = []
                    expr: cst.CSTNode = access.node
                    # `data.load.x`: walk up while the access is the object, not the attr.
                    while isinstance(up := parents.get(expr), cst.Attribute):
                        if up.value is not expr:
                            break
                        chain.append(up.attr.value)
                        expr = up
                    if chain and contexts.get(expr) == meta.ExpressionContext.LOAD:
                        uses.append(_AttrUse(*target, tuple(chain), *self.pos(expr)))
        return uses


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


def _bound_to(assignment: meta.BaseAssignment) -> tuple[int, str | None] | None:
    """(level, dotted name) that an import binds ``assignment.name`` to."""
    node, name = getattr(assignment, "node", None), assignment.name
    if isinstance(node, cst.Import):
        for a in node.names:
            if a.evaluated_alias == name:
                return 0, a.evaluated_name
            dotted = f"{a.evaluated_name}."
            if a.evaluated_alias is None and dotted.startswith(f"{name}."):
                return 0, name  # `import a.b` binds both `a` and `a.b`
    elif isinstance(node, cst.ImportFrom) and isinstance(node.names, Sequence):
        for a in node.names:
            if (a.evaluated_alias or a.evaluated_name) == name:
                module = _dotted(node.module)
                full = f"{module}.{a.evaluated_name}" if module else a.evaluated_name
                return len(node.relative), full  # a submodule, or else not followed
    return None


# A pure function of the text (callers only read the result): `regen` of many projects
# of one task, and repair rounds, analyse the same files again.
@functools.lru_cache(maxsize=256)
def _analyse(src: str) -> _Module:
    tree = cst.parse_module(src)
    module = _Module(tree)
    tree.visit(module)
    scopes = meta.MetadataWrapper(tree, unsafe_skip_copy=True).resolve(
        meta.ScopeProvider
    )
    global_scope = scopes[tree]
    assert global_scope is not None
    for assignment in global_scope.assignments:
        node = getattr(assignment, "node", None)
        if "." not in assignment.name and id(node) not in module.bare:
            module.names.add(assignment.name)
    return module


class _Project:
    """Resolves modules within the candidate project as Python would from its root."""

    def __init__(self, paths: Iterable[str], modules: Mapping[str, _Module]) -> None:
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
    project: _Project, path: str, mod: _Module, imp: _Import
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


def _binds_a_module(project: _Project, path: str, imp: _Import) -> bool:
    """Whether ``imp`` binds a name to one of the project's modules (`import data`,
    `from pkg import data`), whose attributes the project then reads."""
    target = project.absolute(path, imp.level, imp.module)
    if target is None or not project.owns(target):
        return False
    if imp.names is None:
        return True
    return any(project.find(f"{target}.{name}") for name, _ in imp.names)


def _attr_findings(project: _Project, path: str, use: _AttrUse) -> list[Finding]:
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
    manifest: Manifest, files: Mapping[str, str], modules: Mapping[str, _Module]
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
    modules: dict[str, _Module] = {}
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
            modules[path] = _analyse(text)
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
