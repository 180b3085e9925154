"""Model aliases -> hub id and architecture family, offline; local checkpoints via config.json.

``templates/_common/models.yaml`` names the aliases; ``templates/_common/families.yaml``
describes each architecture family (``model_type``): its tiny twin's config, the training
methods it supports, where its encoder layers are. Both are validated when read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import UserError, shown
from .lock import FAMILIES_FILE, MODELS_FILE, templates_root
from .manifests import describe_error
from .spec import Method
from .yamlfile import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Strict):
    hub_id: str = Field(min_length=1)
    model_type: str = Field(min_length=1)


class Family(_Strict):
    """One architecture family, as the templates and the judge need it."""

    # AutoConfig.for_model() sizes of the tiny twin the contract tests build.
    config: dict[str, Any]
    # The training methods the architecture supports (peft's support for prefix tuning, ...).
    methods: tuple[Method, ...] = Field(min_length=1)
    # Dotted path from the base model (``model.base_model``) to its list of layers.
    layers: str = Field(min_length=1)
    # LoRA's default target modules for the family.
    lora_target_modules: tuple[str, ...] | Literal["all-linear"] = "all-linear"
    # What the family's tokenizer needs installed beyond transformers (sentencepiece, ...).
    requirements: tuple[str, ...] = ()
    # Batch norms (ResNet's): frozen ones must keep their pretrained running statistics.
    batch_norm: bool = False
    # Whether transformers can checkpoint the family's activations (--activation_checkpointing).
    checkpointing: bool = True


@dataclass(frozen=True)
class ResolvedModel:
    """What a spec's ``model`` value names."""

    spec_value: str  # as the user wrote it
    name_or_path: str  # hub id, or the absolute path of a local checkpoint folder
    model_type: str  # config.json's model_type
    alias: str | None = None
    is_local: bool = False

    @property
    def short_name(self) -> str:
        """For default project names: the alias, else the last part of the id or folder."""
        return self.alias or Path(self.name_or_path).name.lower()


def _load(path: Path, entry: type[_Strict]) -> dict[str, Any]:
    raw = read_yaml(path, path.name)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of names to entries")
    out = {}
    for name, value in raw.items():
        try:
            out[str(name)] = entry.model_validate(value)
        except ValidationError as exc:
            raise UserError(describe_error(path, exc, prefix=(str(name),))) from None
    return out


@lru_cache(maxsize=None)
def _cached(path: Path, mtime: float, entry: type[_Strict]) -> dict[str, Any]:
    return _load(path, entry)


def _registry(rel: str, entry: type[_Strict]) -> dict[str, Any]:
    path = templates_root() / rel
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0  # _load says what is wrong
    return _cached(path, mtime, entry)


def aliases() -> dict[str, ModelEntry]:
    return _registry(MODELS_FILE, ModelEntry)


def families() -> dict[str, Family]:
    return _registry(FAMILIES_FILE, Family)


def family(model_type: str) -> Family:
    known = families()
    if model_type not in known:
        raise UserError(
            f"no tiny twin for model_type {model_type!r} in {FAMILIES_FILE}; "
            f"known: {', '.join(sorted(known))}"
        )
    return known[model_type]


def resolve_model(value: str, base_dir: Path) -> ResolvedModel:
    """Resolve an alias, a known hub id, or a local checkpoint folder (relative to base_dir)."""
    known = aliases()
    if value in known:
        entry = known[value]
        return ResolvedModel(value, entry.hub_id, entry.model_type, alias=value)
    for alias, entry in known.items():
        if entry.hub_id.lower() == value.lower():
            return ResolvedModel(value, entry.hub_id, entry.model_type, alias=alias)
    folder = (base_dir / value).expanduser()
    if folder.is_dir():
        return ResolvedModel(
            value,
            str(folder.resolve()),
            _local_model_type(folder, value),
            is_local=True,
        )
    import difflib

    close = difflib.get_close_matches(value.lower(), sorted(known), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(
        f"unknown model {shown(value)}: not a known alias or hub id, and no local folder "
        f"with a config.json; {hint}`scriptgen tasks` lists the aliases"
    )


def _local_model_type(folder: Path, value: str) -> str:
    config = folder / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model folder {value} has no config.json") from None
    except (OSError, ValueError) as exc:
        raise UserError(
            f"model folder {value}: config.json is not JSON ({exc})"
        ) from None
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise UserError(
            f"model folder {value}: config.json is not an object with a model_type"
        )
    return model_type
