"""Starts the seat adjuster: ``python -m app.main`` from the package root.

``VehicleApp.run()`` connects to the MQTT broker at ``SDV_MQTT_ADDRESS`` and the data broker
at ``SDV_VEHICLEDATABROKER_ADDRESS``, then runs until the process is stopped (SIGTERM).
"""

import asyncio
import logging
import os

from app.seat_adjuster import SeatAdjuster
from app.vehicle import Vehicle


async def main() -> None:
    await SeatAdjuster(Vehicle()).run()
    # run() returns only when on_start() failed; it has logged why. A non-zero status lets
    # the car restart the app.
    raise SystemExit(1)


if __name__ == "__main__":
    logging.basicConfig(
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(main())
