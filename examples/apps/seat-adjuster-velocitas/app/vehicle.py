"""The vehicle model of this app: the two VSS 6.0 signals it uses, declared by hand.

Velocitas projects usually generate this tree from a VSS release (the ``vehicle`` package of
the Velocitas vehicle-model generator). Two signals do not need a generator: the classes
below are velocitas-sdk ``Model`` branches and typed ``DataPoint`` leaves, and the SDK builds
each signal's path from the class and leaf names, so those must be the VSS names.
"""

from velocitas_sdk.model import DataPointFloat, DataPointUint16, Model


class DriverSide(Model):
    def __init__(self, parent: Model) -> None:
        super().__init__(parent)
        #: Seat position on the fore/aft axis, mm (uint16 actuator).
        self.Position = DataPointUint16("Position", self)


class Row1(Model):
    def __init__(self, parent: Model) -> None:
        super().__init__(parent)
        self.DriverSide = DriverSide(self)


class Seat(Model):
    def __init__(self, parent: Model) -> None:
        super().__init__(parent)
        self.Row1 = Row1(self)


class Cabin(Model):
    def __init__(self, parent: Model) -> None:
        super().__init__(parent)
        self.Seat = Seat(self)


class Vehicle(Model):
    """The root: ``Vehicle.Speed`` (km/h, float sensor) and the driver's seat."""

    def __init__(self) -> None:
        super().__init__()
        self.Speed = DataPointFloat("Speed", self)
        self.Cabin = Cabin(self)
