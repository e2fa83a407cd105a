"""The first code an app process runs: ``python -I -m carmesh.apps.launch``.

The supervisor starts every app this way, in the app's package directory and with a clean
environment (``docs/apps.md``, "Processes"). This module:

1. reads ``CARMESH_APP_ENTRY`` — ``module.path`` or ``module.path:function`` (default
   ``main``) — puts the working directory (the package root) first on ``sys.path`` and
   imports the module;
2. calls the function: an ``async`` function that takes a parameter is awaited as
   ``main(car)`` with ``car = await Car.connect()`` from :mod:`carmesh.sdk` (closed
   afterwards); one without parameters is awaited as ``main()`` and no car is connected; a
   plain function is called directly;
3. turns the outcome into the exit status the supervisor acts on: 0 when the function
   returns or when SIGTERM asked the app to stop (the main task is cancelled, so ``finally``
   blocks run), 1 with a traceback on stderr when it raises, 1 with one sentence on stderr
   when the entry itself is unusable. ``sys.exit(n)`` in the app exits with *n*.

stdout is made line-buffered, so what the app prints reaches its log at once.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, cast

ENTRY_VARIABLE = "CARMESH_APP_ENTRY"
DEFAULT_FUNCTION = "main"

#: Connects to the car and returns an object with an async ``close()``.
Connect = Callable[[], Awaitable[Any]]


class EntryError(Exception):
    """The entry point cannot be used (malformed, missing module or function)."""


class _Terminated(BaseException):
    """SIGTERM arrived; a BaseException so that ``except Exception`` in the app lets it pass."""


def parse_entry(text: str) -> tuple[str, str]:
    """``"pkg.mod:func"`` → ``("pkg.mod", "func")``; the function defaults to ``main``."""
    module, _, function = text.strip().partition(":")
    function = function or DEFAULT_FUNCTION
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise EntryError(f"the entry {text!r} does not name a module (e.g. 'hello.app:main')")
    if not function.isidentifier():
        raise EntryError(f"the entry {text!r} does not name a function (e.g. 'hello.app:main')")
    return module, function


def load_entry(text: str) -> Callable[..., Any]:
    """Import the entry's module and return its function.

    Raises :class:`EntryError` if the entry is malformed or names a module or function that
    does not exist; an exception raised by the module's own code propagates.
    """
    module_name, function_name = parse_entry(text)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise EntryError(
                f"the entry module {module_name!r} was not found in {os.getcwd()}"
            ) from None
        raise
    function = getattr(module, function_name, None)
    if function is None:
        raise EntryError(f"the entry module {module_name!r} has no {function_name!r}")
    if not callable(function):
        raise EntryError(f"{module_name}:{function_name} is not a function")
    return cast(Callable[..., Any], function)


def wants_car(function: Callable[..., Any]) -> bool:
    """Whether *function* takes a positional parameter (the car)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in positional for p in parameters)


async def connect_car() -> Any:
    """The SDK's car, connected from ``CARMESH_BROKER`` and ``CARMESH_APP_TOKEN``."""
    from carmesh.sdk import Car

    return await Car.connect()


def run(entry: str | None = None, *, connect: Connect = connect_car) -> int:
    """Run the app's entry (default: ``$CARMESH_APP_ENTRY``) and return the exit status."""
    if entry is None:
        entry = os.environ.get(ENTRY_VARIABLE, "")
    root = os.getcwd()
    if not sys.path or sys.path[0] != root:
        sys.path.insert(0, root)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if not entry:
            raise EntryError(f"{ENTRY_VARIABLE} is not set; it names the app's entry point")
        function = load_entry(entry)
        if inspect.iscoroutinefunction(function):
            return asyncio.run(_run_async(function, connect))
        if wants_car(function):
            raise EntryError(f"{entry} takes the car, so it must be an 'async def' function")
        result = function()
        if inspect.isawaitable(result):
            return asyncio.run(_run_async(lambda: result, connect))
        return 0
    except _Terminated:
        return 0
    except EntryError as exc:
        print(f"carmesh.apps.launch: cannot start the app: {exc}.", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _run_async(function: Callable[..., Awaitable[Any]], connect: Connect) -> int:
    """Await the entry; SIGTERM cancels it and counts as a clean end."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        if wants_car(function):
            car = await connect()
            try:
                await function(car)
            finally:
                await car.close()
        else:
            await function()
    except asyncio.CancelledError:
        if not terminated:
            raise
        task.uncancel()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_terminated)
    return 0


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main() -> None:
    """Console entry: run the app and exit with its status."""
    # The package directory is the installed, signed code: never write caches into it.
    sys.dont_write_bytecode = True
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    sys.exit(run())


if __name__ == "__main__":
    main()
