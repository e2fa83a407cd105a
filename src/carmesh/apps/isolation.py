"""What an app process may use: resource limits and, optionally, its own network namespace.

Everything here is applied in the child between ``fork`` and ``exec`` (``preexec_fn``), so
:func:`child_setup` resolves all it needs beforehand — the libc functions, the limit values,
the parent's pid — and the returned function only makes system calls:

1. ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: if the car process dies (even by SIGKILL) the app
   gets SIGTERM instead of living on as an orphan. The signal fires when the *thread* that
   forked dies, so fork from the thread that lives as long as the car (the event loop's);
2. ``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` when network isolation is asked for: the app
   sees only a loopback interface that is down, so it reaches nothing over IP — not even
   127.0.0.1 — while Unix sockets in the filesystem (the apps socket) still connect;
3. ``setrlimit`` for open files, CPU seconds and, last (it can make any further allocation in
   the child fail), address space.

Limits are clamped to the car process's own hard limits, which an unprivileged process cannot
raise. :func:`network_isolation_available` tells (once, cached) whether the kernel lets this
process create the namespaces; if it does not, apps run with the host network and the
supervisor reports their isolation as ``process``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

#: Seconds between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
CPU_GRACE_SECONDS = 5


@dataclass(frozen=True)
class ResourceLimits:
    """Per-process limits; ``None`` leaves that resource as the car process has it.

    - ``memory_mb``: address space (``RLIMIT_AS``) in MiB — allocations beyond it fail, which
      Python reports as ``MemoryError``;
    - ``cpu_seconds``: CPU time per process run (``RLIMIT_CPU``): SIGXCPU at the limit, SIGKILL
      :data:`CPU_GRACE_SECONDS` later;
    - ``open_files``: file descriptors (``RLIMIT_NOFILE``), sockets included.
    """

    memory_mb: int | None = 1024
    cpu_seconds: int | None = None
    open_files: int | None = 256

    def __post_init__(self) -> None:
        for name in ("memory_mb", "cpu_seconds", "open_files"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit)")

    def rlimits(self) -> list[tuple[int, tuple[int, int]]]:
        """The ``(resource, (soft, hard))`` pairs to set, clamped to this process's hard limits.

        Address space comes last: once it is lowered, the child should allocate nothing more.
        """
        wanted: list[tuple[int, int, int]] = []
        if self.open_files is not None:
            wanted.append((resource.RLIMIT_NOFILE, self.open_files, self.open_files))
        if self.cpu_seconds is not None:
            cpu_hard = self.cpu_seconds + CPU_GRACE_SECONDS
            wanted.append((resource.RLIMIT_CPU, self.cpu_seconds, cpu_hard))
        if self.memory_mb is not None:
            size = self.memory_mb * 1024 * 1024
            wanted.append((resource.RLIMIT_AS, size, size))
        pairs: list[tuple[int, tuple[int, int]]] = []
        for kind, soft, hard in wanted:
            ceiling = resource.getrlimit(kind)[1]
            if ceiling != resource.RLIM_INFINITY:
                hard = min(hard, ceiling)
                soft = min(soft, hard)
            pairs.append((kind, (soft, hard)))
        return pairs


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@functools.cache
def network_isolation_available() -> bool:
    """Whether this process may give a child its own user and network namespace.

    Tried once in a forked child (``unshare`` changes the caller, and fails in a process with
    several threads, which the car process has), then cached. Blocks for the few milliseconds
    the fork takes.
    """
    unshare = _libc().unshare
    flags = ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET)
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:  # the child: system calls only, then leave without cleanup handlers
        try:
            os._exit(0 if unshare(flags) == 0 else 1)
        finally:
            os._exit(2)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        return os.waitstatus_to_exitcode(status) == 0


def child_setup(limits: ResourceLimits, *, isolate_network: bool) -> Callable[[], None]:
    """A ``preexec_fn`` that applies *limits* and, if asked, network isolation to the child.

    Call it in the process (and thread) that will fork. The child exits with status 127 if
    its parent is already gone, and raises ``OSError`` (the spawn fails) if a namespace or a
    limit cannot be set — an app that must not reach the network never runs with it.
    """
    libc = _libc()
    prctl = libc.prctl
    unshare = libc.unshare
    pdeathsig = ctypes.c_int(PR_SET_PDEATHSIG)
    sigterm = ctypes.c_ulong(signal.SIGTERM)
    flags = ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET)
    parent = os.getpid()
    rlimits = limits.rlimits()
    setrlimit = resource.setrlimit
    get_errno = ctypes.get_errno

    def setup() -> None:
        if prctl(pdeathsig, sigterm) != 0:
            errno = get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
        if os.getppid() != parent:  # the car died before the line above took effect
            os._exit(127)
        if isolate_network and unshare(flags) != 0:
            errno = get_errno()
            raise OSError(errno, f"unshare(CLONE_NEWUSER|CLONE_NEWNET): {os.strerror(errno)}")
        for kind, pair in rlimits:
            setrlimit(kind, pair)

    return setup
