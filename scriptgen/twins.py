"""The judge's tiny twins, shipped ready with scriptgen: every twin the catalog's judges
use (an encoder's pretrained for 100 steps, GPT-2's and the prompt baseline's instruct
twin for hundreds), 4 to 575 s a build, 11.7 MB for the 51 of them.

The judge's ``cached_twin`` keys a twin by the code that builds it (twin.py, the
conftest's ``make`` and what it builds from) and takes a shipped twin of that key before
it looks in the cache or builds one; a key that does not match (the build code changed)
is built as before. Validation offers them read-only (``SCRIPTGEN_TWINS_SHIPPED``), unless
``SCRIPTGEN_BUILD_TWINS=1`` asks for every twin to be built, which is how they are made:

    make twins    # the catalog on an empty cache, then: python -m scriptgen.twins CACHE

The catalog test fails a row whose twin was not shipped: a change to a twin's build code
is shipped with `make twins` in the same commit.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

SHIPPED = Path(__file__).with_name("ready_twins")
BUILD_RECORD = "twin_build.json"  # the judge's record beside each twin it built


def building() -> bool:
    """Whether every twin is to be built (``SCRIPTGEN_BUILD_TWINS=1``, as `make twins`)."""
    return os.environ.get("SCRIPTGEN_BUILD_TWINS") == "1"


def offered() -> Path | None:
    """The folder of shipped twins validation offers the judge, if any."""
    return None if building() or not SHIPPED.is_dir() else SHIPPED


def judge_env(cache: Path | None, shipped: Path | None) -> dict[str, str]:
    """Where the judge's ``cached_twin`` finds twins: the shared cache (if any) and the
    shipped twins ("" for none, so that the judge does not look for them itself)."""
    env = {"SCRIPTGEN_TWINS_SHIPPED": str(shipped or "")}
    if cache is not None:
        env["SCRIPTGEN_TWIN_CACHE"] = str(cache)
    return env


def build_record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / BUILD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("key"), str)
    return record if ok and isinstance(record.get("seconds"), (int, float)) else None


def ship(cache: Path) -> list[tuple[str, float, int]]:
    """Replace the shipped twins with the twins in ``cache`` (a twin cache filled by a
    catalog run with SCRIPTGEN_BUILD_TWINS=1). Returns (key, seconds, bytes) of each."""
    chosen = {}
    for folder in sorted(cache.iterdir()):
        record = build_record(folder) if folder.is_dir() else None
        if record:
            chosen[record["key"]] = (folder, record["seconds"])
    if SHIPPED.exists():
        shutil.rmtree(SHIPPED)
    SHIPPED.mkdir()
    out = []
    for key, (folder, seconds) in sorted(chosen.items()):
        target = SHIPPED / key
        shutil.copytree(folder, target)
        for path in target.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        out.append((key, seconds, size))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m scriptgen.twins TWIN_CACHE", file=sys.stderr)
        return 2
    shipped = ship(Path(argv[0]))
    for key, seconds, size in shipped:
        print(f"{key}  built in {seconds:6.1f}s  {size / 1e6:5.2f} MB")
    total = sum(size for _, _, size in shipped)
    print(f"{len(shipped)} twins shipped in {SHIPPED}: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
