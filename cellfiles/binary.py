"""Binary cycler files, each through a maintained reader: Arbin ``.res`` (mdbtools' ``mdb-export``), BioLogic
``.mpr`` (galvani), Neware ``.nda``/``.ndax`` (NewareNDA).

Arbin ``.res`` is a Microsoft Access (Jet) database; no maintained pure-Python reader of it exists (cellpy goes
through the same mdbtools or an ODBC driver), so its ``Channel_Normal_Table`` is exported as CSV by
``mdb-export`` (Debian package ``mdbtools``) and parsed with pyarrow. A Jet file is a whole number of pages:
a file that is not, or whose data points are not consecutive, is reported as truncated.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

from cellfiles.columns import map_columns
from cellfiles.raw import CellFileError, RawColumns, ole_to_datetime

_JET_PAGE = {0: 2048, 1: 4096, 2: 4096, 3: 4096, 5: 4096}  # version byte at offset 0x14 -> page size
_READER_ERRORS = (ValueError, struct.error, EOFError, IndexError, KeyError, NotImplementedError, OSError, TypeError)


def _mdb_export(path: Path, table: str) -> bytes:
    exe = shutil.which("mdb-export")
    if exe is None:
        raise CellFileError(path, "reading Arbin .res files needs mdbtools (deploy/local/install-system-deps.sh)")
    proc = subprocess.run(  # noqa: S603 - fixed program, the path is an argument, no shell
        [exe, "-D", "%Y-%m-%d %H:%M:%S", str(path), table], capture_output=True, check=False
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CellFileError(path, f"damaged Access database ({msg[-1] if msg else 'mdb-export failed'})")
    return proc.stdout


def read_arbin_res(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    """Arbin ``.res``: the channel's normal table (SI units already) and the test start from the global table."""
    page = _JET_PAGE.get(data[0x14] if len(data) > 0x14 else -1, 4096)
    if len(data) % page:
        raise CellFileError(
            path, f"truncated Access database: {len(data)} bytes is not a whole number of {page}-byte pages",
            offset=len(data) - len(data) % page,
        )  # fmt: skip
    out = _mdb_export(path, "Channel_Normal_Table")
    try:
        table = pacsv.read_csv(pa.BufferReader(out))
    except pa.ArrowInvalid as exc:
        raise CellFileError(path, f"truncated or damaged Access database: {str(exc).splitlines()[0][:100]}") from None
    if table.num_rows == 0:
        raise CellFileError(path, "the file holds no data points")
    names = table.column_names
    cols = {n: np.asarray(table.column(n).to_numpy(zero_copy_only=False)) for n in names}
    points = cols.get("Data_Point")
    if points is not None and points.size > 1 and np.any(np.diff(points.astype(np.int64)) != 1):
        gap = int(np.flatnonzero(np.diff(points.astype(np.int64)) != 1)[0])
        raise CellFileError(path, f"data points not consecutive after point {int(points[gap])} (damaged file)")
    mapping = map_columns([n for n in names if n != "DateTime"])
    numeric = {q: cols[h.raw].astype(np.float64) * h.factor for q, (_, h) in mapping.items() if q != "datetime"}
    start = None
    if "DateTime" in cols and cols["DateTime"].size:
        start = ole_to_datetime(float(cols["DateTime"][0]), tz)
    raw = RawColumns(format="arbin_res", numeric=numeric, start=start)
    try:
        glob = pacsv.read_csv(pa.BufferReader(_mdb_export(path, "Global_Table")))
        raw.meta["test_name"] = str(glob.column("Test_Name")[0].as_py())
        raw.meta["channel"] = str(glob.column("Channel_Index")[0].as_py())
        if start is None:
            raw.start = ole_to_datetime(float(glob.column("Start_DateTime")[0].as_py()), tz)
    except (pa.ArrowInvalid, KeyError, IndexError, CellFileError):
        pass  # metadata only
    return raw


def read_biologic_mpr(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    """BioLogic EC-Lab ``.mpr`` through galvani; columns named as EC-Lab names them (``I/mA``, ``Ewe/V`` ...)."""
    from galvani import BioLogic  # type: ignore[import-untyped]

    try:
        mpr = BioLogic.MPRfile(io.BytesIO(data))  # from memory: galvani leaves a file it opened open
    except _READER_ERRORS as exc:
        detail = " ".join(str(exc).split())
        msg = f"unreadable BioLogic .mpr ({len(data)} bytes, damaged or truncated): {detail}"
        raise CellFileError(path, msg) from None
    arr = mpr.data
    names = list(arr.dtype.names or ())
    mapping = map_columns(names)
    numeric = {q: arr[h.raw].astype(np.float64) * h.factor for q, (_, h) in mapping.items() if q != "datetime"}
    if "test_time" not in numeric or "voltage" not in numeric:
        raise CellFileError(path, f"BioLogic file without time or potential columns: {names}")
    ts = getattr(mpr, "timestamp", None)
    start = ts.replace(tzinfo=tz or UTC).astimezone(UTC) if isinstance(ts, datetime) else None
    raw = RawColumns(format="biologic_mpr", numeric=numeric, start=start)
    raw.signed_capacity = "capacity" in mapping and mapping["capacity"][1].key == "qqo"
    return raw


def read_neware(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    """Neware ``.nda``/``.ndax`` through NewareNDA; step and capacity counters restart every step."""
    import NewareNDA  # type: ignore[import-untyped]

    fmt = "neware_ndax" if data[:2] == b"PK" else "neware_nda"
    try:
        df = NewareNDA.read(str(path))
    except (*_READER_ERRORS, zipfile.BadZipFile, RuntimeError) as exc:
        raise CellFileError(
            path, f"unreadable Neware {fmt[7:]} ({len(data)} bytes, damaged or truncated): {exc}"
        ) from None
    if len(df) == 0:
        raise CellFileError(path, "the file holds no records")
    stamps = None
    if "Timestamp" in df.columns:
        ts = df["Timestamp"]
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_localize(None)
        stamps = ts.to_numpy(dtype="datetime64[us]")
    cols: dict[str, Any] = {str(c): df[c].to_numpy() for c in df.columns if c != "Timestamp"}
    status = cols.pop("Status", None)
    temps = [c for c in cols if c[:1] == "T" and c[1:].isdigit()]
    mapping = map_columns([c for c in cols if c not in temps])
    numeric = {q: np.asarray(cols[h.raw], dtype=np.float64) * h.factor for q, (_, h) in mapping.items()}
    if "Step" in cols:  # the running step number; Step_Index is the schedule's step
        numeric["step"] = np.asarray(cols["Step"], dtype=np.float64)
    start = None
    if stamps is not None:
        us = stamps.astype(np.int64)
        numeric["test_time"] = (us - us[0]) / 1e6
        first = datetime.fromtimestamp(us[0] / 1e6, tz=UTC)
        # NewareNDA gives the instrument's wall clock marked as UTC; take it in the zone the caller says.
        start = first.replace(tzinfo=tz).astimezone(UTC) if tz is not None else first
    if temps:
        t = np.asarray(cols[temps[0]], dtype=np.float64)
        if np.any(t != 0):  # an aux channel that was never connected reads exactly zero
            numeric["temperature"] = t
    raw = RawColumns(
        format=fmt,
        numeric=numeric,
        step_type=np.asarray(status.astype(str), dtype=object) if status is not None else None,
        start=start,
    )
    return raw
