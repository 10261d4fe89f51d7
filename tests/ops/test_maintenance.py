"""The maintenance pass (rollups, then retention), its housekeeping tasks and the operations commands."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kipsense.cli import main
from kipsense.maintenance import Maintainer, MaintenanceSettings
from kipsense.records import DeviceKind, DustReading
from kipsense.settings import ScorerSettings
from models.housekeeping import Housekeeper, tasks
from store import devices, readings, retention, rollups
from store.db import Conn, connect

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    with connect(database_url, autocommit=True) as c:
        yield c


def _write(conn: Conn, rows: list[DustReading]) -> None:
    with conn.transaction():
        readings.write_records(conn, rows, received_at=datetime.now(UTC))


def test_pass_rolls_up_then_drops_expired_chunks(conn: Conn) -> None:
    now = datetime.now(UTC)
    old = [DustReading("mt-a", now - timedelta(days=30, minutes=i), pm10=float(i)) for i in range(50)]
    new = [DustReading("mt-a", now - timedelta(minutes=i), pm10=float(i)) for i in range(1, 50)]
    _write(conn, old + new)
    retention.set_policy(conn, hypertable="dust_readings", keep_days=10, compress_after_days=7)

    report = Maintainer(settings=MaintenanceSettings(), database_url="unused").run_once(conn, now=now)

    assert {r.source: r.buckets for r in report.rollups}["dust_readings"] == 99
    dropped = {d.hypertable: d.chunks for d in report.dropped}
    assert len(dropped["dust_readings"]) >= 1 and report.compressed == []  # Apache edition: no compression
    assert readings.count(conn, table="dust_readings", device_id="mt-a") == 49
    # The rollups keep what the raw table no longer has.
    kept = conn.execute("SELECT sum(pm10_n) AS n FROM dust_rollup_1m WHERE device_id = 'mt-a'").fetchone()
    assert kept is not None and kept["n"] == 99
    retention.set_policy(conn, hypertable="dust_readings", keep_days=400, compress_after_days=7)


def test_housekeeping_runs_the_tasks(conn: Conn) -> None:
    names = {p.name for p in tasks()}
    assert {"rollups", "retention"} <= names
    ours = tuple(p for p in tasks() if p.name in {"rollups", "retention"})
    _write(conn, [DustReading("mt-b", datetime.now(UTC) - timedelta(seconds=3), pm10=3.0)])
    done = Housekeeper(ScorerSettings(), periodic=ours).run_due(conn)
    assert done["rollups"] >= 1 and "retention" in done
    assert rollups.pending(conn, source="dust_readings") == 0


def test_cli_commands(database_url: str, conn: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    devices.create(conn, device_id="mt-st", kind=DeviceKind.DUST, expected_interval_s=600)
    day = datetime(2025, 2, 3, tzinfo=UTC)
    _write(conn, [DustReading("mt-st", day + timedelta(seconds=600 * i), pm10=80.0) for i in range(144)])

    assert main(["maintain", "--once", "--url", database_url]) == 0
    assert "rollups dust_readings" in capsys.readouterr().out

    assert main(["exceedance", "report", "--year", "2025", "--csv", "--url", database_url]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["device_id"], r["exceedance_days"]) for r in rows] == [("mt-st", "1")]
    assert main(["exceedance", "report", "--year", "2025", "--limits", "1999", "--url", database_url]) == 1
    assert "unknown limit set" in capsys.readouterr().err

    assert main(["retention", "set", "met_readings", "--keep-days", "none", "--url", database_url]) == 0
    assert "met_readings       keep forever" in capsys.readouterr().out
    policy = {p.hypertable: p for p in retention.policies(conn)}["met_readings"]
    assert policy.keep_days is None and policy.compress_after_days == 7  # not given: unchanged
    assert main(["retention", "set", "devices", "--keep-days", "3", "--url", database_url]) == 1
    capsys.readouterr()

    archive = tmp_path / "cli.dump"
    assert main(["db", "backup", str(archive), "--url", database_url]) == 0
    assert "public.dust_readings" in capsys.readouterr().out
    assert main(["db", "restore", str(archive), "--url", database_url]) == 1  # not an empty database
    assert "not empty" in capsys.readouterr().err
