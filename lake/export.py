"""Incremental export of the database into the lake, and its rebuild from scratch.

Each run exports, per table, the rows whose ``received_at`` lies after the table's watermark and up to
``until = newest received_at - lag_s``. ``received_at`` is stamped when a transaction starts, so a transaction
still open during the export may later commit rows stamped before rows already visible; the lag leaves room
for it (ingest batches commit within seconds; the default lag is a minute). The window is
recorded as pending before any file is written and becomes the watermark only after all its files are
written, so a run cut off halfway is redone with the same file names on the next run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa  # type: ignore[import-untyped]

from lake.layout import KINDS, Lake
from store import lake as store_lake
from store.db import Conn


@dataclass(frozen=True, slots=True)
class ExportResult:
    table: str
    rows: int
    after: datetime | None
    until: datetime | None


def _token(table: str, after: str | None, until: str) -> str:
    return hashlib.sha256(f"{table}|{after}|{until}".encode()).hexdigest()[:16]


def export(conn: Conn, lake: Lake, *, tables: tuple[str, ...] = KINDS, lag_s: float = 60.0) -> list[ExportResult]:
    """Bring the lake up to date with the database; returns what each table exported."""
    state = lake.state()
    results = []
    for table in tables:
        pending = state.get("pending", {}).get(table)
        if pending is not None:
            after_s, until_s = pending["after"], pending["until"]
        else:
            high = store_lake.high_water(conn, table=table)
            after_s = state.get("watermarks", {}).get(table)
            if high is None:
                results.append(ExportResult(table, 0, None, None))
                continue
            until = high - timedelta(seconds=lag_s)
            if after_s is not None and until <= datetime.fromisoformat(after_s):
                results.append(ExportResult(table, 0, datetime.fromisoformat(after_s), None))
                continue
            until_s = until.isoformat()
            state.setdefault("pending", {})[table] = {"after": after_s, "until": until_s}
            lake.save_state(state)
        after = datetime.fromisoformat(after_s) if after_s else None
        until = datetime.fromisoformat(until_s)
        token = _token(table, after_s, until_s)
        rows = 0
        for n, batch in enumerate(store_lake.arrived(conn, table=table, after=after, until=until)):
            rows += lake.write(table, pa.Table.from_batches([batch]), token=f"{token}-{n:05d}")
        state.setdefault("watermarks", {})[table] = until_s
        state["pending"].pop(table, None)
        lake.save_state(state)
        results.append(ExportResult(table, rows, after, until))
    lake.write_registry(store_lake.cell_tests(conn))
    return results


def rebuild(conn: Conn, lake: Lake, *, lag_s: float = 60.0) -> list[ExportResult]:
    """Delete the lake's derived files and export everything again."""
    lake.clear()
    return export(conn, lake, lag_s=lag_s)
