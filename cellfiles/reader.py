"""Read any supported cycler file: detect the format from the bytes, read, normalise."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from cellfiles.binary import read_arbin_res, read_biologic_mpr, read_neware
from cellfiles.normalise import Samples, normalise
from cellfiles.raw import CellFileError, RawColumns
from cellfiles.text import read_text
from cellfiles.workbook import read_workbook

#: Formats this package reads (the ``format`` of the result).
FORMATS = (
    "arbin_res",
    "arbin_csv",
    "arbin_xlsx",
    "maccor_txt",
    "biologic_mpr",
    "biologic_mpt",
    "neware_nda",
    "neware_ndax",
    "neware_csv",
    "neware_csv_nested",
    "neware_xlsx",
    "pec_csv",
    "novonix_csv",
    "generic_csv",
)


def sniff(data: bytes) -> str:
    """``binary:<reader>`` or ``text`` from the first bytes (the extension is never consulted)."""
    if data[4:19] == b"Standard Jet DB" or data[4:19] == b"Standard ACE DB":
        return "arbin_res"
    if data.startswith(b"BIO-LOGIC MODULAR FILE"):
        return "biologic_mpr"
    if data.startswith(b"NEWARE"):
        return "neware"
    if data.startswith(b"PK\x03\x04"):  # a zip: an Excel workbook, or Neware's .ndax (the instrument's parts)
        return "xlsx" if b"xl/" in data[:65536] or b"[Content_Types].xml" in data[:65536] else "neware"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: an old Excel .xls
        return "xlsx"
    head = data[:4096]
    if b"\0" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary"
    return "text"


def read_raw(path: Path, data: bytes, *, tz: tzinfo | None = None) -> RawColumns:
    kind = sniff(data)
    if not data:
        raise CellFileError(path, "empty file")
    if kind == "arbin_res":
        return read_arbin_res(path, data, tz=tz)
    if kind == "biologic_mpr":
        return read_biologic_mpr(path, data, tz=tz)
    if kind == "neware":
        return read_neware(path, data, tz=tz)
    if kind == "xlsx":
        return read_workbook(path, data, tz=tz)
    if kind == "binary":
        raise CellFileError(path, "not a recognised cycler file (binary content of an unknown format)")
    return read_text(path, data, tz=tz)


def read(path: Path | str, *, tz: tzinfo | None = None, now: datetime | None = None) -> Samples:
    """Normalised samples of the cycler file at ``path``; ``CellFileError`` naming the file and line/offset.

    ``tz`` is the zone of the instrument's clock for files that store wall-clock times without one (UTC if
    not given).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CellFileError(p, f"cannot read: {exc.strerror or exc}") from None
    return normalise(read_raw(p, data, tz=tz), path=p, now=now)
