"""What validating needs in the interpreter that runs the judge: the ML stack, and each
training method's own packages. Read from package metadata, never imported."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .errors import MissingDependency, UserError
from .spec import METHODS

if TYPE_CHECKING:
    from .planning import Plan

ML_STACK = ("torch", "transformers", "datasets", "accelerate", "yaml", "pytest")


def method_requirements(method: str) -> tuple[str, ...]:
    """What validating ``method`` needs beside the ML stack: peft for its methods, and
    bitsandbytes with 4-bit kernels for the CPU (0.46.1 or newer) for the quantized ones.
    """
    needs = []
    if METHODS[method]["peft"]:
        needs.append("peft")
    if METHODS[method]["quantized"]:
        needs.append("bitsandbytes>=0.46.1")
    return tuple(needs)


def _unmet(requirements: Sequence[str]) -> list[str]:
    """The requirements ("module", or "distribution>=version") that this interpreter does
    not meet: looked up and read from package metadata, never imported. Also runs, as
    source, in the validation interpreter (missing_ml_stack)."""
    import importlib.metadata
    import importlib.util
    import re

    def release(version: str) -> list[int]:
        return [int(part) for part in re.findall(r"\d+", version)[:3]]

    unmet = []
    for requirement in requirements:
        name, _, oldest = requirement.partition(">=")
        try:  # a distribution's name ("rouge-score"), or a module's ("yaml")
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        if version is None and (oldest or importlib.util.find_spec(name) is None):
            unmet.append(requirement)
        elif oldest and release(version) < release(oldest):
            unmet.append(f"{requirement} (has {version})")
    return unmet


def missing_ml_stack(
    python: str = sys.executable, needs: Sequence[str] = ()
) -> list[str]:
    """The ML stack's modules, and ``needs`` (method_requirements), that ``python`` lacks."""
    wanted = [*ML_STACK, *needs]
    if python == sys.executable:
        return _unmet(wanted)
    probe = (
        "from __future__ import annotations\n"
        + inspect.getsource(_unmet)
        + "\nimport json, sys\nprint(json.dumps(_unmet(sys.argv[1:])))"
    )
    try:
        proc = subprocess.run(
            [python, "-c", probe, *wanted], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"cannot run the validation interpreter {python}: {exc}"
        ) from None
    if proc.returncode != 0:
        raise UserError(
            f"cannot run the validation interpreter {python} (exit {proc.returncode}): "
            + (proc.stderr.strip().splitlines() or [""])[-1]
        )
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


# What validating an optional part of a spec needs (its judge runs it).
PART_REQUIREMENTS = {
    "tensorboard": ("tensorboard",),
    "search": ("optuna",),
    "export": ("onnxscript", "onnxruntime"),
}


def require_for(
    plan: Plan, python: str = sys.executable, *, skippable: bool = True
) -> None:
    """require_ml_stack for what validating ``plan``'s project needs: its method's and
    optional parts' packages, and its task's. ``skippable``: the command takes
    --no-validate (new, regen; not validate), which the error then offers."""
    spec = plan.spec
    require_ml_stack(
        python,
        spec.training.method,
        spec.parts(),
        plan.manifest.requirements,
        skippable=skippable,
    )


def require_ml_stack(
    python: str = sys.executable,
    method: str = "full",
    parts: Iterable[str] = (),
    task_needs: Sequence[str] = (),
    *,
    skippable: bool = True,
) -> None:
    """Raise MissingDependency, naming what is missing, when ``python`` cannot validate a
    project trained with ``method``, having the optional ``parts`` (Spec.parts), of a task
    whose projects need ``task_needs`` (Manifest.requirements); the error offers
    --no-validate where ``skippable``."""
    needs = method_requirements(method)
    needs += tuple(need for p in sorted(parts) for need in PART_REQUIREMENTS.get(p, ()))
    needs += tuple(task_needs)
    missing = missing_ml_stack(python, needs)
    if not missing:
        return
    where = "" if python == sys.executable else f" in {python}"
    stack = [m for m in missing if m in ML_STACK]
    if stack:
        raise MissingDependency(
            f"validation needs the ML stack ({', '.join(missing)} missing{where}): on a CPU "
            "machine `pip install torch==2.13.0` first, then `pip install 'scriptgen[ml]'` "
            f"(or {'pass --no-validate, or ' if skippable else ''}point --python / "
            "scriptgen.toml's [validate] python at an interpreter that has it)"
        )
    wanted = " ".join(f"'{n.partition(' ')[0]}'" for n in missing)
    named = {m.partition(" ")[0] for m in missing} & set(method_requirements(method))
    what = f"training.method {method!r}" if named else "this spec"
    raise MissingDependency(
        f"validating {what} needs {', '.join(missing)}{where}: "
        f"pip install {wanted}" + (" (or pass --no-validate)" if skippable else "")
    )
