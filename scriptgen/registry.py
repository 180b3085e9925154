"""Model aliases -> hub id and architecture family, offline; local checkpoints via config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import UserError
from .lock import templates_root


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


@lru_cache(maxsize=1)
def aliases() -> dict[str, dict[str, str]]:
    path = templates_root() / "_common" / "models.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def resolve_model(value: str, base_dir: Path) -> ResolvedModel:
    """Resolve an alias, a known hub id, or a local checkpoint folder (relative to base_dir)."""
    known = aliases()
    if value in known:
        entry = known[value]
        return ResolvedModel(value, entry["hub_id"], entry["model_type"], alias=value)
    for alias, entry in known.items():
        if entry["hub_id"].lower() == value.lower():
            return ResolvedModel(
                value, entry["hub_id"], entry["model_type"], alias=alias
            )
    folder = (base_dir / value).expanduser()
    if folder.is_dir():
        config = folder / "config.json"
        try:
            model_type = json.loads(config.read_text(encoding="utf-8"))["model_type"]
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(
                f"model folder {value} has no readable config.json with a model_type ({exc})"
            ) from exc
        return ResolvedModel(value, str(folder.resolve()), model_type, is_local=True)
    raise UserError(
        f"unknown model {value!r}: not a known alias or hub id, and no local folder with a "
        f"config.json; known aliases: {', '.join(sorted(known))}"
    )
