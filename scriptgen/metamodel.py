"""The task's model on PyTorch's meta device (shapes, no weights) with the spec's training
method applied as the generated model.py applies it: what ``scriptgen plan`` counts."""

from __future__ import annotations

import types
from typing import Any

from .errors import ScriptgenError, UserError
from .planning import Plan


def auto_class(plan: Plan) -> Any:
    import transformers

    name = plan.manifest.vars.get("auto_class")
    if not isinstance(name, str) or not hasattr(transformers, name):
        raise UserError(
            f"task {plan.manifest.name}: no auto_class in its manifest's vars"
        )
    return getattr(transformers, name)


def load_config(name_or_path: str, **kwargs: Any) -> Any:
    """The model's config: a local folder's config.json, else the hub's (a few KB)."""
    import logging

    from transformers import AutoConfig

    # The hub client logs each retry; the one line below says what went wrong.
    logging.getLogger("huggingface_hub").setLevel(logging.CRITICAL)
    try:
        return AutoConfig.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as exc:
        first = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        raise UserError(
            f"cannot read the config of {name_or_path} ({first}); offline, give a "
            "local checkpoint folder"
        ) from None


def label_count(plan: Plan) -> int | None:
    labels = plan.spec.data.get("labels")
    return len(labels) if isinstance(labels, list) and labels else None


def meta_model(plan: Plan, config: Any | None = None) -> Any:
    """The task's model on the meta device: shapes, no storage."""
    import torch

    if config is None:
        config = load_config(plan.model.name_or_path)
    labels = label_count(plan)
    if labels is not None and hasattr(config, "num_labels"):
        config.num_labels = labels
    with torch.device("meta"):
        return auto_class(plan).from_config(config)


def _count(model: Any, trainable_only: bool = False) -> int:
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def apply_method(plan: Plan, model: Any) -> Any:
    """The model as the spec's method trains it, prepared by the project's own model.py
    (rendered for the plan: its freeze_encoder or add_adapter), here on the meta device.
    """
    training = plan.spec.training
    method = training.method
    if method == "full":
        return model
    project_model = model_module(plan)
    if method == "freeze":
        project_model.freeze_encoder(model, training.unfreeze_layers)
        return model
    if method in ("lora", "qlora"):
        return project_model.add_adapter(model, training.lora.model_dump())
    if method in ("prefix", "prompt"):
        return project_model.add_adapter(model, training.num_virtual_tokens)
    return project_model.add_adapter(model)


def model_module(plan: Plan) -> types.ModuleType:
    """The project's model.py as the reference backend renders it for ``plan``, loaded
    as a module (scriptgen's own template: no LLM wrote it)."""
    from .render import render_files

    contract = plan.manifest.contract("model.py")
    if contract is None:
        raise ScriptgenError(f"task {plan.manifest.name}: no model.py in its manifest")
    source = render_files(plan, [contract])["model.py"]
    module = types.ModuleType("model")
    module.__file__ = "model.py"
    exec(compile(source, "model.py", "exec"), module.__dict__)
    return module


_TASK_TYPES = {
    "AutoModelForSequenceClassification": "SEQ_CLS",
    "AutoModelForTokenClassification": "TOKEN_CLS",
    "AutoModelForQuestionAnswering": "QUESTION_ANS",
    "AutoModelForSeq2SeqLM": "SEQ_2_SEQ_LM",
    "AutoModelForCausalLM": "CAUSAL_LM",
}


def peft_task_type(plan: Plan) -> str | None:
    explicit = plan.manifest.vars.get("peft_task_type")
    if explicit is not None:
        return explicit or None
    return _TASK_TYPES.get(str(plan.manifest.vars.get("auto_class")))


def parameters(plan: Plan, config: Any | None = None) -> tuple[int, int, Any]:
    """(total, trainable, the prepared meta model) for the spec's method."""
    import warnings

    with warnings.catch_warnings():
        # (transformers' and peft's deprecation notices are not the user's business.)
        warnings.simplefilter("ignore")
        model = apply_method(plan, meta_model(plan, config))
    return _count(model), _count(model, trainable_only=True), model


def first_int(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return max(value)
    return None
