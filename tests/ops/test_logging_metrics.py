"""Structured logs and the metrics endpoint of a long-running process."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from kipsense.logging_setup import JsonFormatter
from kipsense.metrics import MetricsSettings, ScorerMetrics, serve_platform_metrics
from kipsense.settings import ScorerSettings
from models.scorer import Scorer
from tests.support import wait_until


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


@pytest.mark.stack
def test_maintenance_endpoint_without_platform_gauges_has_process_and_disk(database_url: str, tmp_path: Path) -> None:
    settings = MetricsSettings(port=0, platform=False, disk_paths=[tmp_path])
    endpoint = serve_platform_metrics(settings, database_url=database_url)
    assert endpoint is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        endpoint.stop()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "kipsense_alerts_open" not in names and "kipsense_up" not in names  # the scorer exports those
    assert {"process_resident_memory_bytes", "kipsense_disk_free_bytes", "kipsense_disk_size_bytes"} <= names


@pytest.mark.stack
def test_scorer_counts_its_passes_and_reports_no_lag_before_data(database_url: str) -> None:
    registry = CollectorRegistry()
    metrics = ScorerMetrics(registry)
    scorer = Scorer(settings=ScorerSettings(poll_s=0.2), database_url=database_url, models=False, metrics=metrics)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: (registry.get_sample_value("kipsense_scorer_passes_total") or 0) >= 2, timeout=30)
    finally:
        stop.set()
        thread.join(timeout=30)
    last_pass = registry.get_sample_value("kipsense_scorer_last_pass_timestamp_seconds")
    assert last_pass is not None and last_pass > time.time() - 60
    assert registry.get_sample_value("kipsense_scorer_alerts_raised_total") == 0
    assert registry.get_sample_value("kipsense_scorer_task_errors_total", {"task": "housekeeping"}) == 0
    assert registry.get_sample_value("kipsense_scorer_watermark_lag_seconds") == 0
