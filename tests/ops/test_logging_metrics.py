"""Structured logs and the metrics endpoint of a long-running process."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kipsense.logging_setup import JsonFormatter
from kipsense.metrics import MetricsSettings, serve_platform_metrics


def test_json_formatter_keeps_extra_fields_and_exceptions() -> None:
    record = logging.LogRecord("ingest.worker", logging.WARNING, __file__, 1, "batch of %d", (5,), None)
    record.device_id = "dust-01"
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "batch of 5" and out["level"] == "WARNING" and out["logger"] == "ingest.worker"
    assert out["device_id"] == "dust-01" and out["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    parsed = json.loads(JsonFormatter().format(failed))
    assert "ValueError: boom" in parsed["exception"]


def test_no_port_no_endpoint() -> None:
    assert serve_platform_metrics(MetricsSettings(port=None), database_url="postgresql://unused") is None


@pytest.mark.stack
def test_process_endpoint_serves_platform_metrics(database_url: str) -> None:
    endpoint = serve_platform_metrics(MetricsSettings(port=0), database_url=database_url)
    assert endpoint is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        endpoint.stop()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"kipsense_up", "kipsense_alerts_open", "kipsense_rollup_pending_buckets"} <= names
