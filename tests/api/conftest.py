"""API fixtures: the app on a fresh database, one key per role, a live server on loopback for streams and browsers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import ApiLimits
from api.main import create_app, server_options
from kipsense.settings import ApiSettings, MqttSettings
from store import apikeys
from store.db import connect

ROLES = ("operator", "researcher", "field", "admin")


@dataclass(frozen=True, slots=True)
class Keys:
    """A token per role; the field key belongs to site ``north`` only."""

    tokens: dict[str, str]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


def make_app(database_url: str, stack_env: dict[str, str], **limits: Any) -> FastAPI:
    mqtt = MqttSettings(host=stack_env["KIPSENSE_MQTT_HOST"], port=int(stack_env["KIPSENSE_MQTT_PORT"]))
    return create_app(
        settings=ApiSettings(), database_url=database_url, mqtt=mqtt, limits=ApiLimits(stream_poll_s=0.2, **limits)
    )


@pytest.fixture(scope="module")
def keys(database_url: str) -> Keys:
    with connect(database_url) as conn:
        conn.execute("INSERT INTO sites (site_id, name) VALUES ('north', 'North yard') ON CONFLICT DO NOTHING")
        tokens = {}
        for role in ROLES:
            _, token = apikeys.create(conn, name=f"test {role}", role=role, sites=["north"] if role == "field" else [])
            tokens[role] = token
        conn.commit()
    return Keys(tokens)


@pytest.fixture(scope="module")
def client(database_url: str, stack_env: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(make_app(database_url, stack_env)) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, with the options every start of the API uses."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **server_options(ApiSettings()))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=40)


@pytest.fixture(scope="module")
def live_url(database_url: str, stack_env: dict[str, str]) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port for the module's tests."""
    with serving(make_app(database_url, stack_env, stream_max_s=30.0)) as url:
        yield url
