"""``scriptgen plan``: what each way of doing a spec's task costs, before anything runs.

Parameters come from the model's config, instantiated on PyTorch's meta device (no
weights downloaded or allocated), with each training method applied as the generated
model.py applies it (peft's adapters on the same meta model). Memory, compute, time and
cost follow from them by the rules each number's ``how`` states. Nothing here knows a
task: the Auto class, the label count and the sequence length come from the manifest and
the spec.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .plan import Plan

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
DEFAULT_EXAMPLES = 10_000
# Characters per token of English text for BPE / WordPiece vocabularies.
CHARS_PER_TOKEN = 4.0


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


def _auto_class(plan: Plan) -> Any:
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


def _labels(plan: Plan) -> int | None:
    labels = plan.spec.data.get("labels")
    return len(labels) if isinstance(labels, list) and labels else None


def meta_model(plan: Plan, config: Any | None = None) -> Any:
    """The task's model on the meta device: shapes, no storage."""
    import torch

    if config is None:
        config = load_config(plan.model.name_or_path)
    labels = _labels(plan)
    if labels is not None and hasattr(config, "num_labels"):
        config.num_labels = labels
    with torch.device("meta"):
        return _auto_class(plan).from_config(config)


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

    task_type = _peft_task_type(plan)
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
            "token_dim": _first(config_of, "hidden_size", "dim", "d_model"),
            "num_layers": _first(config_of, "num_hidden_layers", "n_layers"),
            "num_attention_heads": _first(config_of, "num_attention_heads", "n_heads"),
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


def _peft_task_type(plan: Plan) -> str | None:
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


def _tokens_per_example(plan: Plan, seq: int, seq_how: str) -> tuple[float, str]:
    """Tokens an example trains on: from a local text file's rows (characters / 4, cut at
    max_length) where there is one, else the sequence length (an upper bound)."""
    data = plan.spec.data
    train = data.get("train")
    is_text = seq == plan.spec.training.max_length
    if is_text and data.get("format") in ("csv", "json") and train:
        lengths = _row_lengths(str(train), _text_column(plan))
        if lengths:
            mean = sum(min(seq, n / CHARS_PER_TOKEN + 2) for n in lengths) / len(
                lengths
            )
            return mean, (
                f"{mean:.1f} tokens an example (its row's characters / "
                f"{CHARS_PER_TOKEN:g} + 2, at most max_length {seq})"
            )
    return seq, seq_how


def _examples(plan: Plan, given: int | None) -> tuple[int, str]:
    if given is not None:
        return given, f"{given} training examples (--examples)"
    data = plan.spec.data
    train = data.get("train")
    if (
        data.get("format") in ("csv", "json", "text")
        and train
        and Path(train).is_file()
    ):
        with open(train, encoding="utf-8", errors="replace") as f:
            lines = sum(1 for line in f if line.strip())
        n = max(lines - (data.get("format") == "csv"), 0)
        return n, f"{n} rows of {Path(train).name}"
    return DEFAULT_EXAMPLES, (
        f"{DEFAULT_EXAMPLES} training examples (a stated guess for {train}; "
        "pass --examples)"
    )


def _activation_bytes(
    config: Any, batch: int, seq: int, layers: int, fp32: bool
) -> float:
    """Korthikanti et al. (2022), no recomputation: s*b*h*(34 + 5*a*s/h) bytes per layer
    in 16-bit; twice that in fp32."""
    hidden = _first(config, "hidden_size", "d_model", "n_embd", "embed_dim") or 768
    heads = (
        _first(config, "num_attention_heads", "encoder_attention_heads", "n_head") or 12
    )
    per_layer = seq * batch * hidden * (34 + 5 * heads * seq / hidden)
    return per_layer * layers * (2 if fp32 else 1)


def _first(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return max(value)
    return None


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
    from .plan import supported_methods

    config = load_config(plan.model.name_or_path)
    training = plan.spec.training
    seq, seq_how = _sequence(plan, config)
    n_examples, examples_how = _examples(plan, examples)
    per_example, per_example_how = _tokens_per_example(plan, seq, seq_how)
    tokens = n_examples * per_example * training.epochs
    tokens_number = Number(
        tokens, f"{examples_how} x {per_example_how} x {training.epochs:g} epoch(s)"
    )
    cpu = Device("CPU (this machine)", math.inf, measure_cpu_tflops(), 0.10)
    devices = [*GPUS, cpu]
    fp32 = training.precision == "fp32"
    batch = training.batch_size
    layer_count = _first(config, "num_hidden_layers", "n_layer", "num_layers") or 12
    vocab = getattr(config, "vocab_size", 0) or 0
    generative = _peft_task_type(plan) in ("CAUSAL_LM", "SEQ_2_SEQ_LM")
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
                _first(config, "hidden_size", "d_model", "n_embd") or 768
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


def _text_column(plan: Plan) -> str | None:
    """The data column that holds a row's text (the data key the manifest's
    ``text_key`` names, e.g. tokclf's tokens_column), if the spec names one."""
    key = plan.manifest.vars.get("text_key")
    column = plan.spec.data.get(key) if key else None
    return str(column) if column else None


def _row_chars(path: str, column: str | None = None) -> float | None:
    """The mean number of characters of a data file's rows' text."""
    lengths = _row_lengths(path, column)
    return sum(lengths) / len(lengths) if lengths else None


def _chars(value: Any) -> int:
    """A value's characters as text: a list of words joined by spaces."""
    if isinstance(value, list):
        return sum(len(str(v)) for v in value) + max(len(value) - 1, 0)
    return len(str(value))


def _row_lengths(path: str, column: str | None = None) -> list[int]:
    """The characters of each of a data file's first 2,000 rows: its text column's where
    the row has it, else all its values'."""
    file = Path(path)
    if not file.is_file():
        return []
    lengths = []
    with open(file, encoding="utf-8", errors="replace") as f:
        if file.suffix.lower() == ".csv":
            rows: Any = csv.DictReader(f)
        else:
            rows = (
                _json_row(line, file, n) for n, line in enumerate(f, 1) if line.strip()
            )
        try:
            for i, row in enumerate(rows):
                if i >= 2000:
                    break
                if isinstance(row, dict) and column in row:
                    lengths.append(_chars(row[column]))
                    continue
                values = row.values() if isinstance(row, dict) else [row]
                lengths.append(sum(_chars(v) for v in values))
        except csv.Error as exc:
            raise UserError(f"{file}: not a CSV file ({exc})") from None
    return lengths


def _json_row(line: str, file: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise UserError(f"{file}: line {number} is not JSON") from None


def _baseline(
    plan: Plan, devices: list[Device], utilisation: float, price_per_mtok: float | None
) -> dict[str, Number]:
    """Tokens per example of the prompt baseline and its time and cost per 1,000."""
    from .plan import resolve_llm

    assert plan.spec.baseline is not None
    baseline = plan.spec.baseline
    data = plan.spec.data
    chars = None
    for key in ("validation", "train"):
        if data.get("format") in ("csv", "json") and data.get(key):
            chars = _row_chars(str(data[key]), _text_column(plan))
            if chars:
                break
    how_chars = "a row's characters, from the data file"
    if chars is None:
        chars, how_chars = 400.0, "400 characters a row (a stated guess: no local data)"
    labels = _labels(plan) or 2
    names = plan.spec.data.get("labels") or ["label"] * labels
    # A task whose LLM writes its answer (tokclf: a JSON list of entities) says how long
    # an answer may be; the others score each label.
    max_new = plan.manifest.vars.get("baseline_max_new_tokens")
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


def _fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB / 10 else f"{n / 2**20:.1f} MiB"


def _fmt_params(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _fmt_money(v: float) -> str:
    return f"${v:.2f}" if v >= 1 else f"${v:.4f}" if v >= 1e-4 else "<$0.0001"


def format_duration(seconds: float) -> str:
    """A time for a person: ms below a second, s below two minutes, min below two
    hours, h above (plan's estimates and compare's measurements alike)."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _fmt_hours(hours: float) -> str:
    return format_duration(hours * 3600)


def render(result: Estimate) -> str:
    """The terminal table: one row per method, then how the numbers were derived."""
    names = [d for d in result.methods[0].hours] if result.methods else []
    gpu = "H100"
    lines = [
        f"{result.task} with {result.model}: {result.tokens.value:,.0f} training tokens",
        f"  ({result.tokens.how})",
        "",
        f"{'method':8} {'params':>9} {'trainable':>10} {'memory':>10} {'smallest GPU':>13} "
        f"{'time ' + gpu:>11} {'cost ' + gpu:>10} {'time CPU':>10}",
    ]
    cpu = names[-1] if names else ""
    for row in result.methods:
        lines.append(
            f"{row.method:8} {_fmt_params(row.total_params):>9} "
            f"{_fmt_params(row.trainable_params):>10} "
            f"{_fmt_bytes(row.memory['total'].value):>10} "
            f"{row.smallest_gpu or 'none listed':>13} "
            f"{_fmt_hours(row.hours[gpu].value):>11} "
            f"{_fmt_money(row.cost[gpu].value):>10} "
            f"{_fmt_hours(row.hours[cpu].value):>10}"
        )
    if result.methods:
        first = result.methods[0]
        lines += ["", "How (first method's figures; --json has every number):"]
        for part, number in first.memory.items():
            lines.append(f"  memory {part}: {_fmt_bytes(number.value)}: {number.how}")
        assert first.flops is not None
        lines.append(f"  compute: {first.flops.value:.3g} FLOPs: {first.flops.how}")
        for device in names:
            lines.append(
                f"  {device}: {_fmt_hours(first.hours[device].value)}, "
                f"{_fmt_money(first.cost[device].value)}: {first.hours[device].how}; "
                f"{first.cost[device].how}"
            )
    if result.baseline:
        lines += ["", "Prompt baseline, per 1,000 validation examples:"]
        for key, number in result.baseline.items():
            value = (
                f"{number.value:,.1f}" if "tokens" in key
                else _fmt_params(number.value) if key == "llm_params" and math.isfinite(number.value)
                else _fmt_hours(number.value) if key.startswith("hours")
                else _fmt_money(number.value) if key.startswith("cost")
                else str(number.value)
            )  # fmt: skip
            lines.append(f"  {key}: {value}: {number.how}")
    lines += ["", *(f"Assumed: {a}" for a in result.assumptions)]
    return "\n".join(lines)
