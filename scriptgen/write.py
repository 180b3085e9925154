"""Write projects atomically: a new one is built beside the target and renamed into place;
an existing one is updated file by file with every change staged first and undone on a
failure; a run holds the project so that two cannot interleave."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import ScriptgenError, UserError

LOCK_WAIT = 600.0  # seconds a run waits for another run on the same project


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


def write_update(project: Path, files: Mapping[str, str | None]) -> None:
    """Write (text) or delete (None) each file of an existing project, all or nothing.

    Every new text is written to a staging folder first; only then are the files swapped
    in, each current one moved aside, so that a failure midway puts every file back.
    Files of the project not named in ``files`` are never touched.
    """
    staging = Path(
        tempfile.mkdtemp(
            prefix=f".{project.name}.", suffix=".scriptgen-tmp", dir=project.parent
        )
    )
    new, old = staging / "new", staging / "old"
    done: list[tuple[Path, Path | None]] = []  # (target, where its old version went)
    created_dirs: list[Path] = []
    try:
        new.mkdir()
        for i, text in enumerate(files.values()):
            if text is not None:
                (new / str(i)).write_text(text, encoding="utf-8")
        old.mkdir()
        for i, (rel, text) in enumerate(files.items()):
            target = project / rel
            aside: Path | None = None
            if target.exists() or target.is_symlink():
                aside = old / str(i)
                os.rename(target, aside)
            done.append((target, aside))
            if text is not None:
                created_dirs += _make_parents(target.parent, project)
                staged = new / str(i)
                if aside is not None:
                    shutil.copymode(aside, staged)
                os.rename(staged, target)
    except BaseException:
        for target, aside in reversed(done):
            if aside is not None:
                os.replace(aside, target)
            elif target.exists():
                target.unlink()
        for folder in reversed(created_dirs):
            _rmdir_if_empty(folder)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    for (
        target,
        _,
    ) in done:  # folders a deletion emptied (a removed tests/ file's folder)
        if not target.exists():
            _prune_empty(target.parent, project)


def _make_parents(folder: Path, project: Path) -> list[Path]:
    made = []
    for parent in reversed([folder, *folder.parents]):
        if parent == project or project not in parent.parents:
            continue
        if not parent.exists():
            parent.mkdir()
            made.append(parent)
    return made


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _prune_empty(folder: Path, project: Path) -> None:
    while folder != project and project in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


@contextmanager
def exclusive(
    project: Path,
    wait: float = LOCK_WAIT,
    on_wait: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Hold ``project`` for one scriptgen run: a second run waits, then gives up.

    The lock is ``flock`` on the project folder itself: no lock file to leave behind or
    commit, and the kernel releases it when a run dies.
    """
    fd = os.open(project, os.O_RDONLY)
    try:
        deadline, waited = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    on_wait()
                    waited = True
                if time.monotonic() >= deadline:
                    raise ScriptgenError(
                        f"{project} is held by another scriptgen run (waited {wait:g}s)"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock
