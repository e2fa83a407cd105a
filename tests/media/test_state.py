"""The media state database: what is saved comes back, saves fold together, a broken file is
moved aside, and a process killed right after a save leaves it readable."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from carmesh.media.state import StateStore


def snapshot(key: str = "library", *, position: float = 12.5, playing: bool = True) -> dict:
    return {
        "key": key,
        "name": key.title(),
        "source": "USB",
        "items": [
            {"uri": "library:track/1", "title": "Ein", "duration": 30.0},
            {"uri": "library:track/2", "title": "二", "duration": None},
        ],
        "order": [1, 0],
        "cursor": 1,
        "position": position,
        "shuffle": True,
        "repeat": "all",
        "playing": playing,
    }


async def test_saved_sessions_and_zones_come_back(tmp_path: Path) -> None:
    path = tmp_path / "media" / "state.db"
    store = StateStore(path)
    saved = await asyncio.to_thread(store.open)
    assert saved.zones == {} and saved.sessions == {}
    await store.save_session("driver", snapshot())
    await store.save_session("rear", snapshot("radio", playing=False))
    await store.save_zone("driver", "library", 35)
    await store.save_zone("rear", None, 70)
    await store.close()
    await store.close()  # twice is fine

    again = StateStore(path)
    saved = await asyncio.to_thread(again.open)
    assert saved.zones["driver"].active == "library"
    assert saved.zones["driver"].volume == 35
    assert saved.zones["rear"].active is None
    assert saved.sessions[("driver", "library")] == snapshot()
    assert saved.sessions[("rear", "radio")]["playing"] is False
    await again.save_position("driver", "library", 0, 99.5, False)
    await again.save_position("driver", "never-saved", 0, 1.0, True)
    await again.forget_session("rear", "radio")
    await again.close()
    third = StateStore(path)
    saved = await asyncio.to_thread(third.open)
    assert ("rear", "radio") not in saved.sessions
    assert ("driver", "never-saved") not in saved.sessions
    library = saved.sessions[("driver", "library")]
    assert (library["cursor"], library["position"], library["playing"]) == (0, 99.5, False)
    assert library["items"] == snapshot()["items"]
    await third.close()


async def test_the_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    await asyncio.to_thread(store.open)
    await store.save_session("driver", snapshot())
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    await store.close()


async def test_saves_in_a_burst_fold_into_few_writes(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    await asyncio.to_thread(store.open)
    writes = 0
    original = store._write

    def counting(*args: object) -> None:
        nonlocal writes
        writes += 1
        original(*args)  # type: ignore[arg-type]

    store._write = counting  # type: ignore[method-assign]
    await asyncio.gather(
        *(store.save_session("driver", snapshot(position=float(n))) for n in range(50))
    )
    assert writes <= 3
    await store.close()
    again = StateStore(tmp_path / "state.db")
    saved = await asyncio.to_thread(again.open)
    assert saved.sessions[("driver", "library")]["position"] == 49.0
    await again.close()


async def test_a_broken_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    store = StateStore(path)
    saved = await asyncio.to_thread(store.open)
    assert saved.sessions == {}
    assert (tmp_path / "state.db.broken").read_bytes().startswith(b"this is not")
    await store.save_zone("driver", None, 50)
    await store.close()


def test_a_killed_process_leaves_the_last_save(tmp_path: Path) -> None:
    """The saving process is SIGKILLed right after a save returned; the next one reads it."""
    path = tmp_path / "state.db"
    code = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from pathlib import Path
        from carmesh.media.state import StateStore

        async def main():
            store = StateStore(Path({str(path)!r}))
            await asyncio.to_thread(store.open)
            for n in range(20):
                await store.save_session("driver", {{"key": "library", "name": "Library",
                    "items": [], "order": [], "cursor": 0, "position": float(n),
                    "playing": True}})
            print("saved", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.stdout.strip() == "saved", result.stderr
    assert result.returncode == -9
    store = StateStore(path)
    saved = store.open()
    assert saved.sessions[("driver", "library")]["position"] == 19.0
    asyncio.run(store.close())
