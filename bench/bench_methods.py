"""Benchmark `scriptgen new` for each training method against the validation floor.

The floor is the judge's own work: `pytest .scriptgen/judge` run directly in the generated
project, after `scriptgen judge` wrote it there (the
tiny twin built, trained and checked; no scriptgen, no sandbox). scriptgen's run is what a
user's is: plan, render, check, format, validate in the sandbox, write and commit into a
fresh git repository. Runs alternate so that machine noise hits both alike; the bar is
median(new) / median(floor) <= 1.5 for every method.

    python bench/bench_methods.py [--task textclf] [--model bert-base] [--rounds 3]
        [--methods full freeze lora]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import timed

BAR = 1.5


def supported(task: str, model: str) -> list[str]:
    from scriptgen.catalog import task_entry
    from scriptgen.registry import resolve_model

    # Every method validates on the CPU (qlora through bitsandbytes' CPU kernels).
    model_type = resolve_model(model, Path.cwd()).model_type
    return list(task_entry(task)["families"][model_type])


def one_method(task: str, model: str, method: str, rounds: int) -> dict[str, object]:
    new_cmd = [sys.executable, "-m", "scriptgen", "new", task, "--model", model,
               "--set", f"training.method={method}", "--name", "p"]  # fmt: skip
    floor_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                 "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": "",
                 # as in the sandbox: a tiny twin trains fastest on one thread
                 "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
    floor_cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        ".scriptgen/judge",
    ]
    new_s, floor_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        for round_ in range(rounds + 1):  # round 0 warms the caches, and is not counted
            with tempfile.TemporaryDirectory() as work_dir:
                work = Path(work_dir)
                subprocess.run(["git", "init", "-q"], cwd=work, check=True)
                seconds = timed(new_cmd, work)
                if not project.exists():
                    shutil.copytree(work / "generated" / "p", project)
                    subprocess.run([sys.executable, "-m", "scriptgen", "judge", str(project)],
                                   check=True, capture_output=True)  # fmt: skip
            floor = timed(floor_cmd, project, floor_env)
            if round_:
                new_s.append(seconds)
                floor_s.append(floor)
    ratio = statistics.median(new_s) / statistics.median(floor_s)
    return {
        "method": method,
        "floor_s": [round(s, 2) for s in floor_s],
        "new_s": [round(s, 2) for s in new_s],
        "ratio": round(ratio, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="textclf")
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="*")
    args = parser.parse_args()
    methods = args.methods or supported(args.task, args.model)
    rows = [one_method(args.task, args.model, m, args.rounds) for m in methods]
    result = {
        "task": args.task,
        "model": args.model,
        "bar": BAR,
        "rows": rows,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if all(r["ratio"] <= BAR for r in rows) else 1)


if __name__ == "__main__":
    main()
