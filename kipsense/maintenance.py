"""The platform's own maintenance: incremental rollups, retention (``drop_chunks``) and, when licensed, compression.

It runs as housekeeping tasks beside the scorer and as the standalone ``kipsense maintain`` process; both can
run at once (rollup state and queues are locked per source, ``drop_chunks`` is idempotent). Retention drops
raw chunks only after every queued bucket of that table has been re-aggregated, so what the rollups hold never
depends on raw rows that are gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store import retention, rollups
from store.db import connect

log = logging.getLogger(__name__)


class MaintenanceSettings(BaseSettings):
    """The maintenance loop."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_MAINTAIN_", extra="ignore")

    rollup_every_s: float = Field(default=60.0, gt=0)
    retention_every_s: float = Field(default=3600.0, gt=0)
    rollup_overlap_s: float = Field(default=300.0, ge=0, description="re-scan of received_at for late commits")
    rollup_batch: int = Field(default=20_000, ge=1)
    compression: bool = Field(default=True, description="licensed edition: native compression per policy")


@dataclass
class MaintenanceReport:
    """What one pass did."""

    rollups: list[rollups.RefreshStats] = field(default_factory=list)
    dropped: list[retention.Dropped] = field(default_factory=list)
    compressed: list[str] = field(default_factory=list)

    @property
    def work(self) -> int:
        return sum(r.buckets for r in self.rollups) + sum(len(d.chunks) for d in self.dropped) + len(self.compressed)


def refresh_rollups(conn: psycopg.Connection[Any], settings: MaintenanceSettings) -> list[rollups.RefreshStats]:
    """Roll up what arrived since the last pass, for every source."""
    return [
        rollups.refresh(conn, source=source, overlap_s=settings.rollup_overlap_s, batch=settings.rollup_batch)
        for source in rollups.ROLLUP_METRICS
    ]


def apply_retention(
    conn: psycopg.Connection[Any], settings: MaintenanceSettings, *, now: datetime
) -> tuple[list[retention.Dropped], list[str]]:
    """Drop expired chunks (after draining rollup queues) and, on the licensed edition, enable compression."""
    refresh_rollups(conn, settings)
    blocked = {s for s in rollups.ROLLUP_METRICS if rollups.pending(conn, source=s)}
    if blocked:
        log.info("retention of %s waits: rollup buckets still queued", ", ".join(sorted(blocked)))
    allowed = {p.hypertable for p in retention.policies(conn)} - blocked
    dropped = retention.drop_expired(conn, now=now, only=allowed)
    compressed: list[str] = []
    if settings.compression and retention.edition(conn) == "timescale":
        for policy in retention.policies(conn):
            if policy.compress_after_days is None or retention.compressed(conn, hypertable=policy.hypertable):
                continue
            retention.enable_compression(
                conn, hypertable=policy.hypertable, compress_after_days=policy.compress_after_days
            )
            compressed.append(policy.hypertable)
    for d in dropped:
        if d.chunks:
            log.info("retention dropped %d chunks of %s older than %s", len(d.chunks), d.hypertable, d.horizon)
    return dropped, compressed


def rollup_task(maintenance: MaintenanceSettings) -> Callable[..., int]:
    """A housekeeping task (``task(conn, *, now, settings)``) refreshing the rollups; returns buckets redone."""

    def task(conn: psycopg.Connection[Any], *, now: datetime, settings: object) -> int:
        return sum(r.buckets for r in refresh_rollups(conn, maintenance))

    return task


def retention_task(maintenance: MaintenanceSettings) -> Callable[..., int]:
    """A housekeeping task applying retention; returns the chunks dropped plus tables given compression."""

    def task(conn: psycopg.Connection[Any], *, now: datetime, settings: object) -> int:
        dropped, compressed = apply_retention(conn, maintenance, now=now)
        return sum(len(d.chunks) for d in dropped) + len(compressed)

    return task


class Maintainer:
    """``kipsense maintain``: rollups every ``rollup_every_s``, retention every ``retention_every_s``."""

    def __init__(self, *, settings: MaintenanceSettings, database_url: str) -> None:
        self._settings = settings
        self._database_url = database_url

    def run_once(self, conn: psycopg.Connection[Any], *, now: datetime | None = None) -> MaintenanceReport:
        """One full pass: rollups, then retention. ``conn`` is autocommit."""
        report = MaintenanceReport(rollups=refresh_rollups(conn, self._settings))
        report.dropped, report.compressed = apply_retention(conn, self._settings, now=now or datetime.now(UTC))
        return report

    def run(self, stop: threading.Event) -> None:
        """Maintain until ``stop`` is set; reconnects after database errors."""
        next_retention = float("-inf")
        while not stop.is_set():
            try:
                with connect(self._database_url, autocommit=True, application_name="maintain") as conn:
                    while not stop.is_set():
                        if time.monotonic() >= next_retention:
                            report = self.run_once(conn)
                            next_retention = time.monotonic() + self._settings.retention_every_s
                        else:
                            report = MaintenanceReport(rollups=refresh_rollups(conn, self._settings))
                        if report.work:
                            log.info(
                                "maintenance: %d buckets rolled up, %d chunks dropped",
                                sum(r.buckets for r in report.rollups),
                                sum(len(d.chunks) for d in report.dropped),
                            )
                        stop.wait(self._settings.rollup_every_s)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying", exc)
                stop.wait(2.0)
