"""The prompt baselines (`new textclf --baseline`, `new tokclf --baseline`; the catalog's
rows validate them): their judges catch baselines that ask the wrong questions, read the
answers wrong or place the entities wrong; the generated baseline.py works against a real
OpenAI-compatible server on 127.0.0.1, with and without guided_choice / guided_json; a
project without a baseline does not depend on the baseline's templates.
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


def generate_project(out: Path, task: str) -> Path:
    """`scriptgen new TASK --baseline`, not validated: the catalog's row for the task's
    first family validates it with its baseline (tests/test_catalog.py)."""
    result = run_scriptgen(
        "new", task, "--model", "bert-base", "--baseline", "--no-commit", "--no-validate",
        "--out", str(out), cwd=out,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out / f"{task}-bert-base"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = generate_project(tmp_path_factory.mktemp("baseline"), "textclf")
    for name in ("baseline.py", "llm.py", "baseline.yaml"):
        assert (project / name).is_file(), name
    spec = (project / ".scriptgen" / "spec.yaml").read_text(encoding="utf-8")
    assert "baseline:\n  llm: Qwen/Qwen2.5-1.5B-Instruct\n" in spec
    return project


@pytest.fixture(scope="module")
def tokclf_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = generate_project(tmp_path_factory.mktemp("baseline"), "tokclf")
    assert "max_new_tokens: 256" in (project / "baseline.yaml").read_text()
    return project


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


TOKCLF_BREAKAGES = {
    # Each entity tagged one word late.
    "entities-placed-a-word-late": (
        "baseline.py",
        "tags[at + offset] = tag",
        "tags[min(at + offset + 1, len(words) - 1)] = tag",
        "test_place_entities",
    ),
    # Shots drawn from the validation data the baseline is scored on.
    "shots-from-validation": (
        "baseline.py",
        'draw_shots(raw["train"], args, encode, labels)',
        'draw_shots(raw["validation"], args, encode, labels)',
        "test_shots_come_from_the_training_data",
    ),
    # The conversation sent as plain lines, not through the chat template: the twin
    # cannot find the entities.
    "no-chat-template": BREAKAGES["no-chat-template"][:3]
    + ("test_the_twin_llm_does_the_task_through_the_baseline",),
}


@pytest.mark.parametrize(
    ("task", "breakage"),
    [("textclf", b) for b in BREAKAGES] + [("tokclf", b) for b in TOKCLF_BREAKAGES],
)
def test_the_judge_catches_a_broken_baseline(
    request: pytest.FixtureRequest, tmp_path: Path, task: str, breakage: str
) -> None:
    if task == "textclf":
        project, (path, good, bad, must_fail) = (
            request.getfixturevalue("project"),
            BREAKAGES[breakage],
        )
    else:
        project = request.getfixturevalue("tokclf_project")
        path, good, bad, must_fail = TOKCLF_BREAKAGES[breakage]
    broken = tmp_path / "project"
    shutil.copytree(project, broken)
    source = (broken / path).read_text(encoding="utf-8")
    assert source.count(good) == 1, f"{path} no longer has the code this test breaks"
    (broken / path).write_text(source.replace(good, bad), encoding="utf-8")
    run_scriptgen("judge", str(broken), cwd=tmp_path)
    # The judge's own file, run as validation runs it (the twins cached by the fixture).
    from scriptgen.isolation import twin_cache
    from scriptgen.twins import judge_env, offered

    env = {**os.environ, "HF_HUB_OFFLINE": "1", **judge_env(twin_cache(), offered())}
    result = subprocess.run(
        # The test that must fail, alone (the others need not run the LLM again).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ".scriptgen/judge/test_baseline.py", "-k", must_fail],
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


NER = [
    (
        "Alice Smith met the Acme team".split(),
        ["B-PER", "I-PER", "O", "O", "B-ORG", "O"],
    ),
    ("rain fell on Oslo".split(), ["O", "O", "O", "B-LOC"]),
    ("nothing happened today".split(), ["O", "O", "O"]),
    ("Bruno flew to Lima".split(), ["B-PER", "O", "O", "B-LOC"]),
]


def run_tokclf_baseline(
    project: Path, server: ScriptedServer, tmp_path: Path
) -> tuple[dict, list[dict]]:
    rows = [{"tokens": w, "ner_tags": t} for w, t in NER]
    for name in ("train.jsonl", "valid.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "baseline.py", "--llm", f"openai:{server.url}",
         "--train_file", str(tmp_path / "train.jsonl"),
         "--validation_file", str(tmp_path / "valid.jsonl"),
         "--output_dir", str(tmp_path / "out"), "--shots", "1"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    lines = (out / "baseline_predictions.jsonl").read_text().splitlines()
    return json.loads((out / "baseline_results.json").read_text()), [
        json.loads(line) for line in lines
    ]


def test_tokclf_baseline_against_a_server_with_guided_json(
    tokclf_project: Path, tmp_path: Path
) -> None:
    """vLLM-style: guided_json holds the answer to the schema; every entity right."""
    answers = {
        " ".join(w): [
            {"text": " ".join(w[s : e + 1]), "type": t} for t, s, e in entities_of(tags)
        ]
        for w, tags in NER
    }

    def answer(ctx) -> None:
        body = ctx.request.body
        schema = body["guided_json"]
        types = schema["items"]["properties"]["type"]["enum"]
        assert sorted(types) == ["LOC", "ORG", "PER"]
        text = json.dumps(answers[last_user_text(body)])
        usage = {"prompt_tokens": 80, "completion_tokens": 12}
        _send_reply(
            ctx, text, stream=False, usage=usage, finish_reason="stop", chunk_size=4
        )

    with ScriptedServer(models=["served-llm"]) as server:
        server.then(answer)
        results, predictions = run_tokclf_baseline(tokclf_project, server, tmp_path)
    assert results["eval_f1"] == 1.0 and results["eval_accuracy"] == 1.0
    assert results["answers"] == ["guided_json"] and results["unparseable"] == 0
    assert results["completion_tokens_per_example"] == 12
    assert [p["prediction"] for p in predictions] == [t for _, t in NER]
    # The shot: a training sentence and its entities as the assistant's answer.
    assert (
        json.loads(results["shot_examples"][0]["label"])
        == answers[results["shot_examples"][0]["text"]]
    )


def test_tokclf_baseline_against_a_server_without_guided_json(
    tokclf_project: Path, tmp_path: Path
) -> None:
    """guided_json refused: free answers are parsed (a code fence, words around the
    list); one that is not a JSON list tags nothing and is counted, and so are entities
    whose words are not in the sentence."""
    answers = iter(
        [
            '```json\n[{"text": "Alice Smith", "type": "PER"}, {"text": "Acme", "type": "ORG"}]\n```',
            "Oslo is a place.",
            '[{"text": "Bob", "type": "PER"}]',
            'The entities: [{"text": "Bruno", "type": "per"}, {"text": "Lima", "type": "LOC"}]',
        ]
    )

    def answer(ctx) -> None:
        if "guided_json" in ctx.request.body:
            ctx.handler.send_json(400, {"error": {"message": "unknown field"}})
            return
        usage = {"prompt_tokens": 60, "completion_tokens": 20}
        _send_reply(
            ctx, next(answers), stream=False, usage=usage, finish_reason="stop",
            chunk_size=4,
        )  # fmt: skip

    with ScriptedServer(models=["plain-llm"]) as server:
        server.then(answer)
        results, predictions = run_tokclf_baseline(tokclf_project, server, tmp_path)
        guided = [r for r in server.chat_requests if "guided_json" in r.body]
    assert len(guided) == 1 and results["answers"] == ["free"]
    assert results["unparseable"] == 1 and results["dropped_entities"] == 1
    assert [p["prediction"] for p in predictions] == [
        NER[0][1],
        ["O"] * 4,
        ["O"] * 3,
        NER[3][1],
    ]
    # 4 of the 5 entities found, none wrong.
    assert results["eval_precision"] == 1.0
    assert results["eval_recall"] == pytest.approx(4 / 5)


def entities_of(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of IOB2 tags, end inclusive."""
    out: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            out.append((tag[2:], i, i))
        elif tag.startswith("I-"):
            type_, start, _ = out[-1]
            out[-1] = (type_, start, i)
    return out


def test_a_project_without_a_baseline_ignores_the_baseline_templates(
    tmp_path: Path,
) -> None:
    from scriptgen.lock import template_hashes, unused_templates

    without = template_hashes("textclf", "reference", [], unused_templates("textclf"))
    with_baseline = template_hashes(
        "textclf", "reference", [], unused_templates("textclf", {"baseline"})
    )
    assert "textclf/reference/baseline.py.j2" in with_baseline
    assert "textclf/reference/baseline.py.j2" not in without
    assert "textclf/judge/test_baseline.py.j2" not in without
    assert "textclf/reference/train.py.j2" in without
    # Nor what only the baseline's templates include (its shared argument handling).
    from scriptgen.manifests import get_manifest
    from scriptgen.render import shared_templates

    for task in ("textclf", "tokclf"):
        manifest = get_manifest(task)
        shared = shared_templates(manifest)
        assert "_common/baseline/cli.py.j2" in shared, shared
        shared = shared_templates(manifest.for_spec())
        assert not [t for t in shared if t.startswith("_common/baseline/")], shared
