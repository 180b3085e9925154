"""The project's ``.scriptgen/`` folder: resolved spec, lock, validation report, the base
copies of what scriptgen last wrote, and the LLM transcript.

Staleness is decided from these files alone: this module imports nothing heavier than the
standard library, so ``regen --check`` never pays for torch, transformers or even pydantic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UserError

META_DIR = ".scriptgen"
SPEC_FILE = f"{META_DIR}/spec.yaml"
LOCK_FILE = f"{META_DIR}/lock.json"
VALIDATION_FILE = f"{META_DIR}/validation.json"
TRANSCRIPT_FILE = f"{META_DIR}/transcript.jsonl"
# The judge (the contract tests scriptgen validates a project with): rendered from the
# templates for each validation, and by `scriptgen judge` for a run by hand; never written
# to the project otherwise, never committed.
JUDGE_DIR = f"{META_DIR}/judge"
# What scriptgen last wrote for each file, so that a user's edit can be merged three-way
# (and the last generation recovered by hand: it is a plain copy).
BASE_DIR = f"{META_DIR}/base"
# Files git reads for itself: a base copy under their own name would act (a .gitignore in
# .scriptgen/base/ would ignore files there), so theirs carries a suffix.
_GIT_FILES = frozenset({".gitignore", ".gitattributes"})


def base_copy(rel: str) -> str:
    """Where the base copy of the project file ``rel`` is kept."""
    folder, _, name = rel.rpartition("/")
    if name in _GIT_FILES:
        name += ".base"
    return f"{BASE_DIR}/{folder}/{name}" if folder else f"{BASE_DIR}/{name}"


# Keeps the base copies out of diffs and out of review (they repeat the project's files).
ATTRIBUTES_FILE = f"{META_DIR}/.gitattributes"
ATTRIBUTES = "base/** -diff linguist-generated=true\n"

# Backends that write code without prompts; every other backend's projects also depend on
# the shared prompt templates.
OFFLINE_BACKENDS = frozenset({"reference"})
PROMPTS_DIR = "_common/prompts"
# The shared registries; a project's lock hashes only the entries it uses
# ("_common/models.yaml#bert-base").
MODELS_FILE = "_common/models.yaml"
FAMILIES_FILE = "_common/families.yaml"
# The files every task's project has, appended to a manifest's own unless it names the path.
COMMON_FILES = "_common/files.yaml"
ENTRY_SEP = "#"
MISSING = "missing"
# Greedy decoding, the default of every LLM backend; recorded in the lock.
LLM_DECODING: Mapping[str, Any] = {"temperature": 0.0, "seed": 0}


def default_decoding(backend: str) -> dict[str, Any]:
    return {} if backend in OFFLINE_BACKENDS else dict(LLM_DECODING)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_hash(canonical_spec: Mapping[str, Any]) -> str:
    # default=str: a hand-edited spec.yaml may hold a YAML date; it must hash, not crash.
    blob = json.dumps(
        canonical_spec, sort_keys=True, separators=(",", ":"), default=str
    )
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def templates_root() -> Path:
    """The templates folder: ``$SCRIPTGEN_TEMPLATES`` (a team's own), else packaged beside
    the code in a wheel, else at the repo root in a checkout."""
    override = os.environ.get("SCRIPTGEN_TEMPLATES")
    if override:
        return Path(override).expanduser().resolve()
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def hash_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder``, keyed by POSIX path relative to it. A file
    whose size and modification time are as when it was last hashed is not read again
    (``regen --check`` hashes the same templates for every project)."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        try:
            info = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            rel = path.relative_to(folder).as_posix()
            out[rel] = _digest(path, info.st_size, info.st_mtime_ns)
    return out


@lru_cache(maxsize=4096)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_prompt(rel: str) -> bool:
    """Prompt templates: the shared ones and a task's own ``prompts/`` folder."""
    return rel.startswith(PROMPTS_DIR + "/") or rel.split("/")[1:2] == ["prompts"]


def spec_parts(spec: Mapping[str, Any]) -> frozenset[str]:
    """The optional parts a spec asks for, named as a manifest file's ``when``: from a
    spec as read from its file (``regen --check`` stays light) or a validated one's
    dump."""
    training = spec.get("training")
    training = training if isinstance(training, dict) else {}
    stopping = training.get("early_stopping")
    trackers = training.get("report_to")
    asked = {
        "baseline": spec.get("baseline") is not None,
        "early_stopping": stopping not in (None, False),
        "model_card": spec.get("model_card") not in (None, False),
        "class_report": spec.get("class_report") is True,
        "search": spec.get("search") not in (None, False),
        "export": spec.get("export") is True,
        "serve": spec.get("serve") is True,
        # The tracker the judge can read offline.
        "tensorboard": trackers == "tensorboard"
        or (isinstance(trackers, list) and "tensorboard" in trackers),
    }
    return frozenset(part for part, on in asked.items() if on)


def unused_templates(task: str, parts: Iterable[str] = ()) -> tuple[str, ...]:
    """The task's own templates that only files a project leaves out render (those of
    the optional parts its spec does not ask for), read from the manifest without
    validating it (``regen --check`` stays light)."""
    path = templates_root() / task / "manifest.yaml"
    mtimes = []
    for read in (path, templates_root() / COMMON_FILES):
        try:
            mtimes.append(read.stat().st_mtime_ns)
        except OSError:
            mtimes.append(0)  # read_yaml says what is wrong
    return _unused_templates(path, tuple(mtimes), task, frozenset(parts))


def offered_files(common: object) -> dict[str, dict]:
    """The entries of _common/files.yaml (``common``, as read) marked ``offered``, by
    path: a manifest takes one by naming its path in place of an entry."""
    entries = common if isinstance(common, list) else []
    return {
        f.get("path"): f for f in entries if isinstance(f, dict) and f.get("offered")
    }


@lru_cache(maxsize=64)
def _unused_templates(
    path: Path, mtimes_ns: tuple[int, ...], task: str, parts: frozenset[str]
) -> tuple[str, ...]:
    from .yamlfile import read_yaml

    raw = read_yaml(path, "task manifest")
    files = raw.get("files") if isinstance(raw, dict) else None
    if any(isinstance(f, str) for f in files or ()):
        # An entry named by its path is _common/files.yaml's offered entry of that path.
        common = read_yaml(templates_root() / COMMON_FILES, "common files")
        offered = offered_files(common)
        files = [offered.get(f) if isinstance(f, str) else f for f in files]
    files = [f for f in files or () if isinstance(f, dict)]

    def name(template: str) -> str:
        return template if template.startswith("_common/") else f"{task}/{template}"

    kept = {
        name(str(f.get("template")))
        for f in files
        if not f.get("when") or f.get("when") in parts
    }
    optional = {name(str(f.get("template"))) for f in files if f.get("when")}
    return tuple(sorted(optional - kept))


def template_hashes(
    task: str,
    backend: str,
    shared: Iterable[str],
    unused: Iterable[str] = (),
    seen: dict[Path, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Hashes of what a project of ``task`` made by ``backend`` depends on: the task's
    folder (but the ``unused`` templates of files the project leaves out), and each
    ``shared`` key: a file under ``_common/`` that its templates read, or one entry of a
    shared registry (``_common/models.yaml#bert-base``). Prompt templates count only for
    backends that send prompts. Nothing else of ``_common/`` counts, so adding a task,
    an alias or a family leaves existing projects fresh. ``seen``: folders already hashed
    in this run.
    """
    root = templates_root()

    def tree(folder: Path) -> dict[str, str]:
        if seen is None:
            return hash_tree(folder)
        if folder not in seen:
            seen[folder] = hash_tree(folder)
        return seen[folder]

    llm = backend not in OFFLINE_BACKENDS
    skip = set(unused)
    hashes = {
        f"{task}/{rel}": digest
        for rel, digest in tree(root / task).items()
        if (llm or not _is_prompt(f"{task}/{rel}")) and f"{task}/{rel}" not in skip
    }
    keys = {k for k in shared if llm or not _is_prompt(k)}
    if llm:
        keys |= {f"{PROMPTS_DIR}/{rel}" for rel in tree(root / PROMPTS_DIR)}
    for key in sorted(keys):
        rel, _, entry = key.partition(ENTRY_SEP)
        hashes[key] = (
            _entry_hash(root / rel, entry) if entry else _file_hash(root / rel)
        )
    return hashes


def shared_keys(templates: Mapping[str, str]) -> list[str]:
    """The shared keys of a lock's template hashes (what ``template_hashes`` takes)."""
    return [k for k in templates if k.startswith("_common/") and not _is_prompt(k)]


def _file_hash(path: Path) -> str:
    try:
        info = path.stat()
        return _digest(path, info.st_size, info.st_mtime_ns)
    except OSError:
        return MISSING


@lru_cache(maxsize=None)
def _registry(path: Path, mtime: float) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry_hash(path: Path, name: str) -> str:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return MISSING
    entry = _registry(path, mtime).get(name)
    if entry is None:
        return MISSING
    blob = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Lock:
    task: str
    name: str
    spec_hash: str
    model: str
    model_type: str
    backend: str
    llm_model: str
    decoding: Mapping[str, Any]
    templates: Mapping[str, str]
    files: Mapping[
        str, str
    ]  # path -> sha256 of what scriptgen wrote (before any merge)
    validation: Mapping[str, Any]
    spec: Mapping[str, Any] = field(default_factory=dict)  # canonical, to name changes
    scriptgen: str = __version__

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=False, default=dict) + "\n"

    @classmethod
    def read(cls, project: Path) -> Lock:
        path = project / LOCK_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(
                f"{project} is not a scriptgen project (no {LOCK_FILE})"
            ) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the lock: {exc}") from None
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        }
        if not isinstance(data, dict) or not required <= set(data):
            missing = sorted(required - set(data)) if isinstance(data, dict) else []
            raise UserError(
                f"{path}: not a scriptgen lock (missing: {', '.join(missing) or 'all'})"
            )
        # Keys a newer scriptgen added are ignored, not fatal.
        return cls(**{k: v for k, v in data.items() if k in names})
