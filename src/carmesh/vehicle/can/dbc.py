"""The CAN databases (DBC, or any format cantools reads) a mapping refers to.

Several files may be given (one per bus or per supplier); their messages are merged into one
index by frame identifier, and their signals by name, so a mapping can name a signal without
saying which message carries it (as KUKSA mappings do). Two messages with the same identifier
are refused; a signal name used by several messages must be disambiguated in the mapping with
``message:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cantools
from cantools.database.can import Database, Message, Signal

from carmesh.errors import ConfigError

__all__ = ["EXTENDED", "CanDatabase", "frame_key"]

#: Added to an extended (29-bit) identifier in a frame key, so 0x123 and 0x123x differ.
EXTENDED = 1 << 31


def frame_key(arbitration_id: int, is_extended: bool) -> int:
    """The index key of a frame: its identifier, plus :data:`EXTENDED` for 29-bit ones."""
    return arbitration_id | EXTENDED if is_extended else arbitration_id


class CanDatabase:
    """Messages of one or more CAN database files, indexed by frame key and signal name."""

    def __init__(self, messages: Iterable[Message], *, name: str = "CAN database") -> None:
        self.name = name
        self.messages: dict[int, Message] = {}
        self.by_name: dict[str, Message] = {}
        self._signals: dict[str, list[tuple[Message, Signal]]] = {}
        for message in messages:
            key = frame_key(message.frame_id, message.is_extended_frame)
            other = self.messages.get(key)
            if other is not None:
                raise ConfigError(
                    f"{name}: messages {other.name} and {message.name} have the same frame "
                    f"identifier {_show_id(message)}"
                )
            self.messages[key] = message
            self.by_name.setdefault(message.name, message)
            for signal in message.signals:
                self._signals.setdefault(signal.name, []).append((message, signal))

    @classmethod
    def load(cls, files: str | Path | Sequence[str | Path]) -> CanDatabase:
        """Read every file (``.dbc``, ``.kcd``, ``.sym``, ``.arxml``); errors name the file."""
        if isinstance(files, str | Path):
            files = [files]
        if not files:
            raise ConfigError("no CAN database file was given (a .dbc file is needed)")
        messages: list[Message] = []
        for file in files:
            path = Path(file)
            try:
                db = cantools.database.load_file(path, strict=True)
            except FileNotFoundError:
                raise ConfigError(f"CAN database {path} does not exist") from None
            except OSError as exc:
                raise ConfigError(f"cannot read CAN database {path}: {exc.strerror}") from None
            except Exception as exc:
                raise ConfigError(f"{path} is not a usable CAN database: {exc}") from None
            if not isinstance(db, Database):
                raise ConfigError(f"{path} is a diagnostics database, not a CAN one")
            messages.extend(db.messages)
        return cls(messages, name=", ".join(Path(f).name for f in files))

    def find_signal(self, signal: str, message: str | None = None) -> tuple[Message, Signal]:
        """The message and signal a mapping names; ``LookupError`` says why not."""
        if message is not None:
            msg = self.by_name.get(message)
            if msg is None:
                raise LookupError(f"no message {message!r} in {self.name}")
            for candidate in msg.signals:
                if candidate.name == signal:
                    return msg, candidate
            raise LookupError(f"message {message} has no signal {signal!r}")
        found = self._signals.get(signal)
        if not found:
            raise LookupError(f"no signal {signal!r} in {self.name}")
        if len(found) > 1:
            names = ", ".join(m.name for m, _ in found)
            raise LookupError(
                f"signal {signal!r} is in several messages ({names}); add 'message:' to say which"
            )
        return found[0]


def _show_id(message: Message) -> str:
    return f"0x{message.frame_id:X}" + ("x" if message.is_extended_frame else "")
