"""The first `scriptgen new` of a family whose twin is pretrained, against the second.

On an empty twin cache (a fresh XDG_CACHE_HOME) the first `new clm --model gpt2` used to
build GPT-2's twin (2,000 pretraining steps, minutes); with the twins scriptgen ships it
takes the shipped one. Each round runs, on a fresh cache: the first `new` (shipped twins
offered), the second (the cache now warm), and, for the record, a first `new` with
``SCRIPTGEN_BUILD_TWINS=1`` (what it cost before twins shipped). The bar: median(first) /
median(second) <= 1.5.

    python bench/bench_first_new.py [--task clm --model gpt2 --rounds 1 --built]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import scriptgen_command

BAR = 1.5


def new(
    task: str, model: str, cache: Path, work: Path, **env: str
) -> tuple[float, dict]:
    """Seconds of one `scriptgen new` (validated, not committed) and its twins' record."""
    out = work / f"run{len(list(work.iterdir()))}"
    out.mkdir()
    cmd = [*scriptgen_command(), "new", task, "--model", model, "--no-commit",
           "--timeout", "1800", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache), **env})  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"scriptgen new failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    report = json.loads((project / ".scriptgen" / "validation.json").read_text())
    return seconds, report.get("twins", {})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="clm")
    parser.add_argument("--model", default="gpt2")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--built", action="store_true",
                        help="also time a first run that builds every twin")  # fmt: skip
    args = parser.parse_args()
    firsts, seconds_, builts = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            cache, work = Path(tmp) / f"cache{round_}", Path(tmp) / f"work{round_}"
            work.mkdir(parents=True)
            first, twins = new(args.task, args.model, cache, work)
            second, _ = new(args.task, args.model, cache, work)
            firsts.append(first)
            seconds_.append(second)
            sources = sorted({t["source"] for t in twins.values()})
            print(f"round {round_ + 1}: first {first:.1f}s (twins: {', '.join(sources)}), "
                  f"second {second:.1f}s")  # fmt: skip
            if args.built:
                built, twins = new(args.task, args.model, Path(tmp) / f"built{round_}",
                                   work, SCRIPTGEN_BUILD_TWINS="1")  # fmt: skip
                builts.append(built)
                build = sum(t["seconds"] or 0 for t in twins.values())
                print(
                    f"  first, building its twins: {built:.1f}s ({build:.0f}s of builds)"
                )
    ratio = statistics.median(firsts) / statistics.median(seconds_)
    verdict = "ok" if ratio <= BAR else "OVER"
    print(
        f"{args.task} {args.model}: first/second = {ratio:.2f}x (bar {BAR}x) {verdict}"
    )
    if builts:
        print(
            f"  before shipped twins: {statistics.median(builts) / statistics.median(seconds_):.2f}x"
        )
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    raise SystemExit(main())
