"""What ``.scriptgen/`` records of a generation: the resolved spec, the lock, a base copy of
every file, the LLM transcript and the validation report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .lock import (
    ATTRIBUTES,
    ATTRIBUTES_FILE,
    LOCK_FILE,
    SPEC_FILE,
    TRANSCRIPT_FILE,
    VALIDATION_FILE,
    Lock,
    base_copy,
    sha256_text,
    template_hashes,
    unused_templates,
)
from .render import shared_templates
from .spec import dump_spec

if TYPE_CHECKING:
    from .backends import Backend
    from .planning import Plan
    from .report import ValidationReport


def meta_files(
    plan: Plan,
    backend: Backend,
    files: Mapping[str, str],
    report: ValidationReport | None,
) -> dict[str, str]:
    """``.scriptgen/``: the resolved spec, the lock, a base copy of every file, the
    transcript and the validation report."""
    validation: dict[str, Any] = (
        {"passed": report.passed, "tests": len(report.steps)}
        if report
        else {"skipped": True}
    )
    lock = Lock(
        task=plan.manifest.name,
        name=plan.spec.name,
        spec_hash=plan.spec_hash,
        model=plan.model_label,
        model_type=plan.model.model_type,
        backend=backend.name,
        llm_model=backend.model,
        decoding=dict(backend.decoding),
        templates=template_hashes(
            plan.manifest.name,
            backend.name,
            [*shared_templates(plan.manifest), *plan.registry_keys],
            unused_templates(plan.manifest.name, plan.spec.parts()),
        ),
        files={path: sha256_text(text) for path, text in sorted(files.items())},
        validation=validation,
        spec=plan.canonical_spec,
    )
    meta = {
        SPEC_FILE: dump_spec(plan.canonical_spec),
        LOCK_FILE: lock.to_json(),
        ATTRIBUTES_FILE: ATTRIBUTES,
        **{base_copy(path): text for path, text in files.items()},
    }
    transcript = backend.transcript_jsonl()
    if transcript is not None:
        meta[TRANSCRIPT_FILE] = transcript
    if backend.accepts_requirements and plan.spec.requirements:
        meta.update(change_files(plan, files))
    if report is not None:
        meta[VALIDATION_FILE] = json.dumps(report.to_dict(), indent=2) + "\n"
    return meta


def change_files(plan: Plan, files: Mapping[str, str]) -> dict[str, str]:
    """What the LLM changed to meet the requirements: the record regen re-applies, and
    the diff from the reference a reviewer reads."""
    from .backends.llm import reference_files
    from .changes import CHANGES_DIFF, CHANGES_FILE, record_of, unified_diff

    reference = reference_files(plan)
    scaffold = {f.path for f in plan.manifest.scaffold_files} - set(reference)
    landed = {
        p: t for p, t in files.items()
        if p in reference or (p.endswith(".py") and p not in scaffold)
    }  # fmt: skip
    record = record_of(plan.spec.requirements, reference, landed)
    return {
        CHANGES_FILE: record.to_json(),
        CHANGES_DIFF: unified_diff(reference, landed),
    }
