"""The CAN vehicle provider: a real car's bus (or a recording of one) as broker signals.

:class:`CanVehicle` claims the VSS signals its mapping feeds from the bus (``dbc2vss``) and
the actuators whose targets it sends to the bus (``vss2dbc``), then decodes frames into
values and publishes them until cancelled. It talks to the broker only through a
:class:`~carmesh.vehicle.provider.ProviderLink`, so it runs in-process or as a separate
process over the provider stream alike.

Nothing the bus sends can stop it: frames and values that cannot be used are counted in
:attr:`CanVehicle.counters` and logged at a limited rate (see
:mod:`carmesh.vehicle.can.counters`). A recording that ends leaves the last values in the
broker and the provider idle until cancelled. Values are stamped with the time they reach
the broker (frame timestamps of a recording belong to the recording; they drive only the
``interval_ms`` filters).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import can

from carmesh.errors import CarmeshError, InvalidValue, Unavailable
from carmesh.vehicle.can.counters import CanCounters, ProblemLog
from carmesh.vehicle.can.decoder import Batch, FrameDecoder
from carmesh.vehicle.can.encoder import FrameEncoder
from carmesh.vehicle.can.mapping import CanMapping
from carmesh.vehicle.can.source import FrameSource
from carmesh.vehicle.provider import Connector, ProviderLink, VehicleProvider

__all__ = ["CanVehicle"]

log = logging.getLogger("carmesh.vehicle.can")


class CanVehicle(VehicleProvider):
    """Feeds the broker from *source* per *mapping*, and sends actuator targets to it.

    *log_interval*: least seconds between two log lines about the same kind of problem.
    """

    name: ClassVar[str] = "can"

    def __init__(
        self,
        mapping: CanMapping,
        source: FrameSource,
        *,
        log_interval: float = 10.0,
    ) -> None:
        self.mapping = mapping
        self.source = source
        self.counters = CanCounters()
        self.problems = ProblemLog(log_interval, log)
        self.decoder = FrameDecoder(mapping, self.counters, self.problems)
        self.encoder = FrameEncoder(mapping)
        #: Set when a recording has been replayed to its end (never for a live bus).
        self.finished = asyncio.Event()
        #: Set once the signals are claimed and frames are being read.
        self.ready = asyncio.Event()
        self._link: ProviderLink | None = None
        self._send_lock = asyncio.Lock()

    @property
    def description(self) -> str:
        values = len(self.mapping.value_paths)
        targets = len(self.mapping.actuation_paths) if self.source.can_send else 0
        return (
            f"CAN: {self.source.description}, {self.mapping.database.name}: "
            f"{values} signals from the bus, {targets} actuators to it"
        )

    # -- running --------------------------------------------------------------------------

    async def run(self, connector: Connector) -> None:
        sends = self.source.can_send and bool(self.mapping.actuation_paths)
        link = await connector.connect(self.name, self if sends else None)
        self._link = link
        try:
            await self._claim(link, sends)
            await self.source.open(self.counters, self.problems)
            try:
                self.ready.set()
                async for frames in self.source.batches():
                    await self.feed(frames)
                    await asyncio.sleep(0)
                log.info("%s ended: %s", self.source.description, self.counters.as_dict())
                self.finished.set()
                await asyncio.Event().wait()
            finally:
                await self.source.close()
        finally:
            self._link = None
            await link.close()

    async def _claim(self, link: ProviderLink, sends: bool) -> None:
        values = self.mapping.value_paths
        actuators = self.mapping.actuation_paths if sends else []
        if self.mapping.actuation_paths and not sends:
            log.info(
                "%s cannot send frames: actuators of %s are not served",
                self.source.description,
                self.mapping.name,
            )
        both = [p for p in values if p in set(actuators)]
        if both:
            await link.claim(both)
        only_values = [p for p in values if p not in set(both)]
        if only_values:
            await link.claim_values(only_values)
        only_actuation = [p for p in actuators if p not in set(both)]
        if only_actuation:
            await link.claim_actuation(only_actuation)

    async def feed(self, frames: Sequence[can.Message]) -> None:
        """Decode *frames* and publish their values (what :meth:`run` does with each run)."""
        link = self._link
        if link is None:
            raise Unavailable("the CAN provider is not connected")
        for batch in self.decoder.decode(frames):
            await self._publish(link, batch)

    async def _publish(self, link: ProviderLink, batch: Batch) -> None:
        try:
            await link.publish(batch)
        except InvalidValue as exc:
            # The broker's catalog disagrees with ours (e.g. a remote broker): publish the
            # values one by one and drop only those it refuses.
            log.debug("batch refused (%s); publishing value by value", exc)
            for path, value in batch.items():
                try:
                    await link.publish({path: value})
                except InvalidValue as single:
                    self.counters.values_out_of_range += 1
                    self.problems.report("out-of-range " + path, "%s dropped: %s", path, single)
                else:
                    self.counters.values_published += 1
            return
        self.counters.values_published += len(batch)

    # -- actuation ------------------------------------------------------------------------

    async def actuate(self, targets: Mapping[str, Any]) -> None:
        """Send the frames that carry *targets*; refuse (nothing sent) if one cannot be
        encoded, or with ``Unavailable`` if the bus does not take a frame."""
        async with self._send_lock:  # frames of one message are built on the last one sent
            outgoing = self.encoder.encode(targets)
            sent = []
            try:
                for item in outgoing:
                    await self.source.send(item.frame)
                    sent.append(item)
                    self.counters.frames_sent += 1
            except CarmeshError:
                self.counters.send_failures += 1
                raise
            finally:
                self.encoder.commit(sent)
