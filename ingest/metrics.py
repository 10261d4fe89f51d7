"""Prometheus ``/metrics`` of one ingest worker, served on its own port (``IngestSettings.metrics_port``).

The collector reads ``IngestStats`` when scraped, so the hot path pays nothing for metrics. Every family
carries a ``worker`` label (the client id), so several workers in one Prometheus job stay apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ingest.stats import Histogram, IngestStats

_PREFIX = "kipsense_ingest_"


class StatsCollector(Collector):
    """Metric families from one worker's counters; ``gauges`` adds values computed at scrape time."""

    def __init__(self, worker: str, stats: IngestStats, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._worker = worker
        self._stats = stats
        self._gauges = gauges

    def _counter(self, name: str, doc: str, value: float) -> CounterMetricFamily:
        family = CounterMetricFamily(_PREFIX + name, doc, labels=["worker"])
        family.add_metric([self._worker], value)
        return family

    def _histogram(self, name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
        family = HistogramMetricFamily(_PREFIX + name, doc, labels=["worker"])
        family.add_metric([self._worker], hist.cumulative(), sum_value=hist.total)
        return family

    def collect(self) -> Iterable[Metric]:
        s = self._stats
        yield self._counter("messages", "MQTT messages received", s.messages)
        yield self._counter("redelivered_messages", "messages the broker sent again (DUP flag)", s.redelivered)
        yield self._counter("rows", "rows newly stored", s.rows)
        yield self._counter("duplicate_rows", "rows offered again as stored (redeliveries), skipped", s.duplicate_rows)
        yield self._counter(
            "conflicts", "readings refused because their key is stored with other values (recorded)", s.conflicts
        )
        yield self._counter("acked_messages", "messages acknowledged to the broker after commit or spool", s.acked)
        yield self._counter("commits", "batches committed", s.commits)
        yield self._counter("db_errors", "database outage errors (connect or write)", s.db_errors)
        yield self._counter("reconnects", "MQTT connections after the first", s.reconnects)
        yield self._counter("spooled_messages", "messages written to the local spool", s.spooled)
        yield self._counter("replayed_messages", "spooled messages written to the database", s.replayed)
        yield self._counter("rejected_batches", "batches the database refused and that were split", s.rejected_batches)
        quarantined = CounterMetricFamily(_PREFIX + "quarantined", "messages quarantined", labels=["worker", "reason"])
        for reason, n in sorted(s.quarantined_snapshot().items()):
            quarantined.add_metric([self._worker, reason], n)
        yield quarantined
        suppressed = CounterMetricFamily(
            _PREFIX + "quarantine_suppressed",
            "quarantined messages over the per-device rate: counted, not stored in full",
            labels=["worker", "reason"],
        )
        for reason, n in sorted(s.suppressed_snapshot().items()):
            suppressed.add_metric([self._worker, reason], n)
        yield suppressed
        yield self._counter(
            "sparkplug_rebirths_requested", "NCMD rebirth requests sent to edge nodes", s.rebirths_requested
        )
        yield self._histogram("batch_messages", "messages per committed batch", s.batch_messages)
        yield self._histogram("commit_seconds", "time to write and commit one batch", s.commit_seconds)
        yield self._histogram("ack_lag_seconds", "receive to acknowledgement, per message", s.ack_lag_seconds)
        for name, (doc, read) in self._gauges.items():
            gauge = GaugeMetricFamily(_PREFIX + name, doc, labels=["worker"])
            gauge.add_metric([self._worker], read())
            yield gauge


class MetricsServer:
    """The HTTP endpoint; ``start()`` binds the port, ``stop()`` releases it."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0 in tests... and for logs)."""
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> None:
        self._server, self._thread = start_http_server(self._port, addr=self._host, registry=self._registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def build_registry(collector: StatsCollector) -> CollectorRegistry:
    """A registry of its own per worker (no process-wide default registry)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    for process in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # CPU, memory, open files, GC
        registry.register(process)
    return registry
