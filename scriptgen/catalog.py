"""What scriptgen can generate: each task with its model families and their methods, its
data keys and its files, and the known model aliases (``scriptgen tasks``)."""

from __future__ import annotations

from typing import Any

from .plan import supported_methods
from .registry import aliases, family
from .tasks import available_tasks, get_manifest


def task_entry(name: str) -> dict[str, Any]:
    manifest = get_manifest(name)
    return {
        "name": manifest.name,
        "title": manifest.title,
        "metric": manifest.metric,
        "metrics": list(manifest.metrics or (manifest.metric,)),
        "families": {
            model_type: supported_methods(manifest, family(model_type))
            for model_type in manifest.model_types
        },
        "models": [
            a for a, e in aliases().items() if e.model_type in manifest.model_types
        ],
        "data": {
            "formats": list(manifest.data.formats),
            "keys": {
                key: {
                    "type": spec.type,
                    "default": spec.default,
                    "required": spec.required,
                    "description": spec.description,
                    "methods": {v: list(ms) for v, ms in spec.methods.items()},
                }
                for key, spec in manifest.data.keys.items()
            },
            "default": manifest.data.default,
        },
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "defines": list(f.defines),
                "flags": list(f.flags),
                "when": f.when,
            }
            for f in manifest.files
        ],
    }


def catalog() -> dict[str, Any]:
    return {
        "tasks": [task_entry(name) for name in available_tasks()],
        "models": {a: e.model_dump() for a, e in aliases().items()},
    }


def combinations() -> list[tuple[str, str, str]]:
    """Every (task, model_type, method) the manifests and families declare."""
    return [
        (task["name"], model_type, method)
        for task in catalog()["tasks"]
        for model_type, methods in task["families"].items()
        for method in methods
    ]
