"""Tasks are data: ``templates/<task>/manifest.yaml`` says which files a project has, who
writes them, what they must define, which model families and training methods the task's
templates implement, and the schema of the spec's ``data`` block.

A manifest is validated when it is read: a wrong or missing key is one line naming the file
and the key. Nothing here knows any particular task.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import UserError
from .lock import COMMON_FILES, JUDGE_DIR, offered_files, templates_root
from .yamlfile import read_yaml

# "code": written by a backend; "scaffold": the rest of the user's project, rendered from
# templates; "judge": scriptgen's own contract tests, never written to the project.
FileKind = Literal["code", "scaffold", "judge"]
KeyType = Literal["string", "integer", "number", "boolean", "strings"]
# The data formats scriptgen knows how to point at; a task lists the ones it reads.
DataFormat = Literal[
    "csv", "json", "text", "parquet", "hf", "imagefolder", "audiofolder"
]
# Keys every task's data block has: where the data is and in which format.
SOURCE_KEYS = ("format", "train", "validation")


# The optional parts of a spec that files can come with (lock.spec_parts reads them).
Part = Literal[
    "baseline",
    "early_stopping",
    "model_card",
    "class_report",
    "tensorboard",
    "search",
    "export",
    "serve",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileContract(_Strict):
    """What one file of a generated project must provide."""

    path: str  # relative, POSIX separators
    kind: FileKind
    # Relative to the task's folder, or to the templates root when it starts with "_common/".
    template: str
    description: str = ""
    defines: tuple[str, ...] = ()  # top-level names the module must define
    flags: tuple[str, ...] = ()  # command-line flags the script must accept (argparse)
    # Part of a project only when its spec asks for this optional part (``Spec.parts``).
    when: Part | None = None


class DataKey(_Strict):
    """One key of a task's ``data`` block."""

    type: KeyType
    description: str = ""
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] | None = None
    min_items: int | None = None  # "strings" only
    minimum: float | None = None  # "integer", "number" only
    maximum: float | None = None
    unique: bool = False  # "strings" only: no repeats
    # The data formats that can hold the data of some of its values (clm's kind chat:
    # message lists, which CSV and plain text cannot hold).
    formats: dict[str, tuple[DataFormat, ...]] = {}


class DataSchema(_Strict):
    formats: tuple[DataFormat, ...]
    keys: dict[str, DataKey] = {}
    # Without data options: a well-known hub dataset (train, validation and any key).
    default: dict[str, Any] = {}

    @model_validator(mode="after")
    def _no_source_keys(self) -> DataSchema:
        clash = sorted(set(self.keys) & set(SOURCE_KEYS))
        if clash:
            raise ValueError(f"keys: {', '.join(clash)} are every task's, not declared")
        return self

    @property
    def allowed(self) -> tuple[str, ...]:
        return (*SOURCE_KEYS, *self.keys)


class Positions(_Strict):
    """How many positions (the sequence a transformer attends over) one example becomes,
    for ``scriptgen plan``'s estimates. Default: training.max_length tokens."""

    # (image_size / patch_size)^2 + 1 patches, from the model's config, where it has both.
    patches: bool = False
    # Else this data key's value times ``per_unit`` (audio: seconds x 50 frames a second).
    data_key: str = ""
    per_unit: float = 0
    what: str = ""  # the derivation's words: "s of audio at 50 frames/s"


class Manifest(_Strict):
    """One task, loaded from ``templates/<task>/manifest.yaml``."""

    name: str
    title: str
    description: str = ""
    # The key of eval_results.json the judge and the README speak of, and the others written.
    metric: str
    metrics: tuple[str, ...] = ()
    # Of those, the ones where lower is better (a loss, a perplexity); higher otherwise.
    lower_is_better: tuple[str, ...] = ()
    # The metrics training may stop early on, the first the default: those every
    # evaluation reports (a metric computed after evaluating is not). Default: metric,
    # then metrics.
    early_stopping_metrics: tuple[str, ...] = ()
    positions: Positions = Positions()
    # Counters a prompt baseline's report may carry, each with the note `scriptgen compare`
    # shows when it is not zero ("{n}" is the count).
    baseline_notes: dict[str, str] = {}
    # The model a hand-written project is judged with when its own does not resolve offline.
    default_model: str
    model_types: tuple[str, ...] = Field(min_length=1)
    methods: tuple[str, ...] = Field(min_length=1)
    data: DataSchema
    files: tuple[FileContract, ...] = Field(min_length=1)
    # Values the task's templates read as ``task.vars`` (e.g. the Auto class of a shared
    # model template), so that templates in _common/ can serve several tasks.
    vars: dict[str, Any] = {}
    # The task's own defaults for the spec's training block, where they differ from the
    # general ones (qa: max_length 384), below what the spec says.
    training: dict[str, Any] = {}
    folder: Path = Path()

    @property
    def requirements(self) -> tuple[str, ...]:
        """What the task's projects need beside the ML stack (``vars.requirements``, which
        their requirements.txt lists)."""
        return tuple(self.vars.get("requirements", ()))

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        for f in self.files:
            if (f.kind == "judge") != f.path.startswith(JUDGE_DIR + "/"):
                raise ValueError(f"{f.path}: only the judge's files go in {JUDGE_DIR}/")
        for key in ("lower_is_better", "early_stopping_metrics"):
            strays = sorted(set(getattr(self, key)) - {self.metric, *self.metrics})
            if strays:
                raise ValueError(f"{key}: {', '.join(strays)} not among metrics")
        if self.positions.data_key and self.positions.data_key not in self.data.keys:
            raise ValueError(f"positions: {self.positions.data_key} is no data key")
        return self

    @property
    def code_files(self) -> tuple[FileContract, ...]:
        return tuple(f for f in self.files if f.kind == "code")

    @property
    def scaffold_files(self) -> tuple[FileContract, ...]:
        return tuple(f for f in self.files if f.kind == "scaffold")

    @property
    def judge_files(self) -> tuple[FileContract, ...]:
        return tuple(f for f in self.files if f.kind == "judge")

    @property
    def parts(self) -> frozenset[str]:
        """The optional parts whose files this manifest holds."""
        return frozenset(f.when for f in self.files if f.when)

    @property
    def stopping_metrics(self) -> tuple[str, ...]:
        return self.early_stopping_metrics or tuple(
            dict.fromkeys((self.metric, *self.metrics))
        )

    def for_spec(self, parts: Collection[str] = ()) -> Manifest:
        """The manifest of one project: the files of the optional ``parts`` its spec
        asks for kept, the others' dropped."""
        files = tuple(f for f in self.files if f.when is None or f.when in parts)
        if len(files) == len(self.files):
            return self
        return self.model_copy(update={"files": files})

    def contract(self, path: str) -> FileContract | None:
        return next((f for f in self.files if f.path == path), None)

    def template(self, contract: FileContract) -> str:
        """The template's path relative to the templates root."""
        if contract.template.startswith("_common/"):
            return contract.template
        return f"{self.name}/{contract.template}"


def first_error(
    exc: ValidationError, prefix: tuple[str, ...] = ()
) -> tuple[str, str, Any]:
    """The first fault pydantic found: its dotted key path (below ``prefix``), what is wrong
    in words a person reads, and the value that was given."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in (*prefix, *err["loc"]))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "missing"
    return where, msg, err.get("input")


def describe_error(
    source: Path | str, exc: ValidationError, prefix: tuple[str, ...] = ()
) -> str:
    """One line: the file, the key path (below ``prefix``) and what is wrong with it."""
    where, msg, _ = first_error(exc, prefix)
    return f"{source}: {where or '(top level)'}: {msg}"


def load_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.yaml"
    raw = read_yaml(path, "task manifest")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a manifest is a YAML mapping")
    own = raw.get("files")
    if isinstance(own, list):
        raw = {**raw, "files": _with_common_files(path, own)}
    try:
        manifest = Manifest.model_validate({**raw, "folder": folder})
    except ValidationError as exc:
        raise UserError(describe_error(path, exc)) from None
    if manifest.name != folder.name:
        raise UserError(
            f"{path}: name: {manifest.name!r} is not the folder's name {folder.name!r}"
        )
    return manifest


def _with_common_files(path: Path, own: list) -> list:
    """A manifest's files with _common/files.yaml's: each entry there is every task's
    unless the manifest has an entry of its own for the path, or is ``offered``: taken
    only by a manifest that names its path in place of an entry (``- serve.py``)."""
    source = path.parent.parent / COMMON_FILES
    common = read_yaml(source, "common files") or []
    if not isinstance(common, list) or not all(isinstance(f, dict) for f in common):
        raise UserError(f"{source}: a list of files, as a manifest's")
    offered = offered_files(common)
    files = []
    for entry in own:
        if isinstance(entry, str):
            if entry not in offered:
                raise UserError(
                    f"{path}: files: {entry[:80]!r} is no offered entry of {source}"
                )
            entry = offered[entry]
        files.append(entry)
    named = {f.get("path") for f in files if isinstance(f, dict)}
    files += [f for f in common if not f.get("offered") and f.get("path") not in named]
    return [
        {k: v for k, v in f.items() if k != "offered"} if isinstance(f, dict) else f
        for f in files
    ]


def available_tasks() -> list[str]:
    root = templates_root()
    return sorted(
        p.parent.name
        for p in root.glob("*/manifest.yaml")
        if not p.parent.name.startswith("_")
    )


@lru_cache(maxsize=None)
def _manifest(folder: Path, mtimes: tuple[float, float]) -> Manifest:
    return load_manifest(folder)


def get_manifest(task: str) -> Manifest:
    tasks = available_tasks()
    if task not in tasks:
        raise UserError(f"unknown task {task!r}; available: {', '.join(tasks)}")
    folder = templates_root() / task
    common = folder.parent / COMMON_FILES
    mtimes = (
        (folder / "manifest.yaml").stat().st_mtime,
        common.stat().st_mtime if common.exists() else 0.0,
    )
    return _manifest(folder, mtimes)


_PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "strings": list[str],
}


def _key_field(key: DataKey) -> tuple[Any, Any]:
    kind = _PYTHON_TYPES[key.type]
    if key.choices:
        kind = Literal[key.choices]  # type: ignore[valid-type]
    default = ... if key.required else key.default
    return (kind if key.required else kind | None), Field(
        default=default, min_length=key.min_items, ge=key.minimum, le=key.maximum
    )


def data_model(manifest: Manifest) -> type[BaseModel]:
    """A strict pydantic model of the task's ``data`` block."""
    from pydantic import create_model, field_validator

    def unique(cls: type, value: Any) -> Any:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("values must be distinct")
        return value

    validators: dict[str, Any] = {}
    unique_keys = [name for name, key in manifest.data.keys.items() if key.unique]
    if unique_keys:
        validators["_unique"] = field_validator(*unique_keys)(classmethod(unique))
    fields: dict[str, Any] = {
        "format": (Literal[manifest.data.formats] | None, None),  # type: ignore[valid-type]
        "train": (str | None, None),
        "validation": (str | None, None),
        **{name: _key_field(key) for name, key in manifest.data.keys.items()},
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{manifest.name}_data",
        __config__=ConfigDict(extra="forbid"),
        __validators__=validators,
        **fields,
    )
