"""Helpers of the ingest delivery scenarios: numbered readings, fast QoS1 publishing, an ingest worker in a
process that can be SIGKILLed, and an audit of the database against what was sent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from kipsense.provisioning import Credentials, create_device
from kipsense.records import DeviceKind
from kipsense.settings import MqttSettings
from kipsense.stack import LocalStack
from store import readings
from store.db import connect
from tests.support import discard_session, wait_until

ROOT = Path(__file__).resolve().parents[2]
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def reading(seq: int, *, base: datetime = BASE) -> bytes:
    """A dust reading numbered ``seq``; its device time is ``base + seq ms``, so (device, seq) is its key."""
    ts = int(base.timestamp() * 1000) + seq
    return json.dumps({"ts": ts, "seq": seq, "pm10": 10.0 + seq % 50, "pm25": 5.0}).encode()


def provision(database_url: str, mqtt_settings: MqttSettings, prefix: str, n: int) -> list[Credentials]:
    with connect(database_url) as conn:
        return [create_device(conn, mqtt_settings, device_id=f"{prefix}-{i}", kind=DeviceKind.DUST) for i in range(n)]


class Publisher:
    """Devices publishing QoS1 in parallel, one thread each, a wide in-flight window, waiting for PUBACKs."""

    def __init__(self, creds: Sequence[Credentials], *, inflight: int = 500) -> None:
        self.clients: dict[str, mqtt.Client] = {}
        for c in creds:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.username, protocol=mqtt.MQTTv5)
            client.username_pw_set(c.username, c.password)
            client.max_inflight_messages_set(inflight)
            client.max_queued_messages_set(0)
            client.connect(c.host, c.port, keepalive=30)
            client.loop_start()
            self.clients[c.device_id] = client
        wait_until(lambda: all(cl.is_connected() for cl in self.clients.values()), timeout=10)

    def publish(self, plan: dict[str, list[bytes]], *, rate_per_device: float | None = None) -> None:
        """Publish ``plan[device]`` in order on each device's own topic; returns when all are PUBACKed."""
        errors: list[BaseException] = []

        def run(device_id: str, payloads: list[bytes]) -> None:
            try:
                client = self.clients[device_id]
                infos = []
                started = time.monotonic()
                for i, payload in enumerate(payloads):
                    if rate_per_device is not None:
                        delay = started + i / rate_per_device - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    infos.append(client.publish(f"sensors/{device_id}/json", payload, qos=1))
                deadline = time.monotonic() + 120
                for i in range(len(infos)):
                    while True:
                        try:
                            if infos[i].is_published():
                                break
                        except RuntimeError:  # refused while disconnected (broker restart or reload): again
                            wait_until(client.is_connected, timeout=60)
                            infos[i] = client.publish(f"sensors/{device_id}/json", payloads[i], qos=1)
                            continue
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{device_id}: message {i} not acknowledged by the broker")
                        time.sleep(0.01)
            except BaseException as exc:  # reported to the test thread below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=item) for item in plan.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def numbered_plan(device_ids: Sequence[str], per_device: int) -> dict[str, list[bytes]]:
    return {d: [reading(i) for i in range(per_device)] for d in device_ids}


class Audit:
    """Rows stored per device, checked against what was sent."""

    def __init__(self, database_url: str, device_ids: Sequence[str]) -> None:
        with connect(database_url) as conn:
            self.rows = readings.stored_seqs(conn, table="dust_readings", device_ids=device_ids)
        self.by_device: dict[str, Counter[int]] = defaultdict(Counter)
        for row in self.rows:
            if row.seq is not None:
                self.by_device[row.device_id][row.seq] += 1

    def missing(self, expected: dict[str, int]) -> int:
        return sum(sum(1 for s in range(n) if s not in self.by_device[d]) for d, n in expected.items())

    def duplicates(self) -> int:
        return sum(c - 1 for seqs in self.by_device.values() for c in seqs.values() if c > 1)


def settle(database_url: str, device_ids: Sequence[str], expected: int, *, stall_s: float = 15.0) -> int:
    """Wait until ``expected`` rows are stored or the count stops growing for ``stall_s``; the last count."""
    last, since = -1, time.monotonic()
    while True:
        n = stored_count(database_url, device_ids)
        if n >= expected:
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > stall_s:
            return n
        time.sleep(0.3)


def stored_count(database_url: str, device_ids: Sequence[str]) -> int:
    try:
        with connect(database_url) as conn:
            return sum(readings.count(conn, table="dust_readings", device_id=d) for d in device_ids)
    except psycopg.OperationalError:
        return -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    """One ingest worker slot in its own process (``python -m ingest.service``), killable with SIGKILL."""

    def __init__(
        self, mqtt_settings: MqttSettings, database_url: str, *, group: str, log_path: Path, slot: int = 12, **env: str
    ) -> None:
        self.slot = slot
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "KIPSENSE_DATABASE_URL": database_url,
            "KIPSENSE_MQTT_HOST": mqtt_settings.host,
            "KIPSENSE_MQTT_PORT": str(mqtt_settings.port),
            "KIPSENSE_MQTT_USERNAME": f"kipsense-ingest-{slot}",
            "KIPSENSE_MQTT_PASSWORD": mqtt_settings.password.get_secret_value() if mqtt_settings.password else "",
            "KIPSENSE_INGEST_SHARE_GROUP": group,
            "KIPSENSE_INGEST_SESSION_EXPIRY_S": "120",
            "KIPSENSE_INGEST_SPARKPLUG": "false",
            "KIPSENSE_INGEST_METRICS_PORT": str(self.metrics_port - slot),  # slot N serves on port + N
            **env,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.redelivered = 0.0
        discard_session(mqtt_settings, f"kipsense-ingest-{slot}")

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest.service", "--slot", str(self.slot)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: self.metric("kipsense_ingest_connected") == 1.0, timeout=30)

    def metric(self, name: str) -> float | None:
        """A sample of this worker's ``/metrics`` (None when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def kill9(self) -> None:
        assert self.proc is not None
        self.redelivered += self.metric("kipsense_ingest_redelivered_messages_total") or 0.0
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.redelivered += self.metric("kipsense_ingest_redelivered_messages_total") or 0.0
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def local_test_stack() -> LocalStack:
    """The test stack the fixtures started (``KIPSENSE_TEST_STACK_ROOT`` overrides where it lives)."""
    return LocalStack(Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local")), "test")


def stop_postgres(stack: LocalStack) -> None:
    stack._parts()[0].stop()


def start_postgres(stack: LocalStack) -> None:
    pg = stack._parts()[0]
    if not pg.running():
        pg.start()


def restart_broker(stack: LocalStack, *, down_s: float) -> None:
    """Stop the test broker (it saves its persistence file), wait, start it again from that file."""
    broker = stack._parts()[1]
    broker.stop()
    time.sleep(down_s)
    broker.start()


def background(
    publisher: Publisher, plan: dict[str, list[bytes]], **kw: float
) -> tuple[threading.Thread, list[BaseException]]:
    """Publish ``plan`` in a thread; errors are collected for the test to raise."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            publisher.publish(plan, **kw)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


class CuttableProxy:
    """A TCP forwarder to the test database that a test can cut (connections reset, new ones refused) and
    restore, so one worker sees a database outage without stopping the cluster other tests share."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def url(self, database_url: str) -> str:
        return database_url.replace(f":{self.target_port}/", f":{self.port}/")

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                with contextlib.suppress(OSError):  # wakes the accept() blocked in another thread
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
