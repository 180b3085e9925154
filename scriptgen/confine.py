"""Confine this process, then become a command: ``python confine.py POLICY -- CMD ARGS...``.

The last link of the validation sandbox's chain, run by path with scriptgen's own
interpreter (so it needs only the standard library and the ``landlock`` package, whatever
interpreter the command then runs). POLICY is JSON:

    {"read": [dirs or files readable], "write": [dirs writable beneath],
     "write_files": [files writable, e.g. /dev/null], "limits": {"AS": bytes, ...}}

It sets the resource limits, applies a Landlock ruleset where the kernel has one (every
file-system access is handled; only what the policy names is allowed, for this process and
everything it starts, across exec), and execs the command. From Landlock ABI 6 on, the
process is also scoped: it can signal only processes of its own sandbox. A process already
confined can run it again with a narrower policy: Landlock rulesets stack, so the result
is the intersection, and the outer process is out of the inner one's reach (no ptrace, no
signals).
"""

from __future__ import annotations

import ctypes
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


# Landlock ABI 6 scopes signals; the landlock package's ruleset has no field for it yet,
# so this second layer goes through the system calls themselves (the same numbers on
# every architecture).
SIGNAL_SCOPE_ABI = 6
_SCOPE_SIGNAL = 1 << 1
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH, _REFER = 1, 1 << 13


class _ScopedRulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def scope_signals(write: list[str]) -> None:
    """From now on, signals only to processes of this process's own Landlock domain (its
    descendants' included): none to the judge or to scriptgen. Needs no_new_privs, which
    apply_landlock() has set.

    Every Landlock layer denies moving a file to another folder (EXDEV) unless one of its
    rules allows it, whatever it handles: this one allows it beneath the ``write``
    folders, as the first layer does (a file written in a temporary folder, then moved
    beside it: ONNX's external data, atomic saves)."""
    from landlock.plumbing import PathBeneathAttr

    libc = ctypes.CDLL(None, use_errno=True)
    attr = _ScopedRulesetAttr(_REFER, 0, _SCOPE_SIGNAL)
    fd = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset (signal scope)")
    try:
        for path in filter(os.path.isdir, write):
            folder = os.open(path, os.O_PATH)
            try:
                rule = PathBeneathAttr(_REFER, folder)
                if libc.syscall(
                    _ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0
                ):
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule ({path})")
            finally:
                os.close(folder)
        if libc.syscall(_RESTRICT_SELF, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self (signal scope)")
    finally:
        os.close(fd)


def confine_self(policy: dict) -> None:
    """Apply POLICY to this process and everything it starts: limits, then Landlock (and
    from ABI 6, the signal scope) where the policy asks for it."""
    set_limits(policy.get("limits", {}))
    if policy.get("landlock"):
        apply_landlock(policy["read"], policy["write"], policy.get("write_files", []))
        if landlock_abi() >= SIGNAL_SCOPE_ABI:
            scope_signals(policy["write"])


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: confine.py POLICY -- COMMAND [ARGS...]", file=sys.stderr)
        return EXIT_CONFINE
    try:
        confine_self(json.loads(argv[0]))
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
