"""What the benchmark scripts share: this interpreter's scriptgen command, and a timed
subprocess that stops the benchmark when its command fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def scriptgen_command() -> list[str]:
    script = Path(sys.executable).with_name("scriptgen")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "scriptgen"]


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, expect: int = 0
) -> float:
    """Seconds ``cmd`` took; exits with its output's tail unless it exited ``expect``."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != expect:
        sys.exit(
            f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return seconds
