"""Delimited-text exports: Arbin CSV, Maccor text, Neware CSV (flat and nested), PEC CSV, BioLogic .mpt/.mpl,
Novonix CSV and any other table of cycler columns.

Why not cellpy's or navani's loaders: cellpy's text loaders need its whole stack (pandas, a configuration
file per instrument, its own cell object) and are fitted per instrument configuration; navani reads a few of
these formats into plotting frames without steps, energies or temperatures. Neither reads 100 MB in seconds.
Here every text format goes through one path: find the header line (anywhere in a preamble, by recognising
column names, see ``columns``), detect delimiter, decimal comma and encoding, then parse the data with
pyarrow's multi-threaded CSV reader, keeping only the recognised columns. The instrument is named from the
content (signature lines and column names), never from the extension.

A row with the wrong number of fields (a truncated file), or a value that is not a number, stops the import
with the line number.
"""

from __future__ import annotations

import codecs
import re
from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

from cellfiles.columns import Header, map_columns, parse_unit, split_header
from cellfiles.raw import CellFileError, FloatArray, RawColumns, parse_datetime

_HEAD_BYTES = 512 * 1024
_MAX_HEADER_LINE = 400
_STRING_QUANTITIES = ("datetime", "step_type", "test_time", "step_time", "specimen")
_NULLS = ["", "NaN", "nan", "NAN", "-", "--", "N/A", "n/a", "null", "NULL", "None"]
_DURATION = r"^\s*(?:(?P<d>\d+)\s*d\s*)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:[.,]\d*)?)\s*$"


def to_utf8(data: bytes) -> tuple[bytes, str]:
    """The file's bytes as UTF-8 (UTF-16 and a BOM handled) and the encoding pyarrow should assume."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16").encode("utf-8"), "utf8"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    head = data[:_HEAD_BYTES]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sample's end
            try:  # Chinese Windows (Neware's default language) writes GB18030/GBK
                text = head[: exc.start + 4096].decode("gb18030")
                if len(re.findall(r"[\u4e00-\u9fff]", text)) >= 4:
                    return data, "gb18030"
            except UnicodeDecodeError:
                pass
            return data, "latin1"  # cp1252/latin-1 exports of Windows instrument software
    return data, "utf8"


def _lines(data: bytes, limit: int) -> list[bytes]:
    return data[:_HEAD_BYTES].split(b"\n")[:limit]


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in ("\t", ";", ",")}
    return max(counts, key=lambda d: counts[d])


def find_header(lines: list[str]) -> tuple[int, str, list[str]] | None:
    """(line index, delimiter, fields) of the first line that names a cycler table's columns."""
    for i, line in enumerate(lines[:_MAX_HEADER_LINE]):
        if len(line) < 8:
            continue
        for delim in dict.fromkeys((_delimiter(line), "\t", ",", ";")):
            fields = line.rstrip("\r").split(delim)
            if len(fields) < 3:
                continue
            m = map_columns(fields)
            if "voltage" in m and ("current" in m) and ("test_time" in m or "datetime" in m):
                return i, delim, fields
    return None


def name_format(head: str, fields: list[str]) -> str:
    """The instrument format, from signature lines and column names."""
    keys = {split_header(f).key for f in fields}
    text = head[:20000]
    if "EC-Lab ASCII FILE" in text or {"ewe", "controlvma"} & keys or ("ewe" in keys and "ns" in keys):
        return "biologic_mpt"
    if ("rec" in keys or "rec" in {k.rstrip("0") for k in keys}) and ({"cyc", "cyclep", "cyclec"} & keys):
        return "maccor_txt"
    if "dpttime" in keys or "Today's Date" in text or "Date of Test:" in text:
        return "maccor_txt"
    if "[Summary]" in text or ("runtime" in keys and "potential" in keys):
        return "novonix_csv"
    if "TestRegime" in text or "#RESULTS CHECK" in text or "totaltimeseconds" in keys:
        return "pec_csv"
    if ("datapoint" in keys and ("steptype" in keys or "chgcap" in keys)) or {"数据序号", "工步类型"} <= keys:
        return "neware_csv"
    if {"datapoint", "testtime", "stepindex", "cycleindex"} <= keys:
        return "arbin_csv"
    return "generic_csv"


def _decimal(sample_rows: list[str], delim: str) -> str:
    if delim == ",":
        return "."
    comma = sum(len(re.findall(r"(?<![\d.])\d+,\d+(?![\d,])", r)) for r in sample_rows)
    point = sum(len(re.findall(r"\d\.\d", r)) for r in sample_rows)
    return "," if comma > point else "."


def _line_of(data: bytes, start: int, snippet: str, first_line: int, *, field: bool = False) -> int | None:
    """File line of the first whole line (or, with ``field``, whole field) of ``data[start:]`` equal to
    ``snippet``: the row or value pyarrow reported."""
    if not snippet:
        return None
    needle = snippet.encode("utf-8", "replace")
    before, after = (b"\n,;\t", b"\r\n,;\t") if field else (b"\n", b"\r\n")
    pos = data.find(needle, start)
    while pos >= 0:
        end = pos + len(needle)
        if (pos == start or data[pos - 1] in before) and (end == len(data) or data[end] in after):
            return first_line + data.count(b"\n", start, pos)
        pos = data.find(needle, pos + 1)
    return None


def parse_table(
    path: Path,
    data: bytes,
    *,
    start: int,
    first_line: int,
    fields: list[str],
    delim: str,
    encoding: str,
    decimal: str,
    line_numbers: np.ndarray | None = None,
) -> tuple[pa.Table, dict[str, tuple[int, Header]]]:
    """Parse ``data[start:]`` (rows only) with the header ``fields``; keep the recognised columns.

    ``first_line`` is the file's line number of the first row; ``line_numbers`` maps row positions of a
    rewritten buffer back to the file's lines (Neware's nested export).
    """
    mapping = map_columns(fields)
    names = [f"c{i}" for i in range(len(fields))]
    body = data[start:]
    first_row = next((ln for ln in body[:65536].split(b"\n") if ln.strip(b"\r\t ;,")), b"")
    extra = first_row.rstrip(b"\r").count(delim.encode()) + 1 - len(fields)
    if extra > 0:  # rows end with a delimiter the header lacks
        names += [f"x{i}" for i in range(extra)]
        # ... except, often, the very last row: give it the missing trailing delimiter(s)
        tail = body.rstrip(b"\r\n\t ")
        last = tail[tail.rfind(b"\n") + 1 :]
        if last.rstrip(b"\r").count(delim.encode()) + 1 == len(fields):
            body = tail + delim.encode() * extra + b"\n"
    bad: list[Any] = []

    def on_invalid(row: Any) -> str:
        if not bad:
            bad.append(row)
        return "skip"

    include = [f"c{i}" for i, _ in mapping.values()]
    types = {f"c{i}": (pa.string() if q in _STRING_QUANTITIES else pa.float64()) for q, (i, _) in mapping.items()}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, encoding=encoding, block_size=1 << 23),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, invalid_row_handler=on_invalid, ignore_empty_lines=True, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=include,
                column_types=types,
                decimal_point=decimal,
                null_values=_NULLS,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        m = re.search(r"In CSV column #(\d+): .*?invalid value '([^']*)'", msg)
        if m:
            col = int(m.group(1))
            label = fields[col] if col < len(fields) else f"#{col}"
            line = _line_of(body, 0, m.group(2), first_line, field=True)
            raise CellFileError(path, f"column {label!r}: {m.group(2)!r} is not a number", line=line) from None
        raise CellFileError(path, f"unreadable table: {msg.splitlines()[0]}", line=first_line) from None
    if bad:
        row = bad[0]
        line = _line_of(body, 0, row.text, first_line) if row.text else None
        if line_numbers is not None and line is not None:
            line = int(line_numbers[min(line - first_line, line_numbers.size - 1)])
        raise CellFileError(
            path,
            f"expected {row.expected_columns} fields, found {row.actual_columns} (truncated or damaged row)",
            line=line,
        )
    if table.num_rows == 0:
        raise CellFileError(path, "no data rows after the header", line=first_line)
    return table, mapping


def _floats(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def durations(path: Path, col: pa.ChunkedArray, first_line: int) -> FloatArray:
    """Seconds from numbers or ``[Nd ]HH:MM:SS[.fff]`` strings (Maccor, Neware); nulls stay NaN."""
    for candidate in (col, pc.replace_substring(col, ",", ".")):  # plain or decimal-comma numbers
        try:
            return np.asarray(pc.cast(candidate, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    parts = pc.extract_regex(col, _DURATION)
    unmatched = pc.and_(pc.is_null(parts), pc.is_valid(col))
    if pc.any(unmatched).as_py():
        i = int(np.flatnonzero(unmatched.to_numpy(zero_copy_only=False))[0])
        raise CellFileError(path, f"{col[i].as_py()!r} is not a duration", line=first_line + i)
    out = np.zeros(len(col))
    for name, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        field = pc.struct_field(parts, name)
        field = pc.replace_substring(field, ",", ".")
        num = pc.cast(pc.if_else(pc.equal(field, ""), None, field), pa.float64())
        out += factor * np.nan_to_num(np.asarray(num.to_numpy(zero_copy_only=False), dtype=np.float64))
    return np.where(pc.is_null(col).to_numpy(zero_copy_only=False), np.nan, out)


def _parse_times(col: pa.ChunkedArray, tz: tzinfo | None) -> tuple[Any, Any]:
    values = col.drop_null()
    if len(values) == 0:
        return None, None
    return parse_datetime(str(values[0].as_py()), tz), parse_datetime(str(values[-1].as_py()), tz)


def columns_to_raw(
    path: Path, table: pa.Table, mapping: dict[str, tuple[int, Header]], fmt: str, first_line: int, tz: tzinfo | None
) -> RawColumns:
    """The recognised columns as a ``RawColumns`` in normalised units."""
    numeric: dict[str, FloatArray] = {}
    if "specimen" in mapping:  # one file, one test: an export of several cells or channels is refused
        col = table.column(f"c{mapping['specimen'][0]}")
        distinct = pc.unique(col.drop_null())
        if len(distinct) > 1:
            label = mapping["specimen"][1].raw
            raise CellFileError(
                path,
                f"holds {len(distinct)} cells or channels (column {label!r}); export one per file",
                line=first_line,
            )
    for q, (i, h) in mapping.items():
        name = f"c{i}"
        if q in ("datetime", "step_type", "specimen"):
            continue
        if q in ("test_time", "step_time"):
            arr = durations(path, table.column(name), first_line)
            numeric[q] = arr * h.factor
        else:
            numeric[q] = _floats(table, name) * h.factor
    step_type = None
    if "step_type" in mapping:
        step_type = np.asarray(table.column(f"c{mapping['step_type'][0]}").to_numpy(zero_copy_only=False), dtype=object)
    start = None
    if "datetime" in mapping:
        dt_col = table.column(f"c{mapping['datetime'][0]}")
        first, last = _parse_times(dt_col, tz)
        start = first
        if "test_time" not in numeric and first is not None:
            numeric["test_time"] = _seconds_from_datetimes(path, dt_col, first_line, tz)
        elif "test_time" in numeric and first is not None and last is not None and mapping["test_time"][1].unit is None:
            numeric["test_time"] *= _time_scale(numeric["test_time"], (last - first).total_seconds())
    if "test_time" not in numeric:
        raise CellFileError(path, "no test time or date/time column")
    return RawColumns(format=fmt, numeric=numeric, step_type=step_type, start=start)


def _time_scale(tt: FloatArray, wall_s: float) -> float:
    """Seconds per unit of an unlabelled test time (Maccor writes minutes or hours in some exports)."""
    finite = tt[np.isfinite(tt)]
    span = float(finite[-1] - finite[0]) if finite.size > 1 else 0.0
    if span <= 0 or wall_s <= 0:
        return 1.0
    ratio = wall_s / span
    return float(min((1.0, 60.0, 3600.0, 86400.0), key=lambda f: abs(float(np.log(ratio / f)))))


def _seconds_from_datetimes(path: Path, col: pa.ChunkedArray, first_line: int, tz: tzinfo | None) -> FloatArray:
    first = parse_datetime(str(col.drop_null()[0].as_py()), tz)
    assert first is not None  # noqa: S101 - checked by the caller
    for fmt in ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        parsed = pc.strptime(col, format=fmt, unit="us", error_is_null=True)
        if parsed.null_count == col.null_count:
            us = np.asarray(pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
            out: FloatArray = (us - us[np.isfinite(us)][0]) / 1e6
            return out
    raise CellFileError(path, "date/time column in an unknown layout and no test time column", line=first_line)


def _neware_nested(data: bytes) -> tuple[bytes, list[str], np.ndarray, int]:
    """Flatten Neware's nested export (cycle rows, step rows, record rows) into records with cycle and step.

    Returns the flat rows, their header, the file line of each row and the file line of the first row.
    """
    lines = data.split(b"\n")
    header = lines[2].rstrip(b"\r").decode("utf-8", "replace").split(",")
    step_fields = lines[1].rstrip(b"\r").decode("utf-8", "replace").split(",")
    type_pos = next((i for i, f in enumerate(step_fields) if split_header(f).key == "steptype"), 3)
    num_pos = next((i for i, f in enumerate(step_fields) if split_header(f).key == "stepnumber"), 2)
    cycle_width = len(lines[0].split(b","))
    out: list[bytes] = []
    where: list[int] = []
    prefix = b",,,"
    cycle = b""

    def step_prefix(f: list[bytes]) -> bytes:
        number = f[num_pos] if len(f) > num_pos else b""
        label = f[type_pos] if len(f) > type_pos else b""
        return b"%s,%s,%s," % (cycle, number, label)

    for n, line in enumerate(lines[3:], start=4):
        if line.startswith(b",,"):
            out.append(prefix + line[2:])
            where.append(n)
        elif line.startswith(b","):
            prefix = step_prefix(line.rstrip(b"\r").split(b","))
        elif line.strip():
            parts = line.rstrip(b"\r").split(b",")
            cycle = parts[0]
            if len(parts) > cycle_width:  # some exports put the cycle's first step on the cycle's own row
                prefix = step_prefix([b"", *parts[cycle_width:]])
    fields = ["Cycle Index", "Step Number", "Step Type", *header[2:]]
    return b"\n".join(out) + b"\n", fields, np.asarray(where, dtype=np.int64), 4


def _units_row(line: str, delim: str, width: int) -> list[str] | None:
    """The fields of ``line`` if it is a row of units under the header (no numbers, some known units)."""
    cells = [c.strip().strip("[]()") for c in line.rstrip("\r").split(delim)]
    if not line.strip() or len(cells) > width + 1:
        return None
    if any(re.fullmatch(r"[-+]?\d+([.,]\d*)?([eE][-+]?\d+)?", c) for c in cells):
        return None
    known = sum(parse_unit(c) is not None for c in cells if c)
    return cells if known >= 2 else None


def read_text(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    """Read any delimited-text cycler export."""
    data, encoding = to_utf8(data)
    head_lines = [ln.decode(encoding, "replace") for ln in _lines(data, 5000)]
    head_text = "\n".join(head_lines[:_MAX_HEADER_LINE])
    if (
        len(head_lines) > 3
        and split_header(head_lines[0].split(",")[0]).key == "cycleindex"
        and head_lines[1].startswith(",")
        and head_lines[2].startswith(",,")
    ):
        flat, fields, where, first_line = _neware_nested(data)
        sample = flat[:65536].decode("utf-8", "replace").splitlines()[:50]
        table, mapping = parse_table(
            path, flat, start=0, first_line=first_line, fields=fields, delim=",", encoding=encoding,
            decimal=_decimal(sample, ","), line_numbers=where,
        )  # fmt: skip
        raw = columns_to_raw(path, table, mapping, "neware_csv_nested", first_line, tz)
        raw.meta["layout"] = "nested"
        return raw
    found = find_header(head_lines)
    if found is None:
        raise CellFileError(
            path, "not a recognised cycler file: no header line naming voltage, current and time columns was found"
        )
    idx, delim, fields = found
    fmt = name_format(head_text, fields)
    rows_from = idx + 1
    units = _units_row(head_lines[rows_from] if rows_from < len(head_lines) else "", delim, len(fields))
    if units is not None:  # names on one line, units on the next: "Time<TAB>Voltage" then "s<TAB>mV"
        fields = [f"{f} ({u})" if u.strip() else f for f, u in zip(fields, units, strict=False)] + fields[len(units) :]
        rows_from += 1
    start = sum(len(ln) + 1 for ln in data[:_HEAD_BYTES].split(b"\n")[:rows_from])
    sample = head_lines[rows_from : rows_from + 60]
    table, mapping = parse_table(
        path, data, start=start, first_line=rows_from + 1, fields=fields, delim=delim, encoding=encoding,
        decimal=_decimal(sample, delim),
    )  # fmt: skip
    raw = columns_to_raw(path, table, mapping, fmt, rows_from + 1, tz)
    if fmt == "biologic_mpt" and raw.start is None:
        m = re.search(r"Acquisition started on\s*:\s*(.+)", head_text)
        raw.start = parse_datetime(m.group(1), tz) if m else None
    if fmt == "maccor_txt":
        raw.signed_current_known = False  # Maccor writes |I| and says C or D in the state column
    if "capacity" in raw.numeric and mapping["capacity"][1].key == "qqo":
        raw.signed_capacity = True
    return raw
