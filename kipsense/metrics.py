"""Prometheus metrics of the platform as a whole, for the API's ``/metrics`` and the scorer's metrics port.

Per-process counters live with their process (the ingest worker exports its own). What is true of the whole
platform is read from the database when Prometheus scrapes: open alerts, quarantine by reason, how long ago
each device was last heard from, the newest PM values with positions (the dashboard's map) and rollup lag.
A scrape that cannot reach the database reports ``kipsense_up 0`` instead of failing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIServer

import psycopg
from prometheus_client import CollectorRegistry, start_http_server
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
        alerts = GaugeMetricFamily("kipsense_alerts_open", "alerts not cleared", labels=["severity", "status"])
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
            "newest PM value of each dust device with its position (µg/m³)",
            labels=["device_id", "site_id", "metric", "lat", "lon"],
        )
        for r in ops_stats.latest_dust(conn):
            lat, lon = ("" if r.lat is None else f"{r.lat:.6f}"), ("" if r.lon is None else f"{r.lon:.6f}")
            for metric, value in (("pm10", r.pm10), ("pm25", r.pm25)):
                if value is not None:
                    pm.add_metric([r.device_id, r.site_id, metric, lat, lon], value)
        yield pm
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


def serve_platform_metrics(settings: MetricsSettings, *, database_url: str) -> MetricsEndpoint | None:
    """Start the platform metrics endpoint of a process when ``settings.port`` is set (else None)."""
    if settings.port is None:
        return None
    from store.db import connect

    def connection() -> AbstractContextManager[psycopg.Connection[Any]]:
        return connect(database_url, autocommit=True, application_name="metrics")

    registry = platform_registry(connection, quarantine_window_s=settings.quarantine_window_s)
    return MetricsEndpoint(registry, host=settings.host, port=settings.port).start()
