"""Actuator controls: how a requested target is checked and applied, and parts that move.

Each actuator the simulator serves is a :class:`Control`: ``check`` raises a carmesh error
to refuse a target (an interlock) without changing anything, ``apply`` takes it. A request
is checked whole before any part of it is applied, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _accept(value: Any) -> None:
    return None


@dataclass(frozen=True)
class Control:
    apply: Callable[[Any], None]
    check: Callable[[Any], None] = _accept


class Travel:
    """A part that moves towards its target at a fixed rate (units per second)."""

    def __init__(self, position: float, rate: float, low: float = 0.0, high: float = 100.0):
        self.position = position
        self.target = position
        self.rate = rate
        self.low = low
        self.high = high

    @property
    def moving(self) -> bool:
        return self.position != self.target

    @property
    def direction(self) -> int:
        return (self.target > self.position) - (self.target < self.position)

    def move_to(self, target: float) -> None:
        self.target = min(max(float(target), self.low), self.high)

    def stop(self) -> None:
        self.target = self.position

    def step(self, dt: float) -> None:
        if self.position == self.target:
            return
        delta = self.rate * dt
        if abs(self.target - self.position) <= delta:
            self.position = self.target
        else:
            self.position += delta * self.direction


def set_item(
    mapping: dict[str, Any], key: str, convert: Callable[[Any], Any]
) -> Callable[[Any], None]:
    """An ``apply`` that stores the converted target in ``mapping[key]``."""

    def apply(value: Any) -> None:
        mapping[key] = convert(value)

    return apply


def set_attr(target: object, name: str, convert: Callable[[Any], Any]) -> Callable[[Any], None]:
    """An ``apply`` that stores the converted target as an attribute."""

    def apply(value: Any) -> None:
        setattr(target, name, convert(value))

    return apply
