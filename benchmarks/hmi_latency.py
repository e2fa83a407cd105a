"""Benchmark: a signal change in the broker → the new value in a page's DOM, measured in
the browser.

``carmesh run --vehicle none --grpc 127.0.0.1:0 --http 127.0.0.1:0`` runs in a subprocess;
headless Chromium (Debian's, driven by Playwright) opens a page of the car. This process
publishes changes of one signal over kuksa.val.v2 ``PublishValue`` on a drift-free schedule
and keeps each change's publish time (``time.time()``, UNIX epoch ms). In the page a
``MutationObserver`` on the element showing the signal records ``performance.timeOrigin +
performance.now()`` (epoch ms, the same clock as ``Date.now()``) and the text whenever it
changes. Every change gets the time until the page showed it *or a newer value*: the HMI
conflates to at most 30 frames per second, so above that rate a change may be replaced
before it is drawn, and what matters is how stale the screen is.

Pages
    ``minimal`` — a page of a few lines, served by this benchmark on another loopback port,
    that speaks the real ``/ws`` protocol to the car and writes the value into one element:
    the cost of the server, the WebSocket and the DOM update alone.
    ``cluster`` — the real driver cluster (``/cluster``), its speed figure
    (``[data-testid="cluster-speed"]``) showing ``Vehicle.Speed``: the same path plus the
    page's own work (its components, formatting, the power ring).

Values cycle through 1…999 so that the cluster shows each as a whole number; a DOM text is
matched to the latest publish of that value before it appeared.

Run ``python benchmarks/hmi_latency.py`` (about two minutes), ``--quick`` for a short run.
"""

from __future__ import annotations

import argparse
import bisect
import http.server
import itertools
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc
from playwright.sync_api import Page, sync_playwright
from rich import box
from rich.console import Console
from rich.table import Table

import carmesh
from car import Car, running_car
from report import machine_line

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_P99_MS = 100.0
#: Cores other processes may use during a run before the result is flagged.
QUIET_CORES = 0.15
CYCLE = 999

#: The minimal page: subscribes over the real protocol and writes the value into #value.
MINIMAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>carmesh HMI latency</title></head>
<body><output id="value">-</output>
<script type="module">
const query = new URLSearchParams(location.search);
const signal = query.get("signal");
const element = document.getElementById("value");
const socket = new WebSocket(query.get("ws"));
socket.addEventListener("open", () => {
  socket.send(JSON.stringify({type: "subscribe", paths: [signal]}));
});
socket.addEventListener("message", (event) => {
  const frame = JSON.parse(event.data);
  if (frame.type === "values" && frame.values[signal]) {
    element.textContent = String(Math.round(frame.values[signal].value));
  }
});
</script></body></html>
"""

#: Installed into the page: records (epoch ms, text) on every change of the element.
OBSERVE = """(selector) => {
  const element = document.querySelector(selector);
  if (!element) return false;
  if (window.__observer) window.__observer.disconnect();
  const samples = (window.__samples = []);
  window.__observer = new MutationObserver(() => {
    samples.push([performance.timeOrigin + performance.now(), element.textContent]);
  });
  window.__observer.observe(element, {childList: true, characterData: true, subtree: true});
  return true;
}"""


@dataclass(frozen=True)
class PageKind:
    name: str
    path: str
    selector: str
    signal: str
    what: str


PAGES = {
    "minimal": PageKind(
        "minimal",
        "/",
        "#value",
        "Vehicle.Speed",
        "a page this benchmark serves on another loopback port, on the real /ws protocol",
    ),
    "cluster": PageKind(
        "cluster",
        "/cluster",
        '[data-testid="cluster-speed"]',
        "Vehicle.Speed",
        "the driver cluster's speed figure",
    ),
}


@dataclass(frozen=True)
class Scenario:
    page: PageKind
    rate: float
    changes: int


@dataclass
class Result:
    scenario: Scenario
    latencies: list[float]
    achieved: float
    dom_updates: int
    unseen: int
    skew_ms: float
    #: CPU the rest of the machine used meanwhile, in cores (None where unknown).
    others: float | None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the car --------------------------------------------------------------------------------


# -- one measurement ------------------------------------------------------------------------


def publish(stub: val_pb2_grpc.VALStub, signal: str, value: float) -> None:
    request = val_pb2.PublishValueRequest(
        signal_id=types_pb2.SignalID(path=signal),
        data_point=types_pb2.Datapoint(value=types_pb2.Value(float=value)),
    )
    stub.PublishValue(request, timeout=5)


@contextmanager
def minimal_page_server() -> Iterator[str]:
    """Serve :data:`MINIMAL_PAGE` on a loopback port; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = MINIMAL_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def page_url(kind: PageKind, car: Car, minimal_base: str) -> str:
    if kind.name == "minimal":
        ws = car.http_url.replace("http://", "ws://", 1) + "/ws"
        return f"{minimal_base}/?{urlencode({'ws': ws, 'signal': kind.signal})}"
    return car.http_url + kind.path


def open_page(page: Page, url: str, kind: PageKind) -> None:
    page.goto(url, wait_until="load")
    page.locator(kind.selector).first.wait_for(state="attached", timeout=10_000)


_sequence = itertools.count()


def next_value() -> int:
    """1…999 in turn, across runs, so two consecutive changes never show the same text."""
    return next(_sequence) % CYCLE + 1


def shown(text: str) -> int | None:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else None


def settle(page: Page, stub: val_pb2_grpc.VALStub, kind: PageKind) -> None:
    """Publish until the page shows what was published: its subscription is live."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        value = next_value()
        publish(stub, kind.signal, float(value))
        time.sleep(0.1)
        if shown(page.locator(kind.selector).first.inner_text()) == value:
            return
    raise RuntimeError(f"the {kind.name} page never showed {kind.signal}")


def measure(page: Page, stub: val_pb2_grpc.VALStub, scenario: Scenario, car_pid: int) -> Result:
    kind = scenario.page
    if not page.evaluate(OBSERVE, kind.selector):
        raise RuntimeError(f"{kind.selector} is not on the {kind.name} page")
    sent_at: list[float] = []
    values: list[int] = []
    period = 1.0 / scenario.rate
    busy_before, ours_before = machine_busy(), cpu_of_tree([os.getpid(), car_pid])
    start = time.monotonic()
    for i in range(scenario.changes):
        delay = start + i * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        value = next_value()
        sent_at.append(time.time() * 1000)
        publish(stub, kind.signal, float(value))
        values.append(value)
    elapsed = time.monotonic() - start
    busy_after, ours_after = machine_busy(), cpu_of_tree([os.getpid(), car_pid])
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, (busy_after - busy_before) - (ours_after - ours_before)) / elapsed
    time.sleep(0.5)
    samples: list[tuple[float, str]] = page.evaluate("window.__samples")
    latencies, unseen = match(sent_at, values, samples)
    return Result(
        scenario,
        latencies,
        scenario.changes / elapsed,
        len(samples),
        unseen,
        clock_skew(page),
        others,
    )


def clock_skew(page: Page) -> float:
    """The page's epoch clock minus this process's, ms (the round trip with the least wait)."""
    best: tuple[float, float] | None = None
    for _ in range(7):
        before = time.time() * 1000
        browser_now: float = page.evaluate("performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        if best is None or after - before < best[0]:
            best = (after - before, browser_now - (before + after) / 2)
    assert best is not None
    return best[1]


def machine_busy() -> float | None:
    """Seconds all CPUs together spent busy so far (Linux), None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_of_tree(roots: list[int]) -> float:
    """User + system CPU seconds of *roots* and all their descendants (Linux; 0 elsewhere)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text(encoding="ascii").rpartition(")")[2].split()
        except (OSError, UnicodeDecodeError):
            continue
        pid = int(entry.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    wanted = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    return sum(times.get(pid, 0.0) for pid in wanted)


def match(
    sent_at: list[float], values: list[int], samples: list[tuple[float, str]]
) -> tuple[list[float], int]:
    """Latency of each change: until the DOM showed it or a newer one; and how many never."""
    published: dict[int, list[int]] = {}
    for index, value in enumerate(values):
        published.setdefault(value, []).append(index)
    latencies: list[float] = []
    next_index = 0
    for at, text in samples:
        value = shown(text)
        indices = published.get(value) if value is not None else None
        if not indices:
            continue
        # The text stands for the latest publish of its value before it appeared.
        pos = bisect.bisect_right([sent_at[i] for i in indices], at) - 1
        if pos < 0:
            continue
        while next_index <= indices[pos]:
            latencies.append(at - sent_at[next_index])
            next_index += 1
    return latencies, len(sent_at) - next_index


# -- output ---------------------------------------------------------------------------------


def table(results: list[Result]) -> Table:
    out = Table(
        title="Signal change in the broker → value in the page's DOM (ms, in Chromium)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ("page", "changes", "changes/s", "DOM updates", "p50", "p99", "max", "never")
    for column in (*columns, "others"):
        out.add_column(column, justify="left" if column == "page" else "right")
    for r in results:
        p99 = r.quantile(0.99)
        colour = "green" if p99 <= TARGET_P99_MS else "red"
        out.add_row(
            r.scenario.page.name,
            f"{len(r.latencies) + r.unseen:,}",
            f"{r.achieved:.0f}",
            f"{r.dom_updates:,}",
            f"{statistics.median(r.latencies):.1f}",
            f"[{colour}]{p99:.1f}[/]",
            f"{max(r.latencies):.1f}",
            str(r.unseen),
            "–" if r.others is None else f"{r.others:.2f}",
        )
    out.caption = (
        "Latency of a change: from just before its PublishValue call to the first DOM change "
        "showing it or a newer value. 'never': changes after the last value the page showed. "
        "'others': cores that processes other than carmesh, Chromium and this benchmark used "
        "meanwhile."
    )
    out.caption_justify = "left"
    return out


def targets(results: list[Result]) -> Table:
    out = Table(title="Targets", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    out.add_column("target")
    out.add_column("measured", justify="right")
    out.add_column("met")
    for r in results:
        p99 = r.quantile(0.99)
        out.add_row(
            f"p99 ≤ {TARGET_P99_MS:g} ms, {r.scenario.page.name} page at "
            f"{r.scenario.rate:g} changes/s",
            f"{p99:.1f} ms",
            "[green]yes[/]" if p99 <= TARGET_P99_MS else "[red]NO[/]",
        )
    return out


def run(
    car: Car, kinds: list[PageKind], rates: list[float], changes: int, console: Console
) -> tuple[list[Result], list[str]]:
    """Every page at every rate; the results and the pages that could not be measured."""
    results: list[Result] = []
    skipped: list[str] = []
    with (
        sync_playwright() as playwright,
        grpc.insecure_channel(car.grpc_address) as channel,
        minimal_page_server() as minimal_base,
    ):
        stub = val_pb2_grpc.VALStub(channel)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        for kind in kinds:
            page = browser.new_page(viewport={"width": 1920, "height": 720})
            try:
                open_page(page, page_url(kind, car, minimal_base), kind)
                settle(page, stub, kind)
            except Exception as exc:  # the page may not exist in this checkout
                skipped.append(f"{kind.name}: {exc}".splitlines()[0])
                page.close()
                continue
            for rate in rates:
                with console.status(f"{kind.name} page, {rate:g} changes/s…"):
                    scenario = Scenario(kind, rate, changes)
                    results.append(measure(page, stub, scenario, car.process.pid))
            page.close()
        browser.close()
    return results, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 changes per run")
    parser.add_argument("--changes", type=int, default=1000, help="changes per run (1000)")
    parser.add_argument(
        "--rate", type=float, action="append", help="changes/s; repeatable (20 and 100)"
    )
    parser.add_argument("--page", choices=["minimal", "cluster", "both"], default="both")
    args = parser.parse_args()
    changes = 300 if args.quick else args.changes
    rates = args.rate or [20.0, 100.0]
    kinds = list(PAGES.values()) if args.page == "both" else [PAGES[args.page]]
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    console = Console()
    console.print(
        f"{machine_line()}\n"
        f"carmesh {carmesh.__version__} · Chromium at {CHROMIUM} · {changes} changes per run",
        highlight=False,
    )
    with tempfile.TemporaryDirectory() as home, running_car(Path(home) / "car") as car:
        results, skipped = run(car, kinds, rates, changes, console)
    if not results:
        raise SystemExit("nothing was measured: " + "; ".join(skipped))
    console.print(table(results))
    console.print(targets(results))
    worst_skew = max(abs(r.skew_ms) for r in results)
    console.print(
        f"Clocks: the page's performance.timeOrigin + now() and this process's time.time() "
        f"differ by at most {worst_skew:.2f} ms.",
        highlight=False,
    )
    for kind in kinds:
        console.print(f"  {kind.name}: {kind.what}", highlight=False)
    busiest = max((r.others for r in results if r.others is not None), default=None)
    if busiest is not None and busiest > QUIET_CORES:
        console.print(
            f"[yellow]The machine was not quiet: other processes used up to {busiest:.2f} "
            f"cores during a run; tail latencies suffer first.[/]"
        )
    for note in skipped:
        console.print(f"[yellow]not measured[/] {note}", highlight=False)


if __name__ == "__main__":
    main()
