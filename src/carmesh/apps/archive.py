"""Safe zip archives for app packages: limits, member-name rules, deterministic writing and
defensive reading.

Reading never trusts the zip's own bookkeeping: the central directory's size and entry count
are checked before :mod:`zipfile` parses it, declared sizes are checked before anything is
decompressed, and the bytes actually produced are counted while reading, so a zip bomb costs
at most :data:`MAX_MEMBER` bytes of memory per member and :data:`MAX_TOTAL` in all. Every
refusal is one :class:`~carmesh.errors.PackageRejected` sentence.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from carmesh.errors import PackageRejected

MAX_MEMBERS = 2000


MAX_TOTAL = 64 * 1024 * 1024


MAX_MEMBER = 16 * 1024 * 1024


MAX_RATIO = 200


#: Members up to this size are exempt from the ratio check: they cannot be bombs.
RATIO_EXEMPT = 64 * 1024


#: The zip file itself (members may be stored uncompressed, plus zip overhead).
MAX_ARCHIVE = MAX_TOTAL + 8 * 1024 * 1024


MAX_NAME_BYTES = 1024


#: Room for MAX_MEMBERS central directory entries: fixed part, name, extra fields.
MAX_CENTRAL_DIRECTORY = MAX_MEMBERS * (46 + MAX_NAME_BYTES + 512)


_ZIP_MAGIC = b"PK\x03\x04"


_END_OF_DIRECTORY = b"PK\x05\x06"


_ZIP64_LOCATOR = b"PK\x06\x07"


_ZIP64_END_OF_DIRECTORY = b"PK\x06\x06"


_UTF8_NAMES = 0x800


_ENCRYPTED = 0x1


_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


_CHUNK = 64 * 1024


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


#: What a damaged zip can make :mod:`zipfile` raise.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
)


def shown_name(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:77] + "…")


def name_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


def check_member_name(name: str) -> None:
    """Refuse a member name that is not a plain relative POSIX path (:class:`PackageRejected`)."""
    parts = name.split("/")
    if (
        not name
        or len(name_bytes(name)) > MAX_NAME_BYTES
        or "\\" in name
        or _CONTROL.search(name)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise PackageRejected(
            f"the package holds an unsafe member name {shown_name(name)} (members need relative "
            "POSIX paths without '..', backslashes or control characters)"
        )


def zip_members(members: Mapping[str, bytes]) -> bytes:
    """A deterministic zip of *members* as given (no signature is added or checked).

    Fixed timestamps, sorted names, mode 0644; each member deflated unless that would exceed
    :data:`MAX_RATIO`, then stored.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members, key=name_bytes):
            content = members[name]
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = len(compressor.compress(content) + compressor.flush())
            if len(content) > MAX_RATIO * max(packed, 1):
                info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, content, compresslevel=9)
    return buffer.getvalue()


def check_sizes(members: Mapping[str, bytes]) -> None:
    if len(members) + 1 > MAX_MEMBERS:  # the signature is a member too
        raise PackageRejected(f"the package holds more than {MAX_MEMBERS} members")
    total = 0
    for name, data in members.items():
        if len(data) > MAX_MEMBER:
            raise PackageRejected(
                f"the member {shown_name(name)} is larger than {MAX_MEMBER // 2**20} MiB"
            )
        total += len(data)
    if total > MAX_TOTAL:
        raise PackageRejected(f"the package's members exceed {MAX_TOTAL // 2**20} MiB in total")


def load_archive(data: bytes | Path) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        if data.stat().st_size > MAX_ARCHIVE:
            raise PackageRejected(f"the package is larger than {MAX_ARCHIVE // 2**20} MiB")
        return data.read_bytes()
    except OSError as exc:
        raise PackageRejected(f"the package {data} cannot be read: {exc.strerror}") from None


def unzip(data: bytes) -> dict[str, bytes]:
    """Every member of a safe zip within the limits, the signature included."""
    if len(data) > MAX_ARCHIVE:
        raise PackageRejected(f"the package is larger than {MAX_ARCHIVE // 2**20} MiB")
    if not data.startswith(_ZIP_MAGIC):
        raise PackageRejected("the package is not a zip file")
    _check_central_directory(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_listing(infos)
            return {info.filename: _read_member(archive, info) for info in infos}
    except _ZIP_ERRORS as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise PackageRejected(f"the package is not a valid zip file ({reason})") from None


def _check_central_directory(data: bytes) -> None:
    """Refuse a central directory too large for :data:`MAX_MEMBERS` members before
    :mod:`zipfile` turns every entry of it into an object (it reads the end records as here)."""
    end = data.rfind(_END_OF_DIRECTORY, max(0, len(data) - 22 - 65535))
    if end < 0 or len(data) < end + 22:
        raise PackageRejected("the package is not a valid zip file (it has no central directory)")
    entries = int.from_bytes(data[end + 10 : end + 12], "little")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    locator = end - 20
    if locator >= 56 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = data[locator - 56 : locator]
        if record[:4] == _ZIP64_END_OF_DIRECTORY:
            entries = int.from_bytes(record[32:40], "little")
            size = int.from_bytes(record[40:48], "little")
    if entries > MAX_MEMBERS:
        raise PackageRejected(f"the package holds more than {MAX_MEMBERS} members")
    if size > MAX_CENTRAL_DIRECTORY:
        raise PackageRejected("the package's central directory is too large for its members")


def _check_listing(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse unsafe or oversized members from the central directory, before decompressing."""
    if len(infos) > MAX_MEMBERS:
        raise PackageRejected(f"the package holds more than {MAX_MEMBERS} members")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if info.orig_filename != name:
            raise PackageRejected(f"the package holds an unsafe member name {shown_name(name)}")
        if not name.isascii() and not info.flag_bits & _UTF8_NAMES:
            raise PackageRejected(f"the member name {shown_name(name)} is not marked as UTF-8")
        if name.endswith("/"):
            raise PackageRejected(
                f"the package holds a directory entry {shown_name(name)}; members are files"
            )
        check_member_name(name)
        if name in seen:
            raise PackageRejected(f"the package holds two members named {shown_name(name)}")
        seen.add(name)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise PackageRejected(f"the member {shown_name(name)} is a symbolic link")
        if kind not in (0, stat.S_IFREG) or info.external_attr & 0x10:
            raise PackageRejected(f"the member {shown_name(name)} is not a regular file")
        if info.flag_bits & _ENCRYPTED:
            raise PackageRejected(f"the member {shown_name(name)} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PackageRejected(
                f"the member {shown_name(name)} uses a compression other than stored or deflate"
            )
        if info.file_size > MAX_MEMBER:
            raise PackageRejected(
                f"the member {shown_name(name)} is larger than {MAX_MEMBER // 2**20} MiB"
            )
        total += info.file_size
        if total > MAX_TOTAL:
            raise PackageRejected(f"the package's members exceed {MAX_TOTAL // 2**20} MiB in total")
        if info.file_size > RATIO_EXEMPT and info.file_size > MAX_RATIO * info.compress_size:
            raise PackageRejected(
                f"the member {shown_name(name)} is compressed more than {MAX_RATIO}:1 (a zip bomb?)"
            )
    directories = {name.rsplit("/", 1)[0] for name in seen if "/" in name}
    parents = {
        "/".join(d.split("/")[: i + 1]) for d in directories for i in range(d.count("/") + 1)
    }
    clash = sorted(seen & parents)
    if clash:
        raise PackageRejected(f"the member {shown_name(clash[0])} is both a file and a directory")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, refusing more (or fewer) than its declared size."""
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > info.file_size:
                raise PackageRejected(
                    f"the member {shown_name(info.filename)} is larger than its declared size"
                )
            chunks.append(chunk)
    if size != info.file_size:
        raise PackageRejected(
            f"the member {shown_name(info.filename)} is shorter than its declared size"
        )
    return b"".join(chunks)
