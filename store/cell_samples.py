"""Samples of imported cycler files into ``cycler_samples``: one binary COPY, built column-wise with numpy.

The rows are the same rows live channels write, so every reader of cycler data sees imported tests too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from kipsense.records import CYCLER_SAMPLE_FIELDS
from store.cells import RegistryError

Conn = psycopg.Connection[Any]

#: Columns an import writes to ``cycler_samples``, in COPY order (``time`` as Unix microseconds).
SAMPLE_COLUMNS: Final = ("time", *CYCLER_SAMPLE_FIELDS)


def _binary_rows(device_id: str, columns: dict[str, Any], time_estimated: bool) -> bytes:
    """The rows as PostgreSQL binary COPY rows (no signature or trailer), built column-wise with numpy.

    Every field is a 4-byte length and its value, or length -1 and no value for NULL (NaN here), so rows
    differ in length: each column becomes a fixed-width byte matrix with a mask of the bytes a row keeps,
    and the stream is the masked bytes of the matrices side by side, read row by row.
    """
    n = len(columns["time"])
    parts: list[np.ndarray] = []
    keeps: list[np.ndarray] = []

    def fixed(values: np.ndarray, dtype: str, null: np.ndarray | None) -> None:
        width = np.dtype(dtype).itemsize
        block = np.empty((n, 4 + width), dtype=np.uint8)
        lengths = np.full(n, width, dtype=">i4")
        keep = np.ones((n, 4 + width), dtype=bool)
        if null is not None:
            lengths[null] = -1
            keep[null, 4:] = False
        block[:, :4] = lengths.view(np.uint8).reshape(n, 4)
        block[:, 4:] = np.ascontiguousarray(values, dtype=dtype).view(np.uint8).reshape(n, width)
        parts.append(block)
        keeps.append(keep)

    def text(values: Any) -> None:
        as_str = np.where(np.asarray(values, dtype=object) == None, "", values).astype(str)  # noqa: E711
        uniq, inv = np.unique(as_str, return_inverse=True)
        encoded = [u.encode() for u in uniq.tolist()]
        width = max([1, *(len(e) for e in encoded)])
        table = np.zeros((len(encoded), 4 + width), dtype=np.uint8)
        for k, e in enumerate(encoded):
            table[k, :4] = np.frombuffer(len(e).to_bytes(4, "big"), dtype=np.uint8)
            table[k, 4 : 4 + len(e)] = np.frombuffer(e, dtype=np.uint8)
        lens = np.array([len(e) for e in encoded], dtype=np.int64)
        parts.append(table[inv])
        keeps.append(np.concatenate([np.ones((n, 4), dtype=bool), np.arange(width)[None, :] < lens[inv][:, None]], 1))

    count = np.empty((n, 2), dtype=np.uint8)
    count[:] = np.frombuffer((len(SAMPLE_COLUMNS) + 2).to_bytes(2, "big"), dtype=np.uint8)
    parts.append(count)
    keeps.append(np.ones((n, 2), dtype=bool))
    text(np.full(n, device_id, dtype=object))
    fixed(np.asarray(columns["time"], dtype=np.int64) - _PG_EPOCH_US, ">i8", None)
    for name in SAMPLE_COLUMNS[1:]:
        values = columns[name]
        if name == "step_type":
            text(values)
        elif name in ("cycle_index", "step_index"):
            fixed(np.asarray(values, dtype=np.int64).astype(">i4"), ">i4", None)
        else:
            v = np.asarray(values, dtype=np.float64)
            fixed(v, ">f8", ~np.isfinite(v))
    fixed(np.full(n, time_estimated, dtype=np.uint8), "u1", None)
    matrix = np.concatenate(parts, axis=1)
    mask = np.concatenate(keeps, axis=1)
    return bytes(matrix[mask].tobytes())


_PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\0" + b"\0" * 8


def copy_samples(
    conn: Conn,
    *,
    device_id: str,
    columns: dict[str, Any],
    time_estimated: bool,
    chunk_rows: int = 100_000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """COPY samples of one channel into ``cycler_samples`` (inside the caller's transaction); rows written.

    ``columns`` maps each of ``SAMPLE_COLUMNS`` to an equal-length array (``time`` in Unix microseconds,
    NaN for a missing value). Samples are rows of the same table live channels write, so every reader of
    cycler data sees them. A sample at a time the channel already has is refused (``RegistryError``) and
    the transaction must be rolled back by the caller.
    """
    n = len(columns["time"])
    names = ["device_id", *SAMPLE_COLUMNS, "time_estimated"]
    stmt = sql.SQL("COPY cycler_samples ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, names))
    )
    try:
        # the queued writer sends from its own thread, so the next block is encoded while this one is sent
        with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
            copy.write(_COPY_SIGNATURE)
            for lo in range(0, n, chunk_rows):
                part = {k: v[lo : lo + chunk_rows] for k, v in columns.items()}
                copy.write(_binary_rows(device_id, part, time_estimated))
                if on_progress is not None:
                    on_progress(min(chunk_rows, n - lo))
            copy.write(b"\xff\xff")
    except psycopg.errors.UniqueViolation:
        raise RegistryError(
            f"channel {device_id!r} already has samples at some of these times (the same test imported from"
            " another file, or overlapping a live test)"
        ) from None
    return n
