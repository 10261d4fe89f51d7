"""A local, fsync'd spool that holds decoded messages while the database is down for long.

Why: the broker keeps what a worker has not acknowledged, but only up to its queue limits (memory, and
``max_queued_messages`` per session). A database outage longer than that would make the broker drop
telemetry. After ``spool_after_s`` of outage the worker therefore writes each batch here, fsyncs it, and only
then acknowledges it, so the broker's queue drains to disk instead of overflowing. When the database is back
the spool is replayed, oldest first, through the same idempotent write as live traffic, and each file is
deleted only after its rows committed. A crash between that commit and the delete replays the file again,
which the unique keys make harmless.

Layout: one file per batch, ``<ns>-<n>.spool``, written to a temporary name, fsync'd, renamed, and the
directory fsync'd, so a file either exists whole or not at all (a crash mid-write leaves only a ``.tmp``,
whose messages were never acknowledged). Each line is one message: its topic, raw payload, receive time and
its decode outcome (records or quarantine reason), so replay never decodes again: the Sparkplug state has
already seen these messages.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import astuple, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from kipsense.records import CyclerSample, DeviceEvent, DustReading, MetReading, ProcessValue, Record
from store.quarantine import QuarantineItem

_TYPES: Final[dict[str, type[Record]]] = {
    cls.__name__: cls for cls in (DustReading, MetReading, CyclerSample, ProcessValue, DeviceEvent)
}
_TIME_INDEX: Final = {name: [f.name for f in fields(cls)].index("time") for name, cls in _TYPES.items()}
_SUFFIX: Final = ".spool"


class SpoolError(RuntimeError):
    """The spool directory cannot be written (disk full, permissions)."""


def _encode_record(rec: Record) -> list[Any]:
    values = list(astuple(rec))
    name = type(rec).__name__
    idx = _TIME_INDEX[name]
    values[idx] = values[idx].isoformat()
    return [name, values]


def _decode_record(item: list[Any]) -> Record:
    name, values = item
    values[_TIME_INDEX[name]] = datetime.fromisoformat(values[_TIME_INDEX[name]])
    return _TYPES[name](*values)


def encode_line(
    topic: str, payload: bytes, received_at: datetime, records: Sequence[Record], quarantined: QuarantineItem | None
) -> str:
    """One spooled message as a JSON line."""
    doc: dict[str, Any] = {
        "t": topic,
        "p": base64.b64encode(payload).decode(),
        "at": received_at.isoformat(),
        "rec": [_encode_record(r) for r in records],
    }
    if quarantined is not None:
        doc["q"] = [quarantined.device_id, quarantined.reason, quarantined.detail, quarantined.suppressed]
    return json.dumps(doc, separators=(",", ":"))


def decode_line(line: str) -> tuple[str, bytes, datetime, list[Record], QuarantineItem | None]:
    """Inverse of ``encode_line``."""
    doc = json.loads(line)
    topic, payload, at = doc["t"], base64.b64decode(doc["p"]), datetime.fromisoformat(doc["at"])
    quarantined = None
    if "q" in doc:
        device_id, reason, detail, *rest = doc["q"]  # files of earlier versions have no ``suppressed``
        quarantined = QuarantineItem(topic, device_id, reason, detail, payload, at, bool(rest and rest[0]))
    return topic, payload, at, [_decode_record(r) for r in doc["rec"]], quarantined


class Spool:
    """Batch files in one directory (one directory per worker: its fixed client id)."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._counter = 0
        self._bytes: int | None = None

    def _ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def files(self) -> list[Path]:
        """Spooled batch files, oldest first."""
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))

    def size_bytes(self) -> int:
        if self._bytes is None:
            self._bytes = sum(p.stat().st_size for p in self.files())
        return self._bytes

    def has_room(self) -> bool:
        return self.size_bytes() < self.max_bytes

    def append(self, lines: Sequence[str]) -> Path:
        """Write one batch durably; when this returns, the messages may be acknowledged."""
        self._ensure()
        current = self.size_bytes()
        self._counter += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}{_SUFFIX}"
        final = self.directory / name
        tmp = final.with_suffix(".tmp")
        data = ("\n".join(lines) + "\n").encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SpoolError(f"cannot spool to {self.directory}: {exc}") from exc
        self._bytes = current + len(data)
        return final

    def read(self, path: Path) -> Iterator[tuple[str, bytes, datetime, list[Record], QuarantineItem | None]]:
        """The messages of one batch file, in arrival order."""
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield decode_line(line)

    def remove(self, path: Path) -> None:
        """Forget a batch whose rows are committed."""
        current = self.size_bytes()
        size = path.stat().st_size if path.exists() else 0
        path.unlink(missing_ok=True)
        self._bytes = max(current - size, 0)

    def discard_partial(self) -> int:
        """Delete ``.tmp`` files left by a crash mid-write (never acknowledged, so the broker still has them)."""
        if not self.directory.exists():
            return 0
        partial = list(self.directory.glob("*.tmp"))
        for path in partial:
            path.unlink(missing_ok=True)
        return len(partial)
