"""Plan: the task's manifest, the resolved spec and model, and the template context."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UserError, shown
from .lock import ENTRY_SEP, FAMILIES_FILE, MODELS_FILE, spec_hash
from .manifests import Manifest, available_tasks, get_manifest
from .registry import Family, ResolvedModel, aliases, family, resolve_model
from .spec import (
    LOCAL_FORMATS,
    METHODS,
    Spec,
    TrainingSpec,
    canonical,
    infer_format,
    parse_spec,
    relative_posix,
)


@dataclass
class Plan:
    """Everything the later stages need; built once, read-only afterwards."""

    manifest: Manifest
    spec: Spec
    model: ResolvedModel
    family: Family
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

    @property
    def registry_keys(self) -> list[str]:
        """The shared registry entries this project reads, for the lock."""
        keys = [f"{FAMILIES_FILE}{ENTRY_SEP}{self.model.model_type}"]
        if self.model.alias:
            keys.append(f"{MODELS_FILE}{ENTRY_SEP}{self.model.alias}")
        return keys

    def context(self) -> dict[str, Any]:
        """The template context; paths are as seen from the project folder."""
        data = dict(self.spec.data)
        if data.get("format") in LOCAL_FORMATS:
            for key in ("train", "validation"):
                if data.get(key):
                    data[key] = relative_posix(data[key], self.target)
        name_or_path = self.model.name_or_path
        if self.model.is_local:
            name_or_path = relative_posix(name_or_path, self.target)
        manifest = self.manifest
        return {
            "project_name": self.spec.name,
            "task": {
                "name": manifest.name,
                "title": manifest.title,
                "description": manifest.description,
                "metric": manifest.metric,
                "metrics": list(manifest.metrics or (manifest.metric,)),
                # The project's files (of the optional parts, those the spec asks for).
                "files": [f.path for f in manifest.files],
                # Those every evaluation logs (not computed after evaluating).
                "evaluated_metrics": list(manifest.stopping_metrics),
                # The methods offered for this spec's family.
                "methods": supported_methods(manifest, self.family),
                "vars": dict(manifest.vars),
            },
            "model": {
                "alias": self.model.alias,
                "name_or_path": name_or_path,
                "model_type": self.model.model_type,
                "is_local": self.model.is_local,
            },
            "data": data,
            "training": self._training_context(),
            "twin": {
                "model_type": self.model.model_type,
                **self.family.model_dump(mode="json"),
            },
            "baseline": self._baseline_context(),
            "model_card": (
                self.spec.model_card.model_dump(mode="json")
                if self.spec.model_card
                else None
            ),
            "class_report": self.spec.class_report,
            "search": self._search_context(),
            "export": self.spec.export,
            "serve": self.spec.serve,
            "spec": self.canonical_spec,
            "scriptgen_version": __version__,
        }

    def _training_context(self) -> dict[str, Any]:
        training = self.spec.training.model_dump(mode="json")
        # Whether the method is built with peft (an adapter over the pretrained model).
        training["peft"] = METHODS[self.spec.training.method]["peft"]
        stopping = training["early_stopping"]
        if stopping:
            lower = self.manifest.lower_is_better
            stopping["greater_is_better"] = stopping["metric"] not in lower
        return training

    def _search_context(self) -> dict[str, Any] | None:
        search = self.spec.search
        if search is None:
            return None
        lower = search.metric in self.manifest.lower_is_better
        return {**search.model_dump(mode="json"), "greater_is_better": not lower}

    def _baseline_context(self) -> dict[str, Any] | None:
        """The prompt baseline's settings; the LLM as baseline.py loads it (a local
        folder relative to the project)."""
        baseline = self.spec.baseline
        if baseline is None:
            return None
        llm = resolve_llm(baseline.llm)
        if os.path.isabs(llm):
            llm = relative_posix(llm, self.target)
        return {**baseline.model_dump(mode="json"), "llm": llm}


def _check_checkpointing(training: TrainingSpec, fam: Family, model_type: str) -> None:
    """Activation checkpointing where it can run: not for a family transformers cannot
    checkpoint, nor with peft's prefix tuning (which refuses it)."""
    if not training.gradient_checkpointing:
        return
    if not fam.checkpointing:
        why = f"transformers cannot checkpoint {model_type}'s activations"
    elif training.method == "prefix":
        why = "peft's prefix tuning does not work with it"
    else:
        return
    raise UserError(f"training.gradient_checkpointing: {why}; set it to false")


def _settle_metrics(spec: Spec, manifest: Manifest) -> None:
    """The metrics training stops on and a search optimizes: the task's default, or
    another of those it can use (with or without its "eval_" prefix)."""
    every = tuple(dict.fromkeys((manifest.metric, *manifest.metrics)))
    for key, block, allowed, what in (
        ("training.early_stopping", spec.training.early_stopping,
         manifest.stopping_metrics, "stop on"),
        ("search", spec.search, every, "optimize"),
    ):  # fmt: skip
        if block is None:
            continue
        metric = block.metric or allowed[0]
        metric = metric if metric.startswith("eval_") else f"eval_{metric}"
        if metric not in allowed:
            raise UserError(
                f"{key}.metric: {shown(block.metric)} is not one {manifest.name} can "
                f"{what}: {', '.join(allowed)}"
            )
        block.metric = metric


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
    spec = parse_spec(raw, manifest)
    if model.model_type not in manifest.model_types:
        raise UserError(
            f"task {manifest.name} does not support model_type {model.model_type!r} "
            f"({raw['model']}) yet; supported: {', '.join(manifest.model_types)}"
        )
    fam = family(model.model_type)
    check_method(spec.training.method, manifest, fam, model.model_type)
    _check_checkpointing(spec.training, fam, model.model_type)
    _check_data(spec.data)
    parts = spec.parts()
    for part, what in (
        ("baseline", "prompt baseline"),
        ("class_report", "class report"),
        ("export", "ONNX export"),
        ("serve", "serve.py"),
    ):
        if part in parts and part not in manifest.parts:
            # The manifest may say why, and what to use instead.
            why = manifest.vars.get("unavailable", {}).get(part)
            with_one = [t for t in available_tasks() if part in get_manifest(t).parts]
            raise UserError(
                f"task {manifest.name} has no {what}: {why}"
                if why
                else f"task {manifest.name} has no {what} yet; tasks with one: "
                + ", ".join(with_one)
            )
    if spec.baseline is not None:
        resolve_llm(spec.baseline.llm)
    if spec.export and spec.training.method in ("prefix", "prompt"):
        raise UserError(
            f"export: training.method {spec.training.method}'s virtual tokens cannot be "
            "merged into the weights, and ONNX takes a plain model; the adapter in "
            "output_dir is what there is to share"
        )
    _settle_metrics(spec, manifest)
    manifest = manifest.for_spec(parts)
    target = target.resolve() if target is not None else out.resolve() / spec.name
    return Plan(manifest=manifest, spec=spec, model=model, family=fam, target=target)


# A hub id: an organisation and a name ("Qwen/Qwen2.5-1.5B-Instruct").
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_llm(value: str) -> str:
    """What a baseline's LLM setting loads: an OpenAI-compatible server as given, a known
    alias's hub id, a local folder (absolute here), or a hub id."""
    if value.startswith("openai:"):
        return value
    if os.path.isabs(value):
        if not Path(value).is_dir():
            raise UserError(f"baseline.llm: no such folder: {value}")
        return value
    known = aliases()
    if value in known:
        return known[value].hub_id
    if _HUB_ID.match(value):
        return value
    raise UserError(
        f"baseline.llm: {value!r} is not a known alias, a hub id (org/name), a local "
        "folder or openai:<base url>"
    )


def supported_methods(manifest: Manifest, fam: Family) -> list[str]:
    """The methods the task's templates implement and the family's architecture allows."""
    return [m for m in manifest.methods if m in fam.methods]


def check_method(method: str, manifest: Manifest, fam: Family, model_type: str) -> None:
    supported = supported_methods(manifest, fam)
    if method not in supported:
        raise UserError(
            f"training.method {method!r} is not supported for {manifest.name} with "
            f"model_type {model_type!r}; supported: {', '.join(supported)}"
        )


def _check_data(data: dict[str, Any]) -> None:
    if data.get("format") == "hf" and data.get("validation") and data.get("train"):
        train_id, val_id = (
            str(data[k]).partition(":")[0] for k in ("train", "validation")
        )
        if train_id != val_id:
            raise UserError(
                f"data.validation: a hub dataset's validation split must come from the same "
                f"dataset as data.train ({train_id}), got {val_id}"
            )
    if data.get("format") in LOCAL_FORMATS:
        # csv, json and parquet name files; imagefolder and audiofolder, folders.
        folder = data["format"].endswith("folder")
        for key in ("train", "validation"):
            value = data.get(key)
            if value and not Path(value).exists():
                raise UserError(f"data.{key}: no such file or folder: {value}")
            if value and (Path(value).is_dir() != folder):
                raise UserError(
                    f"data.{key}: {value} is "
                    + ("not a folder" if folder else "a folder, not a file")
                    + f" (data.format: {data['format']})"
                )
            if value and folder and not _has_label_folders(Path(value)):
                raise UserError(
                    f"data.{key}: {value} has no sub-folder with files in it "
                    f"(data.format: {data['format']}: one sub-folder per label)"
                )


def _has_label_folders(folder: Path) -> bool:
    """Whether a folder-per-label data folder has a sub-folder with a file in it."""
    try:
        return any(
            sub.is_dir() and any(f.is_file() for f in sub.rglob("*"))
            for sub in folder.iterdir()
        )
    except OSError as exc:
        raise UserError(f"cannot read {folder}: {exc.strerror or exc}") from None


def _data_with_defaults(data: Any, manifest: Manifest) -> dict[str, Any]:
    """The data block with the task's defaults: its hub dataset when no data is given, and
    each declared key's default."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"invalid spec: data: expected a mapping (got {data!r})")
    data = dict(data)
    if not data.get("train"):
        if data.get("format") not in (None, "hf") or data.get("validation"):
            raise UserError("data.train is required when data files are given")
        # No data given: the task's well-known hub dataset, with its schema and labels.
        given = {k: v for k, v in data.items() if v is not None}
        data = {**manifest.data.default, **given}
    elif not data.get("format"):
        data["format"] = infer_format(str(data["train"]), manifest.data.formats)
    for name, key in manifest.data.keys.items():
        if data.get(name) is None and key.default is not None:
            data[name] = key.default
        formats = key.formats.get(str(data.get(name)))
        if formats and data.get("format") not in formats:
            raise UserError(
                f"data.format: {data.get('format')} cannot hold the data of "
                f"{name}: {data[name]}; use one of {', '.join(formats)}"
            )
    return data
