"""Every metric the alert rules and dashboards use is exported by the code, with bounded labels; the rules
pass promtool where it is installed (make deploy-test also runs it inside the Prometheus container)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingest.metrics import StatsCollector, build_registry
from ingest.worker import IngestWorker
from kipsense.metrics import DiskCollector, PlatformCollector, ScorerMetrics, add_process_collectors
from kipsense.settings import IngestSettings, MqttSettings
from store.db import connect

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules/kipsense.yml"
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
_NAME = re.compile(r"\b((?:kipsense|process|python)_[a-z0-9_]+)\b")
#: Labels whose values come from a bounded set (devices and sites are registered; the rest are enums).
BOUNDED_LABELS = {"worker", "reason", "severity", "status", "device_id", "site_id", "kind", "metric", "axis"}
BOUNDED_LABELS |= {"source", "task", "path", "le", "generation", "implementation", "major", "minor", "patchlevel"}
BOUNDED_LABELS |= {"version"}


def _exported(database_url: str, mqtt_settings: MqttSettings, tmp_path: Path) -> dict[str, set[str]]:
    """Sample name -> label names of everything the platform's endpoints export."""
    worker = IngestWorker(
        settings=IngestSettings(metrics_port=0),
        mqtt_settings=mqtt_settings,
        database_url=database_url,
        client_id="names",
    )
    registries = [build_registry(StatsCollector("names", worker.stats, worker._gauges()))]
    platform = CollectorRegistry(auto_describe=False)

    def connection() -> Any:
        return connect(database_url, autocommit=True)

    platform.register(PlatformCollector(connection))
    platform.register(DiskCollector([tmp_path]))
    ScorerMetrics(platform)
    registries.append(add_process_collectors(platform))
    names: dict[str, set[str]] = {}
    for registry in registries:
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
            # A family without samples yet (no quarantine so far) still has its names in the exposition.
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
            for suffix in suffixes:
                names.setdefault(family.name + suffix, set())
    return names


def _used() -> Iterator[tuple[str, str]]:
    """(where, expression) of every rule and dashboard query."""
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"rule {rule['alert']}", rule["expr"]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]
        for variable in dashboard.get("templating", {}).get("list", []):
            yield f"{path.name}: variable {variable['name']}", variable["definition"]


def test_every_metric_used_is_exported(database_url: str, mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    exported = _exported(database_url, mqtt_settings, tmp_path)
    used = [(where, name) for where, expr in _used() for name in _NAME.findall(expr)]
    assert len(used) > 20
    missing = [(where, name) for where, name in used if name not in exported]
    assert not missing, f"metrics used but exported by no code: {missing}"


def test_label_sets_are_bounded(database_url: str, mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    exported = _exported(database_url, mqtt_settings, tmp_path)
    unbounded = {name: labels - BOUNDED_LABELS for name, labels in exported.items() if labels - BOUNDED_LABELS}
    assert not unbounded, f"labels without a bounded set of values: {unbounded}"
    assert "lat" not in set().union(*exported.values())


def test_dashboards_filter_by_site_and_device() -> None:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        assert {"site", "device"} <= variables, path.name
        per_device = [t["expr"] for p in dashboard["panels"] for t in p["targets"] if "device_id" in t["expr"]]
        assert per_device and all("$site" in e and "$device" in e for e in per_device), path.name


def test_rules_cover_the_failures_operators_must_hear_of() -> None:
    alerts = {rule["alert"]: rule["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for rule in g["rules"]}
    for needed in ("IngestLagging", "QuarantineRateHigh", "BrokerDown", "ScorerStalled", "DiskFilling"):
        assert f"Kipsense{needed}" in alerts


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
