"""Benchmark `scriptgen new TASK --model M` against a floor measured in the same run.

The floor (bench/floor_twin.py) imports what the task's project imports (torch,
transformers, datasets, and e.g. rouge-score for seq2seq) and trains the task's tiny twin
for 2 steps. scriptgen's run does everything a user's run does: plan, render, check,
format, validate (the contract tests build or reuse the twin, train it on learnable data
until it must beat chance, predict, check the method's promise, in a sandboxed
subprocess), write and commit into a fresh git repository. Runs alternate so that machine
noise hits both alike; the bar is median(scriptgen) / median(floor) <= 2.

    python bench/bench_new.py [--task textclf] [--model bert-base] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import timed

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="textclf")
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from scriptgen.registry import resolve_model

    model_type = resolve_model(args.model, Path.cwd()).model_type
    floor_cmd = [sys.executable, str(HERE / "floor_twin.py"), "--task", args.task,
                 "--model-type", model_type]  # fmt: skip
    floor, scriptgen = [], []
    env_note = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    timed(floor_cmd, HERE)  # warm the file cache once
    for _ in range(args.rounds):
        floor.append(timed(floor_cmd, HERE))
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            subprocess.run(["git", "init", "-q"], cwd=work, check=True)
            scriptgen.append(
                timed(
                    [
                        sys.executable,
                        "-m",
                        "scriptgen",
                        "new",
                        args.task,
                        "--model",
                        args.model,
                    ],
                    work,
                )
            )
    result = {
        "task": args.task,
        "model": args.model,
        "floor_s": [round(s, 2) for s in floor],
        "scriptgen_new_s": [round(s, 2) for s in scriptgen],
        "floor_median_s": round(statistics.median(floor), 2),
        "scriptgen_median_s": round(statistics.median(scriptgen), 2),
        "ratio": round(statistics.median(scriptgen) / statistics.median(floor), 2),
        "bar": 2.0,
        **env_note,
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ratio"] <= result["bar"] else 1)


if __name__ == "__main__":
    main()
