"""Alert -> outbox -> route -> real SMTP server and signed webhook; grouping, quiet hours, retries, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from store import alerts, notifications
from store.db import connect
from tests.notify.conftest import FakeClock, make_sender
from tests.notify.receivers import SmtpReceiver, WebhookReceiver

HEL = ZoneInfo("Europe/Helsinki")


def _contact_and_route(database_url: str, site: str, webhook: WebhookReceiver | None, **route: object) -> int:
    with connect(database_url) as conn:
        contact = notifications.create_contact(
            conn,
            name=f"Aino {site}",
            language="fi",
            phone="+358401234567",
            email=f"aino@{site}.test",
            webhook_url=webhook.url if webhook else None,
        )
        notifications.create_route(
            conn, name=f"r-{site}", match_sites=[site], contact_ids=[contact.contact_id], **route
        )
        conn.commit()
    return contact.contact_id


def _raise(database_url: str, site: str, n: int, *, type: str = "pm10_limit", severity: str = "major") -> list[int]:
    ids = []
    with connect(database_url) as conn:
        for i in range(n):
            alert_id, _ = alerts.raise_alert(
                conn,
                device_id=f"{site}-d{i:02d}",
                site_id=site,
                type=type,
                severity=severity,
                value=80.0 + i,
                threshold=50.0,
                at=datetime.now(UTC),
            )
            ids.append(alert_id)
        conn.commit()
    return ids


def test_outbox_row_commits_and_rolls_back_with_the_alert_event(database_url: str, site: str) -> None:
    with connect(database_url) as conn:
        alert_id, _ = alerts.raise_alert(
            conn, device_id=f"{site}-d00", site_id=site, type="t", severity="info", value=1, threshold=0,
            at=datetime.now(UTC),
        )  # fmt: skip
        conn.rollback()
        assert conn.execute("SELECT count(*) AS n FROM notify_outbox WHERE alert_id = %s", (alert_id,)).fetchone() == {
            "n": 0
        }
        alert_id, _ = alerts.raise_alert(
            conn, device_id=f"{site}-d00", site_id=site, type="t", severity="info", value=1, threshold=0,
            at=datetime.now(UTC),
        )  # fmt: skip
        alerts.raise_alert(  # a repeat is not a new notification
            conn, device_id=f"{site}-d00", site_id=site, type="t", severity="info", value=2, threshold=0,
            at=datetime.now(UTC),
        )  # fmt: skip
        conn.commit()
        rows = conn.execute("SELECT kind FROM notify_outbox WHERE alert_id = %s", (alert_id,)).fetchall()
    assert rows == [{"kind": "raised"}]


def test_mail_and_signed_webhook_reach_real_receivers(
    database_url: str, site: str, smtp: SmtpReceiver, webhook: WebhookReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, webhook)
    [alert_id] = _raise(database_url, site, 1)
    sender = make_sender(database_url, smtp, clock)
    with connect(database_url) as conn:
        sender.step(conn)
        log = notifications.list_messages(conn, alert_id=alert_id)
    assert sorted(m.channel for m in log) == ["email", "webhook"]
    assert all(m.status == "sent" and m.attempts == 1 and m.last_error is None for m in log)
    assert len(smtp.messages) == 1 and smtp.rcpt == [[f"aino@{site}.test"]]
    mail = smtp.messages[0]
    text = mail.get_content()
    assert f"Yard {site}" in mail["Subject"] and "vakava" in mail["Subject"]  # Finnish severity
    assert "Dust 00" in text and "80,0" in text and "raja 50,0" in text  # sensor, value and limit, fi decimals
    assert re.search(r"Kuittaa \(voimassa .*\): http://127\.0\.0\.1:9/notify/ack/\S+", text)
    assert f"#alert-{alert_id}" in text
    assert mail["X-KipSense-Idempotency-Key"].startswith("kipsense-")
    assert webhook.state.bad_signatures == 0 and len(webhook.state.requests) == 1
    body = webhook.state.requests[0]["body"]
    assert body["alerts"][0]["alert_id"] == alert_id and body["alerts"][0]["threshold"] == 50.0
    assert body["ack_url"].startswith("http://127.0.0.1:9/notify/ack/")


def test_an_incident_over_thirty_sensors_makes_one_message(
    database_url: str, site: str, smtp: SmtpReceiver, webhook: WebhookReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, webhook)
    sender = make_sender(database_url, smtp, clock)
    first = _raise(database_url, site, 1)
    with connect(database_url) as conn:
        sender.step(conn)  # the first alert goes out at once
        rest = _raise(database_url, site, 30)[1:]  # the plume reaches the other 29 sensors
        clock.advance(60)
        sender.step(conn)
        log = notifications.list_messages(conn, alert_id=first[0])
        grouped = {m.channel: m for m in log}
        later = {m.message_id for a in rest for m in notifications.list_messages(conn, alert_id=a)}
    assert len(smtp.messages) == 1 and len(webhook.state.requests) == 1
    assert set(grouped["email"].alert_ids) == set(first + rest)  # all 30 alerts belong to the one message
    assert later == {grouped["email"].message_id, grouped["webhook"].message_id}


def _next_local(at: datetime, hh: int, mm: int) -> datetime:
    local = at.astimezone(HEL)
    candidate = datetime.combine(local.date(), time(hh, mm), tzinfo=HEL)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hh, mm), tzinfo=HEL)
    return candidate.astimezone(UTC)


def test_quiet_hours_hold_a_message_until_they_end(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, None, quiet_from=time(22, 0), quiet_until=time(7, 0))
    clock.at = _next_local(datetime.now(UTC), 23, 30)
    _raise(database_url, site, 1, severity="major")
    _raise(database_url, site, 1, type="fire", severity="critical")  # critical goes through quiet hours
    sender = make_sender(database_url, smtp, clock)
    with connect(database_url) as conn:
        sender.step(conn)
        assert [m["Subject"] for m in smtp.messages] == [smtp.messages[0]["Subject"]]
        assert "fire" in smtp.messages[0]["Subject"]
        clock.at = _next_local(clock.at, 6, 59)
        sender.step(conn)
        assert len(smtp.messages) == 1
        clock.at = _next_local(clock.at, 7, 0)
        sender.step(conn)
    assert len(smtp.messages) == 2 and "pm10_limit" in smtp.messages[1]["Subject"]


def test_failed_attempts_are_logged_and_retried_with_backoff(
    database_url: str, site: str, smtp: SmtpReceiver, webhook: WebhookReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, webhook)
    webhook.state.fail_first = 2
    [alert_id] = _raise(database_url, site, 1)
    sender = make_sender(database_url, smtp, clock, backoff_s=10.0)
    with connect(database_url) as conn:
        sender.step(conn)
        [hook] = [m for m in notifications.list_messages(conn, alert_id=alert_id) if m.channel == "webhook"]
        assert hook.status == "pending" and hook.attempts == 1 and hook.last_error == "webhook answered HTTP 500"
        sender.step(conn)  # not due yet: backoff
        assert notifications.get_message(conn, message_id=hook.message_id).attempts == 1  # type: ignore[union-attr]
        clock.advance(13)
        sender.step(conn)
        clock.advance(25)
        sender.step(conn)
        done = notifications.get_message(conn, message_id=hook.message_id)
        attempts = conn.execute(
            "SELECT ok, error FROM notify_attempts WHERE message_id = %s ORDER BY attempt_id", (hook.message_id,)
        ).fetchall()
    assert done is not None and done.status == "sent" and done.attempts == 3
    assert [a["ok"] for a in attempts] == [False, False, True]
    assert len(webhook.state.requests) == 1


def test_a_message_that_never_gets_through_ends_failed(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock
) -> None:
    with connect(database_url) as conn:
        contact = notifications.create_contact(
            conn, name=f"dead {site}", language="en", webhook_url="http://127.0.0.1:9/x"
        )
        notifications.create_route(conn, name=f"dead-{site}", match_sites=[site], contact_ids=[contact.contact_id])
        conn.commit()
    [alert_id] = _raise(database_url, site, 1)
    sender = make_sender(database_url, smtp, clock, max_attempts=3, backoff_s=1.0)
    with connect(database_url) as conn:
        for _ in range(5):
            sender.step(conn)
            clock.advance(10)
        [message] = notifications.list_messages(conn, alert_id=alert_id)
    assert message.status == "failed" and message.attempts == 3 and "ConnectionError" in (message.last_error or "")


def test_rate_limit_per_target_holds_the_rest(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, None)
    for i in range(5):  # five different alert types: five groups, five messages
        _raise(database_url, site, 1, type=f"type{i}")
    sender = make_sender(database_url, smtp, clock, rate_per_minute={"email": 2})
    with connect(database_url) as conn:
        sender.step(conn)
        assert len(smtp.messages) == 2
        held = notifications.list_messages(conn, status="pending")
        assert len(held) == 3 and all((m.last_error or "").startswith("rate limit") for m in held)
        for _ in range(4):
            clock.advance(61)
            sender.step(conn)
    assert len(smtp.messages) == 5


def test_repeat_while_unacknowledged_and_escalation_to_the_next_group(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock
) -> None:
    with connect(database_url) as conn:
        first = notifications.create_contact(conn, name=f"day {site}", language="en", email=f"day@{site}.test")
        second = notifications.create_contact(conn, name=f"boss {site}", language="sv", email=f"boss@{site}.test")
        duty = notifications.create_group(conn, name=f"duty-{site}", member_ids=[first.contact_id])
        bosses = notifications.create_group(conn, name=f"bosses-{site}", member_ids=[second.contact_id])
        notifications.create_route(
            conn,
            name=f"esc-{site}",
            match_sites=[site],
            group_ids=[duty.group_id],
            escalation_group_ids=[bosses.group_id],
            repeat_every_s=600,
        )
        conn.commit()
    [alert_id] = _raise(database_url, site, 1, severity="warning")
    sender = make_sender(database_url, smtp, clock)
    with connect(database_url) as conn:
        sender.step(conn)
        assert smtp.rcpt == [[f"day@{site}.test"]]
        clock.advance(601)
        sender.step(conn)  # a reminder: still unacknowledged
        assert len(smtp.messages) == 2 and smtp.messages[1]["Subject"].startswith("Still unacknowledged")
        alerts.escalate_due(conn, now=datetime.now(UTC) + timedelta(hours=1), after_s=[60.0])
        conn.commit()
        sender.step(conn)
        assert smtp.rcpt[2] == [f"boss@{site}.test"] and smtp.messages[2]["Subject"].startswith("Eskalerat")
        alerts.acknowledge(conn, alert_id=alert_id, user="x")
        conn.commit()
        clock.advance(3600)
        sender.step(conn)  # acknowledged: no more reminders
    assert len(smtp.messages) == 3


@pytest.mark.parametrize(
    ("field", "value", "matched"),
    [("match_types", ["pm10_limit"], True), ("match_types", ["other"], False), ("min_severity", "critical", False),
     ("match_kinds", ["cycler"], False), ("match_tags", ["north-fence"], True), ("match_tags", ["south"], False)],
)  # fmt: skip
def test_routes_match_on_type_severity_kind_and_tag(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock, field: str, value: object, matched: bool
) -> None:
    _contact_and_route(database_url, site, None, **{field: value})
    with connect(database_url) as conn:
        notifications.set_device_tags(conn, device_id=f"{site}-d00", tags=["north-fence", "line-2"])
        conn.commit()
    _raise(database_url, site, 1, severity="major")
    with connect(database_url) as conn:
        make_sender(database_url, smtp, clock).step(conn)
    assert len(smtp.messages) == (1 if matched else 0)


def test_on_call_rotation_and_handover() -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    group = notifications.Group(1, "duty", start, 24.0, [10, 20, 30])
    now = notifications.on_call(group, at=start + timedelta(hours=50))
    assert (now.contact_id, now.since, now.handover_at, now.next_contact_id) == (
        30, start + timedelta(hours=48), start + timedelta(hours=72), 10
    )  # fmt: skip
    assert notifications.on_call(group, at=start + timedelta(hours=72)).contact_id == 10
    assert notifications.on_call(group, at=start - timedelta(hours=1)).contact_id == 30
    assert notifications.on_call(notifications.Group(2, "empty", start, 24.0, []), at=start).contact_id is None


def test_old_log_and_outbox_are_pruned_but_waiting_messages_stay(
    database_url: str, site: str, smtp: SmtpReceiver, clock: FakeClock
) -> None:
    _contact_and_route(database_url, site, None, quiet_from=time(0, 0), quiet_until=time(23, 59))
    [held] = _raise(database_url, site, 1, type="held")  # waits for the end of the (long) quiet hours
    [sent] = _raise(database_url, site, 1, type="urgent", severity="critical")  # goes through
    clock.at = _next_local(datetime.now(UTC), 12, 0)  # well inside the quiet hours
    sender = make_sender(database_url, smtp, clock)
    with connect(database_url) as conn:
        sender.step(conn)
        assert [m.status for m in notifications.list_messages(conn, alert_id=sent)] == ["sent"]
        assert [m.status for m in notifications.list_messages(conn, alert_id=held)] == ["pending"]
        outbox, messages = notifications.prune(conn, before=clock.at + timedelta(days=1))
        conn.commit()
        left = conn.execute("SELECT count(*) AS n FROM notify_outbox").fetchone()
        assert notifications.list_messages(conn, alert_id=sent) == []
        assert [m.status for m in notifications.list_messages(conn, alert_id=held)] == ["pending"]
    assert outbox >= 2 and messages >= 1 and left == {"n": 0}
