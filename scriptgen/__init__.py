"""scriptgen: turn a task spec into a runnable, tested fine-tuning project.

The library API (``new``, ``validate``, ``check``, ``regen``, ``tasks``, ``plan``,
``prompt``, ``estimate``, ``compare``, ``judge``) lives in
``scriptgen.api``; it is imported on first use, so ``import scriptgen`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "check",
    "compare",
    "estimate",
    "judge",
    "new",
    "plan",
    "prompt",
    "regen",
    "tasks",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'scriptgen' has no attribute {name!r}")
