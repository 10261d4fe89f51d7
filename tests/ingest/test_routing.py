"""Routing and scale-out: Sparkplug B to the stateful decoder, N workers on one shared subscription, /metrics."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.decoders.sparkplug import DataType, Metric, encode_payload, topic
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from store import quarantine, readings
from store.db import connect
from tests.ingest.chaos import Audit, Publisher, WorkerProcess, free_port, numbered_plan, provision, settle
from tests.support import running_worker, wait_until


def _edge_client(creds_username: str, password: str, host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=creds_username, protocol=mqtt.MQTTv5)
    client.username_pw_set(creds_username, password)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    wait_until(client.is_connected, timeout=10)
    return client


def test_sparkplug_births_data_and_deaths_become_values_and_events(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    edge = f"{uid}-plc"
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=edge, kind=DeviceKind.PROCESS)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    messages = [
        (
            topic("line1", "NBIRTH", edge),
            encode_payload(
                [Metric("FIC101.PV", 12.5, alias=1), Metric("bdSeq", 0, DataType.UINT64)],
                timestamp_ms=now_ms,
                seq=0,
            ),
        ),
        (topic("line1", "NDATA", edge), encode_payload([Metric(None, 12.7, alias=1)], timestamp_ms=now_ms + 1, seq=1)),
        (
            topic("line1", "DBIRTH", edge, "pump1"),
            encode_payload([Metric("speed", 1450.0, alias=7)], timestamp_ms=now_ms + 2, seq=2),
        ),
        (
            topic("line1", "DDATA", edge, "pump1"),
            encode_payload([Metric(None, 1460.0, alias=7)], timestamp_ms=now_ms + 3, seq=3),
        ),
        # seq 4 and 5 never arrive: a gap of two
        (topic("line1", "NDATA", edge), encode_payload([Metric(None, 12.9, alias=1)], timestamp_ms=now_ms + 6, seq=6)),
        (topic("line1", "DDEATH", edge, "pump1"), encode_payload([], timestamp_ms=now_ms + 7, seq=7)),
        (topic("line1", "NDEATH", edge), encode_payload([Metric("bdSeq", 0, DataType.UINT64)])),
    ]
    with running_worker(mqtt_settings, database_url, group=uid, slot=11) as worker:
        client = _edge_client(creds.username, creds.password, creds.host, creds.port)
        try:
            for t, payload in messages:
                client.publish(t, payload, qos=1).wait_for_publish(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()
        wait_until(lambda: worker.stats.acked >= len(messages), timeout=20)
    with connect(database_url) as conn:
        node_values = readings.count(conn, table="process_values", device_id=edge)
        pump_values = readings.count(conn, table="process_values", device_id=f"{edge}-pump1")
        events = readings.device_events(conn, device_ids=[edge, f"{edge}-pump1"])
        refused = quarantine.recent(conn, device_id=edge)
    assert refused == []
    assert (node_values, pump_values) == (3, 2)
    kinds = [(e.device_id, e.event) for e in events]
    assert (edge, "online") in kinds
    assert (f"{edge}-pump1", "online") in kinds
    assert (edge, "seq_gap") in kinds
    assert (f"{edge}-pump1", "offline") in kinds
    assert (edge, "offline") in kinds


def test_sparkplug_from_an_unregistered_edge_node_is_quarantined(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    edge = f"{uid}-dust"
    with connect(database_url) as conn:
        creds = create_device(conn, mqtt_settings, device_id=edge, kind=DeviceKind.DUST)
    with running_worker(mqtt_settings, database_url, group=uid, slot=11) as worker:
        client = _edge_client(creds.username, creds.password, creds.host, creds.port)
        try:
            payload = encode_payload([Metric("FIC101.PV", 1.0)], timestamp_ms=int(time.time() * 1000), seq=0)
            client.publish(topic("line1", "NBIRTH", edge), payload, qos=1).wait_for_publish(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()
        wait_until(lambda: worker.stats.acked >= 1, timeout=20)
    with connect(database_url) as conn:
        rows = quarantine.recent(conn, device_id=edge)
    assert [r.reason for r in rows] == ["kind_mismatch"]


@pytest.mark.slow
def test_three_workers_on_one_shared_subscription_store_everything_once(
    database_url: str, mqtt_settings: MqttSettings, uid: str, tmp_path: object
) -> None:
    """Traffic is spread over the workers; killing one mid-stream hands its unacknowledged messages to the rest."""
    creds = provision(database_url, mqtt_settings, f"{uid}-n", 6)
    ids = [c.device_id for c in creds]
    per_device = 2_000
    with (
        running_worker(mqtt_settings, database_url, group=uid, slot=13, sparkplug=False) as first,
        running_worker(mqtt_settings, database_url, group=uid, slot=14, sparkplug=False) as second,
    ):
        log_path = tmp_path / "third.log"  # type: ignore[operator]
        third = WorkerProcess(mqtt_settings, database_url, group=uid, log_path=log_path, slot=15)
        publisher = Publisher(creds)
        try:
            third.start()
            publisher.publish({d: p[: per_device // 2] for d, p in numbered_plan(ids, per_device).items()})
            third.kill9()  # its session expires later; its in-flight messages go to the other two
            publisher.publish({d: p[per_device // 2 :] for d, p in numbered_plan(ids, per_device).items()})
            third.start()
            settle(database_url, ids, len(ids) * per_device)
        finally:
            third.terminate()
            publisher.close()
        assert first.stats.messages > 0 and second.stats.messages > 0
    audit = Audit(database_url, ids)
    assert audit.missing(dict.fromkeys(ids, per_device)) == 0
    assert audit.duplicates() == 0


def test_metrics_endpoint_reports_counters_histograms_and_quarantine_reasons(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    (creds,) = provision(database_url, mqtt_settings, f"{uid}-p", 1)
    port = free_port()
    with running_worker(mqtt_settings, database_url, group=uid, slot=11, metrics_port=port) as worker:
        publisher = Publisher([creds])
        try:
            publisher.publish({creds.device_id: [*numbered_plan([creds.device_id], 20)[creds.device_id], b"nope"]})
        finally:
            publisher.close()
        wait_until(lambda: worker.stats.acked >= 21, timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    worker_label = 'worker="kipsense-ingest-11"'
    assert f"kipsense_ingest_messages_total{{{worker_label}}} 21.0" in text
    assert f"kipsense_ingest_rows_total{{{worker_label}}} 20.0" in text
    assert f'kipsense_ingest_quarantined_total{{reason="not_json",{worker_label}}} 1.0' in text
    assert f"kipsense_ingest_acked_messages_total{{{worker_label}}} 21.0" in text
    for family in ("commit_seconds", "batch_messages", "ack_lag_seconds"):
        assert f'kipsense_ingest_{family}_bucket{{le="+Inf",{worker_label}}}' in text
    assert "kipsense_ingest_db_errors_total" in text
    assert "kipsense_ingest_reconnects_total" in text
    assert f"kipsense_ingest_connected{{{worker_label}}} 1.0" in text
