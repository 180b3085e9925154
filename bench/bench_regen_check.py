"""Benchmark `scriptgen regen --check` over 10 fresh projects against a floor in the same run.

The floor is `python -c "import click, yaml, jinja2"`: the start-up of a light Python CLI.
scriptgen's run is the console script a pre-commit hook runs: find the 10 projects under
generated/, read each lock and spec, hash the templates and every generated file (for
conflict markers), and report. Runs alternate so that machine noise hits both alike; the bar
is median(scriptgen) / median(floor) <= 1.2. The script also checks, with Python's own
import log, that the check never imports torch or transformers.

scriptgen's modules are compiled to bytecode first, as `pip install` (and so a pre-commit
hook's environment) does: an editable install under PYTHONDONTWRITEBYTECODE=1 (this
workplace's setting) would otherwise compile them from source on every run, about 13 ms
that no installed copy pays, while the floor's packages came compiled.

    python bench/bench_regen_check.py [--rounds 21]
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

from _common import scriptgen_command, timed

MODELS = ["bert-base", "bert-base-cased", "roberta-base", "xlm-roberta-base", "distilbert",
          "distilroberta", "deberta-v3-small", "modernbert-base", "electra-small", "albert-base"]  # fmt: skip
HEAVY = ("torch", "transformers", "datasets", "accelerate")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    scriptgen = scriptgen_command()
    package = Path(importlib.util.find_spec("scriptgen").origin).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for model in MODELS:
            timed(
                [*scriptgen, "new", "textclf", "--model", model, "--no-validate"], work
            )
        check = [*scriptgen, "regen", "--check"]
        out = subprocess.run(check, cwd=work, capture_output=True, text=True)
        if out.stdout.strip() != f"{len(MODELS)} project(s) fresh":
            sys.exit(
                f"expected {len(MODELS)} fresh projects, got: {out.stdout}{out.stderr}"
            )
        imports = subprocess.run(check, cwd=work, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})  # fmt: skip
        modules = {
            ln.split("|")[-1].strip() for ln in imports.stderr.splitlines() if "|" in ln
        }
        heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
        if heavy:
            sys.exit(f"regen --check imported {', '.join(heavy)}")

        floor_cmd = [sys.executable, "-c", "import click, yaml, jinja2"]
        timed(floor_cmd, work)  # warm the file cache once
        timed(check, work)
        floor, ours = [], []
        for _ in range(args.rounds):
            floor.append(timed(floor_cmd, work))
            ours.append(timed(check, work))
    result = {
        "projects": len(MODELS),
        "floor_median_s": round(statistics.median(floor), 4),
        "regen_check_median_s": round(statistics.median(ours), 4),
        "ratio": round(statistics.median(ours) / statistics.median(floor), 2),
        "bar": 1.2,
        "modules_imported": len(modules),
        "torch_or_transformers_imported": bool(heavy),
        "rounds": args.rounds,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ratio"] <= result["bar"] else 1)


if __name__ == "__main__":
    main()
