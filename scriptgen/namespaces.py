"""Linux process primitives for the warm worker's children (``warm_server.py``): dying
with the parent, namespaces of their own, another user. Run by path beside
``warm_server.py`` with the validation's interpreter; it needs the standard library and
``confine.py`` (whose exit status for a process that could not be confined it shares).

``python namespaces.py CMD ARGS...`` brings the network namespace's loopback up and
becomes CMD: the cold validation's step after ``unshare -n``.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import sys

# The child could not be confined: it never ran the worker (as confine.py's own exit).
from confine import EXIT_CONFINE  # beside this file, imported by warm_server.py first

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG, _PR_SET_KEEPCAPS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE = (
    1,
    8,
    47,
    2,
)
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = (
    0x00020000, 0x10000000, 0x20000000, 0x40000000,
)  # fmt: skip
_CAP_DAC_READ_SEARCH = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"  # struct ifreq: the interface's name, its flags
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), what)


def die_with_parent(parent: int | None = None, alive: int | None = None) -> None:
    """SIGKILL when the parent dies; exit now if it already has (its PID is ``parent``,
    or, across a PID namespace, where no PID tells, ``alive`` is the read end of a pipe
    that it holds open)."""
    _check(_LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    gone = (
        os.getppid() != parent
        if alive is None
        else bool(select.select([alive], [], [], 0)[0])
    )
    if gone:
        os._exit(EXIT_CONFINE)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def become_unprivileged(uid: int) -> None:
    """uid and gid ``uid``, no groups, keeping only CAP_DAC_READ_SEARCH (what setpriv
    does for a cold run: the interpreter may lie in a folder only root reads, and Landlock
    decides what is read), ambient so that it survives exec."""
    _check(_LIBC.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(KEEPCAPS)")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    bit = 1 << _CAP_DAC_READ_SEARCH
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
    _check(_LIBC.capset(ctypes.byref(header), data), "capset")
    _check(
        _LIBC.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH, 0, 0),
        "prctl(CAP_AMBIENT_RAISE)",
    )


def own_user_namespace() -> None:
    """Not root: a user namespace where this user is root (``unshare -r``), so that the
    network and PID namespaces can be made."""
    uid, gid = os.getuid(), os.getgid()
    _check(_LIBC.unshare(_CLONE_NEWUSER), "unshare(user)")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def own_folders(own: dict[str, str]) -> None:
    """The run's HOME, TMPDIR and HF_HOME (``own``) mounted over the worker's, in a mount
    namespace of this process's own: what a library fixed at import time (the hub's and
    datasets' cache folders) is then this run's folder, not a folder every child shares.
    """
    _check(_LIBC.unshare(_CLONE_NEWNS), "unshare(mount)")
    _check(_LIBC.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount(private)")
    for name, folder in own.items():
        target = os.environ[name].encode()
        _check(
            _LIBC.mount(folder.encode(), target, None, _MS_BIND, None), f"bind {name}"
        )


def contain(contained: list[str]) -> None:
    """New network and PID namespaces, as ``contained`` names them ("network",
    "processes"), through a user namespace of its own where this process is not root."""
    flags = 0
    if "network" in contained:
        flags |= _CLONE_NEWNET
    if "processes" in contained:
        flags |= _CLONE_NEWPID
    if flags:
        if os.getuid() != 0:
            own_user_namespace()
        _check(_LIBC.unshare(flags), "unshare(net, pid)")
    if "network" in contained:
        loopback_up()


def loopback_up() -> None:
    """The new network namespace's loopback interface up (it starts down): code under
    test may serve on 127.0.0.1 and ask itself there. Nothing beyond it: the namespace
    has no other interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        asked = fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, asked)[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


if __name__ == "__main__":
    loopback_up()
    os.execvp(sys.argv[1], sys.argv[1:])
