"""Write projects atomically: a new one is built beside the target and renamed into place;
an existing one is updated file by file with every change staged first and undone on a
failure; a run holds the project so that two cannot interleave."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import ScriptgenError, UserError
from .lock import SPEC_FILE

LOCK_WAIT = 600.0  # seconds a run waits for another run on the same project
# A run's staging folder beside the project: ".<name>.<pid>.<random>.scriptgen-tmp".
STAGING_SUFFIX = ".scriptgen-tmp"
# What an update will swap, written before it swaps anything: a run killed midway is
# rolled back from it by the next run.
JOURNAL = "journal.json"


def _staging(target: Path) -> Path:
    try:
        return Path(
            tempfile.mkdtemp(
                prefix=f".{target.name}.{os.getpid()}.",
                suffix=STAGING_SUFFIX,
                dir=target.parent,
            )
        )
    except OSError as exc:
        raise ScriptgenError(
            f"cannot write {target}: {exc.strerror or exc}; nothing was written"
        ) from exc


def recover(target: Path) -> list[str]:
    """Undo what killed runs left beside ``target``: a half-swapped update is rolled back
    to the old files, staging folders are removed. Returns what it restored. Runs of
    processes still alive are left alone."""
    restored: list[str] = []
    for staging in sorted(target.parent.glob(f".{target.name}.*{STAGING_SUFFIX}")):
        pid = staging.name[len(target.name) + 2 :].partition(".")[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            journal = json.loads((staging / JOURNAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = (
                None  # a new project's build, or killed before it swapped anything
            )
        if isinstance(journal, list):
            for i, (rel, existed) in enumerate(journal):
                path, aside, staged = (
                    target / rel,
                    staging / "old" / str(i),
                    staging / "new" / str(i),
                )
                if aside.exists() or aside.is_symlink():
                    os.replace(aside, path)
                    restored.append(rel)
                elif not existed:
                    if path.exists() and not staged.exists():
                        path.unlink()  # created by the killed run
                        restored.append(rel)
                    _prune_empty(path.parent, target)  # and its new folders
        shutil.rmtree(staging, ignore_errors=True)
    return restored


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the same PID may have been reused since)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(folders: Iterable[Path], prefix: str = "") -> None:
    """Remove the folders named ``<prefix><pid>-...`` whose scriptgen process is gone
    (killed before it could clean up)."""
    for folder in folders:
        pid = folder.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def refuse_existing(target: Path) -> None:
    """Raise UserError where ``target`` exists: a project of scriptgen's is regenerated,
    anything else is not scriptgen's to touch."""
    if not target.exists():
        return
    if (target / SPEC_FILE).is_file():
        raise UserError(
            f"{target} already exists; regenerate it with `scriptgen regen {target}` "
            "or choose another --name"
        )
    raise UserError(
        f"{target} already exists and is not a scriptgen project; choose another --name "
        "or --out"
    )


def write_new(target: Path, files: Mapping[str, str]) -> None:
    """Create ``target`` holding exactly ``files``; on any failure nothing is left behind."""
    refuse_existing(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    staging = _staging(target)
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700
        # rename() of a folder onto an existing non-empty folder fails, so a target that
        # appeared meanwhile is never overwritten.
        os.rename(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and target.exists():
            raise ScriptgenError(
                f"{target} was written by another run meanwhile; this run wrote nothing"
            ) from exc
        if isinstance(exc, OSError):  # a full disk, a read-only folder, a quota
            raise ScriptgenError(
                f"cannot write {target}: {exc.strerror or exc}; nothing was written"
            ) from exc
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
    staging = _staging(project)
    new, old = staging / "new", staging / "old"
    done: list[tuple[Path, Path | None]] = []  # (target, where its old version went)
    created_dirs: list[Path] = []
    try:
        new.mkdir()
        for i, text in enumerate(files.values()):
            if text is not None:
                (new / str(i)).write_text(text, encoding="utf-8")
        old.mkdir()
        journal = [[rel, (project / rel).exists()] for rel in files]
        (staging / JOURNAL).write_text(json.dumps(journal), encoding="utf-8")
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
    except BaseException as exc:
        for target, aside in reversed(done):
            if aside is not None:
                os.replace(aside, target)
            elif target.exists():
                target.unlink()
        for folder in reversed(created_dirs):
            _rmdir_if_empty(folder)
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ScriptgenError(
                f"cannot write {project}: {exc.strerror or exc}; every file was put back"
            ) from exc
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
        recover(project)  # a run killed midway: its project goes back to the old files
        yield
    finally:
        os.close(fd)  # releases the lock
