"""The sender: routes outbox rows into messages, delivers due messages, repeats unacknowledged ones.

Each pass is three short transactions, so a crash at any point loses nothing:

1. **route** — lock unrouted outbox rows, match them against the routes (data in the database), create one
   message per (contact, channel, group) or fold the alert into the open message of its group (an incident's
   thirty sensors make one message), mark the rows routed, commit. Message idempotency keys derive from the
   outbox row, so routing the same row again creates nothing.
2. **claim** — mark due messages ``sending`` with one more attempt, commit; then deliver them (in a small
   thread pool, so one slow target does not hold the others) and record each attempt: sent, retry after a
   backoff that doubles per attempt, or failed after ``max_attempts``. A sender killed mid-delivery leaves
   ``sending`` rows whose lease runs out; the next sender delivers them again with the same idempotency key
   (at least once, and effectively once at a receiver that honours the key).
3. **repeat** — groups whose route repeats and whose alerts are still unacknowledged get a reminder (made
   before the delivery step of the same pass).

The process sleeps on ``LISTEN kipsense_notify``: the outbox insert notifies at commit, so an alert is
routed and delivered within milliseconds rather than a poll interval.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram

from kipsense.settings import NotifyLinkSettings
from kipsense.signing import sign_ack
from notify import routing
from notify.channels import AppriseChannel, Channel, DeliveryError, EmailChannel, Outgoing, WebhookChannel
from notify.messages import render
from notify.settings import NotifySettings
from store import notifications as store
from store.db import connect

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SenderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sent = Counter("kipsense_notify_sent", "messages delivered", ["channel"], registry=self.registry)
        self.failed = Counter(
            "kipsense_notify_failed", "delivery attempts that failed", ["channel"], registry=self.registry
        )
        self.latency = Histogram(
            "kipsense_notify_latency_seconds",
            "alert raised -> message delivered",
            ["channel"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300, 3600),
            registry=self.registry,
        )


class Sender:
    """One sender process's work; ``run`` loops until ``stop`` is set, ``step`` is one pass (tests)."""

    def __init__(
        self,
        *,
        settings: NotifySettings,
        links: NotifyLinkSettings,
        database_url: str,
        clock: Clock = utc_now,
        channels: dict[str, Channel] | None = None,
        metrics: SenderMetrics | None = None,
    ) -> None:
        if links.link_key is None:
            raise ValueError("KIPSENSE_NOTIFY_LINK_KEY is not set: acknowledgement links cannot be signed")
        self._s = settings
        self._links = links
        self._key = links.link_key.get_secret_value().encode()
        self._url = database_url
        self._clock = clock
        self._channels: dict[str, Channel] = channels or {
            "email": EmailChannel(settings),
            "webhook": WebhookChannel(settings),
            "apprise": AppriseChannel(),
        }
        self.metrics = metrics or SenderMetrics()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify-send")
        self._last_repeat_check = 0.0
        self._last_prune = 0.0

    # -- the loop ---------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop``; a lost database connection is reopened (nothing is lost meanwhile:
        the outbox and the messages wait in the database)."""
        try:
            while not stop.is_set():
                try:
                    self._run_connected(stop)
                except psycopg.OperationalError as exc:
                    log.warning("database unavailable (%s); reconnecting", exc)
                    stop.wait(max(self._s.poll_s, 1.0))
        finally:
            self._pool.shutdown(wait=True)

    def _run_connected(self, stop: threading.Event) -> None:
        with (
            psycopg.connect(self._url, autocommit=True) as listener,
            connect(self._url, application_name="notify") as conn,
        ):
            listener.execute(f"LISTEN {store.LISTEN_CHANNEL}")
            while not stop.is_set():
                if not self.step(conn):
                    # Wake at the next commit of an outbox row, or after poll_s (due retries, repeats).
                    for _ in listener.notifies(timeout=self._s.poll_s, stop_after=1):
                        pass

    def step(self, conn: psycopg.Connection[Any]) -> int:
        """One pass; returns how many outbox rows and messages it handled (0 = idle)."""
        done = self.route_pending(conn)
        if time.monotonic() - self._last_repeat_check >= self._s.repeat_check_s:
            self._last_repeat_check = time.monotonic()
            done += self.schedule_repeats(conn)
        if time.monotonic() - self._last_prune >= 3600:
            self._last_prune = time.monotonic()
            with conn.transaction():
                store.prune(conn, before=self._clock() - timedelta(days=self._s.keep_days))
        return done + self.send_due(conn)

    # -- 1. routing -------------------------------------------------------------------------------------------
    def route_pending(self, conn: psycopg.Connection[Any]) -> int:
        now = self._clock()
        with conn.transaction():
            items = store.claim_outbox(conn, limit=self._s.batch * 5)
            if not items:
                return 0
            routes = store.list_routes(conn)
            groups = {g.group_id: g for g in store.list_groups(conn)}
            contacts = {c.contact_id: c for c in store.list_contacts(conn)}
            for item in items:
                self._route_one(conn, item, routes, groups, contacts, now)
            store.mark_routed(conn, outbox_ids=[i.outbox_id for i in items])
        return len(items)

    def _route_one(
        self,
        conn: psycopg.Connection[Any],
        item: store.OutboxItem,
        routes: list[store.Route],
        groups: dict[int, store.Group],
        contacts: dict[int, store.Contact],
        now: datetime,
    ) -> None:
        if item.status != "active":
            return  # acknowledged or cleared before the sender saw it: nobody needs waking
        key = routing.group_key(item)
        reason = "escalation" if item.kind == "escalated" else "alert"
        seen: set[tuple[int, str, str]] = set()
        for route in routes:
            if not routing.matches(route, item, now=now):
                continue
            not_before = routing.quiet_until(route, severity=item.severity, now=now) or now
            for contact_id in routing.recipients(route, item, groups, now=now):
                contact = contacts.get(contact_id)
                if contact is None or not contact.active:
                    continue
                for channel, target in _targets(contact):
                    if (contact_id, channel, target) in seen:
                        continue  # two routes reaching the same person: one message
                    seen.add((contact_id, channel, target))
                    window = timedelta(seconds=route.group_window_s)
                    open_msg = (
                        store.open_group_message(
                            conn, contact_id=contact_id, channel=channel, group_key=key, since=now - window
                        )
                        if reason == "alert" and window
                        else None
                    )
                    if open_msg is not None:
                        store.add_alert(conn, message_id=open_msg.message_id, alert_id=item.alert_id)
                        continue
                    store.create_message(
                        conn,
                        idempotency_key=f"kipsense-{item.outbox_id}-{contact_id}-{channel}-{_short(target)}",
                        route_id=route.route_id,
                        contact_id=contact_id,
                        channel=channel,
                        target=target,
                        group_key=key,
                        reason=reason,
                        alert_ids=[item.alert_id],
                        not_before=not_before,
                        alert_at=item.created_at,
                        at=now,
                    )
            if route.stop_after:
                break

    # -- 2. delivery ------------------------------------------------------------------------------------------
    def send_due(self, conn: psycopg.Connection[Any]) -> int:
        now = self._clock()
        with conn.transaction():
            due = store.claim_due(conn, now=now, lease_s=self._s.lease_s, limit=self._s.batch)
        if not due:
            return 0
        jobs = []
        recent: dict[tuple[str, str], int] = {}  # sent in the last minute, plus this batch's
        for message in due:
            limit = self._s.rate_per_minute.get(message.channel)
            if limit is not None:
                slot = (message.channel, message.target)
                if slot not in recent:
                    recent[slot] = store.sent_since(
                        conn, channel=message.channel, target=message.target, since=now - timedelta(minutes=1)
                    )
                if recent[slot] >= limit:
                    with conn.transaction():
                        store.defer(
                            conn,
                            message_id=message.message_id,
                            until=now + timedelta(seconds=60 / limit),
                            why=f"rate limit: {limit} per minute to this target",
                        )
                    continue
                recent[slot] += 1
            out = self._outgoing(conn, message, now)
            if out is None:
                with conn.transaction():
                    store.record_attempt(
                        conn,
                        message_id=message.message_id,
                        ok=False,
                        error="contact or alerts gone",
                        duration_ms=None,
                        at=now,
                    )
                continue
            jobs.append(self._pool.submit(self._deliver, message, out))
        conn.commit()
        # Record each result as it arrives: a crash then leaves at most the deliveries in flight unrecorded.
        for future in as_completed(jobs):
            message, error, duration_ms = future.result()
            retry_at = None
            if error is not None and message.attempts < self._s.max_attempts:
                delay = min(self._s.backoff_s * 2 ** (message.attempts - 1), self._s.backoff_max_s)
                retry_at = self._clock() + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311
            with conn.transaction():
                store.record_attempt(
                    conn,
                    message_id=message.message_id,
                    ok=error is None,
                    error=error,
                    duration_ms=duration_ms,
                    at=self._clock(),
                    retry_at=retry_at,
                )
            if error is None:
                self.metrics.sent.labels(message.channel).inc()
                self.metrics.latency.labels(message.channel).observe(
                    max(0.0, (self._clock() - message.alert_at).total_seconds())
                )
            else:
                self.metrics.failed.labels(message.channel).inc()
                log.warning("message %s (%s) failed: %s", message.message_id, message.channel, error)
        return len(due)

    def _deliver(self, message: store.Message, out: Outgoing) -> tuple[store.Message, str | None, float]:
        started = time.perf_counter()
        try:
            self._channels[message.channel].send(out)
        except DeliveryError as exc:
            return message, str(exc), (time.perf_counter() - started) * 1000
        except Exception as exc:  # a channel library's own failure must not stop the sender
            log.exception("channel %s raised", message.channel)
            return message, f"{type(exc).__name__}: {exc}", (time.perf_counter() - started) * 1000
        return message, None, (time.perf_counter() - started) * 1000

    def _outgoing(self, conn: psycopg.Connection[Any], message: store.Message, now: datetime) -> Outgoing | None:
        contacts = store.list_contacts(conn, ids=[message.contact_id])
        alerts = store.alert_views(conn, alert_ids=message.alert_ids)
        if not contacts or not alerts:
            return None
        contact = contacts[0]
        base = self._links.public_url.rstrip("/")
        first = alerts[0]
        expires = now + timedelta(hours=self._links.link_ttl_h)
        token = sign_ack(self._key, alert_id=first.alert_id, contact_id=contact.contact_id, expires=expires)
        ack_url = f"{base}/notify/ack/{token}"
        page_url = f"{base}/#alert-{first.alert_id}"
        rendered = render(
            alerts,
            language=contact.language,
            reason=message.reason,
            page_url=page_url,
            ack_url=ack_url,
            ack_until=expires,
        )
        payload = {
            "message_id": message.message_id,
            "reason": message.reason,
            "language": contact.language,
            "alerts": [
                {
                    "alert_id": a.alert_id,
                    "device_id": a.device_id,
                    "site_id": a.site_id,
                    "type": a.type,
                    "severity": a.severity,
                    "value": a.value,
                    "threshold": a.threshold,
                    "first_time": a.first_time.isoformat(),
                    "incident_id": a.incident_id,
                    "likely_source": a.likely_source,
                    "wind_dir": a.wind_dir,
                    "wind_speed": a.wind_speed,
                }
                for a in alerts
            ],
            "ack_url": ack_url,
            "page_url": page_url,
        }
        return Outgoing(
            idempotency_key=message.idempotency_key, target=message.target, rendered=rendered, payload=payload
        )

    # -- 3. repeats -------------------------------------------------------------------------------------------
    def schedule_repeats(self, conn: psycopg.Connection[Any]) -> int:
        now = self._clock()
        made = 0
        with conn.transaction():
            for message, every_s in store.repeat_candidates(conn, now=now):
                last = store.last_in_group(
                    conn, contact_id=message.contact_id, channel=message.channel, group_key=message.group_key
                )
                if last is None or now - last < timedelta(seconds=every_s):
                    continue
                n = int((now - message.created_at) / timedelta(seconds=every_s))
                made += store.create_message(
                    conn,
                    idempotency_key=f"{message.idempotency_key}-repeat-{n}",
                    route_id=message.route_id,
                    contact_id=message.contact_id,
                    channel=message.channel,
                    target=message.target,
                    group_key=message.group_key,
                    reason="repeat",
                    alert_ids=message.alert_ids,
                    not_before=now,
                    alert_at=now,
                    at=now,
                )
        return made


def _targets(contact: store.Contact) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if contact.email:
        out.append(("email", contact.email))
    if contact.webhook_url:
        out.append(("webhook", contact.webhook_url))
    out.extend(("apprise", url) for url in contact.apprise_urls)
    return out


def _short(target: str) -> str:
    import hashlib

    return hashlib.sha256(target.encode()).hexdigest()[:10]
