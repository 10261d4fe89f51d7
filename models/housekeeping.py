"""Periodic tasks that run beside the streaming scorer (escalation, incidents, device health, rollups, ...).

Each area contributes a task: a callable ``task(conn, *, now, settings) -> int`` (the count of things it did)
plus the minimum seconds between runs. ``conn`` is an autocommit connection; a task opens its own transactions.
One failing task is logged and does not stop the others or the scorer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from kipsense.settings import ScorerSettings

log = logging.getLogger(__name__)

Task = Callable[..., int]


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    every_s: float
    task: Task


def tasks() -> tuple[Periodic, ...]:
    """Every contributed task (imported here, not at module import, to keep the scorer light to import)."""
    from kipsense.maintenance import MaintenanceSettings, retention_task, rollup_task
    from models.alerting.tasks import periodic as alerting
    from models.dust.colocation import track_and_compare
    from models.health import check_devices

    maintenance = MaintenanceSettings()
    return (
        Periodic("rollups", maintenance.rollup_every_s, rollup_task(maintenance)),
        Periodic("retention", maintenance.retention_every_s, retention_task(maintenance)),
        *alerting(),
        Periodic("device-health", 30.0, check_devices),
        Periodic("mobile-tracks", 10.0, track_and_compare),
    )


class Housekeeper:
    """Runs each task when its period has passed."""

    def __init__(
        self,
        settings: ScorerSettings,
        periodic: tuple[Periodic, ...] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """``on_error`` is told the name of each task that failed (the scorer counts them in its metrics)."""
        self._settings = settings
        self._on_error = on_error
        self._periodic = tasks() if periodic is None else periodic
        self._last: dict[str, float] = {}

    def run_due(self, conn: psycopg.Connection[Any], *, now: datetime | None = None) -> dict[str, int]:
        """Run the tasks that are due; returns what each did."""
        done: dict[str, int] = {}
        clock = time.monotonic()
        for p in self._periodic:
            if clock - self._last.get(p.name, float("-inf")) < p.every_s:
                continue
            self._last[p.name] = clock
            try:
                done[p.name] = p.task(conn, now=now or datetime.now(UTC), settings=self._settings)
            except psycopg.OperationalError:
                raise  # the database is gone: the scorer's loop reconnects
            except Exception:  # one broken task must not stop alerting
                log.exception("housekeeping task %s failed", p.name)
                if self._on_error is not None:
                    self._on_error(p.name)
        return done
