"""Backup and restore round trip with pg_dump/pg_restore of the server's major version."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kipsense import backup
from kipsense.records import DeviceKind, DustReading
from store import admin, devices, readings, rollups
from store.db import connect

pytestmark = pytest.mark.stack


@pytest.fixture
def empty_url(stack_env: dict[str, str]) -> Iterator[str]:
    admin_url = stack_env["KIPSENSE_ADMIN_DATABASE_URL"]
    name = f"t_restore_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    admin.drop_database(admin_url, name)


def _fingerprint(url: str) -> tuple[object, ...]:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) AS n, sum(pm10) AS s, min(time) AS t0, max(time) AS t1 FROM dust_readings"
        ).fetchone()
        hyper = conn.execute("SELECT count(*) AS n FROM timescaledb_information.chunks").fetchone()
        version = conn.execute("SELECT max(version) AS v FROM schema_version").fetchone()
    assert row and hyper and version
    return (row["n"], row["s"], row["t0"], row["t1"], hyper["n"], version["v"])


def test_round_trip(database_url: str, empty_url: str, tmp_path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with connect(database_url) as conn:
        devices.create(conn, device_id="bk-a", kind=DeviceKind.DUST)
        rows = [DustReading("bk-a", start + timedelta(minutes=7 * i), pm10=float(i % 97)) for i in range(2000)]
        readings.write_records(conn, rows, received_at=datetime.now(UTC))
        conn.commit()
    with connect(database_url, autocommit=True) as conn:
        rollups.refresh(conn, source="dust_readings")

    archive = tmp_path / "kipsense.dump"
    made = backup.backup(database_url, archive)
    assert archive.stat().st_size > 0 and made.manifest.exists()
    assert made.counts["public.dust_readings"] == 2000 and made.counts["public.devices"] == 1
    assert made.counts["public.dust_rollup_1m"] == 2000

    restored = backup.restore(empty_url, archive)

    assert restored.counts == made.counts
    assert _fingerprint(empty_url) == _fingerprint(database_url)
    with connect(empty_url) as conn:  # the restored database is a working platform database
        readings.write_records(conn, [DustReading("bk-a", start - timedelta(days=1), pm10=1.0)], received_at=start)
        conn.commit()


def test_restore_refuses_a_database_in_use(database_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "again.dump"
    backup.backup(database_url, archive)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(database_url, archive)


def test_restore_needs_the_manifest(empty_url: str, database_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "bare.dump"
    backup.backup(database_url, archive)
    backup.manifest_path(archive).unlink()
    with pytest.raises(backup.BackupError, match="manifest"):
        backup.restore(empty_url, archive)
    with pytest.raises(backup.BackupError, match="no archive"):
        backup.restore(empty_url, tmp_path / "missing.dump")


def test_missing_client_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="pg_dump for PostgreSQL 15 not found"):
        backup.client_binary("pg_dump", 15, bin_dir=tmp_path)
