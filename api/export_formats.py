"""Encoders turning batches of reading rows into streamed CSV or Parquet bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

_ARROW_TYPES = {
    "device_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "tag": pa.string(),
    "step_type": pa.string(),
    "cycle_index": pa.int32(),
    "step_index": pa.int32(),
    "quality": pa.int32(),
    "seq": pa.int64(),
    "time_estimated": pa.bool_(),
}


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def csv_chunks(columns: tuple[str, ...], batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """A header line, then one chunk of CSV per batch of rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    yield buf.getvalue().encode()
    for batch in batches:
        buf.seek(0)
        buf.truncate()
        writer.writerows([_cell(v) for v in row] for row in batch)
        yield buf.getvalue().encode()


class _Sink(io.RawIOBase):
    """A write-only file collecting what the Parquet writer produces, drained after every row group."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def arrow_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(c, _ARROW_TYPES.get(c, pa.float64())) for c in columns])


def parquet_chunks(columns: tuple[str, ...], batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    """A Parquet file written one row group per batch, each yielded as soon as it is encoded."""
    schema = arrow_schema(columns)
    sink = _Sink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            cols = list(zip(*batch, strict=True)) if batch else [() for _ in columns]
            table = pa.table({c: pa.array(v, type=schema.field(c).type) for c, v in zip(columns, cols, strict=True)})
            writer.write_table(table)
            yield sink.drain()
    yield sink.drain()
