"""Live publishing of each stream through the real broker and ingest worker into the test database."""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kipsense.settings import MqttSettings
from simulators.cli import SimOptions, cycler_faults, fault_horizon, run_live
from simulators.dust import Episode
from simulators.encoders import Format, FormatMix, assign_formats
from simulators.process import TAGS
from store import devices as store_devices
from store import readings
from store.db import connect
from tests.support import running_worker, wait_until


def _count(url: str, table: str, device_id: str) -> int:
    with connect(url) as conn:
        return readings.count(conn, table=table, device_id=device_id)


def _counts(url: str, table: str, device_ids: list[str]) -> list[int]:
    return [_count(url, table, d) for d in device_ids]


def _rows(url: str, query: str, *params: Any) -> list[Any]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _quarantined(url: str, uid: str) -> list[Any]:
    """Quarantine rows of this test's devices (the worker also sees other tests' traffic on the test broker)."""
    return _rows(url, "SELECT device_id, reason, detail FROM quarantine WHERE device_id LIKE %s", uid + "%")


def _run(opts: SimOptions, url: str, mqtt: MqttSettings) -> Any:
    return run_live(opts, database_url=url, mqtt=mqtt, stop=threading.Event())


def test_dust_network_live_in_three_formats_with_ground_truth(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    opts = SimOptions(
        stream="dust",
        devices=6,
        seed=11,
        speed=400.0,
        step_s=10.0,
        history_h=0.05,  # 18 steps of history replayed in about half a second, then real time
        duration_s=2.0,
        faults="none",
        prefix=f"{uid}d",
        credentials_file=tmp_path / "creds.json",
        formats=FormatMix(senml=0.35, airrohr=0.35),
        episodes=(Episode("stockpile-north", 0.0, 150.0),),
    )
    with running_worker(mqtt_settings, database_url, group=uid, slot=9, sparkplug=False):
        stats = _run(opts, database_url, mqtt_settings)
        assert stats.failed == 0 and stats.steps >= 18
        ids = [f"{uid}d-{i:02d}" for i in range(1, 7)]
        formats = assign_formats(ids, seed=11, mix=opts.formats)
        assert set(formats.values()) == set(Format)
        counts = partial(_counts, database_url, "dust_readings", ids)
        wait_until(lambda: counts() == [stats.steps] * len(ids), timeout=20)
        wait_until(lambda: _count(database_url, "met_readings", f"{uid}d-met-01") == stats.steps, timeout=20)
        assert not _quarantined(database_url, uid)
    for device_id, fmt in formats.items():
        estimated = _rows(
            database_url,
            "SELECT bool_and(time_estimated), bool_or(time_estimated) FROM dust_readings WHERE device_id = %s",
            device_id,
        )[0]
        assert estimated == ((True, True) if fmt is Format.AIRROHR else (False, False)), (device_id, fmt)
    with connect(database_url) as conn:
        devices = {d.device_id: d for d in store_devices.list_devices(conn)}
        assert {*ids, f"{uid}d-met-01"} <= set(devices)
        assert devices[ids[0]].lat is not None
        truth = _rows(database_url, "SELECT device_id, kind FROM ground_truth WHERE run_id = 'dust-live-seed11'")
        assert truth and {k for _, k in truth} == {"dust_episode"}
        assert {d for d, _ in truth} <= set(ids)


def test_cycler_channels_live_in_native_json(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    opts = SimOptions(
        stream="cycler",
        devices=3,
        seed=2,
        speed=1000.0,
        step_s=30.0,
        history_h=0.1,
        duration_s=1.5,
        faults="none",
        prefix=f"{uid}c",
        credentials_file=tmp_path / "creds.json",
    )
    with running_worker(mqtt_settings, database_url, group=uid, slot=10, sparkplug=False):
        stats = _run(opts, database_url, mqtt_settings)
        assert stats.steps >= 12 and stats.messages == 3 * stats.steps
        channels = [f"{uid}c-{ch:03d}" for ch in range(3)]
        wait_until(lambda: _counts(database_url, "cycler_samples", channels) == [stats.steps] * 3, timeout=20)
    rows = _rows(
        database_url,
        "SELECT min(cycle_index), max(voltage), min(step_type) FROM cycler_samples WHERE device_id = %s",
        f"{uid}c-000",
    )
    assert rows[0][0] == 1 and 2.5 < rows[0][1] < 4.3 and rows[0][2]


@pytest.mark.parametrize("process_format", ["sparkplug", "json"])
def test_process_line_live_with_faults_in_ground_truth(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: Path, process_format: str
) -> None:
    prefix = f"{uid}{process_format[0]}"
    opts = SimOptions(
        stream="process",
        seed=5,
        speed=1000.0,
        step_s=10.0,
        history_h=0.05,
        duration_s=1.5,
        faults="bias",
        prefix=prefix,
        credentials_file=tmp_path / "creds.json",
        process_format=process_format,
        run_id=f"{uid}-{process_format}",
    )
    device_id = f"{prefix}-1"
    with running_worker(mqtt_settings, database_url, group=uid, slot=11, sparkplug=process_format == "sparkplug"):
        stats = _run(opts, database_url, mqtt_settings)
        assert stats.failed == 0 and stats.steps >= 18
        wait_until(lambda: _count(database_url, "process_values", device_id) == stats.steps * len(TAGS), timeout=20)
        if process_format == "sparkplug":  # the NDEATH of the clean stop
            wait_until(
                lambda: _rows(
                    database_url,
                    "SELECT event FROM device_events WHERE device_id = %s AND event = 'offline'",
                    device_id,
                ),
                timeout=20,
            )
        assert not _quarantined(database_url, uid)
    events = _rows(
        database_url, "SELECT kind, params->>'target' FROM ground_truth WHERE run_id = %s", f"{uid}-{process_format}"
    )
    assert [k for k, _ in events] == ["bias"]


def test_faults_of_a_real_time_stream_start_within_its_first_day_not_at_its_first_sample() -> None:
    horizon = fault_horizon(timedelta(0))
    assert horizon == timedelta(days=1)
    faults = cycler_faults("all", n_channels=8, seed=0, horizon_s=horizon.total_seconds())
    assert faults
    assert all(0.1 * 86_400 <= f.start_s <= 0.66 * 86_400 for f in faults)
    assert fault_horizon(timedelta(hours=6)) == timedelta(hours=6)  # a replay puts them in its history
