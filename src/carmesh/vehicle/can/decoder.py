"""From CAN frames to VSS values: decode with the DBC, transform, filter, check.

This is the provider's hot path, so the mapping is compiled once into per-frame plans (a
dict hit by frame identifier, then a short list of targets) and every problem is a counter
increment, never an exception that escapes. :meth:`FrameDecoder.decode` turns a run of
frames into batches of ``{path: value}``: a batch is closed when a signal would appear in it
twice, so every accepted value reaches the broker, in order, in as few publish calls as
possible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import can
from cantools.database.can import Message

from carmesh.errors import InvalidValue
from carmesh.vehicle.can.counters import CanCounters, ProblemLog
from carmesh.vehicle.can.dbc import EXTENDED, frame_key
from carmesh.vehicle.can.mapping import CanMapping, ToVss
from carmesh.vehicle.can.transform import NoMatch, Transform, dbc_number, vss_converter
from carmesh.vss.values import make_validator

__all__ = ["FrameDecoder"]

Batch = dict[str, Any]
_UNSET: Any = object()
#: Slack on interval_ms comparisons: frame timestamps are floats (100.1 - 100.0 < 0.1).
_TOLERANCE = 1e-6


class _Target:
    """Run-time state of one ``dbc2vss`` entry."""

    __slots__ = (
        "check",
        "convert",
        "interval",
        "last_time",
        "last_value",
        "multiplexer",
        "on_change",
        "path",
        "signal",
        "transform",
    )

    def __init__(self, entry: ToVss) -> None:
        self.path = entry.path
        self.signal = entry.signal.name
        self.transform: Transform | None = entry.transform
        self.convert: Callable[[Any], Any] = vss_converter(entry.node)
        self.check: Callable[[Any], Any] = make_validator(entry.node)
        self.interval = entry.interval_ms / 1000.0
        self.on_change = entry.on_change
        self.multiplexer = entry.multiplexer
        self.last_time: float | None = None
        self.last_value: Any = _UNSET


class _Plan:
    """What to do with the frames of one DBC message."""

    __slots__ = ("message", "targets")

    def __init__(self, message: Message, targets: list[_Target]) -> None:
        self.message = message
        self.targets = targets


class FrameDecoder:
    """Decodes frames per *mapping*, counting into *counters*, reporting to *problems*."""

    def __init__(
        self,
        mapping: CanMapping,
        counters: CanCounters | None = None,
        problems: ProblemLog | None = None,
    ) -> None:
        self.mapping = mapping
        self.counters = counters if counters is not None else CanCounters()
        self.problems = problems if problems is not None else ProblemLog()
        plans: dict[int, _Plan] = {}
        for entry in mapping.to_vss:
            message = entry.message
            key = frame_key(message.frame_id, message.is_extended_frame)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = _Plan(message, [])
            plan.targets.append(_Target(entry))
        self._plans = plans
        self._known = frozenset(mapping.database.messages)

    def decode(self, frames: Iterable[can.Message]) -> list[Batch]:
        """Turn *frames* into batches of VSS values (see the module docstring)."""
        counters = self.counters
        plans = self._plans
        batches: list[Batch] = []
        batch: Batch = {}
        for frame in frames:
            counters.frames_received += 1
            if frame.is_error_frame:
                counters.error_frames += 1
                self.problems.report("error-frame", "CAN error frame received")
                continue
            key = frame.arbitration_id | EXTENDED if frame.is_extended_id else frame.arbitration_id
            plan = plans.get(key)
            if plan is None or frame.is_remote_frame:
                if plan is not None or key in self._known:
                    counters.frames_ignored += 1
                else:
                    counters.frames_unknown_id += 1
                    self.problems.report(
                        "unknown-id",
                        "CAN frame %s is in no CAN database",
                        _show(frame),
                    )
                continue
            try:
                signals = plan.message.decode(
                    frame.data,  # type: ignore[arg-type]  # a bytearray decodes as bytes do
                    decode_choices=True,
                    scaling=True,
                    allow_truncated=False,
                )
            except Exception as exc:
                counters.frames_malformed += 1
                self.problems.report(
                    "malformed " + plan.message.name,
                    "CAN frame %s (%d bytes) cannot be decoded as %s: %s",
                    _show(frame),
                    len(frame.data),
                    plan.message.name,
                    exc,
                )
                continue
            counters.frames_decoded += 1
            timestamp = frame.timestamp
            for target in plan.targets:
                raw = signals.get(target.signal)  # type: ignore[union-attr]
                if raw is None:
                    continue  # multiplexed out of this frame
                if target.multiplexer and not _selected(target.multiplexer, signals):
                    continue
                if target.interval and target.last_time is not None:
                    elapsed = timestamp - target.last_time
                    if 0.0 <= elapsed < target.interval - _TOLERANCE:
                        counters.values_suppressed += 1
                        continue
                try:
                    value = target.check(
                        target.convert(target.transform(raw) if target.transform else raw)
                    )
                except NoMatch as exc:
                    counters.values_untransformable += 1
                    self.problems.report(
                        "untransformable " + target.path,
                        "%s from %s = %r dropped: %s",
                        target.path,
                        target.signal,
                        raw,
                        exc,
                    )
                    continue
                except InvalidValue as exc:
                    counters.values_out_of_range += 1
                    self.problems.report(
                        "out-of-range " + target.path,
                        "%s from %s dropped: %s",
                        target.path,
                        target.signal,
                        exc,
                    )
                    continue
                except Exception as exc:  # a value no rule foresaw must not stop the bus
                    counters.values_untransformable += 1
                    self.problems.report(
                        "untransformable " + target.path,
                        "%s from %s = %r dropped: %r",
                        target.path,
                        target.signal,
                        raw,
                        exc,
                    )
                    continue
                if target.on_change and value == target.last_value:
                    counters.values_suppressed += 1
                    continue
                target.last_time = timestamp
                target.last_value = value
                if target.path in batch:
                    batches.append(batch)
                    batch = {}
                batch[target.path] = value
        if batch:
            batches.append(batch)
        return batches


def _selected(conditions: tuple[tuple[str, int], ...], signals: Any) -> bool:
    return all(dbc_number(signals.get(name)) == value for name, value in conditions)


def _show(frame: can.Message) -> str:
    if frame.is_extended_id:
        return f"0x{frame.arbitration_id:08X}x"
    return f"0x{frame.arbitration_id:03X}"
