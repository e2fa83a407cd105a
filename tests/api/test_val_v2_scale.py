"""kuksa.val.v2 under load: 10,000 subscribers, a subscriber that stops reading, and streams
that end without a word — nothing leaks and everyone else keeps being served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from kuksa.val.v2 import val_pb2, val_pb2_grpc

from carmesh.api.grpc.auth import GrpcAuth
from carmesh.api.grpc.server import GrpcServer
from carmesh.broker import Broker
from carmesh.vss import Catalog
from tests.api.val_v2_support import (
    TIMEOUT,
    ProviderCall,
    actuate_request,
    datapoint,
    expect_code,
    get,
    held,
    ident,
    publish,
)
from tests.support.car import RunningCar, running_car

SUBSCRIBERS = 10_000
CHANNELS = 8
TRACK = "Vehicle.Cabin.Infotainment.Media.Played.Track"  # sensor, string
SPEED = "Vehicle.Speed"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCar]:
    with running_car(tmp_path_factory.mktemp("v2-scale") / "car") as running:
        yield running


async def test_ten_thousand_subscribers(car: RunningCar) -> None:
    """10,000 Subscribe streams over a few connections all get their first message and then
    one publish; the server's memory stays bounded (a bare grpcio stream costs ~23 KiB on
    its own) and it keeps serving the others when they go."""
    channels = [
        grpc.aio.insecure_channel(car.grpc_address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(CHANNELS)
    ]
    stubs = [val_pb2_grpc.VALStub(c) for c in channels]
    before = rss_mib(car.process.pid)
    request = val_pb2.SubscribeRequest(signal_paths=[SPEED])
    calls = [stubs[i % CHANNELS].Subscribe(request) for i in range(SUBSCRIBERS)]
    try:
        firsts = await asyncio.wait_for(asyncio.gather(*(c.read() for c in calls)), 20)
        assert all(list(f.entries) == [SPEED] for f in firsts)
        grown = rss_mib(car.process.pid) - before
        assert grown < SUBSCRIBERS * 64 / 1024, f"{grown:.0f} MiB for {SUBSCRIBERS} subscribers"

        started = time.monotonic()
        await publish(stubs[0], SPEED, float=123.0)
        updates = await asyncio.wait_for(asyncio.gather(*(c.read() for c in calls)), 20)
        assert all(held(u.entries[SPEED]) == 123.0 for u in updates)
        assert time.monotonic() - started < 10
    finally:
        for call in calls:
            call.cancel()
    await publish(stubs[1], SPEED, float=124.0)
    assert held(await get(stubs[2], SPEED)) == 124.0
    for channel in channels:
        await channel.close()


async def test_a_subscriber_that_stops_reading(car: RunningCar) -> None:
    """A subscriber that stops reading holds up nobody: the provider publishes at full speed,
    another subscriber receives everything up to the last value, and the stalled one, when
    it reads again, gets its backlog folded into the latest value (conflation, bounded)."""
    count, size = 2000, 16_384
    async with (
        grpc.aio.insecure_channel(car.grpc_address) as stalled_channel,
        grpc.aio.insecure_channel(car.grpc_address) as channel,
    ):
        stub = val_pb2_grpc.VALStub(channel)
        stalled = val_pb2_grpc.VALStub(stalled_channel).Subscribe(
            val_pb2.SubscribeRequest(signal_paths=[TRACK])
        )
        await asyncio.wait_for(stalled.read(), TIMEOUT)
        reader = stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[TRACK], buffer_size=100))
        await asyncio.wait_for(reader.read(), TIMEOUT)
        last = f"{count - 1:05d}".ljust(size, "x")

        async def follow() -> int:
            seen = 0
            while True:
                message = await reader.read()
                seen += 1
                if held(message.entries[TRACK]) == last:
                    return seen

        following = asyncio.ensure_future(follow())
        provider = ProviderCall(stub)
        await provider.claim_values(TRACK)
        started = time.monotonic()
        for i in range(count):
            await provider.publish(i, **{TRACK: datapoint(string=f"{i:05d}".ljust(size, "x"))})
        await asyncio.wait_for(following, 15)
        assert time.monotonic() - started < 15

        received = 0
        while True:
            message = await asyncio.wait_for(stalled.read(), TIMEOUT)
            received += 1
            if held(message.entries[TRACK]) == last:
                break
        assert received < count / 2, f"the stalled subscriber got {received} of {count}"
        provider.cancel()
        stalled.cancel()
        reader.cancel()


@pytest.fixture
async def server(catalog: Catalog) -> AsyncIterator[tuple[Broker, str]]:
    """An in-process server, so that the broker's bookkeeping can be inspected."""
    broker = Broker(catalog)
    await broker.start()
    grpc_server = GrpcServer(broker, "127.0.0.1:0", auth=GrpcAuth(None))
    await grpc_server.start()
    try:
        yield broker, grpc_server.address
    finally:
        await grpc_server.stop()
        await broker.stop()


async def settle(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server did not clean up"
        await asyncio.sleep(0.02)


async def test_ended_streams_leave_nothing_behind(server: tuple[Broker, str]) -> None:
    """Cancelled calls and closed connections close their broker subscriptions and provider
    sessions (claims released)."""
    broker, address = server
    seats = [
        f"Vehicle.Cabin.Seat.Row{r}.{s}.Position"
        for r in (1, 2)
        for s in ("DriverSide", "PassengerSide")
    ]
    channel = grpc.aio.insecure_channel(address)
    stub = val_pb2_grpc.VALStub(channel)
    calls = [stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED])) for _ in range(200)]
    calls += [
        stub.SubscribeById(val_pb2.SubscribeByIdRequest(signal_ids=[ident(TRACK)]))
        for _ in range(200)
    ]
    await asyncio.gather(*(c.read() for c in calls))
    assert broker.subscription_count == 400
    providers = [ProviderCall(stub) for _ in seats]
    for provider, seat in zip(providers, seats, strict=True):
        await provider.claim_actuation(seat)
        await provider.claim_values(seat)
    assert [broker.actuation_provider_of(s) is not None for s in seats] == [True] * 4

    for call in calls[:100]:
        call.cancel()
    providers[0].cancel()
    await settle(lambda: broker.subscription_count == 300 and len(broker.providers) == 3)
    assert broker.provider_of(seats[0]) is None and broker.actuation_provider_of(seats[0]) is None

    await channel.close()  # the rest go with their connection
    await settle(lambda: broker.subscription_count == 0 and not broker.providers)
    assert all(broker.provider_of(s) is None for s in seats)


async def test_stopping_the_car_ends_open_streams(tmp_path: Path) -> None:
    """SIGTERM with subscribers and providers connected: their streams end with UNAVAILABLE
    (an actuation waiting for the provider too), and carmesh exits cleanly and quickly."""
    volume = "Vehicle.Cabin.Infotainment.Media.Volume"
    with running_car(tmp_path / "car") as car:
        async with grpc.aio.insecure_channel(car.grpc_address) as channel:
            stub = val_pb2_grpc.VALStub(channel)
            subscribers = [
                stub.Subscribe(val_pb2.SubscribeRequest(signal_paths=[SPEED])) for _ in range(50)
            ]
            await asyncio.gather(*(s.read() for s in subscribers))
            provider = ProviderCall(stub)
            await provider.claim_actuation(volume)
            await stub.Actuate(actuate_request(volume, uint32=1), timeout=TIMEOUT)
            await provider.actuation()
            await provider.answer(volume)
            waiting = asyncio.ensure_future(
                expect_code(
                    stub.Actuate(actuate_request(volume, uint32=2)), grpc.StatusCode.UNAVAILABLE
                )
            )
            await provider.actuation()
            started = time.monotonic()
            code = await asyncio.get_running_loop().run_in_executor(None, car.stop)
            assert code == 0 and time.monotonic() - started < 3
            await waiting
            for subscriber in subscribers:
                await expect_code(subscriber.read(), grpc.StatusCode.UNAVAILABLE)
            assert await provider.end() == grpc.StatusCode.UNAVAILABLE
    assert not [line for line in car.output if "Traceback" in line or "ERROR" in line]
