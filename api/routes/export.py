"""Bulk export of one device's readings for researchers: streamed CSV or Parquet over a bounded range.

An export streams from a server-side cursor, so it keeps one connection for as long as the client reads. Those
connections come from their own budget of the pool (``KIPSENSE_API_EXPORT_CONCURRENCY``): an export past it is
refused with 503 at once rather than waiting, and no number of slow exports can take a connection that
ordinary requests need. The checks before the stream starts use a connection only for their query.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import LimitsDep, Researcher, run_db, site_scope
from api.export_formats import csv_chunks, parquet_chunks
from api.inputs import Instant, invalid
from store import devices as store_devices
from store import export as store_export
from store import readings as store_readings

router = APIRouter(prefix="/export", tags=["export"])

Pool = ConnectionPool[psycopg.Connection[dict[str, Any]]]


def _rows(pool: Pool, table: str, device_id: str, start: datetime, end: datetime, batch: int) -> Iterator[Any]:
    with pool.connection() as conn:
        yield from store_export.iter_rows(
            conn, table=table, device_id=device_id, start=start, end=end, batch_rows=batch
        )


class _Slot:
    """One taken export slot, given back exactly once: when the body ends, or when a body never started is dropped."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots: asyncio.Semaphore | None = slots

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


async def _released(body: Iterator[bytes], rows: Iterator[Any], slot: _Slot) -> AsyncIterator[bytes]:
    """The body, read on worker threads; the connection and the export slot are given back however it ends."""
    try:
        async for chunk in iterate_in_threadpool(body):
            yield chunk
    finally:
        # Closing the generators ends the cursor's transaction and returns its connection now, not at garbage
        # collection; shielded, because a client that went away cancels the response mid-stream.
        try:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_close, body, rows)
        finally:
            slot.release()


def _close(*generators: Iterator[Any]) -> None:
    for g in generators:
        close = getattr(g, "close", None)
        if close is not None:
            close()


@router.get(
    "/readings",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
        503: {"description": "as many exports are running as the API allows; retry later"},
    },
)
async def export_readings(
    request: Request,
    limits: LimitsDep,
    key: Researcher,
    device_id: Annotated[str, Query(min_length=1, max_length=63)],
    start: Instant,
    end: Instant,
    format: Literal["csv", "parquet"] = "csv",
) -> StreamingResponse:
    """Every stored reading of a device in [start, end) as CSV or Parquet, streamed; the range is bounded."""
    if start.tzinfo is None or end.tzinfo is None:
        raise invalid(("query", "start" if start.tzinfo is None else "end"), "start and end need a time zone")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    span_days = (end - start).total_seconds() / 86_400
    if span_days <= 0:
        raise invalid(("query", "end"), "start must be before end")
    if span_days > limits.export_max_days:
        raise invalid(("query", "end"), f"range longer than {limits.export_max_days} days")
    device = await run_db(request, lambda conn: store_devices.get(conn, device_id=device_id))
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    try:
        table = store_readings.table_for_kind(device.kind)
    except KeyError:
        raise HTTPException(422, f"{device.kind} devices have no export") from None
    slots: asyncio.Semaphore = request.app.state.export_slots
    if slots.locked():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{limits.export_concurrency} exports are running; retry later",
            headers={"Retry-After": "10"},
        )
    await slots.acquire()  # free (checked above, nothing awaited in between): returns at once
    columns = store_export.columns(table)
    rows = _rows(request.app.state.pool, table, device_id, start, end, limits.export_batch_rows)
    stem = f"{device_id}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}"
    if format == "csv":
        body, media = csv_chunks(columns, rows), "text/csv"
    else:
        body, media = parquet_chunks(columns, rows), "application/vnd.apache.parquet"
    slot = _Slot(slots)
    stream = _released(body, rows, slot)
    # a client gone before the first byte leaves the body never started (so its finally never runs)
    weakref.finalize(stream, slot.release)
    return StreamingResponse(
        stream,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"'},
    )
