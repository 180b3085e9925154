"""What one Python file defines, imports and accepts on its command line, from libcst and
its scope analysis (so that a parameter named ``data`` is not taken for ``import data``):
the structure that checks.py checks across a project's files. Nothing here runs the code.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst import metadata as meta


@dataclass
class Import:
    node: cst.CSTNode  # where a finding about the whole statement points
    level: int  # 0: absolute
    module: str | None  # dotted; None in `from . import x`
    names: list[tuple[str, cst.CSTNode]] | None  # (name, its alias); None: `import X`
    star: bool = False


@dataclass
class AttrUse:
    level: int
    module: str | None  # what the name is bound to, perhaps not a module
    chain: tuple[str, ...]  # `data.load.x` bound to data: ("load", "x")
    line: int
    col: int


def _dotted(node: cst.CSTNode | None) -> str | None:
    return cst.helpers.get_full_name_for_node(node) if node else None


class Analysis(cst.CSTVisitor):
    """What one file defines, imports and accepts on its command line.

    Positions and the attribute uses of imported modules are worked out when asked for:
    libcst's position, parent and expression-context analyses cost twice what the rest
    does, and a project's modules rarely import one another as modules. Only the tree is
    kept (a cached module holds no metadata it did not need)."""

    def __init__(self, tree: cst.Module) -> None:
        self.tree = tree
        self.names: set[str] = set()  # top level
        self.imports: list[Import] = []
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
            self.imports.append(Import(a, 0, a.evaluated_name, None))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        aliases = node.names if isinstance(node.names, Sequence) else ()
        names = [(a.evaluated_name, a) for a in aliases]
        star = isinstance(node.names, cst.ImportStar)
        level, module = len(node.relative), _dotted(node.module)
        self.imports.append(Import(node, level, module, names, star))

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
    def attr_uses(self) -> list[AttrUse]:
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
                    # Rebound somewhere: cannot tell which binding it reads.
                    if len(access.referents) != 1:
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
                        uses.append(AttrUse(*target, tuple(chain), *self.pos(expr)))
        return uses


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
def analyse(src: str) -> Analysis:
    tree = cst.parse_module(src)
    module = Analysis(tree)
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
