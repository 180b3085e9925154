"""Benchmark the LLM path with a real code model: each requirement of a realistic set goes
through `scriptgen new TASK --model M --llm openai:URL --require TEXT` (settings, edits,
validation on the tiny twin, repairs), as a user runs it, in a fresh git repository.

Per requirement: validated or not, repair rounds, requests, prompt and reply tokens (the
server's counts, from the project's transcript or the kept candidate's), wall time, and
the lines the diff from the reference adds and removes. ``--mode definitions`` (``lines``) asks for
whole definitions (lines placed at a statement) in JSON instead of SEARCH/REPLACE blocks; ``--mode files`` runs the same
requirements with every code file retyped, for the ratio.

Needs a server: `bench/llm_server.sh serve 1.5b` (llama.cpp serving
Qwen2.5-Coder-1.5B-Instruct on 127.0.0.1:8080). Not for CI: minutes per requirement.

    python bench/bench_llm.py [--url http://127.0.0.1:8080/v1] [--mode edits|definitions|lines|files]
        [--only ID ...] [--budget SECONDS] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (id, what it exercises, the requirement as a user writes it)
REQUIREMENTS = [
    ("smoothing", "loss (a setting)", "use label smoothing of 0.1"),
    ("schedule", "training schedule (settings)",
     "use a cosine learning-rate schedule with warmup over the first 10% of the steps"),
    ("logging", "logging (a setting)", "log the training loss every 5 steps"),
    ("params", "logging (code)", "log the number of trainable parameters before training"),
    ("lowercase", "custom column transform (code)",
     "lowercase the text column before tokenizing"),
    ("short-texts", "data handling (code)",
     "drop training examples whose text is shorter than 3 characters"),
    ("freeze", "freezing (code)", "freeze the embedding layer of the model during training"),
    ("f1-weighted", "metrics (code)", "also report the weighted F1 score when evaluating"),
    ("early-stop", "early stopping (code and settings)",
     "stop training early when the validation loss has not improved for 2 evaluations"),
]  # fmt: skip


def run_one(
    scriptgen: str,
    url: str,
    task: str,
    model: str,
    mode: str,
    rid: str,
    text: str,
    budget: float = 540,
) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix=f"bench-llm-{rid}-"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "scriptgen.toml").write_text(f'[llm]\nmode = "{mode}"\nbudget = {budget}\n')
    start = time.perf_counter()
    proc = subprocess.run(
        [scriptgen, "new", task, "--model", model, "--llm", f"openai:{url}",
         "--require", text, "--name", "bench", "--no-commit"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    project = root / "generated" / "bench"
    kept = re.search(r"the candidate is kept in (\S+)", proc.stderr)
    folder = project if proc.returncode == 0 else Path(kept.group(1)) if kept else None
    exchanges = []
    if folder is not None and (folder / ".scriptgen/transcript.jsonl").is_file():
        exchanges = [
            json.loads(line)
            for line in (folder / ".scriptgen/transcript.jsonl")
            .read_text()
            .splitlines()
        ]
    diff = ""
    if proc.returncode == 0 and (project / ".scriptgen/changes.diff").is_file():
        diff = (project / ".scriptgen/changes.diff").read_text()
    lines = diff.splitlines()
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("scriptgen:")]
    row = {
        "id": rid,
        "mode": mode,
        "validated": proc.returncode == 0,
        "repairs": sum(1 for e in exchanges if e.get("kind") == "repair"),
        "requests": len(exchanges),
        "prompt_tokens": sum(e.get("prompt_tokens") or 0 for e in exchanges),
        "reply_tokens": sum(e.get("completion_tokens") or 0 for e in exchanges),
        "llm_seconds": round(sum(e.get("seconds") or 0 for e in exchanges), 1),
        "wall_seconds": round(wall, 1),
        "added": sum(
            1 for ln in lines if ln.startswith("+") and not ln.startswith("+++")
        ),
        "removed": sum(
            1 for ln in lines if ln.startswith("-") and not ln.startswith("---")
        ),
        "error": errors[0][:200] if errors else "",
        "diff": diff,
        "replies": [f"{e.get('kind')}: {e.get('reply')}" for e in exchanges],
    }
    shutil.rmtree(root, ignore_errors=True)
    return row


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| requirement | mode | validated | repairs | requests | prompt tok | reply tok "
        "| wall s | diff +/- |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r['id']} | {r['mode']} | {'yes' if r['validated'] else 'no'} "
            f"| {r['repairs']} | {r['requests']} | {r['prompt_tokens']} "
            f"| {r['reply_tokens']} | {r['wall_seconds']} | +{r['added']}/-{r['removed']} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--task", default="textclf")
    parser.add_argument("--model", default="bert-base")
    parser.add_argument(
        "--mode", choices=["edits", "definitions", "lines", "files"], default="edits"
    )
    parser.add_argument("--only", nargs="*", help="requirement ids to run")
    parser.add_argument("--json", type=Path, help="append the rows to this file")
    parser.add_argument(
        "--budget",
        type=float,
        default=540,
        help="seconds of LLM time per project ([llm] budget); the whole-file mode needs "
        "more to finish its repair rounds",
    )
    args = parser.parse_args()
    scriptgen = shutil.which("scriptgen") or sys.exit("scriptgen is not on PATH")
    chosen = [r for r in REQUIREMENTS if not args.only or r[0] in args.only]
    rows = []
    for rid, what, text in chosen:
        row = run_one(
            scriptgen,
            args.url,
            args.task,
            args.model,
            args.mode,
            rid,
            text,
            args.budget,
        )
        row["what"], row["requirement"] = what, text
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
        if row["error"]:
            print(f"    {row['error']}", flush=True)
        if row["diff"]:
            print("    " + row["diff"].replace("\n", "\n    "), flush=True)
        if args.json:
            with args.json.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(row) + "\n")
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
