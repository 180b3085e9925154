"""The task spec: typed, validated, with a canonical form and a hash.

Paths inside a spec file are relative to that file's folder; paths given on the command line
are relative to the working directory. In memory they are absolute; on disk (the project's
``.scriptgen/spec.yaml``) they are written relative to that file again, so a project can move.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from .errors import UserError, shown
from .lock import spec_parts
from .manifests import Manifest, data_model, first_error
from .spec_options import (
    BaselineSpec,
    EarlyStoppingSpec,
    ModelCardSpec,
    SearchSpec,
    Tracker,
    _Strict,
    _switched,
)
from .yamlfile import check_shape, read_yaml

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".txt": "text",
    ".parquet": "parquet",
}
# Formats whose train/validation values are local paths (files or folders), not hub ids.
LOCAL_FORMATS = ("csv", "json", "text", "parquet", "imagefolder", "audiofolder")


# Training methods: what trains, and what each needs. ``peft``: built with the peft library;
# ``quantized``: a 4-bit base model (bitsandbytes, whose kernels run on CUDA GPUs and,
# from 0.46.1, on the CPU that validation uses).
METHODS: dict[str, dict[str, bool]] = {
    "full": {"peft": False, "quantized": False},
    "freeze": {"peft": False, "quantized": False},
    "lora": {"peft": True, "quantized": False},
    "prefix": {"peft": True, "quantized": False},
    "prompt": {"peft": True, "quantized": False},
    "ia3": {"peft": True, "quantized": False},
    "qlora": {"peft": True, "quantized": True},
}
Method = Literal["full", "freeze", "lora", "prefix", "prompt", "ia3", "qlora"]


class LoraSpec(_Strict):
    """``training.lora``: LoRA's options (also QLoRA's)."""

    r: int = Field(default=8, ge=1, le=1024)
    alpha: float = Field(default=16, gt=0, le=4096)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    # None: the family's default target modules ("all-linear" where peft has none).
    target_modules: list[str] | Literal["all-linear"] | None = None


class TrainingSpec(_Strict):
    method: Method = "full"
    epochs: float = Field(default=3, gt=0, le=1000)
    batch_size: int = Field(default=16, ge=1, le=4096)
    learning_rate: float = Field(default=2.0e-5, gt=0, lt=1)
    max_length: int = Field(default=256, ge=8, le=32768)
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=4096)
    gradient_checkpointing: bool = False
    # freeze: the top N encoder layers train with the head (0: the head only).
    unfreeze_layers: int = Field(default=0, ge=0, le=1000)
    lora: LoraSpec = LoraSpec()
    # prefix, prompt: the number of virtual tokens learnt.
    num_virtual_tokens: int = Field(default=20, ge=1, le=1024)
    # None: train for the epochs given.
    early_stopping: EarlyStoppingSpec | None = None
    # The trackers train.py reports to (config.yaml's report_to); none by default.
    report_to: list[Tracker] = Field(default=[], max_length=8)

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to(cls, v: Any) -> Any:
        if v in ("none", None):
            return []
        trackers = [v] if isinstance(v, str) else v
        if isinstance(trackers, list) and len(set(map(str, trackers))) < len(trackers):
            raise ValueError("names a tracker twice")
        return trackers

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_stopping(cls, v: Any) -> Any:
        return _switched(v)


# Options that only mean something for some methods; the canonical spec leaves the others out.
METHOD_OPTIONS = {
    "unfreeze_layers": ("freeze",),
    "lora": ("lora", "qlora"),
    "num_virtual_tokens": ("prefix", "prompt"),
}


class Spec(_Strict):
    task: str
    name: str
    model: str
    # The task's data block, validated against its manifest (``tasks.data_model``).
    data: dict[str, Any] = {}
    training: TrainingSpec = TrainingSpec()
    # None: no prompt baseline.
    baseline: BaselineSpec | None = None
    # None: no model card beyond what the Trainer writes.
    model_card: ModelCardSpec | None = None
    # Each class's precision, recall, F1 and support, and the confusion matrix, beside
    # eval_results.json (the tasks whose manifest has a class report).
    class_report: bool = False
    # None: no hyperparameter search.
    search: SearchSpec | None = None
    # export.py: the trained model as ONNX (the encoder tasks).
    export: bool = False
    # serve.py: predict() behind an HTTP service (the tasks with predict.py's predict()).
    serve: bool = False
    requirements: list[str] = []

    @field_validator("model_card", "search", mode="before")
    @classmethod
    def _switch(cls, v: Any) -> Any:
        return _switched(v)

    def parts(self) -> frozenset[str]:
        """The optional parts this spec asks for, named as a manifest file's ``when``."""
        return spec_parts(self.model_dump())

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not SAFE_NAME.match(v) or v in {".", ".."} or _reserved(v):
            raise ValueError(
                "must be a safe folder name: letters, digits, '.', '_', '-', "
                "starting with a letter or digit, not a name Windows reserves"
            )
        return v


# Folder names Windows cannot check out (with any extension), whatever their case.
_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)
}


def _reserved(name: str) -> bool:
    return name.split(".", 1)[0].lower() in _RESERVED


def _format_validation_error(exc: ValidationError, *prefix: str) -> str:
    where, msg, given = first_error(exc, prefix)
    return f"invalid spec: {where or 'spec'}: {msg} (got {shown(given)})"


def _set_dotted(raw: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set expects KEY=VALUE, got {shown(assignment)}")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = text  # not YAML: the text itself
    check_shape(value, f"--set {shown(key.strip())}")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def read_spec_file(path: Path) -> dict[str, Any]:
    raw = read_yaml(path, "spec file")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a spec is a YAML mapping, got {type(raw).__name__}")
    return raw


def absolutize_paths(raw: dict[str, Any], base: Path) -> None:
    """Make local data paths absolute against ``base`` (the folder they were written from)."""
    data = raw.get("data")
    if not isinstance(data, dict) or data.get("format") == "hf":
        return
    for key in ("train", "validation"):
        value = data.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            data[key] = str((base / value).resolve())


def absolutize_llm(raw: dict[str, Any], base: Path) -> None:
    """Make a baseline LLM that is a local folder relative to ``base`` absolute."""
    block = raw.get("baseline")
    if not isinstance(block, dict):
        return
    llm = block.get("llm")
    if isinstance(llm, str) and llm and not llm.startswith("openai:"):
        folder = (base / llm).expanduser()
        if not os.path.isabs(llm) and folder.is_dir():
            block["llm"] = str(folder.resolve())


def build_spec(
    task: str | None,
    *,
    spec_file: Path | None = None,
    model: str | None = None,
    name: str | None = None,
    sets: tuple[str, ...] | list[str] = (),
    cwd: Path | None = None,
    baseline: str | None = None,
    requires: tuple[str, ...] | list[str] = (),
) -> tuple[dict[str, Any], Path]:
    """Merge a spec file and flags into one raw mapping; returns it and the model's base dir.

    ``task`` None: the spec file's ``task:``. ``baseline``: the --baseline flag's LLM
    ("": the default one); ``requires``: the --require flags, after the spec file's
    requirements. Nothing is resolved against the registry or the task here (see
    ``plan.make_plan``).
    """
    cwd = cwd or Path.cwd()
    raw: dict[str, Any] = {}
    model_base = cwd
    if spec_file is not None:
        raw = read_spec_file(spec_file)
        absolutize_paths(raw, spec_file.resolve().parent)
        if raw.get("baseline") is True:  # "baseline: true": the defaults
            raw["baseline"] = {}
        absolutize_llm(raw, spec_file.resolve().parent)
        model_base = spec_file.resolve().parent
        named = raw.get("task")
        if task is None and isinstance(named, str) and named:
            task = named
        if task is not None and named not in (None, task):
            raise UserError(
                f"{spec_file} is a spec for task {shown(named)}, not {task!r}"
            )
    if task is None:
        where = "no --spec file names one"
        if spec_file is not None:
            where = f"{spec_file} names none"
            if raw.get("task") is not None:
                where = f"{spec_file}'s task {shown(raw['task'])} is not a name"
        raise UserError(
            f"no task: {where}; give it as TASK (scriptgen tasks lists them)"
        )
    raw["task"] = task
    set_data: dict[str, Any] = {}
    for assignment in sets:
        _set_dotted(set_data, assignment)
    if "task" in set_data and set_data["task"] != task:
        raise UserError("--set task=... cannot change the task; give it as TASK")
    if baseline is not None:
        block = set_data.setdefault("baseline", {})
        if isinstance(block, dict) and baseline:
            block["llm"] = baseline
    absolutize_paths(set_data, cwd)
    absolutize_llm(set_data, cwd)
    if "model" in set_data:
        model_base = cwd
    _merge(raw, set_data)
    if model is not None:
        raw["model"], model_base = model, cwd
    if name is not None:
        raw["name"] = name
    if requires:
        listed = raw.get("requirements") or []
        raw["requirements"] = [
            *(listed if isinstance(listed, list) else [listed]),
            *requires,
        ]
    return raw, model_base


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def parse_spec(raw: dict[str, Any], manifest: Manifest) -> Spec:
    """Validate ``raw`` (its data block against the task's schema); a UserError says what
    is wrong in one line."""
    if not raw.get("model"):
        raise UserError(
            "no model given: pass --model (an alias, hub id or local folder)"
        )
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise UserError(f"invalid spec: data: expected a mapping (got {shown(data)})")
    if raw.get("baseline") is False:  # "baseline: false": none
        raw = {**raw, "baseline": None}
    training = raw.get("training", {})
    if isinstance(training, dict):  # (anything else is reported below)
        training = {**manifest.training, **training}
    try:
        spec = Spec.model_validate({**raw, "training": training, "data": {}})
    except ValidationError as exc:
        raise UserError(_format_validation_error(exc)) from None
    try:
        checked = data_model(manifest).model_validate(data)
    except ValidationError as exc:
        allowed = ", ".join(manifest.data.allowed)
        raise UserError(
            _format_validation_error(exc, "data")
            + f"; {manifest.name}'s data keys: {allowed}"
        ) from None
    spec.data = checked.model_dump(mode="json")
    # canonical() drops the options of other methods. One set away from its default would
    # go silently unused; one at its default is what a spec switched to another method
    # still holds, and passes.
    given, default = raw.get("training") or {}, TrainingSpec(**manifest.training)
    for key, methods in METHOD_OPTIONS.items():
        unused = spec.training.method not in methods and key in given
        if unused and getattr(spec.training, key) != getattr(default, key):
            raise UserError(
                f"invalid spec: training.{key} is an option of method "
                f"{' / '.join(methods)}, not of {spec.training.method}; drop it or "
                "change training.method"
            )
    return spec


def infer_format(path: str, formats: tuple[str, ...]) -> str:
    """The data format of a local file from its extension, among ``formats``; of a
    folder, the task's one folder format (imgclf's imagefolder)."""
    folders = [f for f in formats if f.endswith("folder")]
    if Path(path).is_dir() and len(folders) == 1:
        return folders[0]
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None or fmt not in formats:
        raise UserError(
            f"cannot tell the data format of {shown(path)} from its extension; "
            f"set data.format to one of {', '.join(formats)}"
        )
    return fmt


def relative_posix(path: str, start: Path) -> str:
    """``path`` relative to ``start``, with forward slashes (as spec files hold them)."""
    return Path(os.path.relpath(path, start)).as_posix()


def canonical(spec: Spec, relative_to: Path) -> dict[str, Any]:
    """The spec as written to ``.scriptgen/spec.yaml``: defaults filled, paths relative."""
    out = spec.model_dump(mode="json")
    for key, methods in METHOD_OPTIONS.items():
        if spec.training.method not in methods:
            del out["training"][key]
    if spec.training.early_stopping is None:
        del out["training"]["early_stopping"]
    if not spec.training.report_to:
        del out["training"]["report_to"]
    if spec.model_card is None:
        del out["model_card"]
    if not spec.class_report:
        del out["class_report"]
    if spec.search is None:
        del out["search"]
    if not spec.export:
        del out["export"]
    if not spec.serve:
        del out["serve"]
    if spec.data.get("format") in LOCAL_FORMATS:
        for key in ("train", "validation"):
            value = out["data"][key]
            if value and os.path.isabs(value):
                out["data"][key] = relative_posix(value, relative_to)
    if os.path.isabs(spec.model):
        out["model"] = relative_posix(spec.model, relative_to)
    if spec.baseline is None:
        # (A spec without a baseline hashes as it did before baselines existed.)
        del out["baseline"]
    elif os.path.isabs(spec.baseline.llm):
        out["baseline"]["llm"] = relative_posix(spec.baseline.llm, relative_to)
    return out


def dump_spec(canonical_spec: dict[str, Any]) -> str:
    return yaml.safe_dump(canonical_spec, sort_keys=False, default_flow_style=False)
