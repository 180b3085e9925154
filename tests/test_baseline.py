"""The prompt baseline (`new textclf --baseline`): the project validates with it; its judge
catches baselines that ask the wrong questions or read the answers wrong; the generated
baseline.py works against a real OpenAI-compatible server on 127.0.0.1, with and without
guided_choice; a project without a baseline does not depend on the baseline's templates.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_scriptgen
from .openai_server import ScriptedServer, _send_reply

pytestmark = pytest.mark.slow

CUES = {"neg": ("dreadful", "dull"), "pos": ("lovely", "superb")}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`scriptgen new textclf --baseline`, validated in the sandbox."""
    out = tmp_path_factory.mktemp("baseline")
    result = run_scriptgen(
        "new", "textclf", "--model", "bert-base", "--baseline", "--no-commit",
        "--out", str(out), cwd=out,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "textclf-bert-base"


def test_a_project_with_a_baseline_validates(project: Path) -> None:
    for name in ("baseline.py", "llm.py", "baseline.yaml", "tests/test_baseline.py"):
        assert (project / name).is_file(), name
    spec = (project / ".scriptgen" / "spec.yaml").read_text(encoding="utf-8")
    assert "baseline:\n  llm: Qwen/Qwen2.5-1.5B-Instruct\n" in spec
    report = json.loads((project / ".scriptgen" / "validation.json").read_text())
    passed = {s["name"] for s in report["steps"] if s["outcome"] == "passed"}
    assert {
        "test_the_twin_llm_does_the_task_through_the_baseline",
        "test_results_are_what_the_predictions_earn",
        "test_shots_come_from_the_training_data",
        "test_model_learns_the_task",
    } <= passed
    assert "## Prompt baseline" in (project / "README.md").read_text(encoding="utf-8")


# (file, what the reference has, what the broken baseline has instead, the judge's test
# that must fail).
BREAKAGES = {
    # Each label's tokens scored one position late (the logits that predict the next).
    "label-scores-off-by-one": (
        "llm.py",
        "picked = log_probs[row, positions - 1, torch.tensor(ids)]",
        "picked = log_probs[row, positions.clamp(max=log_probs.shape[1] - 1), torch.tensor(ids)]",
        "test_the_twin_llm_does_the_task_through_the_baseline",
    ),
    # Shots drawn from the validation data the baseline is scored on.
    "shots-from-validation": (
        "baseline.py",
        'shots = draw_shots(raw["train"], args, scheme)',
        'shots = draw_shots(raw["validation"], args, scheme)',
        "test_shots_come_from_the_training_data",
    ),
    # The conversation sent as plain lines, not through the chat template.
    "no-chat-template": (
        "llm.py",
        "text = self.tokenizer.apply_chat_template(\n"
        "            messages, tokenize=False, add_generation_prompt=True\n"
        "        )",
        'text = "\\n".join(m["content"] for m in messages) + "\\n"',
        "test_the_twin_llm_does_the_task_through_the_baseline",
    ),
    # A label found inside another word ("positive" read as "pos").
    "labels-matched-inside-words": (
        "baseline.py",
        'if re.search(rf"(?<!\\w){re.escape(label.lower())}(?!\\w)", whole)',
        "if label.lower() in whole",
        "test_parse_answer",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_judge_catches_a_broken_baseline(
    project: Path, tmp_path: Path, breakage: str
) -> None:
    path, good, bad, must_fail = BREAKAGES[breakage]
    broken = tmp_path / "project"
    shutil.copytree(project, broken)
    source = (broken / path).read_text(encoding="utf-8")
    assert source.count(good) == 1, f"{path} no longer has the code this test breaks"
    (broken / path).write_text(source.replace(good, bad), encoding="utf-8")
    # The judge's own file, run as validation runs it (the twins cached by the fixture).
    from scriptgen.validate import twin_cache

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    twins = twin_cache()
    if twins is not None:
        env["SCRIPTGEN_TWIN_CACHE"] = str(twins)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_baseline.py"],
        cwd=broken, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert result.returncode == 1, result.stdout[-3000:]
    assert any(f"::{must_fail}" in line for line in failed), (
        failed or result.stdout[-3000:]
    )


def write_data(folder: Path) -> tuple[Path, Path]:
    rows = []
    for i in range(12):
        label = "neg" if i % 2 else "pos"
        rows.append(
            {"text": f"a {CUES[label][i % 3 % 2]} film number {i}", "label": label}
        )
    for name, part in (("train.csv", rows[:6]), ("valid.csv", rows[6:])):
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(part)
    return folder / "train.csv", folder / "valid.csv"


def label_for(text: str) -> str:
    return next(label for label, cues in CUES.items() if any(c in text for c in cues))


def run_baseline(
    project: Path, server: ScriptedServer, tmp_path: Path, *extra: str
) -> dict:
    train, valid = write_data(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "sk-test"}
    result = subprocess.run(
        [sys.executable, "baseline.py", "--llm", f"openai:{server.url}",
         "--train_file", str(train), "--validation_file", str(valid),
         "--output_dir", str(tmp_path / "out"), "--shots", "2", *extra],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp_path / "out" / "baseline_results.json").read_text())


def last_user_text(body: dict) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_baseline_against_a_server_with_guided_choice(
    project: Path, tmp_path: Path
) -> None:
    """vLLM-style: guided_choice holds the answer to the labels."""

    def answer(ctx) -> None:
        body = ctx.request.body
        assert body["guided_choice"] == ["neg", "pos"]
        text = label_for(last_user_text(body))
        usage = {"prompt_tokens": 50, "completion_tokens": 1}
        _send_reply(
            ctx, text, stream=False, usage=usage, finish_reason="stop", chunk_size=4
        )

    with ScriptedServer(models=["served-llm"]) as server:
        server.then(answer)
        results = run_baseline(project, server, tmp_path)
        requests = server.chat_requests
    assert results["eval_accuracy"] == 1.0 and results["unparseable"] == 0
    assert results["answers"] == ["guided_choice"]
    assert results["prompt_tokens_per_example"] == 50
    assert results["llm"].startswith("served-llm at http://127.0.0.1:")
    body = requests[0].body
    assert body["model"] == "served-llm" and body["temperature"] == 0.0
    assert requests[0].headers["authorization"] == "Bearer sk-test"
    # The instruction, two shots as turns, then the text.
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]


def test_baseline_against_a_server_without_guided_choice(
    project: Path, tmp_path: Path
) -> None:
    """llama.cpp / TGI-style: guided_choice refused (HTTP 400), answers parsed; an answer
    that names no label is wrong and counted."""
    answers = iter(["The label is pos.", "banana", '"neg"', "neg", "Pos", "neg or pos"])

    def answer(ctx) -> None:
        if "guided_choice" in ctx.request.body:
            ctx.handler.send_json(
                400, {"error": {"message": "unknown field guided_choice"}}
            )
            return
        usage = {"prompt_tokens": 40, "completion_tokens": 3}
        _send_reply(
            ctx,
            next(answers),
            stream=False,
            usage=usage,
            finish_reason="stop",
            chunk_size=4,
        )

    with ScriptedServer(models=["plain-llm"]) as server:
        server.then(answer)
        results = run_baseline(project, server, tmp_path)
        guided = [r for r in server.chat_requests if "guided_choice" in r.body]
    # Asked once with guided_choice, then never again.
    assert len(guided) == 1
    assert results["answers"] == ["free"]
    assert results["unparseable"] == 2
    predictions = [
        json.loads(line)
        for line in (tmp_path / "out" / "baseline_predictions.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [p["prediction"] for p in predictions] == [
        "pos",
        None,
        "neg",
        "neg",
        "pos",
        None,
    ]
    right = sum(p["prediction"] == p["label"] for p in predictions)
    assert results["eval_accuracy"] == pytest.approx(right / 6)


def test_a_project_without_a_baseline_ignores_the_baseline_templates(
    tmp_path: Path,
) -> None:
    from scriptgen.lock import template_hashes, unused_templates

    without = template_hashes(
        "textclf", "reference", [], unused_templates("textclf", False)
    )
    with_baseline = template_hashes(
        "textclf", "reference", [], unused_templates("textclf", True)
    )
    assert "textclf/reference/baseline.py.j2" in with_baseline
    assert "textclf/reference/baseline.py.j2" not in without
    assert "textclf/scaffold/tests/test_baseline.py.j2" not in without
    assert "textclf/reference/train.py.j2" in without
