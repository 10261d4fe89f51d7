"""``kipsense cells``, ``kipsense lots``, ``kipsense batches``: cell test archives and their lineage.

cells import FILE|DIR...   import cycler files (format from the content); ``--cell``, ``--lot``, ``--channel``
cells register CELL        register a cell (chemistry, format, nominal capacity, maker, formation date, lot)
cells update CELL          change those fields (a cell registered by an import knows only its id)
cells list | show CELL     cells; one cell with its lot, the lot's process batches and its tests
cells cycles CELL          per-cycle capacities, energies, efficiency, resistance, temperature
cells assign CELL          a live test: the cell runs on cycler channel ``--channel`` from ``--start``
cells rebuild [CELL]       derive the per-cycle summaries again from the stored samples
cells remove-test TEST     forget a test (an imported file's samples too), e.g. to import it again
lots register|list|show    material lots and the batches (``--batch``, repeatable) they were made from
batches register|list|show process batches: a process line device over ``--start``..``--end``

``--json`` prints machine-readable output. Import exits 1 if any file failed (each failure names the file
and the line or byte offset; a failed file leaves nothing in the store).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("cells", help="battery cells: import test files, registry, cycles", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument(
        "action",
        choices=["import", "register", "update", "list", "show", "cycles", "assign", "rebuild", "remove-test"],
    )
    p.add_argument("args", nargs="*", help="import: files or folders; others: the cell id")
    p.add_argument("--cell", help="import: the cell the files test (default: from each file's name)")
    p.add_argument("--lot", help="import/register: the material lot the cell is made from; list: only this lot")
    p.add_argument("--channel", help="import/assign: the cycler channel (device id)")
    p.add_argument("--tz", help="import: time zone of the instrument's clock for files without one (default UTC)")
    p.add_argument("--chemistry")
    p.add_argument("--format", dest="cell_format", help="register: 18650, 21700, pouch, coin ...")
    p.add_argument("--capacity", type=float, help="register: nominal capacity in Ah")
    p.add_argument("--maker")
    p.add_argument("--formed", type=date.fromisoformat, help="register: formation date YYYY-MM-DD")
    p.add_argument("--notes")
    p.add_argument("--start", type=_when, help="assign: test start (ISO 8601, UTC if no zone)")
    p.add_argument("--end", type=_when, help="assign: test end (default: still running)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser("lots", help="material lots and the process batches they came from", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument("action", choices=["register", "list", "show"])
    p.add_argument("lot_id", nargs="?")
    p.add_argument("--material")
    p.add_argument("--maker")
    p.add_argument("--produced", type=_when, help="production time (ISO 8601)")
    p.add_argument("--batch", action="append", default=[], help="register: a batch the lot was made from; list: filter")
    p.add_argument("--notes", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lots)

    p = sub.add_parser("batches", help="process batches: time windows of a process line", description=__doc__,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument("action", choices=["register", "list", "show"])
    p.add_argument("batch_id", nargs="?")
    p.add_argument("--device", help="the process line device")
    p.add_argument("--start", type=_when)
    p.add_argument("--end", type=_when)
    p.add_argument("--product")
    p.add_argument("--lot", help="list: only batches of this lot")
    p.add_argument("--notes", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_batches)


def _when(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _dump(data: Any) -> str:
    return json.dumps(data, default=str)


def _connect() -> Any:
    from kipsense.settings import DatabaseSettings
    from store.db import connect

    return connect(DatabaseSettings().database_url, autocommit=True)


def cmd_cells(args: argparse.Namespace) -> int:
    from store import cells as store_cells

    if args.action == "import":
        if not args.args:
            _err("kipsense cells import: name at least one file or folder")
            return 2
        return _import(args)
    needs_id = args.action in {"register", "update", "show", "cycles", "assign", "remove-test"}
    if needs_id and len(args.args) != 1:
        _err(f"kipsense cells {args.action}: give one cell id")
        return 2
    with _connect() as conn:
        try:
            return _cells(args, conn, args.args[0] if args.args else None)
        except store_cells.RegistryError as exc:
            _err(f"kipsense cells {args.action}: {exc}")
            return 1


def _cells(args: argparse.Namespace, conn: Any, cell_id: str | None) -> int:
    from store import cells as store_cells

    if args.action == "register":
        assert cell_id is not None  # noqa: S101 - checked by the caller
        cell = store_cells.register_cell(
            conn, cell_id=cell_id, chemistry=args.chemistry, format=args.cell_format,
            nominal_capacity_ah=args.capacity, maker=args.maker, formation_date=args.formed, lot_id=args.lot,
            notes=args.notes or "",
        )  # fmt: skip
        _out(_dump(asdict(cell)) if args.json else f"registered cell {cell.cell_id}")
        return 0
    if args.action == "update":
        assert cell_id is not None  # noqa: S101
        given = {
            "chemistry": args.chemistry, "format": args.cell_format, "nominal_capacity_ah": args.capacity,
            "maker": args.maker, "formation_date": args.formed, "lot_id": args.lot, "notes": args.notes,
        }  # fmt: skip
        updated = store_cells.update_cell(
            conn, cell_id=cell_id, changes={k: v for k, v in given.items() if v is not None}
        )
        if updated is None:
            _err(f"no cell {cell_id!r}")
            return 1
        _out(_dump(asdict(updated)) if args.json else f"updated cell {cell_id}")
        return 0
    if args.action == "list":
        rows = store_cells.list_cells(conn, lot_id=args.lot, chemistry=args.chemistry)
        if args.json:
            _out(_dump([asdict(c) for c in rows]))
        for c in [] if args.json else rows:
            _out("\t".join(_fmt(v) for v in (c.cell_id, c.chemistry, c.format, c.nominal_capacity_ah, c.lot_id)))
        return 0
    if args.action == "show":
        assert cell_id is not None  # noqa: S101
        detail = lineage(conn, cell_id)
        if detail is None:
            _err(f"no cell {cell_id!r}")
            return 1
        _out(_dump(detail) if args.json else _show_text(detail))
        return 0
    if args.action == "cycles":
        assert cell_id is not None  # noqa: S101
        if store_cells.get_cell(conn, cell_id=cell_id) is None:
            _err(f"no cell {cell_id!r}")
            return 1
        summaries = store_cells.cycles(conn, cell_id=cell_id)
        if args.json:
            _out(_dump({"cell_id": cell_id, "cycles": summaries}))
            return 0
        _out("test\tcycle\tQ_ch/Ah\tQ_dis/Ah\tCE\tR/ohm\tTmax/°C")
        for r in summaries:
            _out(
                "\t".join(
                    _fmt(r[k])
                    for k in (
                        "test_id",
                        "cycle_index",
                        "charge_capacity_ah",
                        "discharge_capacity_ah",
                        "coulombic_efficiency",
                        "internal_resistance_ohm",
                        "max_temperature_c",
                    )
                )
            )
        return 0
    if args.action == "assign":
        assert cell_id is not None  # noqa: S101
        if not args.channel or args.start is None:
            _err("kipsense cells assign: --channel and --start are required")
            return 2
        store_cells.ensure_cell(conn, cell_id=cell_id)
        test_id = store_cells.add_test(
            conn, cell_id=cell_id, device_id=args.channel, start_time=args.start, end_time=args.end
        )
        if args.end is not None:
            store_cells.rebuild_cycles(conn, test_id=test_id)
        _out(_dump({"test_id": test_id, "cell_id": cell_id}) if args.json else f"test {test_id} of cell {cell_id}")
        return 0
    if args.action == "remove-test":
        assert cell_id is not None  # noqa: S101 - here the argument is the test id
        if not cell_id.isdigit():
            _err("kipsense cells remove-test: give the test id (a number, see `kipsense cells show CELL`)")
            return 2
        with conn.transaction():
            removed = store_cells.remove_test(conn, test_id=int(cell_id))
        if removed is None:
            _err(f"no test {cell_id}")
            return 1
        _out(_dump({"test_id": int(cell_id), "samples_removed": removed}) if args.json else f"removed test {cell_id}")
        return 0
    # rebuild
    tests = store_cells.list_tests(conn, cell_id=cell_id)
    done = {t.test_id: store_cells.rebuild_cycles(conn, test_id=t.test_id) for t in tests if t.end_time is not None}
    _out(_dump({"tests": len(done), "cycles": sum(done.values())}) if args.json else f"rebuilt {len(done)} tests")
    return 0


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.5g}" if isinstance(v, float) else str(v)


def lineage(conn: Any, cell_id: str) -> dict[str, Any] | None:
    """A cell with its lot, the lot's batches and its tests, as plain data."""
    from store import cells as store_cells

    got = store_cells.lineage(conn, cell_id=cell_id)
    if got is None:
        return None
    return {
        **asdict(got.cell),
        "lot": asdict(got.lot) if got.lot else None,
        "batches": [asdict(b) for b in got.batches],
        "tests": [asdict(t) for t in got.tests],
    }


def _show_text(d: dict[str, Any]) -> str:
    lines = [f"cell {d['cell_id']}: {d['chemistry'] or '-'} {d['format'] or '-'}, {d['nominal_capacity_ah'] or '-'} Ah"]
    if d["lot"]:
        lines.append(f"  lot {d['lot']['lot_id']} ({d['lot']['material'] or '-'})")
    for b in d["batches"]:
        lines.append(f"    batch {b['batch_id']} on {b['device_id']}: {b['start_time']} .. {b['end_time']}")
    for t in d["tests"]:
        src = t["file_name"] or "live"
        lines.append(
            f"  test {t['test_id']} on {t['device_id']} ({src}): {t['n_cycles']} cycles from {t['start_time']}"
        )
    return "\n".join(lines)


def _import(args: argparse.Namespace) -> int:
    from kipsense.cellimport import expand, import_file

    tz: tzinfo | None = None
    if args.tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            tz = ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            _err(f"kipsense cells import: unknown time zone {args.tz!r}")
            return 2
    files = expand([Path(a) for a in args.args])
    failed = 0
    with _connect() as conn:
        for path in files:
            with _Progress(path.name) as bar:
                result = import_file(
                    conn, path, cell_id=args.cell, lot_id=args.lot, channel=args.channel, tz=tz,
                    on_total=bar.total, on_progress=bar.update,
                )  # fmt: skip
            failed += result.status == "failed"
            if args.json:
                _out(_dump(result.as_dict()))
            elif result.status == "failed":
                _err(f"failed: {result.error}")
            else:
                _out(
                    f"{result.status}: {path} -> cell {result.cell_id} ({result.format}, {result.samples} samples,"
                    f" {result.cycles} cycles)"
                )
    return 1 if failed else 0


class _Progress:
    """A progress bar on stderr per file: elapsed time while reading, then samples written (tqdm; off when
    stderr is not a terminal)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        from tqdm import tqdm

        self.bar = tqdm(desc=f"{self.name} (reading)", unit="samples", unit_scale=True, disable=not sys.stderr.isatty())
        return self

    def total(self, n: int) -> None:
        self.bar.reset(total=n)
        self.bar.set_description(self.name)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def cmd_lots(args: argparse.Namespace) -> int:
    from store import cells as store_cells

    if args.action in {"register", "show"} and not args.lot_id:
        _err(f"kipsense lots {args.action}: a lot id is required")
        return 2
    with _connect() as conn:
        try:
            if args.action == "register":
                lot = store_cells.register_lot(
                    conn, lot_id=args.lot_id, material=args.material, maker=args.maker, produced_at=args.produced,
                    batch_ids=args.batch, notes=args.notes,
                )  # fmt: skip
                _out(_dump(asdict(lot)) if args.json else f"registered lot {lot.lot_id}")
            elif args.action == "show":
                got = store_cells.get_lot(conn, lot_id=args.lot_id)
                if got is None:
                    _err(f"no lot {args.lot_id!r}")
                    return 1
                cells = [c.cell_id for c in store_cells.list_cells(conn, lot_id=args.lot_id)]
                data = {**asdict(got), "cell_ids": cells}
                _out(_dump(data) if args.json else "\n".join(f"{k}: {v}" for k, v in data.items()))
            else:
                lots = store_cells.list_lots(conn, batch_id=args.batch[0] if args.batch else None)
                _out(
                    _dump([asdict(x) for x in lots])
                    if args.json
                    else "\n".join(f"{x.lot_id}\t{x.material or '-'}\t{','.join(x.batch_ids) or '-'}" for x in lots)
                )
        except store_cells.RegistryError as exc:
            _err(f"kipsense lots {args.action}: {exc}")
            return 1
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    from store import cells as store_cells

    if args.action in {"register", "show"} and not args.batch_id:
        _err(f"kipsense batches {args.action}: a batch id is required")
        return 2
    if args.action == "register" and (not args.device or args.start is None or args.end is None):
        _err("kipsense batches register: --device, --start and --end are required")
        return 2
    with _connect() as conn:
        try:
            if args.action == "register":
                b = store_cells.register_batch(
                    conn, batch_id=args.batch_id, device_id=args.device, start_time=args.start, end_time=args.end,
                    product=args.product, notes=args.notes,
                )  # fmt: skip
                _out(_dump(asdict(b)) if args.json else f"registered batch {b.batch_id}")
            elif args.action == "show":
                got = store_cells.get_batch(conn, batch_id=args.batch_id)
                if got is None:
                    _err(f"no batch {args.batch_id!r}")
                    return 1
                tags = [asdict(t) for t in store_cells.batch_tags(conn, batch_id=args.batch_id)]
                data = {**asdict(got), "tags": tags}
                _out(_dump(data) if args.json else "\n".join(f"{k}: {v}" for k, v in data.items()))
            else:
                rows = store_cells.list_batches(conn, device_id=args.device, lot_id=args.lot)
                _out(
                    _dump([asdict(x) for x in rows])
                    if args.json
                    else "\n".join(f"{x.batch_id}\t{x.device_id}\t{x.start_time}\t{x.end_time}" for x in rows)
                )
        except store_cells.RegistryError as exc:
            _err(f"kipsense batches {args.action}: {exc}")
            return 1
    return 0
