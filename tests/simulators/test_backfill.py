"""Back-fill writes exactly the rows and ground truth the generators produce, in bulk and through MQTT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from kipsense.settings import MqttSettings
from simulators.backfill import native_batches
from simulators.cli import SimOptions, dust_network, run_backfill
from simulators.cycler import CyclerBank, CyclerConfig
from tests.support import running_worker, wait_until

NOW = datetime(2026, 11, 20, 12, 0, 7, tzinfo=UTC)
BUSY = "offline=12,clock_skew=12,dropout=12,duplicate=12,spike=6,stuck=24"


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _truth_keys(url: str, run_id: str) -> set[tuple[str, str, datetime]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT device_id, kind, start_time FROM ground_truth WHERE run_id = %s", (run_id,)
        ).fetchall()
    return {(r[0], r[1], r[2]) for r in rows}


def test_dust_bulk_backfill_writes_what_devices_would_have_stored(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    opts = SimOptions(
        stream="dust", devices=5, seed=3, faults=BUSY, backfill_days=0.1, prefix=uid,
        credentials_file=tmp_path / "creds.json", run_id=f"{uid}-bf",
    )  # fmt: skip
    seen: list[tuple[int, int, int]] = []
    stats = run_backfill(
        opts, database_url=database_url, mqtt=mqtt_settings, progress=lambda *a: seen.append(a), now=NOW
    )

    n = 864  # 0.1 day of 10-s steps
    end = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    frame = dust_network(opts).generate(end - n * timedelta(seconds=10), timedelta(seconds=10), n)
    assert frame.backfill is not None and frame.backfill.any() and not frame.present.all()
    dust_rows = int((frame.present | frame.backfill).sum())
    assert stats.rows == dust_rows + n  # plus the met station
    assert seen[-1] == (n, n, stats.rows) and len(seen) == 1
    assert _one(database_url, "SELECT count(*) FROM dust_readings WHERE device_id LIKE %s", uid + "-%") == dust_rows
    assert _one(database_url, "SELECT count(*) FROM met_readings WHERE device_id = %s", f"{uid}-met-01") == n
    assert _one(database_url, "SELECT max(time) < %s FROM met_readings WHERE device_id = %s", end, f"{uid}-met-01")

    expected = {(e.device_id, e.kind, e.start) for e in frame.truth if e.start < end}
    assert {k for _, k, _ in expected} >= {"offline", "clock_skew", "spike", "stuck"}
    assert _truth_keys(database_url, f"{uid}-bf") == expected
    assert stats.truth_events == len(expected)

    # Loading the same history again adds nothing.
    again = run_backfill(opts, database_url=database_url, mqtt=mqtt_settings, now=NOW)
    assert again.rows == stats.rows
    assert _one(database_url, "SELECT count(*) FROM dust_readings WHERE device_id LIKE %s", uid + "-%") == dust_rows
    assert _truth_keys(database_url, f"{uid}-bf") == expected


def test_process_and_tep_bulk_backfill(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    common: dict[str, Any] = {"seed": 1, "credentials_file": tmp_path / "creds.json"}
    process = SimOptions(stream="process", devices=2, faults="bias", backfill_days=0.02, prefix=f"{uid}p", **common)
    stats = run_backfill(process, database_url=database_url, mqtt=mqtt_settings, now=NOW)
    assert stats.rows == 2 * 172 * 21  # two lines, 0.02 day of 10-s steps, 21 tags
    assert stats.truth_events == 2
    tep = SimOptions(stream="tep", tep_run="d06", backfill_days=30, prefix=f"{uid}t", run_id=f"{uid}-tep", **common)
    stats = run_backfill(tep, database_url=database_url, mqtt=mqtt_settings, now=NOW)
    assert stats.rows == 960 * 52  # the whole testing run, however many days were asked for
    (key,) = _truth_keys(database_url, f"{uid}-tep")
    assert key[1] == "tep_fault_6"
    first = _one(database_url, "SELECT min(time) FROM process_values WHERE device_id = %s", f"{uid}t-1")
    assert key[2] - first == timedelta(minutes=3 * 160)


def test_backfill_through_mqtt_stores_the_same_rows_as_bulk(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    common: dict[str, Any] = {
        "stream": "cycler", "devices": 2, "seed": 4, "faults": "counter_reset,sensor_dropout",
        "backfill_days": 0.25, "credentials_file": tmp_path / "creds.json",
    }  # fmt: skip
    bulk = run_backfill(SimOptions(prefix=f"{uid}b", **common), database_url=database_url, mqtt=mqtt_settings, now=NOW)
    with running_worker(mqtt_settings, database_url, group=uid, slot=12, sparkplug=False):
        sent = run_backfill(
            SimOptions(prefix=f"{uid}m", backfill_to="mqtt", **common),
            database_url=database_url,
            mqtt=mqtt_settings,
            now=NOW,
        )
        assert sent.rows == bulk.rows and sent.messages >= 2
        query = "SELECT count(*) FROM cycler_samples WHERE device_id LIKE %s"
        wait_until(lambda: _one(database_url, query, f"{uid}m-%") == bulk.rows, timeout=30)
    stats = (
        "SELECT count(*), round(sum(voltage)::numeric, 6), max(cycle_index), count(temperature) FROM cycler_samples"
        " WHERE device_id LIKE %s"
    )
    assert _one(database_url, stats, f"{uid}m-%") == _one(database_url, stats, f"{uid}b-%")
    assert {k[1] for k in _truth_keys(database_url, "cycler-backfill-seed4")} == {"counter_reset", "sensor_dropout"}


def test_native_batches_are_bounded_and_keep_every_reading() -> None:
    frame = CyclerBank(CyclerConfig(n_channels=2, seed=1)).generate(NOW, 1200)
    samples = frame.to_samples()
    batches = list(native_batches(samples))
    assert len(batches) == 6  # 1200 samples per channel, 500 per message
    assert all(len(payload) < 256 * 1024 for _, payload in batches)
