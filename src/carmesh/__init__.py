"""carmesh: an open in-vehicle software platform built around a COVESA VSS signal broker."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("carmesh")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
