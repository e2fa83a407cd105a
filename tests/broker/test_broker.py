"""The broker core: values, targets, providers, actuation and permissions."""

from __future__ import annotations

import time

import pytest

from carmesh.broker import Broker, Field, Principal
from carmesh.errors import (
    AlreadyClaimed,
    InvalidArgument,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from carmesh.vss import Catalog
from tests.broker.conftest import RecordingActuator

SYSTEM = Principal.system()
WINDOW = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
LOCK = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"


async def test_publish_and_get(broker: Broker) -> None:
    assert broker.get(SYSTEM, "Vehicle.Speed") is None
    before = time.time_ns()
    await broker.publish(SYSTEM, {"Vehicle.Speed": 42.5, "Vehicle.IsMoving": True})
    dp = broker.get(SYSTEM, "Vehicle.Speed")
    assert dp is not None and dp.value == 42.5
    assert before <= dp.timestamp <= time.time_ns()
    await broker.publish(SYSTEM, {"Vehicle.Speed": 10}, timestamp=123)
    assert broker.get(SYSTEM, "Vehicle.Speed") == (10.0, 123)
    values = broker.get_many(SYSTEM, ["Vehicle.Speed", "Vehicle.Cabin.Sunroof"])
    assert values["Vehicle.Speed"] is not None
    assert "Vehicle.Cabin.Sunroof.Shade.Position" in values


async def test_attribute_defaults_are_current_values(catalog: Catalog, broker: Broker) -> None:
    with_default = [n for n in catalog.leaves if n.default is not None and n.type == "attribute"]
    assert len(with_default) > 10
    for node in with_default:
        dp = broker.get(SYSTEM, node.path)
        assert dp is not None and dp.value == node.default


async def test_a_bad_value_in_a_batch_changes_nothing(broker: Broker) -> None:
    await broker.publish(SYSTEM, {"Vehicle.Speed": 1.0, WINDOW: 10})
    with pytest.raises(InvalidValue, match=WINDOW.replace(".", r"\.") + ".*above max"):
        await broker.publish(SYSTEM, {"Vehicle.Speed": 2.0, WINDOW: 101})
    with pytest.raises(NotFound, match=r"Vehicle\.Nope"):
        await broker.publish(SYSTEM, {"Vehicle.Speed": 3.0, "Vehicle.Nope": 1})
    with pytest.raises(NotFound, match="is a branch"):
        await broker.publish(SYSTEM, {"Vehicle.Cabin": 1})
    assert broker.get(SYSTEM, "Vehicle.Speed").value == 1.0  # type: ignore[union-attr]
    assert broker.get(SYSTEM, WINDOW).value == 10  # type: ignore[union-attr]


async def test_claims_are_exclusive_and_released(broker: Broker) -> None:
    sim = broker.connect_provider(SYSTEM, "sim", RecordingActuator())
    other = broker.connect_provider(SYSTEM, "other", RecordingActuator())
    claimed = sim.claim(["Vehicle.Speed", "Vehicle.Cabin.Door.Row1.**"])
    assert "Vehicle.Speed" in {n.path for n in claimed}
    assert broker.provider_of(LOCK) == "sim"
    with pytest.raises(AlreadyClaimed, match="already provided by sim"):
        other.claim(["Vehicle.Body.Hood.IsOpen", "Vehicle.Speed"])
    assert broker.provider_of("Vehicle.Body.Hood.IsOpen") is None, "claims are all or nothing"
    await sim.publish({"Vehicle.Speed": 5.0})
    with pytest.raises(PermissionDenied, match="provided by sim"):
        await other.publish({"Vehicle.Speed": 6.0})
    with pytest.raises(PermissionDenied, match="provided by sim"):
        await broker.publish(SYSTEM, {"Vehicle.Speed": 6.0})
    sim.release(["Vehicle.Speed"])
    assert broker.provider_of("Vehicle.Speed") is None
    other.claim(["Vehicle.Speed"])
    await other.publish({"Vehicle.Speed": 7.0})
    sim.close()
    assert broker.provider_of(LOCK) is None
    assert sim.claimed == {}
    with pytest.raises(Unavailable):
        await sim.publish({LOCK: True})
    with pytest.raises(Unavailable):
        sim.claim([LOCK])


async def test_claiming_an_actuator_needs_a_handler(broker: Broker) -> None:
    feeder = broker.connect_provider(SYSTEM, "feeder")
    feeder.claim(["Vehicle.Speed"])
    with pytest.raises(InvalidArgument, match="no actuation handler"):
        feeder.claim([LOCK])


async def test_actuation_is_routed_to_the_provider(broker: Broker) -> None:
    body, hvac = RecordingActuator(), RecordingActuator()
    broker.connect_provider(SYSTEM, "body", body).claim(["Vehicle.Cabin.Door"])
    broker.connect_provider(SYSTEM, "hvac", hvac).claim(["Vehicle.Cabin.HVAC"])
    temp = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
    await broker.actuate(SYSTEM, {LOCK: True, WINDOW: 50, temp: 21})
    assert body.requests == [{LOCK: True, WINDOW: 50}]
    assert hvac.requests == [{temp: 21.0}]
    assert broker.get(SYSTEM, WINDOW, Field.TARGET).value == 50  # type: ignore[union-attr]
    assert broker.get(SYSTEM, WINDOW) is None, "the current value is the provider's to report"


async def test_actuation_errors(broker: Broker) -> None:
    with pytest.raises(Unavailable, match="no provider serves the actuator"):
        await broker.actuate(SYSTEM, {LOCK: True})
    assert broker.get(SYSTEM, LOCK, Field.TARGET) is None
    body = RecordingActuator()
    broker.connect_provider(SYSTEM, "body", body).claim(["Vehicle.Cabin.Door"])
    with pytest.raises(InvalidArgument, match="not an actuator"):
        await broker.actuate(SYSTEM, {"Vehicle.Speed": 3.0})
    with pytest.raises(InvalidValue):
        await broker.actuate(SYSTEM, {LOCK: True, WINDOW: -1})
    with pytest.raises(InvalidArgument, match="no actuator targets"):
        await broker.actuate(SYSTEM, {})
    with pytest.raises(InvalidArgument, match="only actuators have a target"):
        broker.get(SYSTEM, "Vehicle.Speed", Field.TARGET)
    assert body.requests == [], "nothing reaches the provider when validation fails"


async def test_provider_refusal_timeout_and_crash(broker: Broker) -> None:
    refusing = RecordingActuator(refuse=InvalidArgument("the door is locked"))
    broker.connect_provider(SYSTEM, "body", refusing).claim(["Vehicle.Cabin.Door.Row1"])
    with pytest.raises(InvalidArgument, match="the door is locked"):
        await broker.actuate(SYSTEM, {WINDOW: 30})
    assert broker.get(SYSTEM, WINDOW, Field.TARGET) is None

    stalling = RecordingActuator(delay=5)
    broker.connect_provider(SYSTEM, "hvac", stalling).claim(["Vehicle.Cabin.HVAC"])
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"did not answer within 0.5 s"):
        await broker.actuate(SYSTEM, {"Vehicle.Cabin.HVAC.IsAirConditioningActive": True})
    assert time.monotonic() - started < 2

    crashing = RecordingActuator(refuse=RuntimeError("bus off"))
    broker.connect_provider(SYSTEM, "trunk", crashing).claim(["Vehicle.Body.Trunk"])
    with pytest.raises(Unavailable, match="provider trunk failed: bus off"):
        await broker.actuate(SYSTEM, {"Vehicle.Body.Trunk.Rear.IsOpen": True})


async def test_scopes_are_enforced(broker: Broker) -> None:
    broker.connect_provider(SYSTEM, "body", RecordingActuator()).claim(["Vehicle.Cabin.Door"])
    app = Principal.from_scopes("app", "read:Vehicle.Speed actuate:Vehicle.Cabin.Door.*.*.IsLocked")
    await broker.publish(SYSTEM, {"Vehicle.Speed": 1.0})
    assert broker.get(app, "Vehicle.Speed") is not None
    assert broker.get(app, LOCK) is None, "actuate implies read"
    with pytest.raises(PermissionDenied, match=r"app may not read Vehicle\.IsMoving"):
        broker.get(app, "Vehicle.IsMoving")
    with pytest.raises(PermissionDenied, match="may not provide"):
        await broker.publish(app, {"Vehicle.Speed": 2.0})
    await broker.actuate(app, {LOCK: True})
    with pytest.raises(PermissionDenied, match="may not actuate"):
        await broker.actuate(app, {WINDOW: 10})
    with pytest.raises(PermissionDenied):
        broker.subscribe(app, ["Vehicle.Speed", "Vehicle.IsMoving"])
    with pytest.raises(PermissionDenied):
        broker.get_many(app, "Vehicle.Cabin.Door.Row1")
    with pytest.raises(PermissionDenied):
        broker.connect_provider(app, "rogue").claim(["Vehicle.Speed"])
    visible = broker.metadata(app, "Vehicle")
    assert {n.path for n in visible} == {"Vehicle.Speed"} | {
        n.path for n in broker.catalog.match("Vehicle.Cabin.Door.*.*.IsLocked")
    }
    assert broker.get(app, "Vehicle.Speed").value == 1.0  # type: ignore[union-attr]


async def test_expired_principal_is_unauthenticated(broker: Broker) -> None:
    from carmesh.errors import Unauthenticated

    stale = Principal.from_scopes("old", "read", expires_at=time.time() - 1)
    with pytest.raises(Unauthenticated, match="expired"):
        broker.get(stale, "Vehicle.Speed")
    with pytest.raises(Unauthenticated):
        broker.subscribe(stale, "Vehicle.Speed")


def test_scope_syntax() -> None:
    from carmesh.broker import Action, parse_scopes

    scopes = parse_scopes("read:Vehicle.Speed provide:Vehicle.Body.* actuate")
    assert [str(s) for s in scopes] == ["read:Vehicle.Speed", "provide:Vehicle.Body.*", "actuate"]
    assert scopes[2].action is Action.ACTUATE and scopes[2].pattern is None
    for bad, why in [
        ("write:Vehicle", "unknown action"),
        ("read:", "path pattern"),
        ("read:Veh*", "not a valid path pattern"),
    ]:
        with pytest.raises(InvalidArgument, match=why):
            parse_scopes(bad)


async def test_actuation_and_value_claims_are_separate(broker: Broker) -> None:
    """KUKSA keeps two claims: who actuates (ProvideActuationRequest) and who publishes
    (ProvideSignalRequest). A provider that only actuates lets others report the value."""
    actuator = RecordingActuator()
    driver = broker.connect_provider(SYSTEM, "window-driver", actuator)
    driver.claim_actuation([WINDOW])
    assert broker.actuation_provider_of(WINDOW) == "window-driver"
    assert broker.provider_of(WINDOW) is None
    await broker.publish(SYSTEM, {WINDOW: 20})
    await broker.actuate(SYSTEM, {WINDOW: 30})
    assert actuator.requests == [{WINDOW: 30}]
    feeder = broker.connect_provider(SYSTEM, "feeder")
    feeder.claim_values([WINDOW, "Vehicle.Speed"])
    with pytest.raises(PermissionDenied, match="provided by feeder"):
        await driver.publish({WINDOW: 25})
    with pytest.raises(AlreadyClaimed, match="actuation of"):
        broker.connect_provider(SYSTEM, "other", RecordingActuator()).claim_actuation([WINDOW])
    with pytest.raises(InvalidArgument, match="only actuators can be claimed"):
        driver.claim_actuation(["Vehicle.Speed"])
    driver.close()
    assert broker.actuation_provider_of(WINDOW) is None
    assert broker.provider_of(WINDOW) == "feeder"
