"""Prometheus metrics of the platform as a whole, for the API's ``/metrics`` and the scorer's metrics port.

Per-process counters live with their process (the ingest worker exports its own, the scorer its
:class:`ScorerMetrics`). What is true of the whole platform is read from the database when Prometheus scrapes:
alerts not cleared by severity and status, quarantine by reason, how long ago each device was last heard from,
the newest PM values and device positions (the dashboard's map) and rollup lag. In the compose stack the scorer
is the one exporter of these gauges (``KIPSENSE_METRICS_PLATFORM=false`` elsewhere), so none is counted twice.
Label sets are bounded: by device, site, severity, status, reason, source; never by a value such as a position
(a mobile sensor would make a new series per position). Every endpoint also has the process collectors of
``prometheus_client`` (CPU, memory, open files, GC, Python version). A scrape that cannot reach the database
reports ``kipsense_up 0`` instead of failing.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import psycopg
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store import conflicts as store_conflicts
from store import ops_stats

log = logging.getLogger(__name__)

ConnectionSource = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class MetricsSettings(BaseSettings):
    """Where a long-running process (scorer, maintenance) serves ``/metrics``; no port: not served."""

    model_config = SettingsConfigDict(env_prefix="KIPSENSE_METRICS_", extra="ignore")

    port: int | None = Field(default=None, ge=0, le=65_535)
    host: str = "127.0.0.1"
    #: Export the platform gauges read from the database (one process per stack should: the scorer).
    platform: bool = True
    #: Filesystems to report free and total bytes of (``kipsense_disk_*``), e.g. the backups volume.
    disk_paths: list[Path] = []
    quarantine_window_s: float = Field(default=3600.0, gt=0)


class PlatformCollector(Collector):
    """Gauges read from the database at scrape time through a short-lived or pooled connection."""

    def __init__(self, connection: ConnectionSource, *, quarantine_window_s: float = 3600.0) -> None:
        self._connection = connection
        self._quarantine_window_s = quarantine_window_s

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("kipsense_up", "1 when the database answered this scrape")
        try:
            with self._connection() as conn:
                families = list(self._families(conn))
        except psycopg.Error as exc:
            log.warning("metrics scrape could not read the database: %s", exc)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [up, *families]

    def _families(self, conn: psycopg.Connection[Any]) -> Iterator[Metric]:
        alerts = GaugeMetricFamily(
            "kipsense_alerts_open",
            "alerts not cleared, by severity and status (active: not acknowledged yet, or acknowledged)",
            labels=["severity", "status"],
        )
        for a in ops_stats.open_alerts(conn):
            alerts.add_metric([a.severity, a.status], a.n)
        yield alerts
        quarantine = GaugeMetricFamily(
            "kipsense_quarantine_recent", "messages quarantined within the window, by reason", labels=["reason"]
        )
        for reason, n in sorted(ops_stats.quarantined_since(conn, seconds=self._quarantine_window_s).items()):
            quarantine.add_metric([reason], n)
        yield quarantine
        since = datetime.now(UTC) - timedelta(seconds=self._quarantine_window_s)
        conflicts = GaugeMetricFamily(
            "kipsense_reading_conflicts_recent",
            "readings refused within the window because their key was stored with other values, by table",
            labels=["table"],
        )
        for table, n in sorted(store_conflicts.counts_by_table(conn, since=since).items()):
            conflicts.add_metric([table], n)
        yield conflicts
        age = GaugeMetricFamily(
            "kipsense_device_last_received_age_seconds",
            "seconds since the device's newest stored data arrived",
            labels=["device_id", "kind", "site_id"],
        )
        for d in ops_stats.device_ages(conn):
            age.add_metric([d.device_id, d.kind, d.site_id], d.age_s)
        yield age
        pm = GaugeMetricFamily(
            "kipsense_dust_latest_ugm3",
            "newest PM value of each dust device (µg/m³)",
            labels=["device_id", "site_id", "metric"],
        )
        position = GaugeMetricFamily(
            "kipsense_device_position_degrees",
            "newest known position of each dust device (WGS 84 degrees; axis lat or lon)",
            labels=["device_id", "site_id", "axis"],
        )
        for r in ops_stats.latest_dust(conn):
            for metric, value in (("pm10", r.pm10), ("pm25", r.pm25)):
                if value is not None:
                    pm.add_metric([r.device_id, r.site_id, metric], value)
            if r.lat is not None and r.lon is not None:
                position.add_metric([r.device_id, r.site_id, "lat"], r.lat)
                position.add_metric([r.device_id, r.site_id, "lon"], r.lon)
        yield pm
        yield position
        lag = GaugeMetricFamily("kipsense_rollup_lag_seconds", "seconds since the last rollup pass", labels=["source"])
        pending = GaugeMetricFamily("kipsense_rollup_pending_buckets", "buckets waiting", labels=["source"])
        for s in ops_stats.rollup_status(conn):
            if s.lag_s is not None:
                lag.add_metric([s.source], s.lag_s)
            pending.add_metric([s.source], s.pending)
        yield lag
        yield pending


def platform_registry(connection: ConnectionSource, *, quarantine_window_s: float = 3600.0) -> CollectorRegistry:
    """A registry of its own (no process-wide default) holding the platform collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(connection, quarantine_window_s=quarantine_window_s))
    return registry


class DiskCollector(Collector):
    """Free and total bytes of the filesystems holding ``paths`` (the alert rule predicts when they fill)."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths

    def collect(self) -> Iterable[Metric]:
        free = GaugeMetricFamily("kipsense_disk_free_bytes", "bytes free to this process's user", labels=["path"])
        size = GaugeMetricFamily("kipsense_disk_size_bytes", "size of the filesystem", labels=["path"])
        for path in self._paths:
            try:
                usage = shutil.disk_usage(path)
            except OSError as exc:
                log.warning("disk usage of %s: %s", path, exc)
                continue
            free.add_metric([str(path)], usage.free)
            size.add_metric([str(path)], usage.total)
        return [free, size]


def add_process_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """CPU, memory, open files, GC and Python version of this process (``process_*``, ``python_*``)."""
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class ScorerMetrics:
    """The scorer's own work: passes, alerts raised, errors by task, how far scoring is behind.

    ``kipsense_scorer_watermark_lag_seconds`` is the age of the newest sample scored (read when scraped): it
    grows when the scorer stalls while data keeps arriving. ``kipsense_scorer_last_pass_timestamp_seconds``
    is when the last pass finished.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter("kipsense_scorer_passes", "scoring passes completed", registry=registry)
        self.alerts_raised = Counter("kipsense_scorer_alerts_raised", "alert occurrences raised", registry=registry)
        self.errors = Counter(
            "kipsense_scorer_task_errors", "failed scorer tasks, by task", labelnames=["task"], registry=registry
        )
        for task in ("score", "housekeeping", "database"):
            self.errors.labels(task)  # every series exists from the start (rate() needs a first sample)
        self.last_pass = Gauge(
            "kipsense_scorer_last_pass_timestamp_seconds", "end of the last scoring pass (Unix time)", registry=registry
        )
        self.watermark_lag = Gauge(
            "kipsense_scorer_watermark_lag_seconds", "age of the newest sample scored", registry=registry
        )

    def passed(self, raised: int) -> None:
        self.passes.inc()
        self.alerts_raised.inc(raised)
        self.last_pass.set_to_current_time()

    def failed(self, task: str) -> None:
        self.errors.labels(task).inc()

    def watch_watermark(self, newest: Callable[[], float | None]) -> None:
        """Report ``now - newest()`` (Unix seconds of the newest sample scored; None: nothing scored yet: 0)."""

        def lag() -> float:
            t = newest()
            return 0.0 if t is None else max(time.time() - t, 0.0)

        self.watermark_lag.set_function(lag)


class MetricsEndpoint:
    """``/metrics`` on its own port in a background thread; ``stop()`` releases the port."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when started on port 0)."""
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> MetricsEndpoint:
        self._server, self._thread = start_http_server(self._port, addr=self._host, registry=self._registry)
        log.info("metrics on http://%s:%d/metrics", self._host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def serve_platform_metrics(
    settings: MetricsSettings, *, database_url: str, registry: CollectorRegistry | None = None
) -> MetricsEndpoint | None:
    """Start the metrics endpoint of a process when ``settings.port`` is set (else None): process collectors,
    the platform gauges unless ``settings.platform`` is off, and whatever ``registry`` already holds."""
    if settings.port is None:
        return None
    from store.db import connect

    def connection() -> AbstractContextManager[psycopg.Connection[Any]]:
        return connect(database_url, autocommit=True, application_name="metrics")

    registry = registry or CollectorRegistry(auto_describe=False)
    if settings.platform:
        registry.register(PlatformCollector(connection, quarantine_window_s=settings.quarantine_window_s))
    if settings.disk_paths:
        registry.register(DiskCollector(settings.disk_paths))
    add_process_collectors(registry)
    return MetricsEndpoint(registry, host=settings.host, port=settings.port).start()
