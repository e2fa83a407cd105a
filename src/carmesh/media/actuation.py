"""The media service's VSS actuations: what a KUKSA client, the HMI or the assistant asks of the
media actuators, checked against the zones and then carried out.

Every target of a request is checked before any is carried out (a URI that names nothing, a
seek beyond the end, nothing to play, no session of that source: refused with the reason);
the work of each is then awaited for up to :data:`ACCEPT_WAIT` s, so that its errors reach the
caller, and goes on in the background after that (a station slow to connect). A selected URI
that fails later is published as ``DeclinedURI``. What each actuator's value asks for is
:func:`carmesh.media.signals.target_of`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from carmesh.errors import CarmeshError, FailedPrecondition, InvalidArgument
from carmesh.media.session import check_seek
from carmesh.media.signals import DRIVER, Target, actuators, target_of

if TYPE_CHECKING:
    from carmesh.media.service import MediaService
    from carmesh.media.zones import Zone

__all__ = ["ACCEPT_WAIT", "Actuations"]

#: Seconds an actuation waits for its work before it is accepted and goes on in the background.
ACCEPT_WAIT = 2.0


class Actuations:
    """The :class:`~carmesh.broker.provider.Actuator` of *service*'s media signals (see the
    module's description)."""

    def __init__(self, service: MediaService) -> None:
        self.service = service
        self._actuators = actuators(service._zones)

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Carry out actuations of the media actuators (see the module's description): all
        are checked before any is carried out."""
        work: list[Callable[[], Coroutine[Any, Any, None]]] = []
        for path, value in targets.items():
            found = self._actuators.get(path)
            if found is None:
                raise InvalidArgument(f"the media service does not actuate {path}", path=path)
            zone, name = found
            work.append(await self._check(target_of(zone, name, path, value), path))
        deadline = asyncio.get_running_loop().time() + ACCEPT_WAIT
        for step in work:
            task = self.service._spawn(step())
            left = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait({task}, timeout=max(0.0, left))
            if done:
                task.result()

    async def _check(self, target: Target, path: str) -> Callable[[], Coroutine[Any, Any, None]]:
        """Check *target* against the state; the work that carries it out."""
        zones = self.service._zones
        zone = zones[target.zone]
        if target.kind == "volume":
            volume = int(target.value)
            return lambda: _now(lambda: zones.set_volume(zone, volume))
        if target.kind == "select":
            uri = str(target.value)
            await self.service.resolver.item(uri)  # InvalidArgument, NotFound before accepting
            return lambda: self._play_selected(zone, uri)
        if target.kind == "source":
            key = next(
                (k for k in zone.history if k in zone.sessions and zone.source(k) == target.value),
                None,
            )
            if key is None:
                raise FailedPrecondition(
                    f"there is no {target.value} session in the {zone.name} zone to switch to",
                    path=path,
                )
            return lambda: self._switch(zone, key)
        session = zones.active(zone)
        if target.kind == "shuffle":
            return lambda: session.set_shuffle(bool(target.value))
        if target.kind == "repeat":
            return lambda: session.set_repeat(str(target.value))
        command = str(target.value)
        if command in ("play", "seek") and session.item is None:
            raise FailedPrecondition(f"the queue of {session.name} is empty", path=path)
        if command == "seek":
            assert session.item is not None and target.position is not None
            try:
                check_seek(session.item, target.position)
            except InvalidArgument as exc:
                raise InvalidArgument(exc.message, path=path) from None
        return lambda: self.service._command(zone, command, target.position)

    async def _play_selected(self, zone: Zone, uri: str) -> None:
        try:
            await self.service.play(zone.name, uri=uri)
        except CarmeshError:
            if zone.name == DRIVER:
                await self.service.signals.declined(uri)
            raise

    async def _switch(self, zone: Zone, key: str) -> None:
        session = zone.sessions[key]
        self.service._zones.take_focus(zone, session)
        if session.item is not None:
            await session.play()


async def _now(step: Callable[[], None]) -> None:
    step()
