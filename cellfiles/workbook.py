"""Excel workbooks (``.xlsx``/``.xls``): the Excel exports of Arbin MITS Pro and Neware BTS, read with
python-calamine (a maintained Rust reader) and passed through the same table reader as CSV exports.

The data sheet is the one whose header names time, voltage and current (Arbin: ``Channel_1-008``; Neware:
``record``); sheets continuing it (Excel's row limit splits long tests: ``Channel_1-008_2``) are appended in
workbook order. Cells are written out as tab-separated text, dates in ISO form, so every column rule of
``text`` applies unchanged.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from cellfiles.raw import CellFileError, RawColumns
from cellfiles.text import find_header, read_text


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, timedelta):
        return repr(v.total_seconds())
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _tsv(rows: list[list[Any]]) -> list[str]:
    return ["\t".join(_cell(v) for v in row) for row in rows]


def read_workbook(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    """The cycler table of an Excel export."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [(name, book.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in book.sheet_names]
    except (CalamineError, ValueError, OSError) as exc:
        raise CellFileError(
            path, f"unreadable Excel workbook ({len(data)} bytes, damaged or truncated): {exc}"
        ) from None
    body: list[str] = []
    header: list[str] | None = None
    used: list[str] = []
    for name, rows in sheets:
        lines = _tsv(rows)
        found = find_header(lines[:50])
        if found is None:
            continue
        idx, _, fields = found
        if header is None:
            header, body = fields, lines[: idx + 1]
        elif fields != header:
            continue  # another table (statistics, steps): not the samples
        body += lines[idx + 1 :]
        used.append(name)
    if header is None:
        names = ", ".join(name for name, _ in sheets)
        raise CellFileError(path, f"no sheet names voltage, current and time columns (sheets: {names})")
    raw = read_text(path, ("\n".join(body) + "\n").encode("utf-8"), tz=tz)
    raw.format = raw.format.removesuffix("_csv") + "_xlsx"
    raw.meta["sheets"] = ",".join(used)
    return raw
