"""Cells and their lineage: material lots, process batches, cells, tests of cells, per-cycle summaries.

A process batch is a time window of one process line device (its tag data is ``process_values`` in the
window); a lot is produced from one or more batches; a cell is made from a lot; a test runs a cell on a
cycler channel over a time window, so a test's samples are the channel's ``cycler_samples`` in that window,
whether they came live over MQTT or from an imported file. Per-cycle summaries (``cell_cycles``) are derived
from a test's samples and can be rebuilt from them at any time (``rebuild_cycles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row, tuple_row

Conn = psycopg.Connection[Any]


class RegistryError(ValueError):
    """A registration the registry refuses (id taken, unknown reference, wrong device kind)."""


class NotFoundError(RegistryError):
    """A referenced cell, lot, batch or device does not exist."""


class ExistsError(RegistryError):
    """The id (or the file) is already registered."""


@dataclass(frozen=True, slots=True)
class Lot:
    lot_id: str
    material: str | None
    maker: str | None
    produced_at: datetime | None
    notes: str
    created_at: datetime
    batch_ids: list[str]


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    device_id: str
    start_time: datetime
    end_time: datetime
    product: str | None
    notes: str
    created_at: datetime
    lot_ids: list[str]


@dataclass(frozen=True, slots=True)
class Cell:
    cell_id: str
    chemistry: str | None
    format: str | None
    nominal_capacity_ah: float | None
    maker: str | None
    formation_date: date | None
    lot_id: str | None
    notes: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CellTest:
    test_id: int
    cell_id: str
    device_id: str
    start_time: datetime
    end_time: datetime | None
    source: str
    file_name: str | None
    file_sha256: str | None
    file_format: str | None
    n_samples: int | None
    n_cycles: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TagSummary:
    """One process tag over a batch window."""

    tag: str
    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


#: Columns of a per-cycle summary, in ``cell_cycles`` order after ``test_id``.
CYCLE_COLUMNS: Final = (
    "cycle_index",
    "start_time",
    "end_time",
    "test_time_start_s",
    "test_time_end_s",
    "n_samples",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "charge_energy_wh",
    "discharge_energy_wh",
    "coulombic_efficiency",
    "energy_efficiency",
    "internal_resistance_ohm",
    "max_temperature_c",
    "min_voltage_v",
    "max_voltage_v",
)

# Counters are per cycle (BEEP convention, and what the importer writes) or run on through the test: the
# throughput of a cycle is max - min either way. Resistance is the median of the values the cycler reported.
_SUMMARY: Final = """
    SELECT cycle_index, start_time, end_time, test_time_start_s, test_time_end_s, n_samples,
           qc AS charge_capacity_ah, qd AS discharge_capacity_ah, ec AS charge_energy_wh,
           ed AS discharge_energy_wh,
           CASE WHEN qc > 0 THEN qd / qc END AS coulombic_efficiency,
           CASE WHEN ec > 0 THEN ed / ec END AS energy_efficiency,
           internal_resistance_ohm, max_temperature_c, min_voltage_v, max_voltage_v
    FROM (
        SELECT cycle_index, min(time) AS start_time, max(time) AS end_time,
               min(test_time) AS test_time_start_s, max(test_time) AS test_time_end_s, count(*)::int AS n_samples,
               max(charge_capacity) - min(charge_capacity) AS qc,
               max(discharge_capacity) - min(discharge_capacity) AS qd,
               max(charge_energy) - min(charge_energy) AS ec,
               max(discharge_energy) - min(discharge_energy) AS ed,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY internal_resistance)
                   FILTER (WHERE internal_resistance > 0) AS internal_resistance_ohm,
               max(temperature) AS max_temperature_c, min(voltage) AS min_voltage_v, max(voltage) AS max_voltage_v
        FROM cycler_samples
        WHERE device_id = %(device_id)s AND time >= %(start)s AND time <= %(end)s AND cycle_index IS NOT NULL
        GROUP BY cycle_index
    ) c
"""


def _device_kind(conn: Conn, device_id: str) -> str:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT kind FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no device {device_id!r}")
    return str(row[0])


def _fk_error(exc: psycopg.errors.ForeignKeyViolation) -> NotFoundError:
    detail = exc.diag.message_detail or str(exc)
    return NotFoundError(detail.replace('"', "'"))


# --- lots and batches ---------------------------------------------------------------------------------------


def register_batch(
    conn: Conn,
    *,
    batch_id: str,
    device_id: str,
    start_time: datetime,
    end_time: datetime,
    product: str | None = None,
    notes: str = "",
) -> Batch:
    """Register a process batch: a time window of a process line device."""
    kind = _device_kind(conn, device_id)
    if kind != "process":
        raise RegistryError(f"device {device_id!r} is a {kind} device, not a process line")
    if end_time <= start_time:
        raise RegistryError("a batch must end after it starts")
    try:
        conn.execute(
            "INSERT INTO process_batches (batch_id, device_id, start_time, end_time, product, notes)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (batch_id, device_id, start_time, end_time, product, notes),
        )
    except psycopg.errors.UniqueViolation:
        raise ExistsError(f"batch {batch_id!r} already exists") from None
    except psycopg.errors.CheckViolation:
        raise RegistryError(f"invalid batch id {batch_id!r}") from None
    batch = get_batch(conn, batch_id=batch_id)
    assert batch is not None  # noqa: S101 - inserted just above
    return batch


_BATCH_SELECT: Final = (
    "SELECT b.batch_id, b.device_id, b.start_time, b.end_time, b.product, b.notes, b.created_at,"
    " coalesce(array_agg(lb.lot_id ORDER BY lb.lot_id) FILTER (WHERE lb.lot_id IS NOT NULL), '{}') AS lot_ids"
    " FROM process_batches b LEFT JOIN lot_batches lb ON lb.batch_id = b.batch_id"
)


def get_batch(conn: Conn, *, batch_id: str) -> Batch | None:
    with conn.cursor(row_factory=class_row(Batch)) as cur:
        cur.execute(_BATCH_SELECT + " WHERE b.batch_id = %s GROUP BY b.batch_id", (batch_id,))
        return cur.fetchone()


def list_batches(
    conn: Conn, *, device_id: str | None = None, lot_id: str | None = None, limit: int = 1000
) -> list[Batch]:
    """Batches by start time (newest first), optionally of one process device or feeding one lot."""
    with conn.cursor(row_factory=class_row(Batch)) as cur:
        cur.execute(
            _BATCH_SELECT  # noqa: S608
            + " WHERE (%(d)s::text IS NULL OR b.device_id = %(d)s)"
            " AND (%(l)s::text IS NULL OR b.batch_id IN (SELECT batch_id FROM lot_batches WHERE lot_id = %(l)s))"
            " GROUP BY b.batch_id ORDER BY b.start_time DESC, b.batch_id LIMIT %(n)s",
            {"d": device_id, "l": lot_id, "n": limit},
        )
        return cur.fetchall()


def batch_tags(conn: Conn, *, batch_id: str) -> list[TagSummary]:
    """Each process tag of the batch's device over the batch window: count, mean, std, min, max."""
    batch = get_batch(conn, batch_id=batch_id)
    if batch is None:
        raise NotFoundError(f"no batch {batch_id!r}")
    with conn.cursor(row_factory=class_row(TagSummary)) as cur:
        cur.execute(
            "SELECT tag, count(*)::int AS n, avg(value) AS mean, stddev_samp(value) AS std,"
            " min(value) AS min, max(value) AS max FROM process_values"
            " WHERE device_id = %s AND time >= %s AND time < %s GROUP BY tag ORDER BY tag",
            (batch.device_id, batch.start_time, batch.end_time),
        )
        return cur.fetchall()


def register_lot(
    conn: Conn,
    *,
    lot_id: str,
    material: str | None = None,
    maker: str | None = None,
    produced_at: datetime | None = None,
    batch_ids: Sequence[str] = (),
    notes: str = "",
) -> Lot:
    """Register a material lot and the process batches it was made from."""
    try:
        conn.execute(
            "INSERT INTO material_lots (lot_id, material, maker, produced_at, notes) VALUES (%s, %s, %s, %s, %s)",
            (lot_id, material, maker, produced_at, notes),
        )
    except psycopg.errors.UniqueViolation:
        raise ExistsError(f"lot {lot_id!r} already exists") from None
    except psycopg.errors.CheckViolation:
        raise RegistryError(f"invalid lot id {lot_id!r}") from None
    link_batches(conn, lot_id=lot_id, batch_ids=batch_ids)
    lot = get_lot(conn, lot_id=lot_id)
    assert lot is not None  # noqa: S101 - inserted just above
    return lot


def link_batches(conn: Conn, *, lot_id: str, batch_ids: Iterable[str]) -> None:
    """Record that ``lot_id`` was made from ``batch_ids`` (already linked pairs are kept as they are)."""
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lot_batches (lot_id, batch_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(lot_id, b) for b in batch_ids],
            )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _fk_error(exc) from None


_LOT_SELECT: Final = (
    "SELECT l.lot_id, l.material, l.maker, l.produced_at, l.notes, l.created_at,"
    " coalesce(array_agg(lb.batch_id ORDER BY lb.batch_id) FILTER (WHERE lb.batch_id IS NOT NULL), '{}')"
    " AS batch_ids FROM material_lots l LEFT JOIN lot_batches lb ON lb.lot_id = l.lot_id"
)


def get_lot(conn: Conn, *, lot_id: str) -> Lot | None:
    with conn.cursor(row_factory=class_row(Lot)) as cur:
        cur.execute(_LOT_SELECT + " WHERE l.lot_id = %s GROUP BY l.lot_id", (lot_id,))
        return cur.fetchone()


def list_lots(conn: Conn, *, batch_id: str | None = None, limit: int = 1000) -> list[Lot]:
    """Lots by id, optionally only those made from one batch."""
    with conn.cursor(row_factory=class_row(Lot)) as cur:
        cur.execute(
            _LOT_SELECT  # noqa: S608
            + " WHERE (%(b)s::text IS NULL OR l.lot_id IN"
            " (SELECT lot_id FROM lot_batches WHERE batch_id = %(b)s))"
            " GROUP BY l.lot_id ORDER BY l.lot_id LIMIT %(n)s",
            {"b": batch_id, "n": limit},
        )
        return cur.fetchall()


# --- cells --------------------------------------------------------------------------------------------------

_CELL_COLS: Final = "cell_id, chemistry, format, nominal_capacity_ah, maker, formation_date, lot_id, notes, created_at"


def register_cell(
    conn: Conn,
    *,
    cell_id: str,
    chemistry: str | None = None,
    format: str | None = None,  # the cell's format (18650, pouch, ...)
    nominal_capacity_ah: float | None = None,
    maker: str | None = None,
    formation_date: date | None = None,
    lot_id: str | None = None,
    notes: str = "",
) -> Cell:
    """Register a cell; ``RegistryError`` if the id is taken, ``NotFoundError`` for an unknown lot."""
    try:
        with conn.cursor(row_factory=class_row(Cell)) as cur:
            cur.execute(
                "INSERT INTO cells (cell_id, chemistry, format, nominal_capacity_ah, maker, formation_date, lot_id,"  # noqa: S608
                f" notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_CELL_COLS}",
                (cell_id, chemistry, format, nominal_capacity_ah, maker, formation_date, lot_id, notes),
            )
            row = cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise ExistsError(f"cell {cell_id!r} already exists") from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _fk_error(exc) from None
    except psycopg.errors.CheckViolation:
        raise RegistryError(f"invalid cell {cell_id!r}: bad id or non-positive nominal capacity") from None
    assert row is not None  # noqa: S101 - RETURNING always yields the row
    return row


#: Fields of a cell that can be changed after registration.
CELL_FIELDS: Final = ("chemistry", "format", "nominal_capacity_ah", "maker", "formation_date", "lot_id", "notes")


def update_cell(conn: Conn, *, cell_id: str, changes: dict[str, Any]) -> Cell | None:
    """Set some of ``CELL_FIELDS`` of a cell (a cell registered by an import knows nothing else); None if no
    such cell. ``NotFoundError`` for an unknown lot."""
    unknown = set(changes) - set(CELL_FIELDS)
    if unknown:
        raise RegistryError(f"cannot change {sorted(unknown)}")
    if not changes:
        return get_cell(conn, cell_id=cell_id)
    if "notes" in changes and changes["notes"] is None:
        changes = {**changes, "notes": ""}
    assignments = sql.SQL(", ").join(sql.SQL("{} = %({})s").format(sql.Identifier(k), sql.SQL(k)) for k in changes)
    try:
        with conn.cursor(row_factory=class_row(Cell)) as cur:
            cur.execute(
                sql.SQL("UPDATE cells SET {} WHERE cell_id = %(cell_id)s RETURNING {}").format(
                    assignments, sql.SQL(_CELL_COLS)
                ),
                {**changes, "cell_id": cell_id},
            )
            return cur.fetchone()
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _fk_error(exc) from None
    except psycopg.errors.CheckViolation:
        raise RegistryError("the nominal capacity must be positive") from None


def ensure_cell(conn: Conn, *, cell_id: str, lot_id: str | None = None) -> Cell:
    """The cell ``cell_id``, registered with nothing else known if new; ``lot_id`` set if given.

    A cell already linked to a different lot is refused rather than silently moved.
    """
    try:
        conn.execute(
            "INSERT INTO cells (cell_id, lot_id) VALUES (%s, %s) ON CONFLICT (cell_id) DO NOTHING", (cell_id, lot_id)
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _fk_error(exc) from None
    except psycopg.errors.CheckViolation:
        raise RegistryError(f"invalid cell id {cell_id!r}") from None
    cell = get_cell(conn, cell_id=cell_id)
    assert cell is not None  # noqa: S101 - inserted or present
    if lot_id is not None and cell.lot_id != lot_id:
        if cell.lot_id is not None:
            raise RegistryError(f"cell {cell_id!r} is registered from lot {cell.lot_id!r}, not {lot_id!r}")
        conn.execute("UPDATE cells SET lot_id = %s WHERE cell_id = %s", (lot_id, cell_id))
        cell = get_cell(conn, cell_id=cell_id)
        assert cell is not None  # noqa: S101
    return cell


def get_cell(conn: Conn, *, cell_id: str) -> Cell | None:
    with conn.cursor(row_factory=class_row(Cell)) as cur:
        cur.execute(f"SELECT {_CELL_COLS} FROM cells WHERE cell_id = %s", (cell_id,))  # noqa: S608
        return cur.fetchone()


def list_cells(conn: Conn, *, lot_id: str | None = None, chemistry: str | None = None, limit: int = 1000) -> list[Cell]:
    """Cells by id, optionally of one lot or chemistry."""
    with conn.cursor(row_factory=class_row(Cell)) as cur:
        cur.execute(
            f"SELECT {_CELL_COLS} FROM cells"  # noqa: S608
            " WHERE (%(l)s::text IS NULL OR lot_id = %(l)s) AND (%(c)s::text IS NULL OR chemistry = %(c)s)"
            " ORDER BY cell_id LIMIT %(n)s",
            {"l": lot_id, "c": chemistry, "n": limit},
        )
        return cur.fetchall()


# --- tests --------------------------------------------------------------------------------------------------

_TEST_SELECT: Final = (
    "SELECT t.test_id, t.cell_id, t.device_id, t.start_time, t.end_time, t.source, t.file_name, t.file_sha256,"
    " t.file_format, t.n_samples, (SELECT count(*)::int FROM cell_cycles c WHERE c.test_id = t.test_id) AS n_cycles,"
    " t.created_at FROM cell_tests t"
)


def add_test(
    conn: Conn,
    *,
    cell_id: str,
    device_id: str,
    start_time: datetime,
    end_time: datetime | None = None,
    source: str = "live",
    file_name: str | None = None,
    file_sha256: str | None = None,
    file_format: str | None = None,
    n_samples: int | None = None,
) -> int:
    """Record a test of ``cell_id`` on cycler channel ``device_id``; returns its id.

    A file already imported (same ``file_sha256``) raises ``RegistryError``; check with ``imported_test`` first.
    """
    kind = _device_kind(conn, device_id)
    if kind != "cycler":
        raise RegistryError(f"device {device_id!r} is a {kind} device, not a cycler channel")
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            out = cur.execute(
                "INSERT INTO cell_tests (cell_id, device_id, start_time, end_time, source, file_name, file_sha256,"
                " file_format, n_samples) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING test_id",
                (cell_id, device_id, start_time, end_time, source, file_name, file_sha256, file_format, n_samples),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise ExistsError(f"a file with hash {file_sha256} is already imported") from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise _fk_error(exc) from None
    except psycopg.errors.CheckViolation:
        raise RegistryError("a test must end after it starts and an imported test needs its file hash") from None
    assert out is not None  # noqa: S101
    return int(out[0])


def imported_test(conn: Conn, *, file_sha256: str) -> CellTest | None:
    with conn.cursor(row_factory=class_row(CellTest)) as cur:
        cur.execute(_TEST_SELECT + " WHERE t.file_sha256 = %s", (file_sha256,))
        return cur.fetchone()


def get_test(conn: Conn, *, test_id: int) -> CellTest | None:
    with conn.cursor(row_factory=class_row(CellTest)) as cur:
        cur.execute(_TEST_SELECT + " WHERE t.test_id = %s", (test_id,))
        return cur.fetchone()


def list_tests(conn: Conn, *, cell_id: str | None = None, device_id: str | None = None) -> list[CellTest]:
    """Tests by start time, optionally of one cell or on one channel."""
    with conn.cursor(row_factory=class_row(CellTest)) as cur:
        cur.execute(
            _TEST_SELECT + " WHERE (%(c)s::text IS NULL OR t.cell_id = %(c)s)"
            " AND (%(d)s::text IS NULL OR t.device_id = %(d)s) ORDER BY t.start_time, t.test_id",
            {"c": cell_id, "d": device_id},
        )
        return cur.fetchall()


def end_test(conn: Conn, *, test_id: int, end_time: datetime) -> bool:
    """Close a running test at ``end_time``; False if no such running test."""
    cur = conn.execute(
        "UPDATE cell_tests SET end_time = %s WHERE test_id = %s AND end_time IS NULL AND start_time <= %s",
        (end_time, test_id, end_time),
    )
    return cur.rowcount == 1


def remove_test(conn: Conn, *, test_id: int) -> int | None:
    """Forget a test (to import a file again, say under another cell); returns the samples deleted.

    An imported test's samples (its channel's samples in its window) go with it; a live test's samples
    belong to the channel and stay. None if there is no such test. Run it inside a transaction.
    """
    test = get_test(conn, test_id=test_id)
    if test is None:
        return None
    removed = 0
    if test.source == "import":
        cur = conn.execute(
            "DELETE FROM cycler_samples WHERE device_id = %(device_id)s AND time >= %(start)s AND time <= %(end)s",
            _window(test),
        )
        removed = cur.rowcount
    conn.execute("DELETE FROM cell_tests WHERE test_id = %s", (test_id,))
    return removed


# --- per-cycle summaries ------------------------------------------------------------------------------------


def _window(test: CellTest) -> dict[str, Any]:
    return {
        "device_id": test.device_id,
        "start": test.start_time,
        "end": test.end_time if test.end_time is not None else datetime.max.replace(tzinfo=test.start_time.tzinfo),
    }


def rebuild_cycles(conn: Conn, *, test_id: int) -> int:
    """Derive the per-cycle summaries of a test again from its samples; returns the number of cycles."""
    test = get_test(conn, test_id=test_id)
    if test is None:
        raise NotFoundError(f"no test {test_id}")
    conn.execute("DELETE FROM cell_cycles WHERE test_id = %s", (test_id,))
    cols = sql.SQL(", ").join(map(sql.Identifier, CYCLE_COLUMNS))
    cur = conn.execute(
        sql.SQL("INSERT INTO cell_cycles (test_id, {}) SELECT %(test_id)s, {} FROM (" + _SUMMARY + ") s").format(  # noqa: S608
            cols, cols
        ),
        {"test_id": test_id, **_window(test)},
    )
    return cur.rowcount


def cycles(conn: Conn, *, cell_id: str) -> list[dict[str, Any]]:
    """Per-cycle summaries of every test of a cell (tests by start time, cycles by index).

    Each row is ``test_id`` plus ``CYCLE_COLUMNS``. A running test (no end time) is summarised from its
    samples at the time of the call, so live cycles appear without a rebuild.
    """
    out: list[dict[str, Any]] = []
    cols = sql.SQL(", ").join(map(sql.Identifier, CYCLE_COLUMNS))
    for test in list_tests(conn, cell_id=cell_id):
        with conn.cursor(row_factory=dict_row) as cur:
            if test.end_time is None:
                cur.execute(
                    sql.SQL(
                        "SELECT %(test_id)s::bigint AS test_id, {} FROM (" + _SUMMARY + ") s ORDER BY cycle_index"  # noqa: S608
                    ).format(cols),
                    {"test_id": test.test_id, **_window(test)},
                )
            else:
                cur.execute(
                    sql.SQL("SELECT test_id, {} FROM cell_cycles WHERE test_id = %s ORDER BY cycle_index").format(cols),
                    (test.test_id,),
                )
            out.extend(cur.fetchall())
    return out


# --- imported samples ---------------------------------------------------------------------------------------


def ensure_archive_channel(conn: Conn, *, device_id: str, name: str) -> None:
    """A cycler channel for samples that come from a file rather than a live instrument.

    It is registered out of service (``retired``): it never sends, so it must not raise offline alerts or
    hold a broker credential. An existing device of that id must be a cycler channel.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "INSERT INTO devices (device_id, kind, site_id, name, status) VALUES (%s, 'cycler', 'park', %s, 'retired')"
            " ON CONFLICT (device_id) DO NOTHING",
            (device_id, name),
        )
    kind = _device_kind(conn, device_id)
    if kind != "cycler":
        raise RegistryError(f"device {device_id!r} is a {kind} device, not a cycler channel")


@dataclass(frozen=True, slots=True)
class Lineage:
    """A cell with the lot it was made from, the process batches behind that lot, and its tests."""

    cell: Cell
    lot: Lot | None
    batches: list[Batch]
    tests: list[CellTest]


def lineage(conn: Conn, *, cell_id: str) -> Lineage | None:
    cell = get_cell(conn, cell_id=cell_id)
    if cell is None:
        return None
    lot = get_lot(conn, lot_id=cell.lot_id) if cell.lot_id else None
    batches = [b for b in (get_batch(conn, batch_id=x) for x in (lot.batch_ids if lot else [])) if b is not None]
    return Lineage(cell=cell, lot=lot, batches=batches, tests=list_tests(conn, cell_id=cell_id))
