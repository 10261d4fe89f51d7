"""``kipsense deploy health``, the containers' healthcheck: an endpoint that answers, a gauge that is up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge

from kipsense.cli import main
from kipsense.metrics import MetricsEndpoint


@pytest.fixture
def endpoint() -> Iterator[tuple[MetricsEndpoint, Gauge]]:
    registry = CollectorRegistry()
    gauge = Gauge("kipsense_ingest_connected", "test", labelnames=["worker"], registry=registry)
    server = MetricsEndpoint(registry, host="127.0.0.1", port=0).start()
    try:
        yield server, gauge
    finally:
        server.stop()


def test_healthy_only_while_every_sample_is_up(endpoint: tuple[MetricsEndpoint, Gauge]) -> None:
    server, gauge = endpoint
    url = f"http://127.0.0.1:{server.port}/metrics"
    assert main(["deploy", "health", url]) == 0
    assert main(["deploy", "health", url, "--metric", "kipsense_ingest_connected"]) == 1  # no sample yet
    gauge.labels("a").set(1)
    gauge.labels("b").set(1)
    assert main(["deploy", "health", url, "--metric", "kipsense_ingest_connected"]) == 0
    gauge.labels("b").set(0)
    assert main(["deploy", "health", url, "--metric", "kipsense_ingest_connected"]) == 1


def test_unreachable_is_unhealthy(endpoint: tuple[MetricsEndpoint, Gauge]) -> None:
    server, _ = endpoint
    port = server.port
    server.stop()
    assert main(["deploy", "health", f"http://127.0.0.1:{port}/metrics"]) == 1
