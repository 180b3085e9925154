"""Is a project what scriptgen would make now? Decided from its ``.scriptgen/`` alone.

Nothing here renders, generates or imports more than PyYAML and the standard library:
``regen --check`` and the ``scriptgen-check`` hook run this for every project on every
commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import LLMSettings
from .errors import UserError, shown
from .lock import (
    META_DIR,
    OFFLINE_BACKENDS,
    SPEC_FILE,
    Lock,
    default_decoding,
    sha256_text,
    shared_keys,
    spec_hash,
    spec_parts,
    template_hashes,
    templates_root,
    unused_templates,
)
from .yamlfile import read_yaml

DEFAULT_ROOT = Path("generated")
_CONFLICT_START, _CONFLICT_END = "<<<<<<< ", ">>>>>>> "
_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "outputs"}


@dataclass(frozen=True)
class Wanted:
    """What a regeneration would use: the backend, and how to reach it."""

    backend: str
    uri: str | None = (
        None  # for an LLM backend: where to send new requests (None: nowhere)
    )
    llm_model: str | None = None  # None: not pinned, so not compared


def wanted_for(
    lock: Lock, llm: str | None, llm_model: str | None, settings: LLMSettings
) -> Wanted:
    """``--llm`` switches a project's backend; without it the project keeps the backend
    its lock names, reached through scriptgen.toml's ``[llm]`` when that names the same
    kind of backend."""
    uri, model = llm, llm_model
    if uri is None:
        if lock.backend in OFFLINE_BACKENDS:
            return Wanted(lock.backend)
        if settings.uri and _scheme(settings.uri) == lock.backend:
            uri, model = settings.uri, llm_model or settings.model
    backend = _scheme(uri) if uri else lock.backend
    if backend == "hf" and uri:
        model = uri.partition(":")[2] or None
    return Wanted(backend, uri, model if backend not in OFFLINE_BACKENDS else None)


def _scheme(uri: str) -> str:
    return uri.partition(":")[0] or "reference"


@dataclass
class Status:
    project: Path
    lock: Lock | None  # None: it could not be read (see error)
    reasons: list[str] = field(default_factory=list)  # why it is stale; empty: fresh
    conflicts: list[str] = field(default_factory=list)  # files with conflict markers
    # The backend, its model or its decoding differ: the transcript's answers do not hold.
    backend_changed: bool = False
    # Its lock or spec is bad input: this project fails, the others are still looked at.
    error: str = ""

    @property
    def fresh(self) -> bool:
        return not self.reasons and not self.conflicts and not self.error


def status(
    project: Path, wanted: Wanted | None = None, seen: dict | None = None
) -> Status:
    """Compare the lock with the spec, the templates and the backend as they are now.
    ``seen``: the template folders already hashed in this run (one `regen --check`
    hashes a task's templates once, not once per project)."""
    lock = Lock.read(project)
    wanted = wanted or Wanted(lock.backend)
    result = Status(project, lock)
    raw = read_raw_spec(project)
    if spec_hash(raw) != lock.spec_hash:
        changes = spec_changes(lock.spec, raw) if lock.spec else []
        more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
        result.reasons.append(
            "spec changed" + (f": {', '.join(changes[:3])}{more}" if changes else "")
        )
    if not (templates_root() / lock.task / "manifest.yaml").is_file():
        raise UserError(f"{project}: its task {lock.task!r} is not among the templates")
    unused = unused_templates(lock.task, spec_parts(raw))
    now = template_hashes(
        lock.task, wanted.backend, shared_keys(lock.templates), unused, seen
    )
    changed = sorted(k for k in now.keys() | lock.templates.keys()
                     if now.get(k) != lock.templates.get(k))  # fmt: skip
    if changed:
        more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
        result.reasons.append(f"templates changed: {', '.join(changed[:3])}{more}")
    backend = []
    if wanted.backend != lock.backend:
        backend.append(f"backend: {lock.backend} -> {wanted.backend}")
    elif wanted.llm_model is not None and wanted.llm_model != lock.llm_model:
        backend.append(f"llm model: {lock.llm_model or '?'} -> {wanted.llm_model}")
    decoding = default_decoding(wanted.backend)
    if wanted.backend == lock.backend and decoding != dict(lock.decoding):
        backend.append(f"decoding: {dict(lock.decoding)} -> {decoding}")
    result.reasons += backend
    result.backend_changed = bool(backend)
    result.conflicts = conflicted_files(project, lock.files)
    return result


def read_raw_spec(project: Path) -> dict[str, Any]:
    """``.scriptgen/spec.yaml`` as the user left it (parsed, not validated)."""
    path = project / SPEC_FILE
    if not path.exists() and not path.is_symlink():
        raise UserError(f"{project}: no {SPEC_FILE}")
    raw = read_yaml(path, "spec")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a spec is a YAML mapping")
    return raw


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``training.learning_rate: 2e-05 -> 3e-05`` for each key whose value differs."""
    a, b = dict(_flatten(old)), dict(_flatten(new))
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            out.append(f"{key} removed")
        elif key not in a:
            out.append(f"{key}: {shown(b[key], 30)} added")
        elif a[key] != b[key] or type(a[key]) is not type(b[key]):
            out.append(f"{key}: {shown(a[key], 30)} -> {shown(b[key], 30)}")
    return out


def _flatten(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def conflicted_files(project: Path, written: Mapping[str, str]) -> list[str]:
    """Files scriptgen wrote that the user changed and that hold conflict markers."""
    found = []
    for rel, digest in written.items():
        try:
            text = (project / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if sha256_text(text) != digest and has_conflict_markers(text):
            found.append(rel)
    return found


def has_conflict_markers(text: str) -> bool:
    lines = text.splitlines()
    return any(ln.startswith(_CONFLICT_START) for ln in lines) and any(
        ln.startswith(_CONFLICT_END) for ln in lines
    )


def find_projects(paths: Sequence[Path]) -> list[Path]:
    """Projects at or below ``paths`` (default: ``generated/``): folders with ``.scriptgen/``.

    A path given that is neither a project nor holds one is bad input; the default folder
    may be missing or empty.
    """
    found: list[Path] = []
    for root in paths or [DEFAULT_ROOT]:
        if not root.is_dir():
            if not paths:
                return []
            raise UserError(f"no such folder: {root}")
        below = list(_walk(root))
        if not below and paths:
            raise UserError(f"{root} is not a scriptgen project and holds none")
        found += below
    unique: dict[str, Path] = {}
    for project in found:
        unique.setdefault(os.path.realpath(project), project)
    return sorted(unique.values())


def _walk(root: Path) -> Iterator[Path]:
    if (root / META_DIR).is_dir():
        yield root
        return
    for folder, dirs, _ in os.walk(root):
        if META_DIR in dirs:
            yield Path(folder)
            dirs[:] = []  # a project's own folders hold no projects
            continue
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
        )
