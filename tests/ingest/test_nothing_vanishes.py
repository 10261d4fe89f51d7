"""Every reading a device sends ends as a stored row or a recorded conflict; identical redeliveries add nothing.

Through the real broker and database, with a worker in this process: readings without a timestamp each get
their own (estimated) time, and a reading at a stored key with other values is recorded in
``reading_conflicts`` with both values and its message, in every payload format that carries a time.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.decoders.sparkplug import DataType, Metric, encode_payload, topic
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from store import conflicts, quarantine
from store.db import connect
from tests.ingest.chaos import free_port
from tests.support import DeviceSession, running_worker, wait_until

_TABLES = {
    DeviceKind.DUST: "dust_readings",
    DeviceKind.MET: "met_readings",
    DeviceKind.CYCLER: "cycler_samples",
    DeviceKind.PROCESS: "process_values",
}


def _rows(database_url: str, table: str, device_id: str) -> list[dict[str, Any]]:
    with connect(database_url) as conn:
        return conn.execute(
            f"SELECT * FROM {table} WHERE device_id = %s ORDER BY time, received_at",  # noqa: S608 - fixed names
            (device_id,),
        ).fetchall()


@pytest.mark.parametrize(
    ("kind", "payload", "column"),
    [
        (DeviceKind.DUST, [{"pm10": 1.0}, {"pm10": 2.0}, {"pm10": 3.0}], "pm10"),
        (DeviceKind.CYCLER, [{"voltage": 3.1}, {"voltage": 3.2}, {"voltage": 3.3}], "voltage"),
        (DeviceKind.PROCESS, [{"tag": "FIC101.PV", "value": v} for v in (1.0, 2.0, 3.0)], "value"),
    ],
)
def test_a_list_of_readings_without_timestamps_stores_every_reading_in_order(
    database_url: str, mqtt_settings: MqttSettings, uid: str, kind: DeviceKind, payload: list[Any], column: str
) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-u", kind=kind)
    before = datetime.now(UTC)
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        device = DeviceSession(creds)
        try:
            device.publish(json.dumps(payload))
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= 1)
        assert worker.flush()
    rows = _rows(database_url, _TABLES[kind], creds.device_id)
    assert [r[column] for r in rows] == [p.get(column, p.get("value")) for p in payload]  # list order = time order
    assert all(r["time_estimated"] for r in rows)
    times = [r["time"] for r in rows]
    assert times[0] < times[1] < times[2]
    assert before - timedelta(seconds=1) < times[0] and times[2] - times[0] < timedelta(milliseconds=1)
    assert worker.stats.duplicate_rows == 0 and worker.stats.conflicts == 0


def test_untimed_messages_sent_back_to_back_are_all_stored(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=f"{uid}-b", kind=DeviceKind.DUST)
    lists = [json.dumps([{"seq": 10 * m + k, "pm10": float(k)} for k in range(10)]).encode() for m in range(30)]
    airrohr = [
        json.dumps({"sensordatavalues": [{"value_type": "SDS_P1", "value": f"{i}.5"}]}).encode() for i in range(30)
    ]
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        device = DeviceSession(creds)
        try:
            device.publish_many(lists)
            device.publish_many(airrohr, fmt="airrohr")
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= 60)
        assert worker.flush()
    rows = _rows(database_url, "dust_readings", creds.device_id)
    assert len(rows) == 300 + 30
    assert sorted(r["seq"] for r in rows if r["seq"] is not None) == list(range(300))
    assert len({r["time"] for r in rows}) == len(rows)
    assert worker.stats.conflicts == 0


@dataclass(frozen=True)
class Case:
    """A first message, then one offering other values at the same keys (``conflicting`` readings of them)."""

    kind: DeviceKind
    fmt: str
    first: Any
    second: Any
    conflicting: int
    column: str


def _ts(offset_s: float = 0.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5) + timedelta(seconds=offset_s)


def _cases(device_id: str) -> dict[str, Case]:
    t = _ts()
    ms = int(t.timestamp() * 1000)
    bn = f"urn:dev:{device_id}:"
    return {
        "json": Case(
            DeviceKind.DUST, "json", {"ts": t.isoformat(), "pm10": 1.0}, {"ts": t.isoformat(), "pm10": 2.0}, 1, "pm10"
        ),
        "json-batch": Case(  # five readings of one shape: the columnar fast path (binary COPY rows)
            DeviceKind.DUST,
            "json",
            [{"ts": ms + k, "seq": k, "pm10": 1.0 + k} for k in range(5)],
            [{"ts": ms + k, "seq": k, "pm10": 1.0 + k + (k % 2)} for k in range(5)],
            2,
            "pm10",
        ),
        "senml": Case(
            DeviceKind.MET,
            "senml",
            [{"bn": bn, "bt": t.timestamp(), "n": "wind_speed", "u": "m/s", "v": 4.0}],
            [{"bn": bn, "bt": t.timestamp(), "n": "wind_speed", "u": "m/s", "v": 4.5}],
            1,
            "wind_speed",
        ),
        "cycler": Case(
            DeviceKind.CYCLER,
            "json",
            {"ts": ms, "voltage": 3.7, "cycle_index": 3},
            {"ts": ms, "voltage": 3.7, "cycle_index": 4},
            1,
            "cycle_index",
        ),
        "process": Case(  # two tags, one of them changed: one conflict, one identical value
            DeviceKind.PROCESS,
            "json",
            {"ts": ms, "tags": {"FIC101.PV": 12.5, "TIC102.PV": 80.0}},
            {"ts": ms, "tags": {"FIC101.PV": 12.9, "TIC102.PV": 80.0}},
            1,
            "value",
        ),
    }


@pytest.mark.parametrize("name", ["json", "json-batch", "senml", "cycler", "process"])
def test_other_values_at_a_stored_key_are_recorded_as_conflicts_and_redeliveries_add_nothing(
    database_url: str, mqtt_settings: MqttSettings, uid: str, name: str
) -> None:
    device_id = f"{uid}-c"
    case = _cases(device_id)[name]
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=device_id, kind=case.kind)
    first, second = json.dumps(case.first).encode(), json.dumps(case.second).encode()
    with running_worker(mqtt_settings, database_url, group=uid) as worker:
        device = DeviceSession(creds)
        try:
            device.publish(first, fmt=case.fmt)
            wait_until(lambda: worker.stats.acked >= 1)
            assert worker.flush()
            stored_before = _rows(database_url, _TABLES[case.kind], device_id)
            device.publish(second, fmt=case.fmt)
            wait_until(lambda: worker.stats.acked >= 2)
            assert worker.flush()
            assert worker.stats.conflicts == case.conflicting
            # Identical redeliveries, of the first message and of the conflicting one: nothing new anywhere.
            device.publish(second, fmt=case.fmt)
            device.publish(first, fmt=case.fmt)
            wait_until(lambda: worker.stats.acked >= 4)
            assert worker.flush()
        finally:
            device.close()
    assert worker.stats.conflicts == case.conflicting
    stored = _rows(database_url, _TABLES[case.kind], device_id)
    assert stored == stored_before  # the first values stay; nothing was added or overwritten
    with connect(database_url) as conn:
        recorded = conflicts.recent(conn, device_id=device_id)
        assert quarantine.recent(conn, device_id=device_id) == []
    assert len(recorded) == case.conflicting
    by_key = {(r["time"], r.get("tag", "")): r for r in stored}
    for c in recorded:
        kept = by_key[(c.time, c.tag or "")]
        assert c.source_table == _TABLES[case.kind]
        assert c.stored[case.column] == kept[case.column]
        assert c.offered[case.column] != kept[case.column]
        assert c.topic == f"sensors/{device_id}/{case.fmt}"
        assert c.payload_sha256 == hashlib.sha256(second).digest()
        assert c.repeats == 2  # offered twice (once redelivered), recorded once
        assert c.worker == worker.client_id


def test_sparkplug_values_at_a_stored_metric_time_are_recorded_as_conflicts(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    edge = f"{uid}-plc"
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=edge, kind=DeviceKind.PROCESS)
    ms = int(_ts().timestamp() * 1000)
    birth = encode_payload(
        [Metric("FIC101.PV", 12.5, alias=1), Metric("bdSeq", 0, DataType.UINT64)], timestamp_ms=ms, seq=0
    )
    messages = [
        (topic("line1", "NBIRTH", edge), birth),
        (topic("line1", "NDATA", edge), encode_payload([Metric(None, 13.0, alias=1)], timestamp_ms=ms, seq=1)),
        (topic("line1", "NDATA", edge), encode_payload([Metric(None, 12.5, alias=1)], timestamp_ms=ms, seq=2)),
    ]
    port = free_port()
    with running_worker(mqtt_settings, database_url, group=uid, slot=11, metrics_port=port) as worker:
        device = DeviceSession(creds)
        try:
            for t, payload in messages:
                device.publish(payload, topic=t)
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= len(messages))
        assert worker.flush()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    assert 'kipsense_ingest_conflicts_total{worker="kipsense-ingest-11"} 1.0' in text
    assert 'kipsense_ingest_duplicate_rows_total{worker="kipsense-ingest-11"} 1.0' in text  # the equal value
    stored = _rows(database_url, "process_values", edge)
    with connect(database_url) as conn:
        recorded = conflicts.recent(conn, device_id=edge)
    assert [(r["tag"], r["value"]) for r in stored] == [("FIC101.PV", 12.5)]
    assert [(c.tag, c.stored["value"], c.offered["value"], c.topic) for c in recorded] == [
        ("FIC101.PV", 12.5, 13.0, messages[1][0])
    ]
    assert worker.stats.conflicts == 1
