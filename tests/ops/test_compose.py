"""The production compose stack, validated without a Docker engine: structure, commands, secrets, wiring."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kipsense.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
BROKER_CONF = "./deploy/mosquitto/mosquitto.conf"
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")

# The essentials of the Compose Specification's schema for the keys this project uses; unknown keys are errors,
# which catches typos such as `enviroment` or `depends-on` that an engine would reject.
# A number, or a string holding one (what an interpolated `${VAR:-65536}` gives).
_COUNT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$"}
_LIST_OR_MAP = {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]}
_SERVICE = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
    "properties": {
        "image": {"type": "string", "minLength": 1},
        "build": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"context": {"type": "string"}, "dockerfile": {"type": "string"}},
                },
            ]
        },
        "command": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "environment": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
            ]
        },
        "depends_on": {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["condition"],
                        "properties": {
                            "condition": {
                                "enum": ["service_started", "service_healthy", "service_completed_successfully"]
                            }
                        },
                    },
                },
            ]
        },
        "ports": {"type": "array", "items": {"type": "string", "pattern": r"^(\d+\.\d+\.\d+\.\d+:)?\d+(:\d+)?$"}},
        "volumes": {"type": "array", "items": {"type": "string", "pattern": r"^[^:]+:/[^:]*(:(ro|rw))?$"}},
        "secrets": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["source"],
                        "additionalProperties": False,
                        "properties": {"source": {"type": "string"}, "target": {"type": "string"}},
                    },
                ]
            },
        },
        "networks": _LIST_OR_MAP,
        "ulimits": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [
                    {"type": "integer"},
                    {
                        "type": "object",
                        "required": ["soft", "hard"],
                        "additionalProperties": False,
                        "properties": {"soft": _COUNT, "hard": _COUNT},
                    },
                ]
            },
        },
        "profiles": {"type": "array", "items": {"type": "string"}},
        "entrypoint": {"type": "array", "items": {"type": "string"}},
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "required": ["driver", "options"],
            "properties": {"driver": {"type": "string"}, "options": {"type": "object"}},
        },
        "deploy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "limits": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["memory"],
                            "properties": {"cpus": {"type": "string"}, "memory": {"type": "string"}},
                        }
                    },
                }
            },
        },
        "healthcheck": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "test": {"type": "array", "items": {"type": "string"}},
                "interval": {"type": "string"},
                "timeout": {"type": "string"},
                "retries": {"type": "integer"},
                "start_period": {"type": "string"},
            },
        },
    },
}
SCHEMA = {
    "type": "object",
    "required": ["services"],
    "additionalProperties": False,
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {"type": "object", "minProperties": 1, "additionalProperties": _SERVICE},
        "secrets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {"file": {"type": "string"}},
            },
        },
        "volumes": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "networks": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
    },
}


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with defaults only (what a fresh checkout gets); bare ``${VAR}`` is an error."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match.group(2) is None:
                raise AssertionError(f"${{{match.group(1)}}} has no default: the stack would need it set")
            return match.group(2)

        return _INTERPOLATION.sub(sub, value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return dict(_interpolate(data))


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _services(compose).items() if "build" in s}


def test_schema(compose: dict[str, Any]) -> None:
    jsonschema.validate(compose, SCHEMA)


def test_every_app_command_is_a_kipsense_subcommand(compose: dict[str, Any]) -> None:
    apps = _app_services(compose)
    assert {"migrate", "broker-auth", "ingest-1", "ingest-2", "scorer", "maintain", "api", "simulator"} <= set(apps)
    parser = build_parser()
    for name, service in apps.items():
        command = service["command"]
        assert isinstance(command, list) and command[0] == "kipsense", name
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"service {name}: `{' '.join(command)}` is not a valid kipsense command")


def test_the_parse_check_can_fail() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "--wrokers", "2"])


def test_references_resolve(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, s in services.items():
        deps = s.get("depends_on", [])
        assert set(deps) <= set(services), name
        for secret in s.get("secrets", []):
            assert (secret if isinstance(secret, str) else secret["source"]) in compose["secrets"], name
        for net in s.get("networks", []):
            assert net in compose["networks"], name
        for volume in s.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"
            else:
                assert source in compose["volumes"], name
    assert (ROOT / "Dockerfile").is_file()
    entrypoint = ROOT / "deploy/app/entrypoint.sh"
    assert entrypoint.is_file() and os.access(entrypoint, os.X_OK)


def test_broker_config_is_in_the_tree(compose: dict[str, Any]) -> None:
    broker = _services(compose)["mosquitto"]
    mounts = dict(v.split(":")[:2] for v in broker["volumes"])
    assert mounts[BROKER_CONF] == "/mosquitto/config/mosquitto.conf"
    assert mounts["mqtt-auth"] == "/mosquitto/auth"  # the platform's files, copied in by run.sh
    assert mounts["mqtt-data"] == "/mosquitto/data"  # persistence_location and the broker's copy of the auth files
    conf = (ROOT / BROKER_CONF).read_text()
    assert "persistence_location /mosquitto/data/" in conf and "password_file /mosquitto/data/auth/passwd" in conf
    for path in re.findall(r"^(?:cafile|certfile|keyfile) (\S+)$", conf, flags=re.M):
        secret = path.removeprefix("/run/secrets/")
        assert secret in broker["secrets"], f"{path} is not given to the broker"
    # Listeners on every interface of the container (a loopback bind is unreachable from other containers).
    assert not re.search(r"^listener \d+ 127\.0\.0\.1", conf, flags=re.M)
    assert broker["entrypoint"][-1] == "/mosquitto/config/run.sh" and mounts["./deploy/mosquitto/run.sh"]


def test_every_service_is_watched_and_waits_for_what_it_needs(compose: dict[str, Any]) -> None:
    services = _services(compose)
    one_shots = {"migrate", "broker-auth"}
    for name, s in services.items():
        if name not in one_shots and "profiles" not in s:
            assert "healthcheck" in s, f"{name} has no healthcheck"
        assert s.get("logging", {}).get("options", {}).get("max-size"), f"{name}: logs are not rotated"
        assert s.get("deploy", {}).get("resources", {}).get("limits"), f"{name}: no resource limits"
        for dep, cond in s.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dep in one_shots else "service_healthy"
            assert cond["condition"] == expected, f"{name} -> {dep}"
            if expected == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"
    for name in ("ingest-1", "ingest-2", "scorer", "maintain", "api"):
        assert set(services[name]["depends_on"]) >= {"migrate", "mosquitto"}, name
    assert services["migrate"]["restart"] == "on-failure" and "--wait" in services["migrate"]["command"]


def test_images_are_pinned_and_only_tls_is_published(compose: dict[str, Any]) -> None:
    for name, s in _services(compose).items():
        if "build" not in s:
            assert re.search(r":v?\d+\.\d+\.\d+", s["image"]), f"{name}: {s['image']} floats"
    published = {n: s["ports"] for n, s in _services(compose).items() if "ports" in s}
    assert published["proxy"] == ["443:443"] and published["mosquitto"] == ["8883:8883"]
    assert all(p.startswith("127.0.0.1:") for p in published.pop("prometheus"))
    assert set(published) == {"proxy", "mosquitto"}


def test_ingest_containers_have_distinct_session_ids_and_spools(compose: dict[str, Any]) -> None:
    services = _services(compose)
    ingest = {n: _env(s) for n, s in services.items() if n.startswith("ingest-")}
    ids = [env["KIPSENSE_INGEST_CLIENT_ID"] for env in ingest.values()]
    assert len(ingest) >= 2 and len(set(ids)) == len(ids)
    spools = {next(v for v in services[n]["volumes"] if v.endswith(":/spool")) for n in ingest}
    assert len(spools) == len(ingest) and all(env["KIPSENSE_INGEST_SPOOL_DIR"] == "/spool" for env in ingest.values())


def test_no_default_or_inline_secrets(compose: dict[str, Any]) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DATABASE_URL")
    for name, s in _services(compose).items():
        for key, value in _env(s).items():
            if secretish.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret inline"
                assert value.startswith(("/run/secrets/", "/mosquitto/auth/")), f"{name}: {key}={value}"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: {key} embeds credentials"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert not (ROOT / "secrets").exists() or not any(
        p.is_file() and p.name != ".gitignore" for p in (ROOT / "secrets").iterdir()
    ), "secret files must not live in the repository"


def test_database_is_the_licensed_timescaledb_image(compose: dict[str, Any]) -> None:
    db = _services(compose)["timescaledb"]
    assert db["image"].startswith("docker.io/timescale/timescaledb:") and db["image"].endswith("-pg15")
    assert "shared_preload_libraries=timescaledb" in db["command"]
    assert _services(compose)["simulator"]["profiles"] == ["simulator"]


def test_prometheus_scrapes_what_the_services_serve(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    services = _services(compose)
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.rsplit(":", 1)
            assert host in services, target
            env = _env(services[host])
            served = {
                env.get("KIPSENSE_METRICS_PORT"),
                env.get("KIPSENSE_INGEST_METRICS_PORT"),
                "8000" if host == "api" else None,
            }
            base = env.get("KIPSENSE_INGEST_METRICS_PORT")
            if base is not None:  # one port per worker slot
                served |= {str(int(base) + slot) for slot in range(16)}
            assert port in served, f"{target}: {host} does not serve metrics on {port}"
            if host != "api":
                assert env.get("KIPSENSE_METRICS_HOST", env.get("KIPSENSE_INGEST_METRICS_HOST")) == "0.0.0.0"  # noqa: S104
    api_job = next(j for j in config["scrape_configs"] if j["job_name"] == "api")
    assert api_job["authorization"]["credentials_file"] == "/run/secrets/prometheus_api_key"


def test_grafana_dashboard_uses_the_provisioned_datasource() -> None:
    provisioning = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioning["datasources"][0]["uid"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/kipsense.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    for word in ("Ingest rate", "Lag", "Quarantine", "alerts", "PM map"):
        assert any(word in t for t in titles), word
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid and t["expr"] for t in panel["targets"])
    assert any(p["type"] == "geomap" for p in dashboard["panels"])
