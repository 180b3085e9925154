"""Write a project atomically: build it beside the target, then rename it into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import UserError


def write_new(target: Path, files: Mapping[str, str]) -> None:
    """Create ``target`` holding exactly ``files``; on any failure nothing is left behind."""
    if target.exists():
        raise UserError(
            f"{target} already exists; regenerate it with `scriptgen regen {target}` "
            "or choose another --name"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.", suffix=".scriptgen-tmp", dir=target.parent
        )
    )
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700
        # rename() of a folder onto an existing non-empty folder fails, so a target that
        # appeared meanwhile is never overwritten.
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def keep_candidate(name: str, files: Mapping[str, str]) -> Path:
    """Save a failed candidate for inspection, outside the output folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"scriptgen-failed-{name}-"))
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
