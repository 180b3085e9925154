"""More than one process: the accelerate configurations every project ships (and FSDP's
where the task's models outgrow a GPU), the launch `scriptgen plan` recommends, and two
processes on this machine's CPU training one model with DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scriptgen.estimation import MethodCost, Number, launch_advice
from scriptgen.planning import make_plan
from scriptgen.render import render_scaffold
from scriptgen.spec import build_spec

from .conftest import EXAMPLES, generate_reference, run_scriptgen
from .test_real_training import minilm_folder


@pytest.mark.parametrize(("task", "model", "fsdp"),
                         [("textclf", "bert-base", False), ("clm", "gpt2", True)])  # fmt: skip
def test_the_configurations_are_accelerates(
    tmp_path: Path, task: str, model: str, fsdp: bool
) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    raw, base = build_spec(task, model=model, sets=[], cwd=tmp_path)
    scaffold = render_scaffold(make_plan(raw, base, tmp_path / "generated"))
    assert ("accelerate/fsdp.yaml" in scaffold) is fsdp
    configs = {}
    assert ("accelerate/deepspeed_zero3.yaml" in scaffold) is fsdp
    for name in ("multi_gpu", "fsdp", "deepspeed_zero3")[: 1 + 2 * fsdp]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(scaffold[f"accelerate/{name}.yaml"], encoding="utf-8")
        configs[name] = load_config_from_file(
            str(path)
        )  # as accelerate launch reads it
    assert configs["multi_gpu"].distributed_type == "MULTI_GPU"
    if fsdp:
        assert configs["fsdp"].distributed_type == "FSDP"
        wrap = configs["fsdp"].fsdp_config["fsdp_auto_wrap_policy"]
        assert wrap == "TRANSFORMER_BASED_WRAP"
        deepspeed = configs["deepspeed_zero3"]
        assert deepspeed.distributed_type == "DEEPSPEED"
        assert deepspeed.deepspeed_config["zero_stage"] == 3
        # Left to the Trainer ("auto"): a value here that config.yaml contradicts is an
        # error when DeepSpeed starts.
        assert "gradient_accumulation_steps" not in deepspeed.deepspeed_config
    readme = scaffold["README.md"]
    assert "--config_file accelerate/multi_gpu.yaml" in readme
    assert ("--config_file accelerate/fsdp.yaml" in readme) is fsdp
    assert ("--config_file accelerate/deepspeed_zero3.yaml" in readme) is fsdp


def test_plan_recommends_the_launch_that_fits(tmp_path: Path) -> None:
    """An 8B Llama: full fine-tuning fits no GPU and is sharded over two 80 GB ones; its
    LoRA fits one. A task without an FSDP configuration says what else to do."""
    folder = tmp_path / "llama-8b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
        "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192,
    }))  # fmt: skip
    result = run_scriptgen(
        "plan", "clm", "--model", str(folder), "--set", "training.max_length=512",
        "--set", "training.batch_size=1", "--examples", "1000", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    launch = dict(
        line.strip().split(": ", 1)
        for line in result.stdout.split("Launch (the project's accelerate/")[1]
        .split("\n\n")[0]
        .splitlines()[1:]
    )
    assert launch["full"].startswith(
        "fits no single GPU: accelerate/fsdp.yaml over 2 A100-80GBs"
    )
    assert launch["lora"].startswith("fits one A100-80GB: python train.py")
    big = MethodCost("full", 10**10, 10**10, smallest_gpu=None)
    big.memory = {k: Number(2**40, "") for k in ("weights", "gradients", "optimizer",
                                                 "activations", "transient")}  # fmt: skip
    assert launch_advice(big, fsdp=False).startswith(
        "fits no listed GPU, and the project"
    )
    assert launch_advice(big, fsdp=True).startswith("fits no listed GPU, even sharded")


@pytest.mark.slow
def test_two_processes_train_one_model(tmp_path: Path) -> None:
    """DDP on this machine's CPU (gloo): torchrun starts two processes of the generated
    train.py on a real checkpoint, which split each epoch's batches between them (half
    the steps an epoch of one process takes) and save one model."""
    project = generate_reference(tmp_path, "textclf")
    output_dir, steps, batch = tmp_path / "outputs", 4, 4
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun comes with torch"
    command = [
        torchrun, "--nproc_per_node", "2", str(project / "train.py"),
        "--model_name_or_path", str(minilm_folder()), "--ddp_backend", "gloo",
        "--train_file", str(EXAMPLES / "data/reviews-train.csv"),
        "--validation_file", str(EXAMPLES / "data/reviews-valid.csv"),
        "--max_steps", str(steps), "--per_device_train_batch_size", str(batch),
        "--max_length", "32", "--eval_strategy", "no", "--save_strategy", "no",
        "--output_dir", str(output_dir),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = len((EXAMPLES / "data/reviews-train.csv").read_text().splitlines()) - 1
    epoch = json.loads((output_dir / "train_results.json").read_text())["epoch"]
    assert epoch == pytest.approx(steps / math.ceil(rows / (batch * 2))), epoch
    assert (output_dir / "model.safetensors").is_file()
