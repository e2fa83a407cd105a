"""Subscriptions: globs, initial values, targets, batching and slow-subscriber isolation."""

from __future__ import annotations

import asyncio

import pytest

from carmesh.broker import Broker, Field, Principal
from carmesh.errors import InvalidArgument, NotFound
from tests.broker.conftest import RecordingActuator

SYSTEM = Principal.system()
SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide"


async def next_batch(sub: object) -> dict[str, object]:
    return await asyncio.wait_for(sub.__anext__(), 1.0)  # type: ignore[attr-defined]


async def test_glob_subscription_gets_only_its_signals(broker: Broker) -> None:
    sub = broker.subscribe(SYSTEM, "Vehicle.Cabin.Seat.**", initial=False)
    assert len(sub.nodes) == len(broker.catalog.match("Vehicle.Cabin.Seat.**")) > 50
    await broker.publish(SYSTEM, {f"{SEAT}.Position": 100, "Vehicle.Speed": 3.0})
    batch = await next_batch(sub)
    assert list(batch) == [f"{SEAT}.Position"]
    assert batch[f"{SEAT}.Position"].value == 100  # type: ignore[attr-defined]
    assert sub.get_nowait() is None


async def test_wildcard_in_the_middle(broker: Broker) -> None:
    sub = broker.subscribe(SYSTEM, "Vehicle.Cabin.Door.*.*.IsOpen", initial=False)
    assert len(sub.nodes) == 4
    await broker.publish(
        SYSTEM,
        {
            "Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen": True,
            "Vehicle.Cabin.Door.Row2.PassengerSide.Window.IsOpen": True,
        },
    )
    assert list(await next_batch(sub)) == ["Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen"]


async def test_initial_values_then_updates_batched(broker: Broker) -> None:
    await broker.publish(SYSTEM, {"Vehicle.Speed": 12.0})
    sub = broker.subscribe(SYSTEM, ["Vehicle.Speed", "Vehicle.IsMoving"])
    first = await next_batch(sub)
    assert {k: v.value for k, v in first.items()} == {"Vehicle.Speed": 12.0}  # type: ignore[attr-defined]
    await broker.publish(SYSTEM, {"Vehicle.Speed": 13.0, "Vehicle.IsMoving": True})
    second = await next_batch(sub)
    assert {k: v.value for k, v in second.items()} == {  # type: ignore[attr-defined]
        "Vehicle.Speed": 13.0,
        "Vehicle.IsMoving": True,
    }


async def test_target_subscription(broker: Broker) -> None:
    window = f"{SEAT.replace('Seat', 'Door')}.Window.Position"
    broker.connect_provider(SYSTEM, "body", RecordingActuator()).claim(["Vehicle.Cabin.Door"])
    targets = broker.subscribe(SYSTEM, window, field=Field.TARGET)
    values = broker.subscribe(SYSTEM, window, initial=False)
    await broker.actuate(SYSTEM, {window: 40})
    assert (await next_batch(targets))[window].value == 40  # type: ignore[attr-defined]
    assert values.get_nowait() is None, "a target is not a current value"
    with pytest.raises(InvalidArgument, match="only actuators"):
        broker.subscribe(SYSTEM, "Vehicle.Speed", field=Field.TARGET)


async def test_subscribe_errors(broker: Broker) -> None:
    with pytest.raises(NotFound):
        broker.subscribe(SYSTEM, ["Vehicle.Speed", "Vehicle.Nope"])
    with pytest.raises(InvalidArgument):
        broker.subscribe(SYSTEM, "Vehicle.Sp*")
    with pytest.raises(InvalidArgument):
        broker.subscribe(SYSTEM, [])
    assert broker.subscription_count == 0


async def test_close_ends_iteration_and_unsubscribes(broker: Broker) -> None:
    sub = broker.subscribe(SYSTEM, "Vehicle.Speed", initial=False)
    received: list[float] = []

    async def consume() -> None:
        async for batch in sub:
            received.append(batch["Vehicle.Speed"].value)

    task = asyncio.create_task(consume())
    await broker.publish(SYSTEM, {"Vehicle.Speed": 1.0})
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, 1.0)
    assert received == [1.0]
    assert broker.subscription_count == 0
    await broker.publish(SYSTEM, {"Vehicle.Speed": 2.0})
    assert sub.get_nowait() is None


async def test_stop_ends_every_subscription(broker: Broker) -> None:
    sub = broker.subscribe(SYSTEM, "Vehicle.Speed", initial=False)
    waiter = asyncio.create_task(anext(sub, None))
    await asyncio.sleep(0)
    await broker.stop()
    assert await asyncio.wait_for(waiter, 1.0) is None


async def test_slow_subscriber_does_not_slow_others(broker: Broker) -> None:
    """A subscriber that never reads stays bounded and conflated; a reader sees everything."""
    signals = [f"Vehicle.Cabin.Seat.Row1.DriverSide.{n}" for n in ("Position", "Height", "Tilt")]
    slow = broker.subscribe(SYSTEM, signals, initial=False, max_batches=8)
    fast = broker.subscribe(SYSTEM, signals, initial=False)
    seen: list[int] = []

    async def read_fast() -> None:
        async for batch in fast:
            seen.extend(dp.value for path, dp in batch.items() if path == signals[0])

    reader = asyncio.create_task(read_fast())
    rounds = 2000
    for i in range(rounds):
        await broker.publish(SYSTEM, {signals[0]: i % 1000, signals[1]: i % 100})
        await asyncio.sleep(0)
    await broker.publish(SYSTEM, {signals[2]: 7})
    await asyncio.sleep(0.05)
    fast.close()
    await asyncio.wait_for(reader, 1.0)

    assert seen == [i % 1000 for i in range(rounds)], "the reader got every update, in order"
    assert slow.pending == 8, "the slow subscriber's queue stopped growing at its bound"
    assert slow.conflated == rounds + 1 - 8
    drained: dict[str, int] = {}
    while (batch := slow.get_nowait()) is not None:
        drained.update({k: v.value for k, v in batch.items()})
    assert drained == {
        signals[0]: (rounds - 1) % 1000,
        signals[1]: (rounds - 1) % 100,
        signals[2]: 7,
    }, "after conflation, the latest value of each signal"


async def test_attributes_notify_on_change_only(broker: Broker) -> None:
    vin = "Vehicle.VehicleIdentification.VIN"
    sub = broker.subscribe(SYSTEM, [vin, "Vehicle.Speed"], initial=False)
    await broker.publish(SYSTEM, {vin: "A", "Vehicle.Speed": 1.0})
    assert set(await next_batch(sub)) == {vin, "Vehicle.Speed"}
    await broker.publish(SYSTEM, {vin: "A", "Vehicle.Speed": 1.0})
    assert set(await next_batch(sub)) == {"Vehicle.Speed"}, "sensors notify on every write"
    await broker.publish(SYSTEM, {vin: "B"})
    assert set(await next_batch(sub)) == {vin}
