"""Formatting: isort (black profile), then black, each result checked before it is kept.

black runs with ``fast=False``: it proves the output equivalent to the input and stable.
isort is configured from arguments only, never from the working directory, so that the
same project formats the same way wherever scriptgen runs (regen --check depends on it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import black
import isort
from isort.exceptions import FileSkipComment, ISortError

from .checks import Finding, sort_findings
from .errors import ValidationFailed

_MODE = black.Mode(target_versions={black.TargetVersion.PY310})
# black: "Cannot parse for target version Python 3.10: 3:4:     x ="; the column is 0-based.
_POSITION = re.compile(r"(.*?):\s*(\d+):(\d+)")


class FormatError(ValidationFailed):
    """isort or black cannot format a file; line and col (1-based) when known."""

    def __init__(
        self, path: str, message: str, line: int | None = None, col: int | None = None
    ) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message, self.line, self.col = path, message, line, col


def _sort_imports(src: str, path: str, first_party: Iterable[str]) -> str:
    try:
        return isort.code(
            src,
            extension="pyi" if path.endswith(".pyi") else "py",
            profile="black",
            # Empty src_paths: by default isort calls whatever sits in the current
            # directory first-party, which would make the output depend on the cwd.
            src_paths=(),
            known_first_party=sorted(first_party),
        )
    except FileSkipComment:  # `# isort: skip_file` is the author's call
        return src


def format_python(src: str, path: str, *, first_party: Iterable[str] = ()) -> str:
    """``src`` import-sorted and black-formatted; raises FormatError.

    ``first_party``: top-level module names of the project, sorted into their own section.
    """
    first = frozenset(first_party)
    key = _cache_key(src, path, first)
    if (cached := _read_cached(key)) is not None:
        return cached
    out = _format_python(src, path, first)
    _write_cached(key, out)
    return out


# The formatted text of a file, on disk, as black keeps its own cache: a later run (`new`
# again, `regen`, the scaffold files every project shares) skips isort and black's safety
# checks (~0.2 s a file). Keyed on everything the output depends on; scriptgen writes it,
# the validation sandbox cannot.
def format_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scriptgen" / "format"


def _cache_key(src: str, path: str, first_party: frozenset[str]) -> str:
    versions = [black.__version__, isort.__version__]
    what = [versions, path.endswith(".pyi"), sorted(first_party), src]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()


def _read_cached(key: str) -> str | None:
    try:
        return (format_cache() / key[:2] / key).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write_cached(key: str, text: str) -> None:
    folder = format_cache() / key[:2]
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, folder / key)  # whole or not at all
    except OSError:  # a cache that cannot be written is only slower
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# Formatting is a pure function of its input and costs ~0.2 s a file: `regen` of many
# projects of one task, and a project's repair rounds, format the same files again.
@functools.lru_cache(maxsize=256)
def _format_python(src: str, path: str, first_party: frozenset[str]) -> str:
    mode = replace(_MODE, is_pyi=path.endswith(".pyi"))
    try:
        sorted_src = _sort_imports(src, path, first_party)
        try:
            out = black.format_file_contents(sorted_src, fast=False, mode=mode)
        except black.NothingChanged:
            out = sorted_src
        # black re-wraps what isort wrote; if isort then disagrees, every run would
        # change the file again.
        if _sort_imports(out, path, first_party) != out:
            raise FormatError(path, "isort and black disagree on this file's imports")
    except black.InvalidInput as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot parse"
        if match := _POSITION.match(first):
            first, line, col = match[1], int(match[2]), int(match[3]) + 1
            raise FormatError(path, f"black: {first}", line, col) from exc
        raise FormatError(path, f"black: {first}") from exc
    except (black.ASTSafetyError, ISortError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormatError(path, f"{type(exc).__name__}: {first}") from exc
    return out


def project_modules(paths: Iterable[str]) -> set[str]:
    """Top-level module and package names that the project's own files provide."""
    return {p.split("/")[0].removesuffix(".py") for p in paths if p.endswith(".py")}


def format_files(files: Mapping[str, str]) -> tuple[dict[str, str], list[Finding]]:
    """Every ``.py`` file formatted; a file that cannot be is kept as is and reported."""
    first_party = project_modules(files)
    out = dict(files)
    findings = []
    for path, src in files.items():
        if not path.endswith((".py", ".pyi")):
            continue
        try:
            out[path] = format_python(src, path, first_party=first_party)
        except FormatError as exc:
            findings.append(Finding(path, exc.line, exc.col, exc.message))
    return out, sort_findings(findings)
