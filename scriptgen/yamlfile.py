"""Reading a YAML file that a person wrote: every way it can be wrong is one line."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

# The C loader where there is one, for speed (`regen --check` reads every project's spec);
# a document it refuses is parsed again by the pure-Python loader, whose messages are clearer.
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Loader = yaml.SafeLoader
# A spec, a manifest or a registry a person wrote is a few kilobytes: anything this large
# is not one, and is refused before it is read.
MAX_BYTES = 1 << 20


def read_yaml(path: Path, what: str = "file") -> Any:
    """The parsed document at ``path``; a UserError naming the file (and line) otherwise."""
    from .errors import UserError

    try:
        # Followed through symlinks; a FIFO or a device would block or never end.
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{what} {path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise UserError(
                f"{what} {path}: {info.st_size:,} bytes, more than a {what} has "
                f"(at most {MAX_BYTES:,})"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not a text file (not UTF-8 at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, where: Path | str) -> Any:
    """The document in ``text``, refused as one line naming ``where`` when it is malformed,
    nested too deeply, or its aliases expand it past what any spec holds."""
    try:
        data = yaml.load(text, Loader=_FAST)
    except (yaml.YAMLError, RecursionError):
        data = _load_pure(text, where)  # its message is the clearer one
    return check_shape(data, where)


def check_shape(data: Any, where: Path | str) -> Any:
    """``data``, refused as one line naming ``where`` when no spec could be that deep or
    that large."""
    from .errors import UserError

    problem = _shape_problem(data)
    if problem:
        raise UserError(f"{where}: malformed YAML: {problem}")
    return data


def _load_pure(text: str, path: Path | str) -> Any:
    """The document as the pure-Python loader reads it; a UserError with the line and the
    problem where it cannot."""
    from .errors import UserError

    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise UserError(f"{path}: malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, start = getattr(exc, "context", None), getattr(
            exc, "context_mark", None
        )
        if (
            context and start
        ):  # where the broken construct began, often the real culprit
            problem += f" ({context} at line {start.line + 1})"
        raise UserError(f"{path}{where}: malformed YAML: {problem}") from None


# No spec, manifest or registry nests deeper, or holds more elements; a document that does
# would only make the code that walks it overflow Python's stack, or never end: aliases are
# loaded as shared objects, so 200 bytes of nested aliases ("billion laughs") load at once
# and expand to billions of elements only when walked.
MAX_DEPTH = 32
MAX_ELEMENTS = 10_000


def _shape_problem(data: Any) -> str:
    """What makes ``data`` no spec at all ("" if nothing); walks at most MAX_ELEMENTS."""
    todo = [(data, 1)]
    seen = 0
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return "nested too deeply"
        seen += len(children)
        if seen > MAX_ELEMENTS:
            return f"more than {MAX_ELEMENTS:,} elements, its aliases expanded"
        todo += [(child, depth + 1) for child in children]
    return ""
