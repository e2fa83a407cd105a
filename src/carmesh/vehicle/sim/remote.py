"""Injecting faults into a running simulated car from another process.

The simulator serves the actuators of ``Vehicle.Carmesh.Simulator.Fault`` (see
:mod:`carmesh.vehicle.sim.faults`); this module sets them through the broker's KUKSA
``kuksa.val.v2`` API, exactly as any app could, so ``carmesh fault inject`` needs nothing
but the car's gRPC address (and a token if the car requires one).
"""

from __future__ import annotations

from typing import Any

import grpc
from kuksa.val.v2 import types_pb2, val_pb2, val_pb2_grpc

from carmesh.errors import CarmeshError, InvalidArgument, NotFound, Unavailable
from carmesh.vehicle.sim.faults import FAULT_BRANCH, check_dtc, check_wheels

TYRES = f"{FAULT_BRANCH}.TyrePressureLoss"
LOW_VOLTAGE = f"{FAULT_BRANCH}.LowVoltageBattery"
DTCS = f"{FAULT_BRANCH}.DTCs"
KINDS = ("tyre-pressure", "12v-low", "dtc")


class FaultClient:
    """Reads and sets the simulator's fault actuators over ``kuksa.val.v2``."""

    def __init__(self, address: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.address = address
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    async def _call(self, method: str, request: Any) -> Any:
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = val_pb2_grpc.VALStub(channel)
            try:
                return await getattr(stub, method)(
                    request, metadata=self.metadata, timeout=self.timeout
                )
            except grpc.aio.AioRpcError as exc:
                raise _error(exc, self.address) from None

    async def current(self, path: str) -> list[str]:
        response = await self._call(
            "GetValue", val_pb2.GetValueRequest(signal_id=types_pb2.SignalID(path=path))
        )
        if not response.HasField("data_point") or not response.data_point.HasField("value"):
            return []
        return list(response.data_point.value.string_array.values)

    async def set(self, path: str, value: list[str] | bool) -> None:
        if isinstance(value, bool):
            wire = types_pb2.Value(bool=value)
        else:
            wire = types_pb2.Value(string_array=types_pb2.StringArray(values=value))
        await self._call(
            "Actuate",
            val_pb2.ActuateRequest(signal_id=types_pb2.SignalID(path=path), value=wire),
        )

    async def inject(self, kind: str, *, wheel: str = "FL", code: str = "") -> str:
        """Add one fault; returns a sentence saying what is now active."""
        if kind == "tyre-pressure":
            wheels = check_wheels([*await self.current(TYRES), wheel])
            await self.set(TYRES, wheels)
            return f"tyre pressure loss on {', '.join(wheels)}"
        if kind == "12v-low":
            await self.set(LOW_VOLTAGE, True)
            return "12 V battery low"
        if kind == "dtc":
            if not code:
                raise InvalidArgument("a dtc fault needs --code, e.g. --code P0A80")
            codes = [*await self.current(DTCS)]
            checked = check_dtc(code)
            if checked not in codes:
                codes.append(checked)
            await self.set(DTCS, codes)
            return f"diagnostic trouble codes {', '.join(codes)}"
        raise InvalidArgument(f"unknown fault {kind!r}; choose one of {', '.join(KINDS)}")

    async def clear(self, kind: str = "all", *, wheel: str = "", code: str = "") -> str:
        """Clear one kind of fault (optionally one wheel or code), or all of them."""
        if kind not in (*KINDS, "all"):
            raise InvalidArgument(f"unknown fault {kind!r}; choose one of {', '.join(KINDS)}, all")
        if kind in ("tyre-pressure", "all"):
            keep: list[str] = []
            if wheel and kind != "all":
                gone = check_wheels([wheel])[0]
                keep = [w for w in await self.current(TYRES) if w != gone]
            await self.set(TYRES, keep)
        if kind in ("12v-low", "all"):
            await self.set(LOW_VOLTAGE, False)
        if kind in ("dtc", "all"):
            codes: list[str] = []
            if code and kind != "all":
                gone = check_dtc(code)
                codes = [c for c in await self.current(DTCS) if c != gone]
            await self.set(DTCS, codes)
        return "cleared " + ("all faults" if kind == "all" else kind)


def _error(exc: grpc.aio.AioRpcError, address: str) -> CarmeshError:
    code = exc.code()
    details = exc.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(
            f"cannot reach the car at {address}; is `carmesh run` running there? ({details})"
        )
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFound(
            f"the car at {address} has no simulator faults ({details}); start it with --vehicle sim"
        )
    return InvalidArgument(f"the car refused: {details}")
