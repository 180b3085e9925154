"""``scriptgen plan``: what each way of doing a spec's task costs, before anything runs.

Parameters come from the model's config, instantiated on PyTorch's meta device (no
weights downloaded or allocated), with each training method applied as the generated
model.py applies it (peft's adapters on the same meta model). Memory, compute, time and
cost follow from them by the rules each number's ``how`` states. Nothing here knows a
task: the Auto class, the label count and the sequence length come from the manifest and
the spec.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import UserError
from .datasize import (
    CHARS_PER_TOKEN,
    count_examples,
    row_chars,
    column_of_text,
    tokens_per_example,
)
from .metamodel import (
    first_int,
    label_count,
    load_config,
    parameters,
    peft_task_type,
)
from .planning import Plan

GIB = 1024**3


@dataclass(frozen=True)
class Device:
    name: str
    memory_gib: float
    tflops: float  # dense peak for the precision used (bf16/fp16 tensor cores)
    price_per_hour: float  # dollars, typical on-demand cloud price (an assumption)


# Peak dense 16-bit TFLOPS from the vendors' data sheets (H100 SXM, A100 SXM, L4, T4);
# prices: typical on-demand cloud prices per GPU-hour, late 2026 (override with
# --price-per-hour).
GPUS = (
    Device("T4", 16, 65, 0.40),
    Device("L4", 24, 121, 0.80),
    Device("A100-40GB", 40, 312, 1.50),
    Device("A100-80GB", 80, 312, 1.90),
    Device("H100", 80, 989, 3.00),
)
# What the CUDA context and the allocator's slack take besides the tensors.
CUDA_OVERHEAD_GIB = 1.0
ALLOCATOR_SLACK = 1.10
DEFAULT_UTILISATION = 0.3


@dataclass
class Number:
    value: float
    how: str


@dataclass
class MethodCost:
    method: str
    total_params: int
    trainable_params: int
    memory: dict[str, Number] = field(default_factory=dict)
    smallest_gpu: str | None = None
    # Which of the project's accelerate configurations to launch with, and why.
    launch: str = ""
    flops: Number | None = None
    hours: dict[str, Number] = field(default_factory=dict)
    cost: dict[str, Number] = field(default_factory=dict)


@dataclass
class Estimate:
    task: str
    model: str
    tokens: Number
    methods: list[MethodCost]
    baseline: dict[str, Number] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sequence(plan: Plan, config: Any) -> tuple[int, str]:
    """Positions per example and how that was decided, as the task's manifest says."""
    positions = plan.manifest.positions
    image, patch = getattr(config, "image_size", None), getattr(
        config, "patch_size", None
    )
    if (
        positions.patches
        and isinstance(image, int)
        and isinstance(patch, int)
        and patch
    ):
        n = (image // patch) ** 2 + 1
        return n, f"({image}/{patch})^2 + 1 = {n} patches of each image"
    value = plan.spec.data.get(positions.data_key) if positions.data_key else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = int(value * positions.per_unit)
        return n, f"{value} {positions.what} = {n} positions"
    n = plan.spec.training.max_length
    return n, f"max_length {n} tokens (batches padded to their longest: an upper bound)"


def _activation_bytes(
    config: Any, batch: int, seq: int, layers: int, fp32: bool
) -> float:
    """Korthikanti et al. (2022), no recomputation: s*b*h*(34 + 5*a*s/h) bytes per layer
    in 16-bit; twice that in fp32."""
    hidden = first_int(config, "hidden_size", "d_model", "n_embd", "embed_dim") or 768
    heads = (
        first_int(config, "num_attention_heads", "encoder_attention_heads", "n_head")
        or 12
    )
    per_layer = seq * batch * hidden * (34 + 5 * heads * seq / hidden)
    return per_layer * layers * (2 if fp32 else 1)


def measure_cpu_tflops(seconds: float = 0.5) -> float:
    """This machine's fp32 matrix-multiply throughput, measured now."""
    import torch

    n = 512
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e12


def estimate(
    plan: Plan,
    *,
    methods: list[str] | None = None,
    examples: int | None = None,
    utilisation: float = DEFAULT_UTILISATION,
    price_per_hour: float | None = None,
    price_per_mtok: float | None = None,
) -> Estimate:
    """Parameters, memory, compute, time and cost of each method the family offers (or
    ``methods``), and of the spec's prompt baseline."""
    from .planning import supported_methods

    config = load_config(plan.model.name_or_path)
    training = plan.spec.training
    seq, seq_how = _sequence(plan, config)
    n_examples, examples_how = count_examples(plan, examples)
    per_example, per_example_how = tokens_per_example(plan, seq, seq_how)
    tokens = n_examples * per_example * training.epochs
    tokens_number = Number(
        tokens, f"{examples_how} x {per_example_how} x {training.epochs:g} epoch(s)"
    )
    cpu = Device("CPU (this machine)", math.inf, measure_cpu_tflops(), 0.10)
    devices = [*GPUS, cpu]
    fp32 = training.precision == "fp32"
    batch = training.batch_size
    layer_count = first_int(config, "num_hidden_layers", "n_layer", "num_layers") or 12
    vocab = getattr(config, "vocab_size", 0) or 0
    generative = peft_task_type(plan) in ("CAUSAL_LM", "SEQ_2_SEQ_LM")
    chosen = methods or supported_methods(plan.manifest, plan.family)
    rows = []
    for method in chosen:
        spec = plan.spec.model_copy(
            update={"training": training.model_copy(update={"method": method})}
        )
        method_plan = Plan(plan.manifest, spec, plan.model, plan.family, plan.target)
        total, trainable, model = parameters(method_plan, config)
        row = MethodCost(method, total, trainable)
        # Embedding lookups are no matrix products (Kaplan et al.'s N; the Trainer's
        # total_flos counts the same way).
        embedding = sum(p.numel() for p in model.get_input_embeddings().parameters())
        dense = total - embedding
        dense_trainable = trainable - sum(
            p.numel()
            for p in model.get_input_embeddings().parameters()
            if p.requires_grad
        )
        weight_bytes = 0.5 if method == "qlora" else 4.0
        frozen = total - trainable
        row.memory["weights"] = Number(
            frozen * weight_bytes + trainable * 4,
            "4 bytes a parameter (fp32 master weights)"
            + ("; 0.5 for the 4-bit frozen ones" if method == "qlora" else ""),
        )
        row.memory["gradients"] = Number(trainable * 4, "4 bytes a trainable parameter")
        row.memory["optimizer"] = Number(
            trainable * 8, "AdamW: two fp32 moments a trainable parameter"
        )
        active_layers = layer_count
        if method == "freeze":
            active_layers = training.unfreeze_layers
        act = _activation_bytes(config, batch, seq, active_layers, fp32)
        act_how = (
            f"{active_layers} layer(s) x s*b*h*(34 + 5*a*s/h) bytes (Korthikanti et al. "
            f"2022), b={batch}, s={seq}" + (", x2 in fp32" if fp32 else "")
        )
        if training.gradient_checkpointing:
            act = act / max(active_layers, 1) + 2 * seq * batch * (
                first_int(config, "hidden_size", "d_model", "n_embd") or 768
            ) * active_layers * (2 if fp32 else 1)
            act_how += "; checkpointing: one layer's plus each layer's input"
        if generative and vocab:
            act += batch * seq * vocab * 8
            act_how += f"; + logits and their gradient, b*s*{vocab}*8 bytes"
        row.memory["activations"] = Number(act, act_how)
        row.memory["transient"] = Number(
            _activation_bytes(config, batch, seq, 1, fp32),
            "one layer's activations: the buffers of the layer being computed, "
            "frozen or not (freed after it, but part of the peak)",
        )
        needed = sum(n.value for n in row.memory.values())
        row.memory["allocator"] = Number(
            needed * (ALLOCATOR_SLACK - 1),
            f"{ALLOCATOR_SLACK - 1:.0%} of the above: the allocator's caching and "
            "fragmentation",
        )
        needed *= ALLOCATOR_SLACK
        row.memory["total"] = Number(needed, "the sum of the above")
        fits = [
            g.name for g in GPUS if needed / GIB + CUDA_OVERHEAD_GIB <= g.memory_gib
        ]
        row.smallest_gpu = fits[0] if fits else None
        row.launch = launch_advice(row, plan.manifest.contract(FSDP_CONFIG) is not None)
        backward = dense if method != "freeze" else dense_trainable
        flops = (
            2 * dense * tokens + 2 * backward * tokens + 2 * dense_trainable * tokens
        )
        row.flops = Number(
            flops,
            f"2*N*T forward + 2*N*T backward through the layers + 2*N_trainable*T "
            f"weight gradients (6*N*T for full fine-tuning), N = {dense:,} parameters "
            "but the input embeddings'",
        )
        for device in devices:
            seconds = flops / (device.tflops * 1e12 * utilisation)
            price = (
                price_per_hour if price_per_hour is not None else device.price_per_hour
            )
            row.hours[device.name] = Number(
                seconds / 3600,
                f"FLOPs / ({device.tflops:.3g} TFLOPS x {utilisation:.0%} utilisation)",
            )
            row.cost[device.name] = Number(
                seconds / 3600 * price, f"hours x ${price:.2f}/hour"
            )
        del model
        rows.append(row)
    result = Estimate(plan.manifest.name, plan.model.name_or_path, tokens_number, rows)
    result.assumptions = [
        "GPU prices: typical on-demand cloud prices per hour (override: --price-per-hour)",
        f"memory fits a GPU when the total + {CUDA_OVERHEAD_GIB:g} GiB (the CUDA "
        "context) is within its memory",
        f"CPU throughput measured now: {cpu.tflops:.3f} TFLOPS fp32",
    ]
    if plan.spec.baseline is not None:
        result.baseline = _baseline(plan, devices, utilisation, price_per_mtok)
    return result


FSDP_CONFIG = "accelerate/fsdp.yaml"


def launch_advice(row: MethodCost, fsdp: bool) -> str:
    """How to launch a method's training on the listed GPUs: on one where it fits (DDP
    on several keeps a whole copy on each); else sharded with FSDP over the fewest of
    the largest GPU that hold it, where the project ships an FSDP configuration."""
    if row.smallest_gpu:
        return (
            f"fits one {row.smallest_gpu}: python train.py; on several GPUs, "
            "accelerate/multi_gpu.yaml (DDP: a whole copy on each, the same memory)"
        )
    fix = "a peft method (lora, qlora), gradient checkpointing or smaller batches"
    if not fsdp:
        return f"fits no listed GPU, and the project has no FSDP configuration: {fix}"
    memory = row.memory
    sharded = sum(memory[k].value for k in ("weights", "gradients", "optimizer"))
    own = sum(memory[k].value for k in ("activations", "transient"))
    gpu = max(GPUS, key=lambda g: g.memory_gib)
    for count in (2, 4, 8):
        needed = (sharded / count + own) * ALLOCATOR_SLACK / GIB + CUDA_OVERHEAD_GIB
        if needed <= gpu.memory_gib:
            return (
                f"fits no single GPU: accelerate/fsdp.yaml over {count} {gpu.name}s, "
                f"each holding 1/{count} of the weights, gradients and optimizer state "
                f"({sharded / count / GIB:.1f} GiB) beside its own activations "
                f"({own / GIB:.1f} GiB): {needed:.0f} of {gpu.memory_gib} GiB each"
            )
    return f"fits no listed GPU, even sharded over 8 {gpu.name}s: {fix}"


def _baseline(
    plan: Plan, devices: list[Device], utilisation: float, price_per_mtok: float | None
) -> dict[str, Number]:
    """Tokens per example of the prompt baseline and its time and cost per 1,000."""
    from .planning import resolve_llm

    assert plan.spec.baseline is not None
    baseline = plan.spec.baseline
    data = plan.spec.data
    chars = None
    for key in ("validation", "train"):
        if data.get("format") in ("csv", "json") and data.get(key):
            chars = row_chars(str(data[key]), column_of_text(plan))
            if chars:
                break
    how_chars = "a row's characters, from the data file"
    if chars is None:
        chars, how_chars = 400.0, "400 characters a row (a stated guess: no local data)"
    labels = label_count(plan) or 2
    names = plan.spec.data.get("labels") or ["label"] * labels
    # A task whose LLM writes its answer (its manifest's baseline_writes_answer: a JSON
    # list of entities) says how long an answer may be; the others score each label.
    writes = plan.manifest.vars.get("baseline_writes_answer")
    max_new = plan.manifest.vars.get("baseline_max_new_tokens") if writes else None
    # A written answer: about as many tokens as the text (a stated guess: a JSON list of
    # entities for a news sentence, its quotes and keys included).
    answer = min(chars / CHARS_PER_TOKEN + 2, max_new) if max_new else 0.0
    # A sentence of instruction and the label names, or the spec's own instruction.
    instruction = len(baseline.instruction or "") or 80 + sum(
        len(str(n)) + 2 for n in names
    )
    prompt_chars = instruction + (baseline.shots + 1) * (chars + 30)
    tokens = prompt_chars / CHARS_PER_TOKEN + baseline.shots * answer
    shots_answers = (
        f" + {baseline.shots} shots' answers x {answer:.0f} tokens" if answer else ""
    )
    out: dict[str, Number] = {
        "prompt_tokens_per_example": Number(
            tokens,
            f"(instruction ~{instruction} chars + {baseline.shots + 1} x ({chars:.0f} "
            f"chars: {how_chars}, + 30 of chat template)) / {CHARS_PER_TOKEN:g} chars "
            f"a token{shots_answers}",
        )
    }
    if answer:
        out["completion_tokens_per_example"] = Number(
            answer,
            f"about the text's tokens ({chars:.0f} chars / {CHARS_PER_TOKEN:g} + 2, a "
            f"stated guess for a JSON answer), at most max_new_tokens {max_new}",
        )
    total_tokens = tokens + answer
    llm = resolve_llm(baseline.llm)
    if llm.startswith("openai:"):
        if price_per_mtok is not None:
            out["cost_per_1000"] = Number(
                total_tokens * 1000 / 1e6 * price_per_mtok,
                f"tokens x 1,000 x ${price_per_mtok:.2f} per million (--price-per-mtok)",
            )
        return out
    try:
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            llm_model = AutoModelForCausalLM.from_config(load_config(llm))
        n = sum(p.numel() for p in llm_model.parameters())
    except UserError as exc:
        out["llm_params"] = Number(math.nan, f"unknown: {exc}")
        return out
    out["llm_params"] = Number(n, f"{llm}'s config on the meta device")
    if answer:
        # The prompt's forward pass, then one token at a time (the KV cache).
        flops = 2 * n * total_tokens * 1000
        how = f"2 x {n:.3g} params x (prompt + answer) tokens x 1,000"
    else:
        # Each label is scored after the prompt: the prompt's forward pass per label.
        flops = 2 * n * (tokens + 2) * labels * 1000
        how = f"2 x {n:.3g} params x (prompt + 2) tokens x {labels} labels x 1,000"
    for device in devices:
        seconds = flops / (device.tflops * 1e12 * utilisation)
        out[f"hours_per_1000 {device.name}"] = Number(
            seconds / 3600,
            f"{how} / ({device.tflops:.3g} TFLOPS x {utilisation:.0%})",
        )
        out[f"cost_per_1000 {device.name}"] = Number(
            seconds / 3600 * device.price_per_hour,
            f"hours x ${device.price_per_hour:.2f}/hour",
        )
    return out
