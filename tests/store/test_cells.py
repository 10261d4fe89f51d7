"""The cell registry: batches of a process line, lots made from them, cells, tests and per-cycle summaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kipsense.records import CyclerSample, DeviceKind, ProcessValue
from store import cells
from store import devices as store_devices
from store.db import connect
from tests.models import scoring_data as data

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        with c.transaction():
            store_devices.create(c, device_id="line-1", kind=DeviceKind.PROCESS)
            store_devices.create(c, device_id="ch-1", kind=DeviceKind.CYCLER)
            store_devices.create(c, device_id="dust-1", kind=DeviceKind.DUST)
        yield c


def test_lineage_from_cell_to_batch_tags(conn: Any) -> None:
    data.write(
        conn,
        [ProcessValue("line-1", T0 + timedelta(minutes=m), "ph", 7.0 + 0.1 * m) for m in range(10)]
        + [ProcessValue("line-1", T0 + timedelta(hours=2), "ph", 99.0)],  # outside the batch
    )
    with conn.transaction():
        b = cells.register_batch(
            conn, batch_id="B-001", device_id="line-1", start_time=T0, end_time=T0 + timedelta(hours=1)
        )
        lot = cells.register_lot(conn, lot_id="L-1", material="NMC811", batch_ids=["B-001"])
        cell = cells.register_cell(
            conn, cell_id="C-1", chemistry="NMC811/Gr", format="18650", nominal_capacity_ah=3.0,
            maker="lab", formation_date=date(2026, 3, 2), lot_id="L-1",
        )  # fmt: skip
    assert b.lot_ids == [] and lot.batch_ids == ["B-001"] and cell.lot_id == "L-1"
    assert cells.get_batch(conn, batch_id="B-001").lot_ids == ["L-1"]  # type: ignore[union-attr]
    assert [x.lot_id for x in cells.list_lots(conn, batch_id="B-001")] == ["L-1"]
    assert [x.cell_id for x in cells.list_cells(conn, lot_id="L-1")] == ["C-1"]
    [ph] = cells.batch_tags(conn, batch_id="B-001")
    assert ph.tag == "ph" and ph.n == 10 and ph.max == pytest.approx(7.9)


def test_registry_refuses_bad_references(conn: Any) -> None:
    with pytest.raises(cells.RegistryError, match="not a process line"):
        cells.register_batch(conn, batch_id="B-x", device_id="dust-1", start_time=T0, end_time=T0 + timedelta(1))
    with pytest.raises(cells.NotFoundError, match="no device"):
        cells.register_batch(conn, batch_id="B-x", device_id="nope", start_time=T0, end_time=T0 + timedelta(1))
    with pytest.raises(cells.RegistryError, match="end after"):
        cells.register_batch(conn, batch_id="B-x", device_id="line-1", start_time=T0, end_time=T0)
    with pytest.raises(cells.NotFoundError, match="L-missing"):
        cells.register_cell(conn, cell_id="C-x", lot_id="L-missing")
    with pytest.raises(cells.NotFoundError, match="B-missing"):
        cells.register_lot(conn, lot_id="L-x", batch_ids=["B-missing"])
    cells.register_cell(conn, cell_id="C-dup")
    with pytest.raises(cells.RegistryError, match="already exists"):
        cells.register_cell(conn, cell_id="C-dup")
    with pytest.raises(cells.RegistryError, match="not a cycler"):
        cells.add_test(conn, cell_id="C-dup", device_id="line-1", start_time=T0)
    assert cells.get_cell(conn, cell_id="C-x") is None


def test_live_test_cycles_and_rebuilt_summaries(conn: Any) -> None:
    cells.ensure_cell(conn, cell_id="C-live")
    rows = []
    for k in range(40):  # two cycles: 10 charge samples then 10 discharge samples each, counters per cycle
        cyc, j = divmod(k, 20)
        charging = j < 10
        rows.append(
            CyclerSample(
                "ch-1",
                T0 + timedelta(seconds=60 * k),
                test_time=60.0 * k,
                cycle_index=cyc + 1,
                step_index=1 if charging else 2,
                step_type="charge" if charging else "discharge",
                voltage=3.5 + 0.05 * j,
                current=1.0 if charging else -1.0,
                temperature=25.0 + cyc,
                charge_capacity=(min(j, 9)) * 0.1,
                discharge_capacity=max(j - 10, 0) * 0.09,
                internal_resistance=0.02 + 0.01 * cyc,
            )
        )
    data.write(conn, rows)
    test_id = cells.add_test(conn, cell_id="C-live", device_id="ch-1", start_time=T0)
    live = cells.cycles(conn, cell_id="C-live")
    assert [c["cycle_index"] for c in live] == [1, 2]
    assert live[0]["charge_capacity_ah"] == pytest.approx(0.9)
    assert live[1]["discharge_capacity_ah"] == pytest.approx(0.81)
    assert live[1]["coulombic_efficiency"] == pytest.approx(0.9)
    assert live[1]["internal_resistance_ohm"] == pytest.approx(0.03)
    assert live[1]["max_temperature_c"] == pytest.approx(26.0)
    assert cells.end_test(conn, test_id=test_id, end_time=T0 + timedelta(hours=1))
    assert cells.rebuild_cycles(conn, test_id=test_id) == 2
    assert cells.cycles(conn, cell_id="C-live") == live
    assert cells.get_test(conn, test_id=test_id).n_cycles == 2  # type: ignore[union-attr]
