"""The mapping file: which DBC signal feeds which VSS signal, and which actuator target
becomes which DBC signal; in the Eclipse KUKSA ``dbc2vss``/``vss2dbc`` format, so mappings
written for the KUKSA CAN provider carry over unchanged.

The file is a VSS overlay (YAML or JSON; flat dotted paths, or the nested vss-tools JSON
export with ``children`` such as KUKSA's ``vss_dbc.json``). Every node that has a ``dbc2vss``
(or its old synonym ``dbc``) or a ``vss2dbc`` entry is mapped; everything else in the file,
including ``type`` and ``datatype``, is ignored: the catalog the broker runs with decides what
a signal is (a node the catalog lacks must be added with ``--overlay``, and the mapping file
itself is a valid overlay for that)::

    Vehicle.Speed:
      type: sensor
      datatype: float
      dbc2vss:
        signal: VCU_VehicleSpeed      # DBC signal name (values arrive scaled by the DBC)
        interval_ms: 100              # at most one update per 100 ms
    Vehicle.Powertrain.Transmission.CurrentGear:
      dbc2vss:
        signal: VCU_Gear
        on_change: true               # only when the value changes
        transform:
          mapping:                    # the first 'from' equal to the DBC value wins
            - {from: PARK, to: 0}     # a DBC choice matches by name or by number
            - {from: DRIVE, to: 1}
            - {from: REVERSE, to: -1}
    Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature:
      dbc2vss:
        signal: HVAC_SetPointDriver
        transform:
          math: "x / 2 + 10"          # an expression of x, see carmesh.vehicle.can.expression
      vss2dbc:                        # actuators only: the target becomes a frame on the bus
        signal: HVAC_SetPointDriverRequest
        transform:
          math: "(x - 10) * 2"

``dbc2vss`` keys:

``signal`` (required)
    The DBC signal. When several messages have a signal of that name, ``message: NAME``
    (a carmesh addition) says which one.
``interval_ms``, ``on_change``
    As in KUKSA: ``interval_ms`` is the least time between two updates of the VSS signal,
    measured on the frames' timestamps (so a log replayed at any speed behaves as recorded);
    ``on_change: true`` forwards a value only when it differs from the last one forwarded.
    Neither given means ``interval_ms: 1000``; only ``on_change: true`` means
    ``interval_ms: 0``. ``interval_ms: 0`` forwards every frame.
``transform``
    ``math: EXPRESSION`` or ``mapping: [{from, to}, ...]``. Without one the DBC value is
    used as it is: a DBC choice becomes its name for a ``string`` signal and its number
    otherwise. A value no ``from`` matches, or for which the math fails, is dropped and
    counted. The result is fitted to the VSS datatype (0/1 to booleans, numbers to the
    nearest integer for integer signals) and then checked by the broker's rules
    (``min``/``max``/``allowed``); a value that does not fit is dropped and counted.
``multiplexer``
    ``[{signal: NAME, value: N}, ...]``: use the signal only from frames whose named
    multiplexer signals (in the same message) have these values. Multiplexing declared in the
    DBC itself needs no entry: a signal absent from a frame is simply not updated.

``vss2dbc`` keys: ``signal``, ``message``, ``transform`` (from the VSS target to the DBC
value; a ``mapping`` may name DBC choices, e.g. ``{from: true, to: LOCK}``). When a target is
set, the message carrying the signal is encoded with the DBC and sent once; the message's
other signals keep the last value sent, or start at the DBC's initial value
(``GenSigStartValue``), else 0 (or the signal's minimum when 0 is out of range). A target
the DBC cannot encode (outside the signal's range, not a choice) refuses the request.
``interval_ms`` and ``on_change`` are accepted and ignored, as KUKSA does; messages
multiplexed in the DBC cannot be sent.

Problems in the file are reported as :class:`carmesh.errors.ConfigError` naming the file,
the VSS path and what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cantools.database.can import Message, Signal

from carmesh.errors import CarmeshError, ConfigError
from carmesh.vehicle.can.dbc import CanDatabase
from carmesh.vehicle.can.transform import (
    Transform,
    TransformSpecError,
    ValueMap,
    parse_transform,
    vss_converter,
)
from carmesh.vss.catalog import Catalog
from carmesh.vss.model import Node
from carmesh.vss.overlay import flatten, read_source
from carmesh.vss.values import make_validator

__all__ = ["DEFAULT_INTERVAL_MS", "CanMapping", "ToCan", "ToVss"]

#: KUKSA's default when a ``dbc2vss`` entry has neither ``interval_ms`` nor ``on_change``.
DEFAULT_INTERVAL_MS = 1000

_TO_VSS_KEYS = {"signal", "message", "interval_ms", "on_change", "transform", "multiplexer"}
_TO_CAN_KEYS = {"signal", "message", "transform", "interval_ms", "on_change"}


@dataclass(frozen=True, eq=False)
class ToVss:
    """One ``dbc2vss`` entry: a DBC signal feeding a VSS signal."""

    path: str
    node: Node
    message: Message
    signal: Signal
    transform: Transform | None
    interval_ms: int
    on_change: bool
    #: ``(multiplexer signal name, value)`` conditions that must all hold.
    multiplexer: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, eq=False)
class ToCan:
    """One ``vss2dbc`` entry: an actuator's target written to a DBC signal."""

    path: str
    node: Node
    message: Message
    signal: Signal
    transform: Transform | None


class CanMapping:
    """Every mapped signal of a mapping file, checked against the databases and the catalog."""

    def __init__(
        self,
        database: CanDatabase,
        to_vss: Iterable[ToVss],
        to_can: Iterable[ToCan],
        *,
        name: str = "mapping",
    ) -> None:
        self.database = database
        self.name = name
        self.to_vss: tuple[ToVss, ...] = tuple(to_vss)
        self.to_can: dict[str, ToCan] = {entry.path: entry for entry in to_can}

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        file: str | Path,
        database: CanDatabase | str | Path | Sequence[str | Path],
        catalog: Catalog,
    ) -> CanMapping:
        """Read a mapping file; *database* is a :class:`CanDatabase` or the DBC file path(s)."""
        path = Path(file)
        try:
            data = read_source(path)
        except CarmeshError as exc:
            raise ConfigError(exc.message) from None
        if not isinstance(database, CanDatabase):
            database = CanDatabase.load(database)
        return cls.from_data(data, database, catalog, name=str(path))

    @classmethod
    def from_data(
        cls, data: Any, database: CanDatabase, catalog: Catalog, *, name: str = "mapping"
    ) -> CanMapping:
        """Build a mapping from already parsed file content (a dict, as in the file)."""
        to_vss: list[ToVss] = []
        to_can: list[ToCan] = []
        try:
            entries = list(flatten(data, name))
        except CarmeshError as exc:
            raise ConfigError(exc.message) from None
        for path, fields in entries:
            if "dbc" in fields and "dbc2vss" in fields:
                raise _error(name, path, "has both 'dbc' and 'dbc2vss'; keep 'dbc2vss'")
            inbound = fields.get("dbc2vss", fields.get("dbc"))
            outbound = fields.get("vss2dbc")
            if inbound is None and outbound is None:
                continue
            node = catalog.get(path)
            if node is None:
                raise _error(
                    name,
                    path,
                    f"is not a signal of {catalog.name}; add it with an overlay (--overlay)",
                )
            if not node.is_leaf:
                raise _error(name, path, "is a branch; only signals can be mapped")
            if node.datatype is None or node.datatype.is_array:
                raise _error(
                    name, path, f"is an array ({node.datatype}); a CAN signal maps to a scalar"
                )
            if inbound is not None:
                to_vss.append(_read_to_vss(name, node, inbound, database))
            if outbound is not None:
                to_can.append(_read_to_can(name, node, outbound, database))
        return cls(database, to_vss, to_can, name=name)

    # -- what it covers ---------------------------------------------------------------------

    @property
    def value_paths(self) -> list[str]:
        """VSS signals whose values come from the bus, in file order."""
        return list(dict.fromkeys(entry.path for entry in self.to_vss))

    @property
    def actuation_paths(self) -> list[str]:
        """Actuators whose targets are sent to the bus, in file order."""
        return list(self.to_can)

    def __repr__(self) -> str:
        return f"<CanMapping {self.name}: {len(self.to_vss)} dbc2vss, {len(self.to_can)} vss2dbc>"


def _error(file: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{file}: {path} {message}")


def _entry(file: str, path: str, key: str, raw: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _error(file, path, f"{key}: expected a mapping with at least 'signal'")
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise _error(
            file,
            path,
            f"{key}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}",
        )
    signal = raw.get("signal")
    if not isinstance(signal, str) or not signal:
        raise _error(file, path, f"{key}: 'signal' must name a DBC signal")
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise _error(file, path, f"{key}: 'message' must name a DBC message")
    return raw


def _find(
    file: str, path: str, key: str, raw: Mapping[str, Any], database: CanDatabase
) -> tuple[Message, Signal]:
    try:
        return database.find_signal(raw["signal"], raw.get("message"))
    except LookupError as exc:
        raise _error(file, path, f"{key}: {exc.args[0]}") from None


def _transform(file: str, path: str, key: str, raw: Mapping[str, Any]) -> Transform | None:
    try:
        return parse_transform(raw.get("transform"))
    except TransformSpecError as exc:
        raise _error(file, path, f"{key}: {exc}") from None


def _read_to_vss(file: str, node: Node, raw: Any, database: CanDatabase) -> ToVss:
    path = node.path
    key = "dbc2vss"
    raw = _entry(file, path, key, raw, _TO_VSS_KEYS)
    message, signal = _find(file, path, key, raw, database)
    transform = _transform(file, path, key, raw)
    on_change = raw.get("on_change", False)
    if not isinstance(on_change, bool):
        raise _error(file, path, f"{key}: 'on_change' must be true or false")
    if "interval_ms" in raw:
        interval = raw["interval_ms"]
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            raise _error(file, path, f"{key}: 'interval_ms' must be a whole number >= 0")
    else:
        interval = 0 if on_change else DEFAULT_INTERVAL_MS
    conditions: list[tuple[str, int]] = []
    mux = raw.get("multiplexer")
    if mux is not None:
        if not isinstance(mux, list) or not mux:
            raise _error(file, path, f"{key}: 'multiplexer' must be a list of {{signal, value}}")
        names = {s.name for s in message.signals}
        for item in mux:
            if not isinstance(item, Mapping) or set(item) != {"signal", "value"}:
                raise _error(file, path, f"{key}: each multiplexer entry needs signal and value")
            if item["signal"] not in names:
                raise _error(
                    file,
                    path,
                    f"{key}: multiplexer signal {item['signal']!r} is not in message "
                    f"{message.name}",
                )
            value = item["value"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise _error(file, path, f"{key}: multiplexer value must be a whole number")
            conditions.append((str(item["signal"]), value))
    if isinstance(transform, ValueMap):
        convert = vss_converter(node)
        check = make_validator(node)
        for _, target in transform.pairs:
            try:
                check(convert(target))
            except CarmeshError as exc:
                raise _error(
                    file, path, f"{key}: mapping 'to' {target!r} does not fit: {exc}"
                ) from None
    return ToVss(path, node, message, signal, transform, interval, on_change, tuple(conditions))


def _read_to_can(file: str, node: Node, raw: Any, database: CanDatabase) -> ToCan:
    path = node.path
    key = "vss2dbc"
    if not node.is_actuator:
        raise _error(
            file,
            path,
            f"is {'an' if node.type.value[0] in 'aeiou' else 'a'} {node.type.value}; "
            "vss2dbc needs an actuator (only actuators have targets)",
        )
    raw = _entry(file, path, key, raw, _TO_CAN_KEYS)
    message, signal = _find(file, path, key, raw, database)
    if message.is_multiplexed():
        raise _error(file, path, f"{key}: message {message.name} is multiplexed; it cannot be sent")
    transform = _transform(file, path, key, raw)
    if isinstance(transform, ValueMap):
        choices = {str(c) for c in (signal.choices or {}).values()}
        for _, target in transform.pairs:
            if isinstance(target, str) and target not in choices:
                known = ", ".join(sorted(choices)) or "none"
                raise _error(
                    file,
                    path,
                    f"{key}: {target!r} is not a choice of DBC signal {signal.name} "
                    f"(choices: {known})",
                )
    return ToCan(path, node, message, signal, transform)
