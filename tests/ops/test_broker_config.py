"""The production broker's connection limits agree with the open-file limits it is run with."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml

from kipsense.stack.mosquitto import FD_RESERVE

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy/mosquitto/mosquitto.conf"


def _listeners() -> dict[int, dict[str, str]]:
    """Options of each listener, by port (options before any listener are left out)."""
    out: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in CONF.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            current = out.setdefault(int(value.split()[0]), {"bind": " ".join(value.split()[1:])})
        elif current is not None:
            current[key] = value.strip()
    return out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_listener_is_bounded_below_the_open_file_limit(compose: dict[str, Any]) -> None:
    listeners = _listeners()
    assert set(listeners) == {8883, 1883}
    total = sum(int(opts["max_connections"]) for opts in listeners.values())
    nofile = compose["services"]["mosquitto"]["ulimits"]["nofile"]
    assert nofile["soft"] == nofile["hard"] == "${KIPSENSE_BROKER_NOFILE:-65536}"  # 65536 unless a host cannot
    assert 65536 >= total + FD_RESERVE
    unit = configparser.ConfigParser()
    unit.read(ROOT / "deploy/mosquitto/mosquitto.service.d/limits.conf")
    assert int(unit["Service"]["LimitNOFILE"]) == 65536


def test_devices_and_services_have_separate_listeners(compose: dict[str, Any]) -> None:
    listeners = _listeners()
    assert "certfile" in listeners[8883] and "certfile" not in listeners[1883]
    published = [str(p).split(":")[-1] for p in compose["services"]["mosquitto"]["ports"]]
    assert published == ["8883"]  # the services listener is reachable on the backend network only
    assert compose["x-app"]["environment"]["KIPSENSE_MQTT_PORT"] == "1883"  # services use their own listener
