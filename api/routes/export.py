"""Bulk export of one device's readings for researchers: streamed CSV or Parquet over a bounded range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from psycopg_pool import ConnectionPool

from api.deps import ConnDep, LimitsDep, PoolDep, Researcher, site_scope
from api.export_formats import csv_chunks, parquet_chunks
from store import devices as store_devices
from store import export as store_export
from store import readings as store_readings

router = APIRouter(prefix="/export", tags=["export"])

Pool = ConnectionPool[psycopg.Connection[dict[str, Any]]]


def _rows(pool: Pool, table: str, device_id: str, start: datetime, end: datetime, batch: int) -> Iterator[Any]:
    # The request's pooled connection is released before the body streams, so the stream takes its own.
    with pool.connection() as conn:
        yield from store_export.iter_rows(
            conn, table=table, device_id=device_id, start=start, end=end, batch_rows=batch
        )


@router.get(
    "/readings",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def export_readings(
    conn: ConnDep,
    pool: PoolDep,
    limits: LimitsDep,
    key: Researcher,
    device_id: Annotated[str, Query(min_length=1, max_length=63)],
    start: datetime,
    end: datetime,
    format: Literal["csv", "parquet"] = "csv",
) -> StreamingResponse:
    """Every stored reading of a device in [start, end) as CSV or Parquet, streamed; the range is bounded."""
    device = store_devices.get(conn, device_id=device_id)
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "start and end need a time zone")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    span_days = (end - start).total_seconds() / 86_400
    if span_days <= 0:
        raise HTTPException(422, "start must be before end")
    if span_days > limits.export_max_days:
        raise HTTPException(422, f"range longer than {limits.export_max_days} days")
    try:
        table = store_readings.table_for_kind(device.kind)
    except KeyError:
        raise HTTPException(422, f"{device.kind} devices have no export") from None
    columns = store_export.columns(table)
    batches = _rows(pool, table, device_id, start, end, limits.export_batch_rows)
    stem = f"{device_id}_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}"
    if format == "csv":
        body, media = csv_chunks(columns, batches), "text/csv"
    else:
        body, media = parquet_chunks(columns, batches), "application/vnd.apache.parquet"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"'}
    )
