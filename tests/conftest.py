"""Fixtures for tests against the real local stack (``.local/test``) and for failing on swallowed errors.

Each test module that needs the database gets its own fresh database on the test cluster (dropped afterwards);
tests against the broker use unique device ids and a unique shared-subscription group, so they never see
each other's traffic, and ``make test`` never touches the data of a running ``make run``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from kipsense.settings import MqttSettings
from kipsense.stack import LocalStack
from store import admin, migrate

ROOT = Path(__file__).resolve().parent.parent
_OUR_LOGGERS = ("ingest", "models", "api", "kipsense", "simulators", "store")


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """Connection settings of the test stack, started if needed (``KIPSENSE_TEST_STACK_ROOT`` overrides where)."""
    root = Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local"))
    stack = LocalStack(root, "test")
    stack.up()
    env = stack.env()
    env["KIPSENSE_ADMIN_DATABASE_URL"] = stack.admin_url()
    return env


@pytest.fixture(scope="module")
def database_url(stack_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database for this test module."""
    name = f"t_{request.module.__name__.rsplit('.', 1)[-1][:30]}_{secrets.token_hex(3)}".lower()
    admin_url = stack_env["KIPSENSE_ADMIN_DATABASE_URL"]
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    migrate.apply(url)
    yield url
    admin.drop_database(admin_url, name)


@pytest.fixture
def mqtt_settings(stack_env: dict[str, str]) -> MqttSettings:
    """The ingest service account on the test broker, plus its password/ACL/pid files for provisioning."""
    return MqttSettings(
        host=stack_env["KIPSENSE_MQTT_HOST"],
        port=int(stack_env["KIPSENSE_MQTT_PORT"]),
        username=stack_env["KIPSENSE_MQTT_USERNAME"],
        password=SecretStr(stack_env["KIPSENSE_MQTT_PASSWORD"]),
        password_file=Path(stack_env["KIPSENSE_MQTT_PASSWORD_FILE"]),
        acl_file=Path(stack_env["KIPSENSE_MQTT_ACL_FILE"]),
        pid_file=Path(stack_env["KIPSENSE_MQTT_PID_FILE"]),
    )


@pytest.fixture
def uid() -> str:
    """A short unique tag for device ids and subscription groups of one test."""
    return "t" + secrets.token_hex(4)


class _ExceptionCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.startswith(_OUR_LOGGERS):
            self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_log_exception() -> Iterator[None]:
    """Fail a test when code under test logged an exception it swallowed (callbacks, writer threads)."""
    collector = _ExceptionCollector()
    logging.getLogger().addHandler(collector)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(collector)
    if collector.records:
        first = collector.records[0]
        pytest.fail(f"{len(collector.records)} swallowed exception(s), first from {first.name}: {first.getMessage()}")
