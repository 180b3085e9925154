"""A task's manifest: which files a project has, who writes them, what they must define.

A task is data: ``templates/<task>/manifest.yaml`` plus the templates it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError

FileKind = Literal["code", "scaffold"]


@dataclass(frozen=True)
class FileContract:
    """What one file of a generated project must provide."""

    path: str  # relative, POSIX separators
    kind: FileKind  # "code": written by a backend; "scaffold": always rendered from templates
    template: str  # template path relative to the task folder
    description: str = ""
    defines: tuple[str, ...] = ()  # top-level names the module must define
    flags: tuple[str, ...] = ()  # command-line flags the script must accept (argparse)


@dataclass(frozen=True)
class Manifest:
    """One task, loaded from ``templates/<task>/manifest.yaml``."""

    name: str
    title: str
    description: str
    folder: Path
    files: tuple[FileContract, ...]
    default_data: dict[str, Any] = field(default_factory=dict)
    model_types: tuple[str, ...] = ()
    metric: str = "eval_accuracy"
    methods: tuple[str, ...] = ("full",)

    @property
    def code_files(self) -> tuple[FileContract, ...]:
        return tuple(f for f in self.files if f.kind == "code")

    @property
    def scaffold_files(self) -> tuple[FileContract, ...]:
        return tuple(f for f in self.files if f.kind == "scaffold")

    def contract(self, path: str) -> FileContract | None:
        return next((f for f in self.files if f.path == path), None)


def load_manifest(folder: Path) -> Manifest:
    path = folder / "manifest.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read task manifest {path}: {exc}") from exc
    files = tuple(
        FileContract(
            path=f["path"],
            kind=f["kind"],
            template=f["template"],
            description=f.get("description", ""),
            defines=tuple(f.get("defines", ())),
            flags=tuple(f.get("flags", ())),
        )
        for f in raw["files"]
    )
    return Manifest(
        name=raw["name"],
        title=raw.get("title", raw["name"]),
        description=raw.get("description", ""),
        folder=folder,
        files=files,
        default_data=dict(raw.get("default_data", {})),
        model_types=tuple(raw.get("model_types", ())),
        metric=raw.get("metric", "eval_accuracy"),
        methods=tuple(raw.get("methods", ("full",))),
    )
