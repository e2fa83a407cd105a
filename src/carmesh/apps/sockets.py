"""Where the apps platform's Unix sockets live: in the data directory, or, when that path would
not fit a socket address, in a short private directory.

A socket address holds at most :data:`SUN_PATH_MAX` bytes. The preferred place is
``DATA/run/[SUBDIR/]NAME.sock``; when it is too long, ``$XDG_RUNTIME_DIR/carmesh/KEY/`` or,
without ``XDG_RUNTIME_DIR``, ``/tmp/carmesh-UID/KEY/`` (KEY: a digest of the data directory, so
two cars never share one), with a digest of NAME when even that is too long.
:func:`prepare_socket_dir` creates the directory 0700 and refuses a symlink or another user's
directory there.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from carmesh.errors import ConfigError

#: Longest socket path the kernel takes (``sun_path`` is 108 bytes with the final NUL).
SUN_PATH_MAX = 107


def socket_path(data_dir: Path, name: str, subdir: str = "") -> Path:
    """Where the socket *name* of the car with *data_dir* goes (nothing is created here)."""
    run = data_dir.absolute() / "run"
    preferred = (run / subdir if subdir else run) / f"{name}.sock"
    if _fits(preferred):
        return preferred
    short = fallback_dir(data_dir)
    for candidate in (f"{name}.sock", f"{_digest(name)}.sock"):
        if _fits(short / candidate):
            return short / candidate
    raise ConfigError(
        f"no path for the socket {name} fits the kernel's limit of {SUN_PATH_MAX} bytes "
        f"(tried {preferred} and {short}); set XDG_RUNTIME_DIR to a short directory"
    )


def fallback_dir(data_dir: Path) -> Path:
    """The short private directory for the sockets of the car with *data_dir*."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = (
        Path(runtime) / "carmesh"
        if runtime.startswith("/")
        else Path("/tmp") / f"carmesh-{os.getuid()}"
    )
    return base / _digest(str(data_dir.absolute()))


def is_fallback(path: Path, data_dir: Path) -> bool:
    """True when *path* lies in the fallback directory rather than under *data_dir*."""
    return path.parent == fallback_dir(data_dir)


def prepare_socket_dir(path: Path, data_dir: Path) -> None:
    """Create the directory of socket *path*, 0700; in the fallback (a shared ``/tmp`` or
    runtime directory) its parent too. A symlink or another user's directory is refused."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    shared = is_fallback(path, data_dir)
    for each in (directory.parent, directory) if shared else (directory,):
        info = os.lstat(each)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise ConfigError(f"cannot put sockets in {each}: it is not a directory of this user")
        os.chmod(each, 0o700)


def _fits(path: Path) -> bool:
    return len(os.fsencode(path)) <= SUN_PATH_MAX


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
