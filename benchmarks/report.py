"""Output pieces every benchmark shares: the machine line and a quiet progress bar."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """Python, OS, CPU count (and how many this process may use) and CPU model."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cpus = f"{os.cpu_count()} CPUs" + (f" ({usable} usable)" if usable is not None else "")
    return (
        f"{platform.python_implementation()} {platform.python_version()} · "
        f"{platform.system()} {platform.machine()} · {cpus} · {cpu_model()}"
    )


@contextmanager
def progress(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr advanced by calling the yielded ``step(description)``.

    It never refreshes on its own: a refresh thread would compete for the CPU (and the GIL)
    during measurements.
    """
    done = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task("measuring", total=total)

        def step(description: str) -> None:
            nonlocal done
            bar.update(task, description=description, completed=done)
            bar.refresh()
            done += 1

        yield step
