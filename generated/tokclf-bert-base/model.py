"""The model: a pretrained encoder with a fresh token classification head, and how it trains.

Training methods (--method):

    full     every weight trains
    freeze   the encoder is frozen but for its top --unfreeze_layers layers; the head
             (and what sits between the layers and the head: a pooler, a final norm) trains
    lora     low-rank adapters on the attention (peft); the head trains in full
    qlora    lora on a 4-bit quantized encoder (bitsandbytes; a GPU, or slowly the CPU)
    ia3      learnt scaling vectors on the linear layers (peft); the head trains in full
    prefix   learnt key/value prefixes in every layer (peft prefix tuning)
    prompt   learnt virtual tokens before the input (peft prompt tuning)

save_trained() writes what train.py produced so that load_trained() (predict.py) reads it
back: a plain checkpoint for full, freeze, lora and ia3 (adapters merged into the weights),
a peft adapter (with the trained head) over the pretrained model for prefix, prompt and
qlora. Works alike for hub ids and local checkpoint folders, of any architecture family.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
)

logger = logging.getLogger(__name__)

AUTO_CLASS = AutoModelForTokenClassification
METHODS = ("full", "freeze", "lora", "qlora", "ia3", "prefix", "prompt")
PEFT_METHODS = ("lora", "qlora", "ia3", "prefix", "prompt")
# Adapters that can be folded into the weights they modify: the saved model is then a
# plain checkpoint. (QLoRA's base is 4-bit; merging there would round the update away, so
# its adapter is saved as it is.)
MERGEABLE = ("lora", "ia3")
# LoRA's target modules when none are given, per architecture: for bert,
# its attention projections.
# Other architectures get every linear layer of the encoder ("all-linear").
LORA_TARGET_MODULES = {"bert": ["query", "value"]}
# Where the base model keeps its stack of layers, per architecture (for freeze); other
# architectures: the longest list of modules in the base model.
LAYERS = {"bert": "encoder.layer"}


def load_tokenizer(model_name_or_path: str, **kwargs) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(model_name_or_path, **kwargs)


def load_model(
    model_name_or_path: str,
    labels: list[str],
    method: str = "full",
    *,
    unfreeze_layers: int = 0,
    lora: dict | None = None,
    num_virtual_tokens: int = 20,
    gradient_checkpointing: bool = False,
    problem_type: str | None = None,
) -> nn.Module:
    """The pretrained model with a fresh head for ``labels``, ready to train with
    ``method``: a PreTrainedModel for full and freeze, a peft model for the others.

    ``lora``: {"r", "alpha", "dropout", "target_modules"} (lora, qlora; target_modules
    None: the architecture's attention projections, else "all-linear").
    """
    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}; use one of {METHODS}")
    kwargs = dict(
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        # A checkpoint that already has a head for another label set gets a new one.
        ignore_mismatched_sizes=True,
    )
    if problem_type:
        kwargs["problem_type"] = problem_type
    if method == "qlora":
        model = _load_4bit(model_name_or_path, kwargs)
    else:
        # transformers 5 loads weights in their stored dtype by default; train in fp32
        # (--precision bf16/fp16 gives mixed precision through the Trainer).
        model = AUTO_CLASS.from_pretrained(
            model_name_or_path, dtype=torch.float32, **kwargs
        )

    if gradient_checkpointing:
        # Non-reentrant checkpointing also passes gradients through segments whose
        # inputs are frozen (frozen embeddings, peft methods).
        model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
        model.config.use_cache = False

    if method == "freeze":
        freeze_encoder(model, unfreeze_layers)
    elif method in PEFT_METHODS:
        model = _add_adapter(model, method, lora or {}, num_virtual_tokens)
    if method != "full":
        keep_frozen_statistics(model)
    trainable, total = count_parameters(model)
    logger.info(
        "method %s: %d of %d parameters train (%.2f%%)",
        method,
        trainable,
        total,
        100 * trainable / total,
    )
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def find_layers(model: PreTrainedModel) -> tuple[str, nn.ModuleList]:
    """The encoder's stack of layers, with its dotted name: for a known architecture its
    own (LAYERS), else the longest nn.ModuleList in the base model (the first one on a
    tie, i.e. the outermost)."""
    known = LAYERS.get(model.config.model_type)
    if known:
        return known, model.base_model.get_submodule(known)
    best_name, best = "", None
    for name, module in model.base_model.named_modules():
        if isinstance(module, nn.ModuleList) and (
            best is None or len(module) > len(best)
        ):
            best_name, best = name, module
    if best is None:
        raise ValueError(
            f"no list of layers found in {type(model.base_model).__name__}"
        )
    return best_name, best


def head_modules(model: PreTrainedModel) -> list[str]:
    """Names of the modules that make the task's head, all of which train: everything
    outside the base model (classifier, DistilBERT's pre_classifier, DeBERTa's pooler),
    and the base model's parts that come after its layers (BERT's pooler, ModernBERT's
    final norm). Found from the module tree, so that any architecture works."""
    prefix = model.base_model_prefix
    names = [
        name
        for name, module in model.named_children()
        if name != prefix and _has_parameters(module)
    ]
    layers_name, _ = find_layers(model)
    container = layers_name.split(".")[0]
    after_layers = False
    for name, module in model.base_model.named_children():
        # Children are registered in the order the forward pass uses them.
        if after_layers and _has_parameters(module):
            names.append(f"{prefix}.{name}")
        after_layers = after_layers or name == container
    return names


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def freeze_encoder(model: PreTrainedModel, unfreeze_layers: int = 0) -> None:
    """Freeze the base model (embeddings and layers) but for its top ``unfreeze_layers``
    layers; the head modules train."""
    for param in model.parameters():
        param.requires_grad = False
    _, layers = find_layers(model)
    if unfreeze_layers > len(layers):
        raise ValueError(
            f"unfreeze_layers={unfreeze_layers}, but the model has {len(layers)} layers"
        )
    trainable = [model.get_submodule(name) for name in head_modules(model)]
    trainable += list(layers)[len(layers) - unfreeze_layers :]
    for module in trainable:
        for param in module.parameters():
            param.requires_grad = True
    if model.is_gradient_checkpointing:
        # The first checkpointed layer's input comes from frozen embeddings.
        model.enable_input_require_grads()


def keep_frozen_statistics(model: nn.Module) -> None:
    """Batch norms whose weights are frozen keep their running statistics frozen too
    (ResNet's): they normalize with the pretrained statistics, whatever mode the Trainer
    puts the model in."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.register_forward_pre_hook(_use_running_statistics)


def _use_running_statistics(module: nn.Module, args: tuple) -> None:
    module.training = False


def _load_4bit(model_name_or_path: str, kwargs: dict) -> PreTrainedModel:
    """The model with its encoder quantized to 4 bits for QLoRA (_four_bit_settings)."""
    from accelerate import init_empty_weights
    from peft import prepare_model_for_kbit_training

    # The head is created fresh and trained in full: keep it out of the quantization.
    # Its module names come from an empty (meta-device) copy of the model.
    config = AutoConfig.from_pretrained(model_name_or_path, **_config_kwargs(kwargs))
    with init_empty_weights():
        skeleton = AUTO_CLASS.from_config(config)
    model = AUTO_CLASS.from_pretrained(
        model_name_or_path, **_four_bit_settings(head_modules(skeleton)), **kwargs
    )
    # Casts norms and the head to fp32 and lets gradients reach the adapters.
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def _four_bit_settings(skip_modules: list[str] | None = None) -> dict:
    """from_pretrained's arguments for the model quantized to 4 bits (NF4 with double
    quantization, QLoRA's recipe), but ``skip_modules``: on the GPU of this process (bf16
    or fp16 compute), or where there is none on the CPU (bitsandbytes' CPU kernels, fp32
    compute; slow, but the same code path)."""
    from accelerate import PartialState
    from transformers import BitsAndBytesConfig

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        compute_dtype = torch.bfloat16 if bf16 else torch.float16
        # One whole copy per process (torchrun / accelerate launch).
        device: int | str = PartialState().local_process_index
    else:
        compute_dtype, device = torch.float32, "cpu"
    return dict(
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
            llm_int8_skip_modules=skip_modules,
        ),
        device_map={"": device},
        dtype=compute_dtype,
    )


def _config_kwargs(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k != "ignore_mismatched_sizes"}


def _add_adapter(
    model: PreTrainedModel, method: str, lora: dict, num_virtual_tokens: int
) -> nn.Module:
    import peft

    task_type = peft.TaskType.TOKEN_CLS
    # The head is new: it trains in full and is saved with the adapter.
    head = head_modules(model)
    # Keep adapters out of the head ("all-linear" would otherwise wrap its layers too).
    in_head = [
        name
        for module_name in head
        for name, _ in model.get_submodule(module_name).named_modules(
            prefix=module_name
        )
    ]
    config = model.config
    if method in ("lora", "qlora"):
        target_modules = lora.get("target_modules") or LORA_TARGET_MODULES.get(
            config.model_type, "all-linear"
        )
        peft_config = peft.LoraConfig(
            task_type=task_type,
            r=int(lora.get("r", 8)),
            lora_alpha=float(lora.get("alpha", 16)),
            lora_dropout=float(lora.get("dropout", 0.1)),
            target_modules=target_modules,
            exclude_modules=in_head,
            modules_to_save=list(head),
        )
    elif method == "ia3":
        from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING

        if config.model_type in TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING:
            # peft's own choice: keys, values and the feed-forward output.
            target_modules = feedforward_modules = None
        else:
            # Scale the output of every linear layer of the encoder.
            target_modules, feedforward_modules = "all-linear", []
        peft_config = peft.IA3Config(
            task_type=task_type,
            target_modules=target_modules,
            feedforward_modules=feedforward_modules,
            exclude_modules=in_head,
            modules_to_save=list(head),
        )
    elif method == "prefix":
        # Sizes given explicitly: peft looks them up under names that not every
        # config uses (DistilBERT's "dim"); config attributes map them for us.
        peft_config = peft.PrefixTuningConfig(
            task_type=task_type,
            num_virtual_tokens=num_virtual_tokens,
            token_dim=config.hidden_size,
            num_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            modules_to_save=list(head),
        )
    else:  # prompt
        peft_config = peft.PromptTuningConfig(
            task_type=task_type,
            num_virtual_tokens=num_virtual_tokens,
            # Start from the embeddings of random vocabulary tokens, on the scale of
            # real inputs: steadier than random vectors (Lester et al., 2021).
            prompt_tuning_init=peft.PromptTuningInit.SAMPLE_VOCAB,
            # Virtual tokens live in the input embedding space, which can be smaller
            # than the hidden size (ELECTRA, ALBERT).
            token_dim=model.get_input_embeddings().embedding_dim,
            num_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            modules_to_save=list(head),
        )
    checkpointing = model.is_gradient_checkpointing
    model = peft.get_peft_model(model, peft_config)
    if checkpointing:
        # The first checkpointed layer's input comes from frozen embeddings.
        model.enable_input_require_grads()
    return model


def save_trained(trainer: Trainer, output_dir: str) -> None:
    """Save the trained model and its tokenizer to ``output_dir``; call it on every
    process (the main one writes).

    LoRA and IA3 adapters are merged into the weights: a plain checkpoint that any
    transformers code loads. Prefix and prompt tuning (and QLoRA) save the peft adapter,
    the trained head included, plus the model's config (the labels) for load_trained().
    """
    model = trainer.accelerator.unwrap_model(trainer.model)
    method = peft_method(model)
    if method not in MERGEABLE:
        # The Trainer's own saving gathers sharded weights (FSDP, DeepSpeed) and writes
        # the tokenizer; a peft model saves its adapter.
        trainer.save_model(output_dir)
        if method is not None and trainer.args.should_save:
            config = copy.deepcopy(model.get_base_model().config)
            # load_trained() loads the pretrained weights unquantized (e.g. on a CPU).
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            config.save_pretrained(output_dir)
        return
    if not trainer.args.should_save:
        return
    # merge_and_unload() changes the model in place: merge a copy, so that the trainer
    # goes on evaluating the model it trained.
    merged = copy.deepcopy(model)
    _unwrap_modules_to_save(merged)
    merged.merge_and_unload().save_pretrained(output_dir)
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(output_dir)


def _unwrap_modules_to_save(model: nn.Module) -> None:
    """Put the trained copies of the head modules in place of their peft wrappers.

    merge_and_unload() does this itself for LoRA, but IA3's version fails on a head
    module that is not a single Linear layer (a pooler).
    """
    from peft.utils import ModulesToSaveWrapper

    for name, module in list(model.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent, _, child = name.rpartition(".")
            trained = module.modules_to_save[module.active_adapters[0]]
            setattr(model.get_submodule(parent), child, trained)


def peft_method(model: nn.Module) -> str | None:
    """The training method of a peft model (None for a plain model)."""
    peft_config = getattr(model, "peft_config", None)
    if not peft_config:
        return None
    peft_type = peft_config[model.active_adapter].peft_type.value
    if peft_type == "LORA":
        quantized = getattr(model.get_base_model(), "hf_quantizer", None) is not None
        return "qlora" if quantized else "lora"
    return {"IA3": "ia3", "PREFIX_TUNING": "prefix", "PROMPT_TUNING": "prompt"}.get(
        peft_type, peft_type.lower()
    )


def load_trained(model_dir: str) -> nn.Module:
    """The model that save_trained() wrote, in eval mode: a plain checkpoint, or a peft
    adapter over its pretrained model (named in adapter_config.json)."""
    if not (Path(model_dir) / "adapter_config.json").is_file():
        return AUTO_CLASS.from_pretrained(model_dir).eval()
    from peft import PeftConfig, PeftModel

    peft_config = PeftConfig.from_pretrained(model_dir)
    # The saved config carries the labels; the pretrained model gets a head for them,
    # whose trained weights the adapter then loads.
    config = AutoConfig.from_pretrained(model_dir)
    base = AUTO_CLASS.from_pretrained(
        peft_config.base_model_name_or_path,
        config=config,
        ignore_mismatched_sizes=True,
    )
    return PeftModel.from_pretrained(base, model_dir).eval()
