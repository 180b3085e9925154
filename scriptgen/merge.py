"""Bring a new generation into a project the user may have edited, never losing an edit.

For each file: base = what scriptgen last wrote (``.scriptgen/base/``, checked against the
lock's hash), ours = the file on disk, theirs = the new generation. An unedited file takes
the new generation; an edited one is merged three-way with ``git merge-file``, as copier's
``update`` does. A conflict leaves git's markers in the file.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ScriptgenError, UserError
from .lock import base_copy, sha256_text

LABELS = ("yours", "last generation", "new generation")


@dataclass
class Merge:
    final: dict[str, str | None] = field(
        default_factory=dict
    )  # None: absent afterwards
    merged: list[str] = field(default_factory=list)  # clean merges that kept an edit
    kept: list[str] = field(default_factory=list)  # edits the new generation leaves be
    deleted: list[str] = field(default_factory=list)  # the user's deletions, kept
    conflicts: dict[str, str] = field(default_factory=dict)  # path -> what conflicts

    @property
    def edited(self) -> bool:
        """Whether the result holds anything of the user's (so it needs its own proof)."""
        return bool(self.merged or self.kept or self.deleted or self.conflicts)


def reconcile(project: Path, last: Mapping[str, str], new: Mapping[str, str]) -> Merge:
    """What each file becomes; ``last`` maps paths to the hashes of what scriptgen wrote
    before, ``new`` to the texts it makes now. Reads the project, writes nothing."""
    result = Merge()
    for rel in sorted(last.keys() | new.keys()):
        ours = _read(project / rel)
        old, theirs = last.get(rel), new.get(rel)
        if ours is None:
            if old is None or theirs is None:
                result.final[rel] = theirs
            elif sha256_text(theirs) == old:
                result.final[rel] = None  # deleted by the user, unchanged by scriptgen
                result.deleted.append(rel)
            else:
                result.final[rel] = theirs
                result.conflicts[rel] = (
                    "you deleted it and the new generation changes it; "
                    "delete it again to keep it deleted"
                )
            continue
        if old is not None and sha256_text(ours) == old:
            result.final[rel] = theirs  # unedited: the new generation, or gone with it
            continue
        if theirs is None:
            result.final[rel] = (
                ours  # scriptgen no longer makes it: it is the user's now
            )
            result.kept.append(rel)
            continue
        if ours == theirs:
            result.final[rel] = ours
            continue
        base = base_text(project, rel, old)
        if base is not None and base == theirs:
            result.final[rel] = ours  # nothing new from scriptgen for this file
            result.kept.append(rel)
            continue
        text, conflicted = merge_file(ours, base or "", theirs)
        result.final[rel] = text
        if conflicted:
            result.conflicts[rel] = (
                "your edits and the new generation change the same lines"
                if base is not None
                else "no copy of the last generation to merge against"
            )
        else:
            result.merged.append(rel)
    return result


def base_text(project: Path, rel: str, digest: str | None) -> str | None:
    """What scriptgen last wrote at ``rel``: the kept copy, else (projects generated
    before copies were kept) the committed version, whichever matches the lock's hash.
    """
    if digest is None:
        return None
    kept = _read(project / base_copy(rel))
    if kept is not None and sha256_text(kept) == digest:
        return kept
    path = project / rel
    try:
        proc = subprocess.run(
            ["git", "cat-file", "-p", f"HEAD:./{path.name}"],
            cwd=path.parent if path.parent.is_dir() else project,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        committed = proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return committed if sha256_text(committed) == digest else None


def merge_file(ours: str, base: str, theirs: str) -> tuple[str, bool]:
    """``git merge-file``: the merged text and whether it holds conflict markers."""
    with tempfile.TemporaryDirectory(prefix="scriptgen-merge-") as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        labels = [arg for label in LABELS for arg in ("-L", label)]
        command = ["git", "merge-file", "-p", *labels, *paths]
        try:
            proc = subprocess.run(command, capture_output=True, timeout=60)
        except FileNotFoundError:
            raise ScriptgenError(
                "merging your edits needs git on PATH (git merge-file)"
            ) from None
    # The exit code is the number of conflicts; negative (>127 here) is an error.
    if not 0 <= proc.returncode <= 127:
        raise ScriptgenError(
            f"git merge-file failed (exit {proc.returncode}): "
            + proc.stderr.decode("utf-8", "replace").strip()
        )
    return proc.stdout.decode("utf-8"), proc.returncode > 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start}): scriptgen cannot merge its new "
            "version into it; fix the file, or move it away to take the new version"
        ) from None
