"""Driver profiles: saved seat and mirror positions, which profile is in use, who drives.

Pure logic, no SDK. :class:`ProfileStore` keeps :data:`PROFILE_COUNT` profiles in one JSON
file (``profiles.json`` in the app's data directory), written atomically (a temporary file,
fsync, rename), so a crash leaves either the old or the new file. A damaged file is set aside
as ``profiles.json.damaged`` and the store starts empty rather than failing the app.

Each profile maps the signals of :data:`POSITIONS` to the value saved for them (seat
position in mm, mirror pan and tilt in %); a signal the car did not report when saving is
left out and is not moved on recall.

The store also follows the driver: when the car identifies its driver (one of
:data:`DRIVER_SIGNALS`: ``Vehicle.Occupant.Row1.DriverSide.Identifier.Subject`` in VSS 6.0,
``Vehicle.Driver.Identifier.Subject`` in VSS 4.0),
:meth:`ProfileStore.follow_driver` switches to the profile linked to that driver, or links
the driver to the profile in use. Choosing a profile while a driver is identified links that
driver to it.

The mirrors' ``Pan`` is deprecated in VSS 6.0 in favour of ``Yaw`` (with the opposite
direction); the simulated car serves ``Pan``, so that is what a profile holds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SEAT = "Vehicle.Cabin.Seat.Row1.DriverSide.Position"
MIRRORS = "Vehicle.Body.Mirrors"
#: The signals a profile saves and recalls, and their valid ranges (VSS datatypes).
POSITIONS: dict[str, tuple[int, int]] = {
    SEAT: (0, 65535),
    f"{MIRRORS}.DriverSide.Pan": (-100, 100),
    f"{MIRRORS}.DriverSide.Tilt": (-100, 100),
    f"{MIRRORS}.PassengerSide.Pan": (-100, 100),
    f"{MIRRORS}.PassengerSide.Tilt": (-100, 100),
}
SPEED = "Vehicle.Speed"
#: The driver's identifier: where VSS 6.0 has it, and where VSS 4.0 had it.
DRIVER = "Vehicle.Occupant.Row1.DriverSide.Identifier.Subject"
LEGACY_DRIVER = "Vehicle.Driver.Identifier.Subject"
DRIVER_SIGNALS = (DRIVER, LEGACY_DRIVER)

PROFILE_COUNT = 3
PROFILES = tuple(range(1, PROFILE_COUNT + 1))
FILE_NAME = "profiles.json"
#: Most drivers remembered (the least recently seen are forgotten first).
MAX_DRIVERS = 20
#: Longest driver identifier remembered (characters).
MAX_SUBJECT_LENGTH = 256


class ProfileStore:
    """The profiles in ``DIRECTORY/profiles.json`` (see the module's description)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self.current = 1
        self.profiles: dict[int, dict[str, int]] = {n: {} for n in PROFILES}
        #: Driver identifier → profile, least recently seen first.
        self.drivers: dict[str, int] = {}
        #: The driver identified now (None: nobody, or the car does not say).
        self.driver: str | None = None

    # -- file --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file; a missing one is an empty store, a damaged one is set aside."""
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, ValueError):
            self._set_aside()
            return
        if not isinstance(data, dict) or data.get("version") != 1:
            self._set_aside()
            return
        current = data.get("current")
        self.current = current if current in PROFILES else 1
        profiles = data.get("profiles")
        if isinstance(profiles, dict):
            for n in PROFILES:
                self.profiles[n] = valid_positions(profiles.get(str(n)))
        drivers = data.get("drivers")
        if isinstance(drivers, dict):
            self.drivers = {
                subject: n
                for subject, n in list(drivers.items())[-MAX_DRIVERS:]
                if isinstance(subject, str) and _usable_subject(subject) and n in PROFILES
            }

    def save(self) -> None:
        """Write the file atomically."""
        data = {
            "version": 1,
            "current": self.current,
            "profiles": {str(n): self.profiles[n] for n in PROFILES},
            "drivers": self.drivers,
        }
        write_atomically(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def _set_aside(self) -> None:
        with contextlib.suppress(OSError):
            os.replace(self.path, self.path.with_name(self.path.name + ".damaged"))

    # -- changes -----------------------------------------------------------------------------

    def select(self, profile: int) -> None:
        """Make *profile* the one in use (and the identified driver's)."""
        _check(profile)
        self.current = profile
        if self.driver is not None:
            self._link(self.driver, profile)

    def store(self, profile: int, values: Mapping[str, Any]) -> dict[str, int]:
        """Save the valid positions among *values* as *profile* (replacing what it held);
        returns what was saved (empty: nothing valid, and the profile is unchanged)."""
        _check(profile)
        saved = valid_positions(values)
        if saved:
            self.profiles[profile] = saved
        return saved

    def follow_driver(self, subject: Any) -> bool:
        """The car identified *subject* as the driver (None or ``""``: nobody). Switches to
        that driver's profile, or links the driver to the profile in use. True when the
        profile in use changed."""
        if not isinstance(subject, str) or not _usable_subject(subject):
            self.driver = None
            return False
        self.driver = subject
        linked = self.drivers.get(subject)
        if linked is None:
            self._link(subject, self.current)
            return False
        self._link(subject, linked)  # seen now: the most recent
        changed = linked != self.current
        self.current = linked
        return changed

    def _link(self, subject: str, profile: int) -> None:
        self.drivers.pop(subject, None)
        self.drivers[subject] = profile
        while len(self.drivers) > MAX_DRIVERS:
            del self.drivers[next(iter(self.drivers))]

    # -- reading -----------------------------------------------------------------------------

    def targets(self, profile: int) -> dict[str, int]:
        """The actuator targets that recall *profile* (empty when nothing is saved)."""
        _check(profile)
        return dict(self.profiles[profile])

    def drivers_of(self, profile: int) -> list[str]:
        """The identifiers of the drivers linked to *profile*."""
        return [subject for subject, n in self.drivers.items() if n == profile]


def valid_positions(values: Any) -> dict[str, int]:
    """The entries of *values* that are positions of :data:`POSITIONS` within their range,
    as whole numbers (``{}`` for anything that is not a mapping)."""
    if not isinstance(values, Mapping):
        return {}
    out: dict[str, int] = {}
    for path, (low, high) in POSITIONS.items():
        value = values.get(path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value) or not low <= value <= high:
            continue
        out[path] = round(value)
    return out


def may_move(driving: Mapping[str, Any] | None, speed: Any) -> bool:
    """Whether seats and mirrors may move: the car's driving state (``{"moving": …}``) says
    it is not moving and the speed is not above zero. When neither is known, no."""
    if driving is not None and driving.get("moving") is not False:
        return False
    known_speed = isinstance(speed, int | float) and not isinstance(speed, bool)
    if known_speed and speed > 0:
        return False
    return driving is not None or known_speed


def _usable_subject(subject: str) -> bool:
    return len(subject.strip()) > 0 and len(subject) <= MAX_SUBJECT_LENGTH


def _check(profile: int) -> None:
    if profile not in PROFILES:
        raise ValueError(f"there is no profile {profile}; choose 1 to {PROFILE_COUNT}")


def write_atomically(path: Path, text: str) -> None:
    """Replace *path* with *text* through a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- what the list shows -----------------------------------------------------------------------


def describe(positions: Mapping[str, int]) -> dict[str, str]:
    """A profile's saved positions in a few words (short enough to show while driving),
    both languages: ``"Seat 350 mm · L -5/+10 · R +5/+10"`` (mirror pan/tilt in %)."""
    if not positions:
        return {"en": "Nothing saved yet", "zh-CN": "尚未保存"}
    en: list[str] = []
    zh: list[str] = []
    if SEAT in positions:
        en.append(f"Seat {positions[SEAT]} mm")
        zh.append(f"座椅 {positions[SEAT]} mm")
    for side, en_side, zh_side in (("DriverSide", "L", "左镜"), ("PassengerSide", "R", "右镜")):
        pan = positions.get(f"{MIRRORS}.{side}.Pan")
        tilt = positions.get(f"{MIRRORS}.{side}.Tilt")
        if pan is not None or tilt is not None:
            shown = f"{_signed(pan)}/{_signed(tilt)}"
            en.append(f"{en_side} {shown}")
            zh.append(f"{zh_side} {shown}")
    return {"en": " · ".join(en), "zh-CN": " · ".join(zh)}


def _signed(value: int | None) -> str:
    return "?" if value is None else f"{value:+d}"


PROFILE_ITEM = "profile-"
USE_ACTION = "use-"


def profile_entries(store: ProfileStore) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """The profile list: (item id, title, text) per profile, both languages."""
    entries = []
    for n in PROFILES:
        title = {"en": f"Profile {n}", "zh-CN": f"档案 {n}"}
        if n == store.current:
            title = {"en": f"Profile {n} (in use)", "zh-CN": f"档案 {n}（使用中）"}
        entries.append((f"{PROFILE_ITEM}{n}", title, describe(store.profiles[n])))
    return entries


def profile_actions(store: ProfileStore) -> list[tuple[str, dict[str, str]]]:
    """The list's actions: (id, label): save to the profile in use, then use each other one."""
    actions = [("save", {"en": f"Save to {store.current}", "zh-CN": f"保存到 {store.current}"})]
    for n in PROFILES:
        if n != store.current:
            actions.append((f"{USE_ACTION}{n}", {"en": f"Use {n}", "zh-CN": f"使用 {n}"}))
    return actions


def profile_of(ident: str | None, prefix: str) -> int | None:
    """The profile an item (``profile-2``) or action (``use-2``) id names, else None."""
    if ident is None or not ident.startswith(prefix):
        return None
    number = ident.removeprefix(prefix)
    return int(number) if number.isdigit() and int(number) in PROFILES else None
