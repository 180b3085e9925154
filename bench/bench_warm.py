"""Validation warm against cold, and against the cold floor, measured in the same run.

One textclf project (the reference, `full`, BERT) is validated again and again by one
process, as `regen` and repair rounds do: cold (``SCRIPTGEN_WARM=0``: the project's
process imports the ML stack itself) and warm (it is forked from the warm worker, whose
imports are done), alternated so that machine noise hits both alike. The floor is
bench/floor_twin.py: a bare process that imports the stack, builds the tiny twin and trains
it for 2 steps. The first warm validation, which starts the warm worker, is reported on
its own. The issue's bar: median(warm) <= 0.5 x median(floor).

    python bench/bench_warm.py [--task textclf] [--model bert-base] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BAR = 0.5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="textclf")
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from scriptgen import api

    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    project = api.new(
        args.task, model=args.model, out=work, validate=False, commit=False
    ).target
    model_type = api.plan(args.task, model=args.model, out=work).model.model_type

    def validate(mode: str) -> float:
        os.environ["SCRIPTGEN_WARM"] = "1" if mode == "warm" else "0"
        start = time.perf_counter()
        _, report = api.validate(project)
        seconds = time.perf_counter() - start
        if report is None or not report.passed:
            sys.exit(f"validation failed ({mode}): {report and report.describe()}")
        expected = "warm" if mode == "warm" else "cold: SCRIPTGEN_WARM=0"
        if report.worker != expected:
            sys.exit(f"expected a {mode} validation, got {report.worker!r}")
        return seconds

    def floor() -> float:
        cmd = [sys.executable, str(HERE / "floor_twin.py"), "--task", args.task,
               "--model-type", model_type]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - start

    validate("cold")  # the twin cache and the format cache, warmed for every run after
    first_warm = validate("warm")  # starts the warm worker
    times: dict[str, list[float]] = {"floor": [], "cold": [], "warm": []}
    for _ in range(args.rounds):
        for name, run in (("floor", floor), ("cold", lambda: validate("cold")),
                          ("warm", lambda: validate("warm"))):  # fmt: skip
            times[name].append(run())
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:6} median {medians[name]:6.2f}s  runs {[round(v, 2) for v in values]}"
        )
    print(f"first warm validation (starts the warm worker): {first_warm:.2f}s")
    print(f"warm / cold  = {medians['warm'] / medians['cold']:.2f}x")
    ratio = medians["warm"] / medians["floor"]
    verdict = "meets" if ratio <= BAR else "misses"
    print(f"warm / floor = {ratio:.2f}x ({verdict} the bar of {BAR}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
