"""The writer's inbox, in-order batched acks and the buffered socket (no broker needed)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.handoff import BufferedClient, Inbox, _BufferedSocket, ack_in_order


def test_inbox_keeps_order_and_takes_at_most_the_limit() -> None:
    inbox: Inbox[int] = Inbox(100, wake_at=10)
    for i in range(25):
        assert inbox.put(i, timeout=0.1)
    assert inbox.take(10) == list(range(10))
    assert inbox.peek() == 10
    assert inbox.take(100) == list(range(10, 25))
    assert len(inbox) == 0


def test_inbox_wait_returns_when_enough_items_arrive_or_on_timeout() -> None:
    inbox: Inbox[int] = Inbox(100, wake_at=5)
    started = time.monotonic()
    inbox.wait(0.05)
    assert time.monotonic() - started >= 0.04
    threading.Timer(0.02, lambda: [inbox.put(i, timeout=0.1) for i in range(5)]).start()
    started = time.monotonic()
    inbox.wait(5.0)
    assert time.monotonic() - started < 2.0
    assert len(inbox) == 5


def test_a_full_inbox_blocks_the_producer_until_the_consumer_takes() -> None:
    inbox: Inbox[int] = Inbox(3, wake_at=3)
    for i in range(3):
        assert inbox.put(i, timeout=0.1)
    assert not inbox.put(3, timeout=0.05)  # still full: the caller retries, nothing is dropped silently
    threading.Timer(0.05, lambda: inbox.take(1)).start()
    assert inbox.put(3, timeout=5.0)
    assert inbox.take(10) == [1, 2, 3]


class _Recorder:
    """Stands in for paho's client: records queued packets and public acks in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def _packet_queue(self, command: int, packet: bytes, mid: int, qos: int) -> None:
        self.sent.append(("packet", packet))

    def ack(self, mid: int, qos: int) -> None:
        self.sent.append(("ack", (mid, qos)))


def test_qos1_acks_go_out_as_one_packet_run_in_arrival_order() -> None:
    client = _Recorder()
    count = ack_in_order(client, [(1, 1), (2, 1), (9, 0), (3, 2), (4, 1)])  # type: ignore[arg-type]
    assert count == 4
    assert client.sent == [
        ("packet", bytes([0x40, 2, 0, 1, 0x40, 2, 0, 2])),
        ("ack", (3, 2)),
        ("packet", bytes([0x40, 2, 0, 4])),
    ]


def test_without_the_packet_queue_every_message_is_acked_publicly() -> None:
    class Public:
        def __init__(self) -> None:
            self.acks: list[tuple[int, int]] = []

        def ack(self, mid: int, qos: int) -> None:
            self.acks.append((mid, qos))

    client = Public()
    assert ack_in_order(client, [(5, 1), (6, 1)]) == 2  # type: ignore[arg-type]
    assert client.acks == [(5, 1), (6, 1)]


def test_buffered_socket_returns_the_same_bytes_in_pieces() -> None:
    left, right = socket.socketpair()
    try:
        left.sendall(b"\x30\x05hello\x30\x02hi")
        wrapped = _BufferedSocket(right)
        assert wrapped.recv(1) == b"\x30"
        assert wrapped.pending() == 10
        assert wrapped.recv(1) == b"\x05"
        assert wrapped.recv(5) == b"hello"
        assert wrapped.recv(100) == b"\x30\x02hi"
        assert wrapped.pending() == 0
        right.setblocking(False)
        try:
            wrapped.recv(1)
            raise AssertionError("expected BlockingIOError on an empty non-blocking socket")
        except BlockingIOError:
            pass
        left.close()
        assert wrapped.recv(1) == b""
    finally:
        right.close()


def test_buffered_client_is_a_paho_client() -> None:
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5, manual_ack=True)
    assert isinstance(client, mqtt.Client)
