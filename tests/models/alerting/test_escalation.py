"""Escalation: active unacknowledged alerts climb the schedule one step per run; acknowledged ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.alerting.escalation import Escalation
from models.alerting.settings import AlertingSettings
from store import alerts as store_alerts
from store.db import connect

pytestmark = pytest.mark.stack


def test_schedule_raises_severity_and_notifies(database_url: str) -> None:
    task = Escalation(AlertingSettings(escalate_after_s=[60.0, 600.0]))
    with connect(database_url) as conn:
        at = datetime.now(UTC)
        forgotten, _ = store_alerts.raise_alert(
            conn,
            device_id="es-a",
            site_id="park",
            type="pm10_limit",
            severity="warning",
            value=1.0,
            threshold=1.0,
            at=at,
        )
        seen, _ = store_alerts.raise_alert(
            conn,
            device_id="es-b",
            site_id="park",
            type="pm10_limit",
            severity="warning",
            value=1.0,
            threshold=1.0,
            at=at,
        )
        store_alerts.acknowledge(conn, alert_id=seen, user="op")
        created = store_alerts.get(conn, alert_id=forgotten).created_at  # type: ignore[union-attr]
        conn.commit()
        conn.autocommit = True

        assert task(conn, now=created + timedelta(seconds=30)) == 0
        assert task(conn, now=created + timedelta(seconds=61)) == 1
        assert task(conn, now=created + timedelta(seconds=62)) == 0  # level 1 holds until the next step
        # far past both steps: one step per run, each notified
        assert task(conn, now=created + timedelta(hours=5)) == 1
        assert task(conn, now=created + timedelta(hours=5)) == 0

        a = store_alerts.get(conn, alert_id=forgotten)
        assert a is not None and (a.escalation_level, a.severity) == (2, "critical")
        steps = [e.data for e in store_alerts.events(conn, alert_id=forgotten) if e.kind == "escalated"]
        assert [(s["level"], s["from_severity"], s["to_severity"]) for s in steps] == [
            (1, "warning", "major"),
            (2, "major", "critical"),
        ]
        b = store_alerts.get(conn, alert_id=seen)
        assert b is not None and (b.escalation_level, b.severity) == (0, "warning")
        feed = conn.execute(
            "SELECT kind FROM stream_events WHERE ref_id = %s AND topic = 'alert' ORDER BY stream_id", (forgotten,)
        ).fetchall()
        assert [r["kind"] for r in feed] == ["raised", "escalated", "escalated"]


def test_schedule_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        AlertingSettings(escalate_after_s=[600.0, 60.0])
