"""Plan: the task's manifest, the resolved spec and model, and the template context."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .errors import UserError
from .lock import spec_hash, templates_root
from .manifest import Manifest, load_manifest
from .registry import ResolvedModel, resolve_model
from .spec import Spec, canonical, infer_format, parse_spec


def available_tasks() -> list[str]:
    root = templates_root()
    return sorted(
        p.parent.name
        for p in root.glob("*/manifest.yaml")
        if not p.parent.name.startswith("_")
    )


def get_manifest(task: str) -> Manifest:
    tasks = available_tasks()
    if task not in tasks:
        raise UserError(f"unknown task {task!r}; available: {', '.join(tasks)}")
    return load_manifest(templates_root() / task)


@lru_cache(maxsize=1)
def families() -> dict[str, Any]:
    path = templates_root() / "_common" / "families.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass
class Plan:
    """Everything the later stages need; built once, read-only afterwards."""

    manifest: Manifest
    spec: Spec
    model: ResolvedModel
    target: Path  # the project folder to write: <out>/<name>

    @property
    def canonical_spec(self) -> dict[str, Any]:
        return canonical(self.spec, self.target / ".scriptgen")

    @property
    def model_label(self) -> str:
        """The model for the lock and the commit: the hub id, or a local checkpoint's path
        relative to the project's .scriptgen/ folder (as in spec.yaml; never absolute).
        """
        return (
            str(self.canonical_spec["model"])
            if self.model.is_local
            else self.model.name_or_path
        )

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.canonical_spec)

    def context(self) -> dict[str, Any]:
        """The template context; paths are as seen from the project folder."""
        data = self.spec.data.model_dump(mode="json")
        if data["format"] != "hf":
            for key in ("train", "validation"):
                if data[key]:
                    data[key] = _rel(data[key], self.target)
        name_or_path = self.model.name_or_path
        if self.model.is_local:
            name_or_path = _rel(name_or_path, self.target)
        return {
            "project_name": self.spec.name,
            "task": {
                "name": self.manifest.name,
                "title": self.manifest.title,
                "metric": self.manifest.metric,
            },
            "model": {
                "alias": self.model.alias,
                "name_or_path": name_or_path,
                "model_type": self.model.model_type,
                "is_local": self.model.is_local,
            },
            "data": data,
            "training": self.spec.training.model_dump(mode="json"),
            "twin": {
                "model_type": self.model.model_type,
                **families()[self.model.model_type],
            },
            "spec": self.canonical_spec,
            "scriptgen_version": __version__,
        }


def _rel(path: str, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def make_plan(
    raw: dict[str, Any], model_base: Path, out: Path, target: Path | None = None
) -> Plan:
    """Validate the raw spec against the task and the registry; fill the task's defaults."""
    manifest = get_manifest(raw["task"])
    if not raw.get("model"):
        raise UserError(
            "no model given: pass --model (an alias, hub id or local folder)"
        )
    if not isinstance(raw["model"], str):
        raise UserError(
            f"invalid spec: model: expected a string (got {raw['model']!r})"
        )
    model = resolve_model(raw["model"], model_base)
    raw = dict(raw)
    if model.is_local:
        raw["model"] = model.name_or_path
    raw.setdefault("name", f"{manifest.name}-{model.short_name}")
    raw["data"] = _data_with_defaults(raw.get("data"), manifest)
    spec = parse_spec(raw)
    if model.model_type not in manifest.model_types:
        raise UserError(
            f"task {manifest.name} does not support model_type {model.model_type!r} "
            f"({raw['model']}) yet; supported: {', '.join(manifest.model_types)}"
        )
    if spec.training.method not in manifest.methods:
        raise UserError(
            f"training.method {spec.training.method!r} is not supported by the {manifest.name} "
            f"templates yet; supported: {', '.join(manifest.methods)}"
        )
    if spec.data.format == "hf" and spec.data.validation and spec.data.train:
        train_id, val_id = (
            v.partition(":")[0] for v in (spec.data.train, spec.data.validation)
        )
        if train_id != val_id:
            raise UserError(
                f"data.validation: a hub dataset's validation split must come from the same "
                f"dataset as data.train ({train_id}), got {val_id}"
            )
    if spec.data.format != "hf":
        for key in ("train", "validation"):
            value = getattr(spec.data, key)
            if value and not Path(value).is_file():
                raise UserError(f"data.{key}: no such file: {value}")
    target = target.resolve() if target is not None else out.resolve() / spec.name
    return Plan(manifest=manifest, spec=spec, model=model, target=target)


def _data_with_defaults(data: Any, manifest: Manifest) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"invalid spec: data: expected a mapping (got {data!r})")
    data = dict(data)
    defaults = manifest.default_data
    if not data.get("train"):
        if data.get("format") not in (None, "hf") or data.get("validation"):
            raise UserError("data.train is required when data files are given")
        # No data given: the task's well-known hub dataset, with its schema and labels.
        return {**defaults, **{k: v for k, v in data.items() if v is not None}}
    if not data.get("format"):
        data["format"] = infer_format(str(data["train"]))
    for key in ("text_column", "label_column"):
        if not data.get(key):
            data[key] = defaults.get(key)
    return data
