"""The task's model on PyTorch's meta device (shapes, no weights) with the spec's training
method applied as the generated model.py applies it: what ``scriptgen plan`` counts."""

from __future__ import annotations

from typing import Any

from .errors import UserError
from .plan import Plan


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


def _head(model: Any, layers_path: str) -> list[str]:
    """The modules that train in full with every method but full, as model.py finds
    them: the model's children outside the base model, and the base model's children
    after its layers (BERT's pooler, a final norm)."""
    prefix = model.base_model_prefix

    def has_parameters(module: Any) -> bool:
        return any(True for _ in module.parameters())

    names = [
        name
        for name, module in model.named_children()
        if name != prefix and has_parameters(module)
    ]
    container = layers_path.split(".")[0]
    after = False
    if model.base_model is not model:
        for name, module in model.base_model.named_children():
            if after and has_parameters(module):
                names.append(f"{prefix}.{name}")
            after = after or name == container
    return names


def _layers(model: Any, path: str) -> list[Any]:
    node = model.base_model
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return []
    return list(node)


def apply_method(plan: Plan, model: Any) -> Any:
    """The model as the method trains it: requires_grad as model.py sets it, peft's
    adapters added (on the meta device)."""
    method = plan.spec.training.method
    training = plan.spec.training
    head = _head(model, plan.family.layers)
    if method == "full":
        return model
    if method == "freeze":
        for p in model.parameters():
            p.requires_grad = False
        layers = _layers(model, plan.family.layers)
        keep = (
            layers[len(layers) - training.unfreeze_layers :]
            if training.unfreeze_layers
            else []
        )
        for module in [*keep, *(model.get_submodule(name) for name in head)]:
            for p in module.parameters():
                p.requires_grad = True
        return model
    import peft

    task_type = peft_task_type(plan)
    # As model.py does: the head trains in full (modules_to_save), no adapter inside it.
    in_head = [
        name
        for module_name in head
        for name, _ in model.get_submodule(module_name).named_modules(
            prefix=module_name
        )
    ]
    common: dict[str, Any] = {"task_type": task_type, "modules_to_save": head or None}
    config_of = model.config
    if method in ("lora", "qlora"):
        lora = training.lora
        targets = lora.target_modules or plan.family.lora_target_modules
        config: Any = peft.LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,  # type: ignore[arg-type]
            lora_dropout=lora.dropout,
            target_modules=targets if isinstance(targets, str) else list(targets),
            exclude_modules=in_head or None,
            **common,
        )
    elif method == "ia3":
        from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING

        known = (
            config_of.model_type in TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING
        )
        config = peft.IA3Config(
            # peft's own choice where it has one, else every linear layer's output.
            target_modules=None if known else "all-linear",
            feedforward_modules=None if known else [],
            exclude_modules=in_head or None,
            **common,
        )
    else:
        sizes = {
            "token_dim": first_int(config_of, "hidden_size", "dim", "d_model"),
            "num_layers": first_int(config_of, "num_hidden_layers", "n_layers"),
            "num_attention_heads": first_int(
                config_of, "num_attention_heads", "n_heads"
            ),
        }
        settings: dict[str, Any] = {k: v for k, v in sizes.items() if v is not None}
        kind = (
            peft.PrefixTuningConfig if method == "prefix" else peft.PromptTuningConfig
        )
        if method == "prompt":
            # Virtual tokens live in the input embedding space, which can be smaller
            # than the hidden size (ELECTRA, ALBERT).
            settings["token_dim"] = model.get_input_embeddings().embedding_dim
        config = kind(
            num_virtual_tokens=training.num_virtual_tokens, **settings, **common
        )
    return peft.get_peft_model(model, config)


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
