"""Which devices exist, as the ingest writer sees them: a cached ``device_id -> (kind, status)`` table.

The whole table is reloaded every ``max_age_s``. A device missing from it is looked up on its own, so a
device provisioned a moment ago is never refused; the answer "unknown" is remembered for one second so that
a flood from an unregistered id costs one query per second, not one per message.

While the database is unreachable (``conn`` is ``None``) the last table is used as it is: devices cannot be
provisioned during an outage, so a device missing from it is unknown.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from store import devices as store_devices

_NEGATIVE_TTL_S = 1.0


class DeviceDirectory:
    """Cached device kinds and statuses with a bounded cost for unknown ids."""

    def __init__(self, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._table: dict[str, tuple[str, str]] = {}
        self._loaded = float("-inf")
        self._unknown: dict[str, float] = {}

    @property
    def loaded(self) -> bool:
        """True once the table was read from the database at least once."""
        return self._loaded > float("-inf")

    def refresh(self, conn: psycopg.Connection[Any]) -> None:
        """Reload the whole table now (on every database connect, so an outage starts with a warm cache)."""
        self._table = store_devices.kinds(conn)
        self._loaded = time.monotonic()
        self._unknown.clear()

    def lookup(self, conn: psycopg.Connection[Any] | None, device_id: str) -> tuple[str, str] | None:
        """(kind, status) of ``device_id`` or None; raises ``psycopg.OperationalError`` only on a cold cache."""
        now = time.monotonic()
        if conn is None:
            if not self.loaded:
                raise psycopg.OperationalError("no device table yet and the database is unreachable")
            return self._table.get(device_id)
        if now - self._loaded > self._max_age_s:
            self.refresh(conn)
        entry = self._table.get(device_id)
        if entry is not None:
            return entry
        if now - self._unknown.get(device_id, float("-inf")) < _NEGATIVE_TTL_S:
            return None
        device = store_devices.get(conn, device_id=device_id)
        if device is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[device_id] = now
            return None
        entry = (str(device.kind), str(device.status))
        self._table[device_id] = entry
        return entry
