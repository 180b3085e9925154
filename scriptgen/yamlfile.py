"""Reading a YAML file that a person wrote: every way it can be wrong is one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The pure-Python loader: its error messages are clearer than the C one's.
_Loader = yaml.SafeLoader


def read_yaml(path: Path, what: str = "file") -> Any:
    """The parsed document at ``path``; a UserError naming the file (and line) otherwise."""
    from .errors import UserError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not a text file (not UTF-8 at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)
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
