"""From actuator targets to CAN frames: transform, encode with the DBC, remember.

A message carries several signals but a request sets only some of them, so the encoder keeps
the last value sent for every signal of every message it sends. A signal never sent starts at
its DBC initial value (``GenSigStartValue``), else 0, else (0 being out of range) its minimum.
:meth:`FrameEncoder.encode` checks and encodes the whole request before anything is sent or
remembered; :meth:`FrameEncoder.commit` records it once the frames are on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import can
from cantools.database.can import Message, Signal

from carmesh.errors import InvalidValue
from carmesh.vehicle.can.mapping import CanMapping, ToCan
from carmesh.vehicle.can.transform import NoMatch

__all__ = ["FrameEncoder", "Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """One frame to send and the signal values it holds."""

    message: Message
    values: dict[str, Any]
    frame: can.Message


def initial_value(signal: Signal) -> Any:
    """The value a signal has before carmesh ever set it."""
    if signal.initial is not None:
        return signal.initial
    low, high = signal.minimum, signal.maximum
    if (low is None or low <= 0) and (high is None or high >= 0):
        return 0
    if low is not None and low > 0:
        return low
    return high


class FrameEncoder:
    """Encodes actuator targets per *mapping* into frames of the messages they belong to."""

    def __init__(self, mapping: CanMapping) -> None:
        self.mapping = mapping
        self._entries: dict[str, ToCan] = dict(mapping.to_can)
        self._sent: dict[str, dict[str, Any]] = {}

    def handles(self, path: str) -> bool:
        return path in self._entries

    def state(self, message: Message) -> dict[str, Any]:
        """Signal values the next frame of *message* starts from."""
        sent = self._sent.get(message.name)
        if sent is None:
            return {s.name: initial_value(s) for s in message.signals}
        return dict(sent)

    def encode(self, targets: Mapping[str, Any]) -> list[Outgoing]:
        """Frames for *targets* (validated VSS values of mapped actuators), one per message.

        Raises :class:`InvalidValue` naming the actuator when a value has no DBC form or the
        DBC cannot encode it; nothing is remembered then.
        """
        pending: dict[str, tuple[Message, dict[str, Any], list[str]]] = {}
        for path, value in targets.items():
            entry = self._entries.get(path)
            if entry is None:
                raise InvalidValue(f"{path} is not mapped to a CAN signal", path=path)
            message = entry.message
            slot = pending.get(message.name)
            if slot is None:
                slot = pending[message.name] = (message, self.state(message), [])
            slot[1][entry.signal.name] = self._dbc_value(entry, value)
            slot[2].append(path)
        out: list[Outgoing] = []
        for message, values, paths in pending.values():
            try:
                data = message.encode(values, scaling=True, strict=True)
            except Exception as exc:
                raise InvalidValue(
                    f"{', '.join(paths)}: the target cannot be sent as CAN message "
                    f"{message.name}: {exc}",
                    path=paths[0],
                ) from None
            frame = can.Message(
                arbitration_id=message.frame_id,
                is_extended_id=message.is_extended_frame,
                is_fd=bool(message.is_fd),
                data=data,
            )
            out.append(Outgoing(message, values, frame))
        return out

    def commit(self, sent: list[Outgoing]) -> None:
        """Remember what was sent, as the base of the next frames of those messages."""
        for item in sent:
            self._sent[item.message.name] = dict(item.values)

    @staticmethod
    def _dbc_value(entry: ToCan, value: Any) -> Any:
        if entry.transform is not None:
            try:
                value = entry.transform(value)
            except NoMatch as exc:
                raise InvalidValue(
                    f"{entry.path}: {value!r} has no CAN form ({exc})", path=entry.path
                ) from None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            names = [str(c) for c in (entry.signal.choices or {}).values()]
            if value not in names:
                raise InvalidValue(
                    f"{entry.path}: {value!r} is not a choice of CAN signal {entry.signal.name}",
                    path=entry.path,
                )
        return value
