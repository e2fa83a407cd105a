"""Benchmark: how long an app takes from install to its first screen, and what an idle app
process costs in memory.

``carmesh run --vehicle none`` runs in a subprocess with a freshly generated publisher key
trusted. This process builds and signs a small app whose ``main(car)`` shows one pane and
then waits, and measures over the car's real HTTP API and HMI WebSocket:

Cold start
    ``POST /api/apps`` (the signed package, permissions granted) and ``POST …/start``, until
    the HMI WebSocket delivers the app's first ``app.template`` frame: verification,
    extraction, registry commit, process spawn, interpreter and SDK import, token check,
    ``ShowTemplate``, and the frame to the screen. Each round installs a new version of the
    app under a new id and removes it afterwards.

Idle memory
    Several apps started and idle (template shown, waiting for events); for each process the
    kernel's ``smaps_rollup``: RSS, PSS (shared pages split between the processes that map
    them) and USS (private pages only — what stopping the app would free). Compared with a
    bare ``python -I`` interpreter measured the same way in the same run.

Run ``python benchmarks/apps.py`` (about a minute), ``--rounds N`` and ``--idle N`` to change
the counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich import box
from rich.console import Console
from rich.table import Table
from websockets.sync.client import ClientConnection, connect

from car import Car
from car import running_car as car_process
from carmesh.apps.package import build_package
from carmesh.apps.signing import PublisherKey
from report import machine_line, progress

PUBLISHER = "org.bench"

MANIFEST = """\
id = "{app_id}"
version = "1.0.0"
publisher = "{publisher}"
entry = "bench_app:main"
min_platform = "0.1.0"

[names]
en = "Bench"
"zh-CN" = "基准"

[permissions]
read = ["Vehicle.Speed"]

[ui]
templates = ["pane"]
"""

APP = """\
import asyncio

from carmesh.sdk import PaneTemplate, Row


async def main(car):
    speed = await car.get("Vehicle.Speed")
    await car.show(PaneTemplate(title="ready", rows=[Row(label="speed", value=str(speed))]))
    await asyncio.Event().wait()
"""


@contextmanager
def running_car(workdir: Path, key: PublisherKey) -> Iterator[Car]:
    """A car that trusts *key*."""
    public = key.save(workdir / "bench.key")
    config = workdir / "car.toml"
    config.write_text(f'app_trusted_keys = ["{public}"]\n')
    with car_process(workdir / "data", "--config", str(config)) as car:
        yield car


def build(workdir: Path, key: PublisherKey, app_id: str) -> bytes:
    source = workdir / app_id
    source.mkdir()
    (source / "carmesh-app.toml").write_text(MANIFEST.format(app_id=app_id, publisher=PUBLISHER))
    (source / "bench_app.py").write_text(APP)
    return build_package(source, key, workdir / f"{app_id}.cmapp").read_bytes()


def wait_template(ws: ClientConnection, app_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"{app_id} showed no template within {timeout} s")
        frame = json.loads(ws.recv(timeout=left))
        if (
            frame.get("type") == "app.template"
            and frame.get("app") == app_id
            and frame.get("template")
        ):
            return


def cold_start(
    car: Car, http: httpx.Client, workdir: Path, key: PublisherKey, n: int
) -> list[float]:
    """Seconds from the install request to the first template frame, one per round."""
    times = []
    ws_url = car.http_url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, max_size=None) as ws, progress(n) as step:
        for i in range(n):
            step(f"cold start {i + 1}/{n}")
            app_id = f"org.bench.cold{i}"
            package = build(workdir, key, app_id)
            t0 = time.perf_counter()
            http.post("/api/apps", params={"grant": "all"}, content=package).raise_for_status()
            http.post(f"/api/apps/{app_id}/start").raise_for_status()
            wait_template(ws, app_id)
            times.append(time.perf_counter() - t0)
            http.delete(f"/api/apps/{app_id}").raise_for_status()
    return times


def smaps(pid: int) -> dict[str, float]:
    """RSS, PSS and USS of *pid* in MiB, from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[-1] == "kB":
                fields[name.strip()] = int(parts[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "rss": fields.get("Rss", 0) / 1024,
        "pss": fields.get("Pss", 0) / 1024,
        "uss": uss / 1024,
    }


def idle_memory(
    car: Car, http: httpx.Client, workdir: Path, key: PublisherKey, n: int
) -> list[dict[str, float]]:
    ws_url = car.http_url.replace("http://", "ws://") + "/ws"
    pids = []
    with connect(ws_url, max_size=None) as ws:
        for i in range(n):
            app_id = f"org.bench.idle{i}"
            http.post(
                "/api/apps", params={"grant": "all"}, content=build(workdir, key, app_id)
            ).raise_for_status()
            http.post(f"/api/apps/{app_id}/start").raise_for_status()
            wait_template(ws, app_id)
            pids.append(http.get(f"/api/apps/{app_id}").json()["pid"])
    time.sleep(2.0)  # let start-up garbage settle
    return [smaps(pid) for pid in pids]


def bare_interpreter(n: int) -> list[dict[str, float]]:
    processes = [
        subprocess.Popen([sys.executable, "-I", "-c", "import time; time.sleep(60)"])
        for _ in range(n)
    ]
    try:
        time.sleep(1.0)
        return [smaps(p.pid) for p in processes]
    finally:
        for p in processes:
            p.kill()
            p.wait()


def median(values: list[float]) -> float:
    return statistics.median(values)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="cold starts to measure")
    parser.add_argument("--idle", type=int, default=5, help="idle apps to measure")
    args = parser.parse_args()
    console = Console()
    console.print(machine_line(), highlight=False)
    with tempfile.TemporaryDirectory(prefix="carmesh-bench-apps-") as tmp:
        workdir = Path(tmp)
        key = PublisherKey.generate(PUBLISHER)
        with (
            running_car(workdir, key) as car,
            httpx.Client(base_url=car.http_url, timeout=60.0) as http,
        ):
            starts = cold_start(car, http, workdir, key, args.rounds)
            memory = idle_memory(car, http, workdir, key, args.idle)
        bare = bare_interpreter(args.idle)

    table = Table(title="App cold start: install request → first template frame", box=box.SIMPLE)
    for column in ("rounds", "median ms", "p90 ms", "min ms", "max ms"):
        table.add_column(column, justify="right")
    ms = [t * 1000 for t in starts]
    table.add_row(
        str(len(ms)),
        f"{median(ms):.0f}",
        f"{quantile(ms, 0.9):.0f}",
        f"{min(ms):.0f}",
        f"{max(ms):.0f}",
    )
    console.print(table)

    table = Table(title="Memory per idle process (MiB, median)", box=box.SIMPLE)
    for column in ("process", "n", "RSS", "PSS", "USS (private)"):
        table.add_column(column, justify="right")
    for name, rows in (("idle app (SDK connected)", memory), ("bare python -I", bare)):
        table.add_row(
            name,
            str(len(rows)),
            f"{median([r['rss'] for r in rows]):.1f}",
            f"{median([r['pss'] for r in rows]):.1f}",
            f"{median([r['uss'] for r in rows]):.1f}",
        )
    console.print(table)
    ratio = median([r["uss"] for r in memory]) / median([r["uss"] for r in bare])
    console.print(f"private memory of an idle app: {ratio:.1f}× a bare interpreter's")


if __name__ == "__main__":
    main()
