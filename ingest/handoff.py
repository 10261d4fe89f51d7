"""Cheap hand-over between paho's network thread and the writer: a bounded inbox and in-order batched acks.

Both threads share one GIL, so every microsecond spent per message in either of them is taken from the other.
``queue.Queue`` costs a lock round and a condition notify per ``put`` and, for a writer that keeps up, a full
condition wait per ``get``; ``Inbox`` appends to a deque (atomic under the GIL) and wakes the writer once per
``wake_at`` messages instead. The writer never waits longer than its own timeout, so a quiet stream is still
flushed on time.

``ack_in_order`` sends the acknowledgements of a committed batch as one write: paho's ``ack()`` queues one
4-byte packet and writes one wake-up byte to its socket pair per message, and the network thread then wakes
and sends once per message.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

T = TypeVar("T")

_PUBACK = struct.Struct("!BBH")


class Inbox(Generic[T]):
    """A bounded FIFO with one producer and one consumer that wakes the consumer in batches."""

    def __init__(self, maxsize: int, *, wake_at: int = 64) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._wake_at = max(1, min(wake_at, maxsize))
        self._ready = threading.Event()
        self._not_full = threading.Event()
        self._not_full.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, timeout: float) -> bool:
        """Append ``item``; when the inbox is full, wait up to ``timeout`` for room (False: still full)."""
        items = self._items
        if len(items) >= self._maxsize:
            self._not_full.clear()
            if len(items) >= self._maxsize:  # the consumer may have made room between the test and the clear
                self._ready.set()
                if not self._not_full.wait(timeout) and len(items) >= self._maxsize:
                    return False
        items.append(item)
        if len(items) >= self._wake_at and not self._ready.is_set():
            self._ready.set()
        return True

    def wake(self) -> None:
        """Wake a waiting consumer now (a flush or stop was asked for)."""
        self._ready.set()

    def wait(self, timeout: float) -> None:
        """Wait until ``wake_at`` items are queued, ``wake()`` is called, or ``timeout`` passes."""
        if len(self._items) >= self._wake_at:
            return
        self._ready.clear()
        if len(self._items) < self._wake_at:  # re-test after the clear: a put in between must not be missed
            self._ready.wait(timeout)

    def peek(self) -> T | None:
        """The oldest item, left in place; None when empty."""
        try:
            return self._items[0]
        except IndexError:
            return None

    def take(self, limit: int) -> list[T]:
        """Remove and return up to ``limit`` items, oldest first."""
        items = self._items
        out = [items.popleft() for _ in range(min(limit, len(items)))]
        if out and not self._not_full.is_set():
            self._not_full.set()
        return out


def ack_in_order(client: mqtt.Client, acks: Iterable[tuple[int, int]]) -> int:
    """Acknowledge ``(mid, qos)`` pairs in the given order; QoS 1 acks go out as one write. Returns the count.

    Uses paho's internal packet queue (paho-mqtt 2.x). If that is not there, every message is acknowledged
    with the public ``ack()``, which sends the same packets one by one.
    """
    queue_packet = getattr(client, "_packet_queue", None)
    run = bytearray()
    sent = 0
    for mid, qos in acks:
        if qos == 0:
            continue  # nothing to acknowledge
        sent += 1
        if qos == 1 and queue_packet is not None:
            run += _PUBACK.pack(PUBACK, 2, mid)
            continue
        if run:  # keep the order: what is collected goes out before this one
            queue_packet(PUBACK, bytes(run), 0, 0)  # type: ignore[misc]
            run = bytearray()
        client.ack(mid, qos)
    if run:
        queue_packet(PUBACK, bytes(run), 0, 0)  # type: ignore[misc]
    return sent


class _BufferedSocket:
    """A TCP socket read through a userspace buffer.

    paho reads every packet with at least three ``recv()`` calls (command byte, length bytes, body), each a
    system call that also gives up and takes back the GIL; with this buffer one ``recv()`` brings many packets.
    Everything but ``recv`` and ``pending`` goes to the socket itself.
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._sock.recv(max(bufsize, _READ_SIZE))  # BlockingIOError when nothing is there, as before
            if not buf:
                return buf  # the peer closed the connection
            self._buf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        """Bytes already read from the socket and not yet taken (paho polls this, as for TLS sockets)."""
        return len(self._buf) - self._pos

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_READ_SIZE = 1 << 16


class BufferedClient(mqtt.Client):
    """paho's client reading plain TCP through ``_BufferedSocket`` and handling every buffered packet per wake-up.

    TLS and WebSocket connections are left as paho makes them.
    """

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if type(sock) is socket.socket:
            return _BufferedSocket(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, _BufferedSocket) and sock.pending():
            rc = super().loop_read(max_packets)
            if self._sock is not sock:
                break
        return rc
