"""One database listener per API process, fanning alert and incident events out to every open live stream.

A stream must not hold a database connection for its life: a few dozen open streams would take the whole pool
and leave ordinary requests waiting. So a single thread per process keeps one dedicated connection that
``LISTEN``s on the channel :func:`store.alert_stream.append` notifies, reads each new batch of events once,
and hands it to the subscribers in the event loop. Each subscriber has a bounded queue; a subscriber that
falls that far behind is marked ``lagged`` (its queue emptied) and catches up from the database itself, so
one slow client never grows the process's memory. The listener also looks for new events every
``poll_s`` without a notification, and after losing its connection it reconnects and resumes from the last
id it saw, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field

import psycopg

from store import alert_stream
from store.alert_stream import StreamEvent

log = logging.getLogger(__name__)


def format_event(event: StreamEvent) -> str:
    """One SSE message: the id to resume from, the topic as event name, the event as JSON."""
    data = {
        "stream_id": event.stream_id,
        "at": event.at.isoformat(),
        "topic": event.topic,
        "ref_id": event.ref_id,
        "site_id": event.site_id,
        "kind": event.kind,
        "data": event.data,
    }
    return f"id: {event.stream_id}\nevent: {event.topic}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event as every stream sends it, formatted once for all of them (on the listener thread)."""

    stream_id: int
    site_id: str
    text: str


@dataclass(eq=False, slots=True)
class Subscription:
    """One open stream: the events of its sites in id order, unless ``lagged`` says some were dropped."""

    sites: frozenset[str] | None
    queue: asyncio.Queue[Delivery]
    lagged: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    """The process's single listener and its subscribers; ``start`` in the serving loop, ``stop`` at shutdown."""

    def __init__(self, *, database_url: str, poll_s: float, queue_size: int, max_subscribers: int) -> None:
        self._url = database_url
        self._poll_s = poll_s
        self._queue_size = queue_size
        self._max = max_subscribers
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last = 0
        self.listening = threading.Event()

    def start(self) -> None:
        """Start the listener thread; events are delivered in the loop this is called from."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="api-event-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._poll_s + 10)

    def __len__(self) -> int:
        return len(self._subs)

    def full(self) -> bool:
        return len(self._subs) >= self._max

    def subscribe(self, sites: list[str] | None) -> Subscription | None:
        """A new subscriber (None when the process already serves ``max_subscribers`` streams)."""
        if len(self._subs) >= self._max:
            return None
        sub = Subscription(
            sites=frozenset(sites) if sites is not None else None, queue=asyncio.Queue(maxsize=self._queue_size)
        )
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def _publish(self, events: list[Delivery]) -> None:
        """In the event loop: give each subscriber its sites' events; a full queue marks it lagged instead."""
        for sub in self._subs:
            if sub.lagged:
                continue
            for event in events:
                if sub.sites is not None and event.site_id not in sub.sites:
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.lagged = True
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    break
            sub.wake.set()

    def _catch_up(self, conn: alert_stream.Conn) -> None:
        while True:
            events = alert_stream.after(conn, after_id=self._last, limit=500)
            if not events:
                return
            self._last = events[-1].stream_id
            deliveries = [Delivery(e.stream_id, e.site_id, format_event(e)) for e in events]
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._publish, deliveries)
            if len(events) < 500:
                return

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                with alert_stream.listen(self._url, application_name="api-events") as conn:
                    if first:  # a new process streams what happens from now on; clients resume older ids
                        self._last = alert_stream.last_id(conn)
                        first = False
                    self._catch_up(conn)
                    self.listening.set()
                    while not self._stop.is_set():
                        alert_stream.wait(conn, timeout=self._poll_s)
                        self._catch_up(conn)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("event listener lost its database connection (%s); reconnecting", exc)
                self._stop.wait(1.0)
