"""`scriptgen doctor`: what is installed, what the machine has, whether the backend answers."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Callable
from importlib import metadata

from . import __version__
from .errors import ScriptgenError
from .prompts import PACKAGES
from .deps import missing_ml_stack
from .isolation import isolation

INSTALL_HINT = (
    "pip install torch==2.13.0 (CPU machines, first; GPU machines: torch's CUDA build), "
    "then pip install 'scriptgen[ml]'"
)


# Packages of an extra of their own: what each is for, and how to add it.
EXTRAS = {
    "bitsandbytes": "training.method qlora needs it: pip install 'scriptgen[qlora]'"
}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return f"not installed ({EXTRAS[name]})" if name in EXTRAS else "not installed"


def _gpus() -> str:
    if _version("torch") == "not installed":
        return "unknown (torch not installed)"
    import torch  # only here: doctor is allowed to be slow

    if not torch.cuda.is_available():
        return "none (CPU only)"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)}: " + ", ".join(names)


def _backend_check(uri: str | None, llm_model: str | None) -> str:
    from .backends import get_backend

    uri = uri or "reference"
    try:
        backend = get_backend(uri, llm_model=llm_model)
        if uri.startswith("openai:"):
            from .backends.openai_client import OpenAIClient

            with OpenAIClient(
                uri.partition(":")[2], model=llm_model, retries=0
            ) as client:
                models = client.list_models()
            return f"answers; models: {', '.join(models[:5]) or 'none listed'}"
        return f"ok ({backend.name})"
    except ScriptgenError as exc:
        return f"NOT usable: {str(exc).splitlines()[0]}"


def _twins() -> str:
    from .isolation import twin_cache
    from .twins import SHIPPED, offered

    count = sum(1 for p in SHIPPED.iterdir() if p.is_dir()) if SHIPPED.is_dir() else 0
    shipped = f"{count} shipped ready" if offered() else "shipped twins not used"
    cache = twin_cache()
    return f"{shipped}; cache {cache or 'unavailable: each validation builds its own'}"


def _warm() -> str:
    from .warm import PRELOAD, SWITCH, unavailable

    why = unavailable(isolation())
    if why:
        return f"off ({why}): each validation imports the ML stack cold"
    return (
        f"on: validations fork from a process that imported {', '.join(PRELOAD[:2])} "
        f"and the rest ({SWITCH}=0 turns it off)"
    )


def report(
    llm: str | None = None, llm_model: str | None = None
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("scriptgen", __version__),
        ("python", platform.python_version()),
    ]
    rows += [
        (name, _version(name)) for name in (*PACKAGES, "peft", "bitsandbytes", "pytest")
    ]
    checks: list[tuple[str, Callable[[], str]]] = [
        ("CUDA devices", _gpus),
        ("git", lambda: shutil.which("git") or "not found: commits are skipped"),
        ("sandbox", lambda: isolation().describe()),
        ("twins", _twins),
        ("warm worker", _warm),
        (f"backend {llm or 'reference'}", lambda: _backend_check(llm, llm_model)),
    ]
    rows += [(label, check()) for label, check in checks]
    # One look at the interpreter: the ML stack and every task's own packages.
    needs = _task_needs()
    missing = missing_ml_stack(needs=sorted({n for ns in needs.values() for n in ns}))
    unmet = {m.split(" ")[0]: m for m in missing}
    lacking = [
        f"{task} needs {', '.join(unmet[n] for n in ns if n in unmet)}"
        for task, ns in needs.items()
        if any(n in unmet for n in ns)
    ]
    rows.append(("task packages", "; ".join(lacking) or "every task's installed"))
    rows.append(
        (
            "to install",
            INSTALL_HINT if missing else "nothing: ready to generate and validate",
        )
    )
    return rows


def _task_needs() -> dict[str, tuple[str, ...]]:
    """Each task's packages beside the ML stack (its projects' requirements.txt)."""
    from .manifests import available_tasks, get_manifest

    return {task: get_manifest(task).requirements for task in available_tasks()}
