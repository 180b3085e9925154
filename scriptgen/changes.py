"""What a project holds beyond scriptgen's vetted reference: what an LLM changed to meet
the requirements, recorded as ``.scriptgen/changes.json`` (the requirements, the settings,
the code edits as blocks with context) and ``.scriptgen/changes.diff`` (for a reviewer),
re-applied to a newer reference on regen; and the unified diff between the reference
rendered for the project's spec now and the files on disk (``scriptgen changes``)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .edits import Edit, apply_edit
from .errors import UserError
from .lock import META_DIR, SPEC_FILE
from .settings import write_settings

CONFIG = "config.yaml"
CHANGES_FILE = f"{META_DIR}/changes.json"
CHANGES_DIFF = f"{META_DIR}/changes.diff"
# Context lines kept around each recorded code edit: enough to find its place again in a
# newer reference, few enough that an unrelated template change rarely touches them.
_CONTEXT = 3


def apply_settings(
    files: Mapping[str, str], changes: Mapping[str, Any]
) -> dict[str, str]:
    """``files`` with ``config.yaml`` carrying ``changes``."""
    if not changes:
        return dict(files)
    return {**files, CONFIG: write_settings(files.get(CONFIG, ""), changes)}


def reference_diff(project: Path) -> str:
    """The diff from the reference to ``project``'s files ("" when they are the same):
    the manifest's files, and any other Python module the project holds."""
    from .backends.reference import ReferenceBackend
    from .fmt import format_files
    from .project import plan_for_existing, read_project
    from .render import render_scaffold

    if not (project / SPEC_FILE).is_file():
        raise UserError(f"{project} has no {SPEC_FILE}: it was not made by scriptgen")
    plan = plan_for_existing(project, None)
    # Formatted as the pipeline formats what it writes: a fresh project is its reference.
    reference, _ = format_files(
        {**render_scaffold(plan), **ReferenceBackend().generate(plan)}
    )
    on_disk = read_project(project, always=reference)
    extra = {p for p in on_disk if p.endswith(".py") and p not in reference}
    return unified_diff(reference, {p: on_disk[p] for p in reference.keys() | extra
                                    if p in on_disk})  # fmt: skip


# What landed, recorded; and re-applied to a newer reference.


@dataclass
class Record:
    requirements: list[str]
    settings: dict[str, Any]
    edits: list[Edit]

    def to_json(self) -> str:
        data = {
            "requirements": self.requirements,
            "settings": self.settings,
            "edits": [
                {"path": e.path, "search": e.search, "replace": e.replace}
                for e in self.edits
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        if not (
            isinstance(data, dict)
            and isinstance(data.get("requirements"), list)
            and isinstance(data.get("settings"), dict)
            and isinstance(data.get("edits"), list)
            and all(
                isinstance(e, dict)
                and all(
                    isinstance(e.get(k), str) for k in ("path", "search", "replace")
                )
                for e in data["edits"]
            )
        ):
            raise ValueError("not a {requirements, settings, edits} record")
        return cls(
            [str(r) for r in data["requirements"]],
            data["settings"],
            [Edit(e["path"], e["search"], e["replace"], 0) for e in data["edits"]],
        )

    def describe(self) -> str:
        """The record for a prompt: the settings and the blocks, as the model writes them."""
        lines = [f"- {k}: {json.dumps(v)}" for k, v in self.settings.items()]
        for e in self.edits:
            lines += [e.path, "<<<<<<< SEARCH", e.search.rstrip("\n"), "=======",
                      e.replace.rstrip("\n"), ">>>>>>> REPLACE"]  # fmt: skip
        return "\n".join(lines)


def record_of(
    requirements: Sequence[str],
    reference: Mapping[str, str],
    landed: Mapping[str, str],
) -> Record:
    """What turned ``reference`` into ``landed``: config.yaml's changed keys as settings,
    every other file's changes as SEARCH/REPLACE blocks with context."""
    before = config_values(reference.get(CONFIG, ""))
    after = config_values(landed.get(CONFIG, ""))
    settings = {k: v for k, v in after.items() if before.get(k, object()) != v}
    edits: list[Edit] = []
    for path in sorted(set(reference) | set(landed)):
        if path == CONFIG or path.startswith(META_DIR + "/"):
            continue
        old, new = reference.get(path), landed.get(path)
        if old != new and new is not None:
            edits += diff_edits(path, old or "", new)
    return Record(list(requirements), settings, edits)


def config_values(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def diff_edits(path: str, old: str, new: str) -> list[Edit]:
    """``new`` as edits of ``old``: one block per group of changes, with context."""
    if not old:
        return [Edit(path, "", new, 0)]
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out = []
    for group in matcher.get_grouped_opcodes(_CONTEXT):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        out.append(Edit(path, "".join(a[i1:i2]), "".join(b[j1:j2]), 0))
    return out


def reapply(
    record: Record, reference: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """``reference`` with the record applied, and the edits that no longer apply."""
    files = apply_settings(reference, record.settings)
    problems = []
    for edit in record.edits:
        text, problem = apply_edit(files.get(edit.path), edit)
        if problem is None:
            files[edit.path] = text
        else:
            problems.append(f"{edit.path}: {problem}")
    return files, problems


def unified_diff(reference: Mapping[str, str], landed: Mapping[str, str]) -> str:
    out: list[str] = []
    for rel in sorted(set(reference) | set(landed)):
        before, after = reference.get(rel), landed.get(rel)
        if before == after or rel.startswith(META_DIR + "/"):
            continue
        out += difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            (after or "").splitlines(keepends=True),
            fromfile=f"reference/{rel}" if before is not None else "/dev/null",
            tofile=rel if after is not None else "/dev/null",
        )
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
    return "".join(out)
