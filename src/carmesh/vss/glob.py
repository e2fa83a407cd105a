"""Path patterns with the wildcard rules of Eclipse KUKSA.

- ``""`` matches every signal.
- A pattern without ``*`` matches the signal with that path, or every signal below the branch
  with that path (``Vehicle.Cabin.Sunroof`` selects the whole sunroof).
- ``*`` is exactly one path component; ``**`` is zero or more components, except at the end
  of a pattern where it is one or more (``Vehicle.Cabin.**`` selects what lies below the cabin).
- Wildcards are whole components: ``Vehicle.Cab*`` is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

from carmesh.errors import InvalidArgument

_COMPONENT = re.compile(r"[^.\s:*]+")


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern


def check_path(path: str) -> None:
    """Raise :class:`InvalidArgument` unless *path* is a syntactically valid, wildcard-free path."""
    if not path or not all(_COMPONENT.fullmatch(part) for part in path.split(".")):
        raise InvalidArgument(f"{path!r} is not a valid signal path (Dotted.Names, no spaces)")


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a KUKSA-style pattern into a regex for ``"." + path``.

    Every component of the subject is uniformly preceded by a dot, which keeps the
    translation of ``**`` (zero or more components) simple; use :func:`matches`, or
    ``regex.fullmatch("." + path)``. Raises :class:`InvalidArgument` for malformed
    patterns (empty components, partial wildcards, whitespace or ``:``).
    """
    if pattern == "":
        return re.compile(r"\..+", re.DOTALL)
    parts = pattern.split(".")
    for part in parts:
        if part not in ("*", "**") and not _COMPONENT.fullmatch(part):
            raise InvalidArgument(
                f"{pattern!r} is not a valid path pattern: components are names, '*' or '**'"
            )
    if "*" not in pattern:
        return re.compile(r"\." + re.escape(pattern) + r"(?:\..+)?")
    pieces: list[str] = []
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if part == "**":
            pieces.append(r"(?:\.[^.]+)+" if i == last else r"(?:\.[^.]+)*")
        elif part == "*":
            pieces.append(r"\.[^.]+")
        else:
            pieces.append(r"\." + re.escape(part))
    return re.compile("".join(pieces))


def matches(pattern: str, path: str) -> bool:
    """True when the leaf *path* is selected by *pattern*."""
    return compile_pattern(pattern).fullmatch("." + path) is not None


def literal_prefix(pattern: str) -> str:
    """The longest wildcard-free leading run of components (``""`` when the first one is one)."""
    prefix: list[str] = []
    for part in pattern.split("."):
        if "*" in part:
            break
        prefix.append(part)
    return ".".join(prefix)
