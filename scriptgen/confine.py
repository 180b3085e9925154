"""Confine this process, then become a command: ``python confine.py POLICY -- CMD ARGS...``.

The last link of the validation sandbox's chain, run by path with scriptgen's own
interpreter (so it needs only the standard library and the ``landlock`` package, whatever
interpreter the command then runs). POLICY is JSON:

    {"read": [dirs or files readable], "write": [dirs writable beneath],
     "write_files": [files writable, e.g. /dev/null], "limits": {"AS": bytes, ...}}

It sets the resource limits, applies a Landlock ruleset where the kernel has one (every
file-system access is handled; only what the policy names is allowed, for this process and
everything it starts, across exec), and execs the command. A process already confined can
run it again with a narrower policy: Landlock rulesets stack, so the result is the
intersection, and the outer process is out of the inner one's reach (no ptrace).
"""

from __future__ import annotations

import json
import os
import resource
import sys

# Exit status when the policy cannot be applied (the command never runs).
EXIT_CONFINE = 125


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where it has none (or no ``landlock`` package)."""
    try:
        import landlock

        return int(landlock.landlock_abi_version())
    except Exception:  # not Linux, an old kernel, disabled at boot, no package
        return 0


def set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))


def apply_landlock(read: list[str], write: list[str], write_files: list[str]) -> None:
    from landlock import FSAccess, Ruleset

    file_read = FSAccess.READ_FILE | FSAccess.EXECUTE
    dir_read = file_read | FSAccess.READ_DIR
    ruleset = Ruleset()  # handles every access right this kernel knows

    def allow(paths: list[str], on_dir: FSAccess, on_file: FSAccess) -> None:
        for path in paths:
            if os.path.isdir(path):
                ruleset.allow(path, rules=on_dir)
            elif os.path.exists(path):
                ruleset.allow(path, rules=on_file)

    allow(read, dir_read, file_read)
    allow(write, FSAccess.all(), FSAccess.all_file())
    allow(write_files, FSAccess.all_file(), FSAccess.all_file())
    ruleset.apply()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: confine.py POLICY -- COMMAND [ARGS...]", file=sys.stderr)
        return EXIT_CONFINE
    policy = json.loads(argv[0])
    try:
        set_limits(policy.get("limits", {}))
        if policy.get("landlock"):
            apply_landlock(
                policy["read"], policy["write"], policy.get("write_files", [])
            )
    except Exception as exc:  # reported by the caller as a sandbox failure
        print(f"scriptgen sandbox: cannot confine: {exc}", file=sys.stderr)
        return EXIT_CONFINE
    try:
        os.execvp(argv[2], argv[2:])
    except OSError as exc:
        print(f"scriptgen sandbox: cannot run {argv[2]}: {exc}", file=sys.stderr)
        return EXIT_CONFINE
    return EXIT_CONFINE  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
