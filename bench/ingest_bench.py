"""Ingest throughput and latency against the MQTT client's own limit, on the TEST stack's broker and a private
database on the test cluster (never the main stack's data).

Method: every consumer is measured draining a backlog the broker already holds for its persistent session
(published beforehand), so the publisher's speed does not limit or share the measurement; the clock runs from
connect to the last acknowledgement (bare paho: last message received). Latency is measured separately with
a paced publisher at half the single-message rate: device time = publish time, and the row's ``received_at``
(set by the worker in the committing transaction) minus it is publish -> commit.

Run: ``.venv/bin/python bench/ingest.py`` (runs this module; the test stack must be up)
-> bench/results/ingest.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from _common import machine, markdown_table, update_results_md, write_results
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from ingest.worker import IngestWorker
from kipsense.provisioning import Credentials, create_device
from kipsense.records import DeviceKind, DustReading
from kipsense.settings import IngestSettings, MqttSettings
from kipsense.stack import LocalStack
from store import admin, migrate
from store import readings as store_readings
from store.db import connect

COMMAND = ".venv/bin/python bench/ingest.py"
ROOT = Path(__file__).resolve().parent.parent
N_SINGLE = 60_000
N_BATCHED_MESSAGES = 10_000
BATCH = 50
N_NAIVE = 8_000
N_COPY = 200_000
LATENCY_S = 12.0
LATENCY_REPEATS = 3  # the high-rate latency is measured this many times; the median run is reported
LOW_RATE = 1_000.0  # msg/s, a second latency point well below saturation
RECEIVE_MAXIMUM = 1_000
PACING_TICK_S = 0.002  # a paced publisher sends what is due in bursts at most this far apart
SLOTS = (7, 8)  # service usernames of the benchmark's consumers
BASE_MS = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)


class Bench:
    def __init__(self) -> None:
        stack = LocalStack(ROOT / ".local", "test")
        stack.up()
        env = stack.env()
        self.mqtt = MqttSettings(
            host=env["KIPSENSE_MQTT_HOST"],
            port=int(env["KIPSENSE_MQTT_PORT"]),
            username=env["KIPSENSE_MQTT_USERNAME"],
            password=SecretStr(env["KIPSENSE_MQTT_PASSWORD"]),
            password_file=Path(env["KIPSENSE_MQTT_PASSWORD_FILE"]),
            acl_file=Path(env["KIPSENSE_MQTT_ACL_FILE"]),
            pid_file=Path(env["KIPSENSE_MQTT_PID_FILE"]),
        )
        self.admin_url = stack.admin_url()
        self.db_name = f"bench_ingest_{secrets.token_hex(3)}"
        admin.ensure_database(self.admin_url, self.db_name)
        self.url = self.admin_url.rsplit("/", 1)[0] + "/" + self.db_name
        migrate.apply(self.url)
        self.tag = "b" + secrets.token_hex(3)
        self.counter = 0

    def close(self) -> None:
        admin.drop_database(self.admin_url, self.db_name)

    def devices(self, n: int) -> list[Credentials]:
        self.counter += 1
        with connect(self.url) as conn:
            return [
                create_device(conn, self.mqtt, device_id=f"{self.tag}-{self.counter}-{i}", kind=DeviceKind.DUST)
                for i in range(n)
            ]

    def service(self, slot: int) -> MqttSettings:
        return self.mqtt.model_copy(update={"username": f"kipsense-ingest-{slot}"})


def _client(client_id: str, username: str, password: str, settings: MqttSettings) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    return client


def publish(creds: list[Credentials], payloads: Callable[[int], list[bytes]], *, rate: float | None = None) -> None:
    """Each device publishes its payloads at QoS1 in its own thread; returns when the broker acknowledged all."""

    def run(index: int, c: Credentials) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.username, protocol=mqtt.MQTTv5)
        client.username_pw_set(c.username, c.password)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(c.host, c.port, keepalive=60)
        client.loop_start()
        while not client.is_connected():
            time.sleep(0.01)
        infos = []
        started = time.monotonic()
        for i, p in enumerate(payloads(index)):
            if rate is not None:
                # Sleep only when more than a tick ahead of schedule: one sleep per message would make the load
                # generator, not the system under test, take most of the two CPUs.
                delay = started + i / rate - time.monotonic()
                if delay > PACING_TICK_S:
                    time.sleep(delay)
                p = p.replace(b'"ts": 0', f'"ts": {time.time_ns() // 1000}'.encode())  # µs: unique per device
            infos.append(client.publish(f"sensors/{c.device_id}/json", p, qos=1))
        for info in infos:
            while not info.is_published():
                time.sleep(0.005)
        client.disconnect()
        client.loop_stop()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(creds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def single_payloads(n: int) -> Callable[[int], list[bytes]]:
    return lambda dev: [json.dumps({"ts": BASE_MS + i, "seq": i, "pm10": 20.0, "pm25": 9.0}).encode() for i in range(n)]


def batched_payloads(n: int) -> Callable[[int], list[bytes]]:
    def build(dev: int) -> list[bytes]:
        return [
            json.dumps(
                [{"ts": BASE_MS + m * BATCH + k, "seq": m * BATCH + k, "pm10": 20.0, "pm25": 9.0} for k in range(BATCH)]
            ).encode()
            for m in range(n)
        ]

    return build


# -- consumers ----------------------------------------------------------------------------------------------
def _session_props(expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


def bare_paho(b: Bench) -> float:
    """A paho QoS1 subscriber that does nothing but receive (automatic acks): the client's own limit."""
    creds = b.devices(4)
    svc = b.service(SLOTS[0])
    password = svc.password.get_secret_value() if svc.password else ""
    topics = [(f"sensors/{c.device_id}/json", 1) for c in creds]
    count = 0
    done = threading.Event()
    total = 4 * (N_SINGLE // 4)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count >= total:
            done.set()

    def session(clean: bool) -> mqtt.Client:
        client = _client(str(svc.username), str(svc.username), password, svc)
        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(topics)
        client.connect(svc.host, svc.port, keepalive=60, clean_start=clean, properties=_session_props(300))
        return client

    first = session(True)
    first.loop_start()
    time.sleep(0.5)
    first.disconnect()
    first.loop_stop()
    publish(creds, single_payloads(N_SINGLE // 4))
    client = session(False)
    started = time.perf_counter()
    client.loop_start()
    if not done.wait(timeout=300):
        raise SystemExit(f"bare subscriber got {count} of {total} messages")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def _worker(
    b: Bench, slot: int, group: str, on_commit: Callable[[int], None] | None = None, **overrides: Any
) -> IngestWorker:
    settings = IngestSettings(
        share_group=group, session_expiry_s=300, receive_maximum=RECEIVE_MAXIMUM, sparkplug=False, **overrides
    )
    return IngestWorker(
        settings=settings,
        mqtt_settings=b.service(slot),
        database_url=b.url,
        client_id=f"kipsense-ingest-{slot}",
        on_commit=on_commit,
    )


def _discard_session(b: Bench, slot: int) -> None:
    """Drop whatever session (subscriptions, backlog) an earlier run left for this slot."""
    svc = b.service(slot)
    client = _client(str(svc.username), str(svc.username), svc.password.get_secret_value() if svc.password else "", svc)
    client.connect(svc.host, svc.port, clean_start=True, properties=_session_props(0))
    client.loop_start()
    while not client.is_connected():
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()


def _prime(b: Bench, slot: int, group: str) -> None:
    """Create a fresh persistent session and its shared subscription, then leave."""
    _discard_session(b, slot)
    w = _worker(b, slot, group)
    w.start()
    while not w.connected.is_set():
        time.sleep(0.05)
    time.sleep(0.5)
    w.stop()


def ingest_drain(b: Bench, payloads: Callable[[int], list[bytes]], messages: int) -> tuple[float, int]:
    """Messages per second of one worker draining ``messages`` queued for it; also the rows stored."""
    creds = b.devices(4)
    group = f"{b.tag}-g{b.counter}"
    _prime(b, SLOTS[0], group)
    publish(creds, payloads)
    w = _worker(b, SLOTS[0], group)
    started = time.perf_counter()
    w.start()
    while w.stats.acked < messages:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    w.stop()
    _discard_session(b, SLOTS[0])
    if w.stats.quarantined_snapshot():
        raise SystemExit(f"quarantined: {w.stats.quarantined_snapshot()}")
    return messages / elapsed, w.stats.rows


def two_workers(b: Bench) -> float:
    """Two worker processes (``python -m ingest.service``) on one shared subscription draining a backlog."""
    creds = b.devices(4)
    group = f"{b.tag}-g{b.counter}"
    for slot in SLOTS:
        _prime(b, slot, group)
    publish(creds, single_payloads(N_SINGLE // 4))
    env = {
        **os.environ,
        "KIPSENSE_DATABASE_URL": b.url,
        "KIPSENSE_MQTT_HOST": b.mqtt.host,
        "KIPSENSE_MQTT_PORT": str(b.mqtt.port),
        "KIPSENSE_MQTT_USERNAME": "kipsense-ingest-0",
        "KIPSENSE_MQTT_PASSWORD": b.mqtt.password.get_secret_value() if b.mqtt.password else "",
        "KIPSENSE_INGEST_SHARE_GROUP": group,
        "KIPSENSE_INGEST_SESSION_EXPIRY_S": "300",
        "KIPSENSE_INGEST_RECEIVE_MAXIMUM": str(RECEIVE_MAXIMUM),
        "KIPSENSE_INGEST_SPARKPLUG": "false",
    }
    ids = [c.device_id for c in creds]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ingest.service", "--slot", str(slot)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for slot in SLOTS
    ]
    try:
        with connect(b.url) as conn:
            while sum(store_readings.count(conn, table="dust_readings", device_id=d) for d in ids) < N_SINGLE:
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        for slot in SLOTS:
            _discard_session(b, slot)
    return N_SINGLE / elapsed


def copy_rows(b: Bench) -> float:
    """Binary COPY of rows straight into the hypertable (the write path's fast path), one transaction."""
    (cred,) = b.devices(1)
    base = datetime.fromtimestamp(BASE_MS / 1000, tz=UTC)
    rows = [
        DustReading(cred.device_id, base + timedelta(milliseconds=i), pm10=20.0, pm25=9.0, seq=i) for i in range(N_COPY)
    ]
    with connect(b.url, autocommit=True) as conn:
        started = time.perf_counter()
        with conn.transaction():
            store_readings.write_records(conn, rows, received_at=datetime.now(UTC))
        return N_COPY / (time.perf_counter() - started)


def naive_bridge(b: Bench) -> float:
    """The common pattern: decode and INSERT + commit one row per message inside ``on_message``."""
    creds = b.devices(1)
    svc = b.service(SLOTS[0])
    password = svc.password.get_secret_value() if svc.password else ""
    topic = f"sensors/{creds[0].device_id}/json"
    conn = connect(b.url, autocommit=True)
    count = 0
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        doc = json.loads(msg.payload)
        ts = datetime.fromtimestamp(doc["ts"] / 1000, tz=UTC)
        rec = DustReading(creds[0].device_id, ts, pm10=doc["pm10"], pm25=doc["pm25"], seq=doc["seq"])
        store_readings.insert_one(conn, rec, received_at=datetime.now(UTC))
        count += 1
        if count >= N_NAIVE:
            done.set()

    def session(clean: bool) -> mqtt.Client:
        client = _client(str(svc.username), str(svc.username), password, svc)
        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.connect(svc.host, svc.port, keepalive=60, clean_start=clean, properties=_session_props(300))
        return client

    first = session(True)
    first.loop_start()
    time.sleep(0.5)
    first.disconnect()
    first.loop_stop()
    publish(creds, single_payloads(N_NAIVE))
    client = session(False)
    started = time.perf_counter()
    client.loop_start()
    done.wait(timeout=300)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    conn.close()
    return count / elapsed


def _paced_publisher(creds: list[Credentials], per_device: int, rate_per_device: float) -> None:
    """A publisher process: device time is stamped right before each publish."""

    def payloads(dev: int) -> list[bytes]:
        return [json.dumps({"ts": 0, "seq": i, "pm10": 20.0, "pm25": 9.0}).encode() for i in range(per_device)]

    publish(creds, payloads, rate=rate_per_device)


def latency(b: Bench, rate: float) -> tuple[float, float, int]:
    """p50/p99 publish -> commit (ms): 4 devices in 2 publisher processes sending ``rate`` msg/s in total.

    A row's ``received_at`` is when its batch's write began, inside the transaction; the commit comes later.
    The worker reports each commit (after the acks are sent), so a row's end is the first commit at or after
    its batch's ``received_at``: batches are written and committed one after another by one writer thread.
    """
    creds = b.devices(4)
    group = f"{b.tag}-g{b.counter}"
    _discard_session(b, SLOTS[0])
    committed: list[float] = []
    w = _worker(b, SLOTS[0], group, on_commit=lambda _n: committed.append(time.time()))
    w.start()
    while not w.connected.is_set():
        time.sleep(0.05)
    time.sleep(0.5)
    per_device = int(rate / 4 * LATENCY_S)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_paced_publisher, args=(creds[i::2], per_device, rate / 4)) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    while w.stats.acked < 4 * per_device:
        time.sleep(0.05)
    w.stop()
    _discard_session(b, SLOTS[0])
    with connect(b.url) as conn:
        rows = store_readings.stored_seqs(conn, table="dust_readings", device_ids=[c.device_id for c in creds])
    written = np.array([r.received_at.timestamp() for r in rows])
    sent = np.array([r.time.timestamp() for r in rows])
    commits = np.array(committed)
    index = np.searchsorted(commits, written)
    if len(commits) == 0 or index.max() >= len(commits):
        raise SystemExit("a stored row has no commit after its write began")
    lags = (commits[index] - sent) * 1000
    return float(np.percentile(lags, 50)), float(np.percentile(lags, 99)), len(rows)


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def report(r: dict[str, Any]) -> str:
    rows = [
        ["bare paho QoS1 subscriber (does nothing)", f"{r['bare_paho_msgs_per_s']:,.0f} msg/s", "client limit"],
        [
            "ingest, 1 reading/message, ack after commit",
            f"{r['ingest_single_msgs_per_s']:,.0f} msg/s",
            f"{r['ratios']['single_vs_bare_paho']:.2f}x bare paho (target >= 0.8x: "
            f"{_verdict(r['ratios']['single_vs_bare_paho'] >= 0.8)})",
        ],
        [
            "ingest, 50 readings/message",
            f"{r['ingest_batched_readings_per_s']:,.0f} readings/s",
            f"target >= 150k readings/s: {_verdict(r['ingest_batched_readings_per_s'] >= 150_000)}",
        ],
        ["binary COPY into the hypertable", f"{r['copy_rows_per_s']:,.0f} rows/s", "database limit"],
        [
            "naive bridge (INSERT + commit per message)",
            f"{r['naive_bridge_msgs_per_s']:,.0f} msg/s",
            f"ingest is {r['ratios']['single_vs_naive']:.1f}x "
            f"(target >= 10x: {_verdict(r['ratios']['single_vs_naive'] >= 10)})",
        ],
        [
            "two worker processes, shared subscription",
            f"{r['two_workers_msgs_per_s']:,.0f} msg/s",
            f"{r['ratios']['two_vs_single']:.2f}x one worker",
        ],
        [
            f"publish -> commit at {r['latency_rate_msgs_per_s']:,.0f} msg/s",
            f"p50 {r['publish_to_commit_p50_ms']:.0f} ms, p99 {r['publish_to_commit_p99_ms']:.0f} ms (median of "
            f"{len(r['publish_to_commit_p99_runs_ms'])} runs; p99 of each: "
            + ", ".join(f"{v:.0f}" for v in r["publish_to_commit_p99_runs_ms"])
            + " ms)",
            f"target p99 <= 200 ms: {_verdict(r['publish_to_commit_p99_ms'] <= 200)}",
        ],
        [
            f"publish -> commit at {LOW_RATE:,.0f} msg/s",
            f"p50 {r['publish_to_commit_low_rate_p50_ms']:.0f} ms, p99 {r['publish_to_commit_low_rate_p99_ms']:.0f} ms",
            "reference point",
        ],
    ]
    return "\n".join(
        [
            "## Ingest (bench/ingest.py)",
            "",
            f"Command: `{COMMAND}` on {r['machine']['cpus']} CPUs ({r['machine']['processor']}), the test stack's "
            "Mosquitto and TimescaleDB on the same machine. Consumers drain a backlog the broker holds for their "
            f"persistent session (receive maximum {RECEIVE_MAXIMUM}); latency uses a paced live publisher.",
            "",
            markdown_table(["what", "measured", "compared"], rows),
            "",
            "Where the time goes (py-spy, `py-spy record -r 500 --threads -f raw` around one drain of each kind):",
            "",
            "- 1 reading/message: paho's network thread is the limit, busy all the time, and most of it is paho",
            "  parsing each PUBLISH (MQTT 5 properties objects, the message object); `on_message` only stamps and",
            "  appends to the inbox (about 8 % of that thread). Reads go through a userspace buffer (one `recv()`",
            "  for many packets instead of three per packet), acks of a committed batch leave as one write, and",
            "  the writer is woken once per 64 messages, so the writer and the network thread share the GIL with",
            "  little left over; the writer waits on the database about 40 % of its time.",
            "- 50 readings/message: a plain batch (one shape of reading, numbers, integer epoch timestamps) is",
            "  decoded straight into binary COPY rows: each column read with one C-level pass over the list,",
            "  types, ranges, duplicate field names and the time window checked with numpy, timestamps written as",
            "  int64 microseconds since 2000-01-01 (`ingest/decoders/columnar.py`, `store/row_blocks.py`); anything",
            "  unusual takes the strict decoder. Decoding is now about a fifth of the writer thread (orjson and",
            "  its duplicate-key proof the largest part, then building the row block); about three quarters is",
            "  waiting for PostgreSQL, most of it for the server to finish the COPY (inserting into the hypertable",
            "  and its three indexes on the same two cores as Mosquitto and the worker). The database is the limit",
            "  now; what is left to overlap is decoding the next batch while the server finishes the COPY.",
            f"  The batched drain moves {N_BATCHED_MESSAGES * BATCH:,} readings (connect and first batch included).",
            f"- Naive-bridge ratio: the naive bridge ({N_NAIVE:,} messages) and the single-message drain",
            f"  ({N_SINGLE:,} messages) each move by about 10 % between runs on the shared machine. The single drain",
            "  is within a few per cent of the bare subscriber, so the ratio is bounded by how many times faster",
            "  than an INSERT + commit per message paho itself can receive on the machine (about 10-11x here).",
            "- Latency: a batch is committed when it holds the broker's whole in-flight window (nothing more can",
            "  arrive before an ack) or `flush_ms` (50 ms) after its oldest message arrived. A row's latency runs",
            "  from just before its publish to the end of its batch's commit (the worker reports each commit",
            "  after sending the acks). Reports before 2026-11-29 stopped at the start of the batch's write (the",
            "  stored `received_at`), which left out the commit itself: p50 10-17 ms, p99 45-60 ms per batch at",
            "  this rate. The paced publishers",
            f"  send what is due in bursts at most {PACING_TICK_S * 1000:.0f} ms apart (sleeping once per message",
            "  made the load generator take more than half of the two CPUs); each message is still stamped right",
            "  before its own publish. At half the single-message rate the two CPUs are shared by two publisher",
            "  processes, Mosquitto, PostgreSQL and the worker; the p99 of one 12 s run moves by about a quarter",
            "  between runs (single runs above 400 ms were seen), so the median of three runs is reported, with",
            "  each run's figure. Inside the worker (instrumented runs at 14,500 msg/s after 800,000 rows of",
            "  COPY): the oldest message of a batch waits p50 51 ms, p99 136-163 ms before its commit starts, and",
            "  the commit takes p50 11-17 ms, p99 44-63 ms; batches are full in-flight windows (1,000 messages)",
            "  at p99, so the broker was holding messages back during those pauses. The tail is CPU pauses, not a",
            "  queue that builds up: it grows with what the run has already written (to the start of the write:",
            "  p99 142-172 ms on an empty table, 192-232 ms after 800,000 rows of COPY, 126-187 ms after the same",
            "  fill and a CHECKPOINT). Halving `flush_ms` to 25 ms halves p50 (to 28-32 ms) but leaves p99 at",
            "  189-419 ms. Every drain and the latency run drop their broker session when done: a disconnected",
            "  shared subscription left behind kept queueing the later phases' messages (a 217 MB persistence",
            "  file written every 10 s), which had doubled the tail.",
        ]
    )


def main() -> None:
    b = Bench()
    try:
        results: dict[str, Any] = {"machine": machine()}
        results["bare_paho_msgs_per_s"] = bare_paho(b)
        results["ingest_single_msgs_per_s"], _ = ingest_drain(b, single_payloads(N_SINGLE // 4), N_SINGLE)
        msgs_per_s, rows = ingest_drain(b, batched_payloads(N_BATCHED_MESSAGES // 4), N_BATCHED_MESSAGES)
        if rows != N_BATCHED_MESSAGES * BATCH:
            raise SystemExit(f"batched run stored {rows} rows, expected {N_BATCHED_MESSAGES * BATCH}")
        results["ingest_batched_readings_per_s"] = msgs_per_s * BATCH
        results["copy_rows_per_s"] = copy_rows(b)
        results["naive_bridge_msgs_per_s"] = naive_bridge(b)
        results["two_workers_msgs_per_s"] = two_workers(b)
        rate = results["ingest_single_msgs_per_s"] / 2
        runs = sorted((latency(b, rate) for _ in range(LATENCY_REPEATS)), key=lambda run: run[1])
        p50, p99, n = runs[len(runs) // 2]
        results.update(
            publish_to_commit_p50_ms=p50,
            publish_to_commit_p99_ms=p99,
            publish_to_commit_p99_runs_ms=[run[1] for run in runs],
            latency_rate_msgs_per_s=rate,
            latency_rows=n,
        )
        p50_low, p99_low, _ = latency(b, LOW_RATE)
        results.update(publish_to_commit_low_rate_p50_ms=p50_low, publish_to_commit_low_rate_p99_ms=p99_low)
        results["ratios"] = {
            "single_vs_bare_paho": results["ingest_single_msgs_per_s"] / results["bare_paho_msgs_per_s"],
            "single_vs_naive": results["ingest_single_msgs_per_s"] / results["naive_bridge_msgs_per_s"],
            "two_vs_single": results["two_workers_msgs_per_s"] / results["ingest_single_msgs_per_s"],
            "batched_vs_copy": results["ingest_batched_readings_per_s"] / results["copy_rows_per_s"],
        }
        results["command"] = COMMAND
        write_results("ingest", results)
        update_results_md("ingest", report(results))
        print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    finally:
        b.close()


if __name__ == "__main__":
    main()
