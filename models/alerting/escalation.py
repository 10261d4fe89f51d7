"""Escalation: an alert left active and unacknowledged climbs one severity per step of the schedule."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from models.alerting.settings import AlertingSettings
from store import alerts as store_alerts

log = logging.getLogger(__name__)


class Escalation:
    """Housekeeping task: ``task(conn, now=..., settings=...)`` returns how many alerts escalated."""

    def __init__(self, settings: AlertingSettings) -> None:
        self._settings = settings

    def __call__(self, conn: psycopg.Connection[Any], *, now: datetime, settings: object = None) -> int:
        with conn.transaction():
            done = store_alerts.escalate_due(conn, now=now, after_s=self._settings.escalate_after_s)
        for alert in done:
            log.info("alert %s escalated to level %s (%s)", alert.alert_id, alert.escalation_level, alert.severity)
        return len(done)
