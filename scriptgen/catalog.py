"""What scriptgen can generate: each task with its model families and their methods, its
data keys and its files, and the known model aliases (``scriptgen tasks``)."""

from __future__ import annotations

from typing import Any

from .manifests import available_tasks, get_manifest
from .planning import supported_methods
from .registry import aliases, family

# Where the spec asks for each optional part (a manifest file's ``when``).
OPTION_KEYS = {
    "baseline": "baseline (or --baseline)",
    "early_stopping": "training.early_stopping",
    "tensorboard": "training.report_to: [tensorboard]",
    "search": "search",
    "export": "export",
    "serve": "serve",
}


def task_entry(name: str) -> dict[str, Any]:
    manifest = get_manifest(name)
    return {
        "name": manifest.name,
        "title": manifest.title,
        "metric": manifest.metric,
        "metrics": list(manifest.metrics or (manifest.metric,)),
        # The spec's optional parts the task has files for (spec keys, below).
        "options": sorted(manifest.parts),
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


def describe(found: dict[str, Any]) -> str:
    """``scriptgen tasks`` as text: each task's data keys, families, methods and files,
    then the model aliases."""
    lines: list[str] = []
    for task in found["tasks"]:
        lines.append(f"{task['name']}: {task['title']} (metric: {task['metric']})")
        lines.append(f"  data formats: {', '.join(task['data']['formats'])}")
        options = [OPTION_KEYS.get(part, part) for part in task["options"]]
        lines.append(f"  spec options: {', '.join(options)}")
        for key, info in task["data"]["keys"].items():
            default = (
                f" (default: {info['default']})" if info["default"] is not None else ""
            )
            lines.append(
                f"  data.{key}: {info['type']}{default}  {info['description']}"
            )
        lines.append("  families and methods:")
        family_width = max(map(len, task["families"]), default=0)
        for model_type, methods in task["families"].items():
            lines.append(f"    {model_type:{family_width}}  {', '.join(methods)}")
        for f in task["files"]:
            when = (
                f"  (with {OPTION_KEYS.get(f['when'], f['when'])})" if f["when"] else ""
            )
            lines.append(f"  {f['kind']:8} {f['path']}{when}")
            if f["defines"]:
                lines.append(f"             defines: {', '.join(f['defines'])}")
            if f["flags"]:
                lines.append(f"             flags: {' '.join(f['flags'])}")
    lines.append("models:")
    width = max(map(len, found["models"]), default=0)
    for alias, entry in found["models"].items():
        lines.append(f"  {alias:{width}}  {entry['hub_id']} ({entry['model_type']})")
    return "\n".join(lines)
