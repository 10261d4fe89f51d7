"""Import cycler files into the store: one file, one transaction, one test of a cell.

A file is identified by the SHA-256 of its bytes: importing the same file again finds its test and changes
nothing. Everything a file adds (the cell if new, its archive channel, the test, the samples, the per-cycle
summaries) is written in one transaction, so a file that fails half way leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

import psycopg

from cellfiles.normalise import Samples, normalise
from cellfiles.raw import CellFileError
from cellfiles.reader import read_raw
from store import cell_samples
from store import cells as store_cells

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What happened to one file (``status``: ``imported``, ``already imported`` or ``failed``)."""

    path: str
    status: str
    cell_id: str | None = None
    format: str | None = None
    samples: int = 0
    cycles: int = 0
    test_id: int | None = None
    device_id: str | None = None
    file_sha256: str | None = None
    skipped_rows: int = 0
    time_estimated: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_cell_id(path: Path) -> str:
    """A cell id from the file name (labs name files after the cell): ``'Cell 7 (2).csv'`` -> ``'Cell-7-2'``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")
    return (stem or "cell")[:63]


def import_file(
    conn: Conn,
    path: Path,
    *,
    cell_id: str | None = None,
    lot_id: str | None = None,
    channel: str | None = None,
    tz: tzinfo | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import one file; a file that cannot be imported gives a ``failed`` result naming file and line.

    ``channel`` puts the samples on an existing (or new) cycler channel; by default each file gets its own
    archive channel ``file-<hash>``.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ImportResult(path=str(path), status="failed", error=f"{path}: cannot read: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    known = store_cells.imported_test(conn, file_sha256=digest)
    if known is not None:
        return ImportResult(
            path=str(path), status="already imported", cell_id=known.cell_id, format=known.file_format,
            samples=known.n_samples or 0, cycles=known.n_cycles, test_id=known.test_id, device_id=known.device_id,
            file_sha256=digest,
        )  # fmt: skip
    try:
        samples = normalise(read_raw(path, data, tz=tz), path=path)
    except CellFileError as exc:
        return ImportResult(path=str(path), status="failed", file_sha256=digest, error=str(exc))
    if on_total is not None:
        on_total(len(samples))
    cell = cell_id or default_cell_id(path)
    device = channel or f"file-{digest[:12]}"
    try:
        with conn.transaction():
            test_id, n_cycles = _write(conn, path, samples, cell, lot_id, device, digest, on_progress)
    except store_cells.ExistsError:  # the same file imported by someone else meanwhile
        raced = store_cells.imported_test(conn, file_sha256=digest)
        if raced is None:
            raise
        return ImportResult(
            path=str(path), status="already imported", cell_id=raced.cell_id, format=raced.file_format,
            samples=raced.n_samples or 0, cycles=raced.n_cycles, test_id=raced.test_id, device_id=raced.device_id,
            file_sha256=digest,
        )  # fmt: skip
    except store_cells.RegistryError as exc:
        return ImportResult(path=str(path), status="failed", file_sha256=digest, error=f"{path}: {exc}")
    return ImportResult(
        path=str(path), status="imported", cell_id=cell, format=samples.format, samples=len(samples),
        cycles=n_cycles, test_id=test_id, device_id=device, file_sha256=digest, skipped_rows=samples.skipped_rows,
        time_estimated=samples.time_estimated,
    )  # fmt: skip


def _write(
    conn: Conn,
    path: Path,
    samples: Samples,
    cell_id: str,
    lot_id: str | None,
    device_id: str,
    digest: str,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, int]:
    store_cells.ensure_cell(conn, cell_id=cell_id, lot_id=lot_id)
    store_cells.ensure_archive_channel(conn, device_id=device_id, name=f"{samples.format} file {path.name}"[:200])
    test_id = store_cells.add_test(
        conn, cell_id=cell_id, device_id=device_id, start_time=samples.start, end_time=samples.end,
        source="import", file_name=path.name, file_sha256=digest, file_format=samples.format,
        n_samples=len(samples),
    )  # fmt: skip
    cell_samples.copy_samples(
        conn,
        device_id=device_id,
        columns={
            "time": samples.time_us,
            "test_time": samples.test_time,
            "cycle_index": samples.cycle_index,
            "step_index": samples.step_index,
            "step_type": samples.step_type,
            "voltage": samples.voltage,
            "current": samples.current,
            "temperature": samples.temperature,
            "charge_capacity": samples.charge_capacity,
            "discharge_capacity": samples.discharge_capacity,
            "charge_energy": samples.charge_energy,
            "discharge_energy": samples.discharge_energy,
            "internal_resistance": samples.internal_resistance,
        },
        time_estimated=samples.time_estimated,
        on_progress=on_progress,
    )
    return test_id, store_cells.rebuild_cycles(conn, test_id=test_id)


def expand(paths: list[Path]) -> list[Path]:
    """Files named, and the files inside named folders (recursively, hidden ones left out), in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and not any(s.startswith(".") for s in f.relative_to(p).parts)
                )
            )
        else:
            out.append(p)
    return out
