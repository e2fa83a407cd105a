"""The HMI's JSON API (``docs/hmi-protocol.md``): read signals, request actuations, read the
driving state. Every call runs as the HMI's principal; errors are mapped by
:mod:`carmesh.hmi.status`.

Handlers return ready JSON responses; the pydantic models below describe them for the
OpenAPI document at ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from carmesh.broker import Field as SignalField
from carmesh.errors import InvalidArgument
from carmesh.hmi.context import HmiContext, context_of
from carmesh.hmi.wire import metadata_json, timestamp_ms, values_json


class Datapoint(BaseModel):
    value: Any = Field(description="The value: boolean, number, string or an array of them.")
    timestamp: int = Field(description="When it was observed, ms since the UNIX epoch.")


class SignalValues(BaseModel):
    values: dict[str, Datapoint | None] = Field(
        description="Every selected signal by path; null when it has no value yet."
    )


class Metadata(BaseModel):
    type: str = Field(description="sensor, actuator or attribute")
    datatype: str | None = Field(description="VSS datatype, e.g. float, uint8, string[]")
    unit: str | None
    min: float | int | None
    max: float | int | None
    allowed: list[Any] | None
    description: str


class Signal(BaseModel):
    path: str
    value: Any = Field(description="The current value (null when none yet).")
    timestamp: int | None = Field(description="ms since the UNIX epoch")
    target: Any = Field(description="An actuator's requested value (null otherwise).")
    target_timestamp: int | None
    metadata: Metadata


class ActuateRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"targets": {"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature": 22}}]
        }
    )

    targets: dict[str, Any] = Field(description="Actuator path → requested value.")


class Accepted(BaseModel):
    ok: bool = True


class Rules(BaseModel):
    text_entry: bool = Field(description="Free text entry (keyboards) may be offered.")
    video: bool = Field(description="Video may be shown.")
    max_list_items: int | None = Field(description="Longest list allowed; null: no limit.")


class DrivingState(BaseModel):
    moving: bool = Field(description="The car is being driven; the rules restrict the screens.")
    speed: float | None = Field(description="km/h when the state was decided; null: unknown.")
    gear: int | None = Field(description="VSS SelectedGear (126 Park, 127 Drive); null: unknown.")
    rules: Rules


class ErrorDetail(BaseModel):
    code: str = Field(description="not_found, invalid_argument, invalid_value, …")
    message: str = Field(description="One sentence for people.")
    path: str | None = Field(description="The signal the error is about, if any.")


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


Context = Annotated[HmiContext, Depends(context_of)]

router = APIRouter(prefix="/api")


@router.get(
    "/signals",
    response_model=SignalValues,
    responses=error_responses(400, 403, 404),
    summary="Read signals",
    tags=["signals"],
)
async def read_signals(
    context: Context,
    paths: Annotated[
        str,
        Query(
            description="Comma-separated paths or KUKSA patterns, e.g. "
            "Vehicle.Speed,Vehicle.Cabin.HVAC.**",
        ),
    ] = "",
) -> JSONResponse:
    """Current values of every signal the paths and patterns select."""
    wanted = [p.strip() for p in paths.split(",") if p.strip()]
    if not wanted:
        raise InvalidArgument("give the signals to read as ?paths=P1,P2 (paths or patterns)")
    values = context.broker.get_many(context.principal, wanted)
    return JSONResponse({"values": values_json(values)})


@router.get(
    "/signals/{path}",
    response_model=Signal,
    responses=error_responses(403, 404),
    summary="Read one signal with its target and metadata",
    tags=["signals"],
)
async def read_signal(context: Context, path: str) -> JSONResponse:
    """One signal: its value, an actuator's target, and its catalog entry."""
    broker, principal = context.broker, context.principal
    current = broker.get(principal, path)
    node = broker.catalog.leaf(path)
    target = broker.get(principal, path, SignalField.TARGET) if node.is_actuator else None
    return JSONResponse(
        {
            "path": path,
            "value": None if current is None else current.value,
            "timestamp": None if current is None else timestamp_ms(current.timestamp),
            "target": None if target is None else target.value,
            "target_timestamp": None if target is None else timestamp_ms(target.timestamp),
            "metadata": metadata_json(node),
        }
    )


@router.post(
    "/actuate",
    response_model=Accepted,
    responses=error_responses(400, 403, 404, 422, 503),
    summary="Request actuator targets",
    tags=["actuators"],
)
async def actuate(context: Context, request: ActuateRequest) -> JSONResponse:
    """Ask the actuators' providers to reach the targets; answers once they accepted.

    A provider's refusal (an interlock, e.g. a trunk that does not open while driving) is a
    400 with the provider's reason.
    """
    await context.broker.actuate(context.principal, request.targets)
    return JSONResponse({"ok": True})


@router.get(
    "/driving-state",
    response_model=DrivingState,
    summary="The driving state and the distraction rules in force",
    tags=["driving"],
)
async def driving_state(context: Context) -> JSONResponse:
    return JSONResponse(context.watcher.state.as_json())
