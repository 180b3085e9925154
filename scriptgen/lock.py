"""The project's ``.scriptgen/`` folder: resolved spec, lock, validation report.

Staleness is decided from these files alone, without importing torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__

META_DIR = ".scriptgen"
SPEC_FILE = f"{META_DIR}/spec.yaml"
LOCK_FILE = f"{META_DIR}/lock.json"
VALIDATION_FILE = f"{META_DIR}/validation.json"
TRANSCRIPT_FILE = f"{META_DIR}/transcript.jsonl"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Lock:
    task: str
    name: str
    spec_hash: str
    model: str
    model_type: str
    backend: str
    llm_model: str
    decoding: Mapping[str, Any]
    templates: Mapping[str, str]
    files: Mapping[str, str]
    validation: Mapping[str, Any]
    scriptgen: str = __version__

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=False, default=dict) + "\n"

    @classmethod
    def read(cls, project: Path) -> Lock:
        data = json.loads((project / LOCK_FILE).read_text(encoding="utf-8"))
        return cls(**data)
