"""The local stack: idempotent start, usable exports, and a clear error when a foreign server holds a port."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kipsense.stack import LocalStack, StackError

ROOT = Path(__file__).resolve().parents[2]


def _test_stack_root() -> Path:
    return Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local"))


def _exports(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = shlex.split(value)[0]
    return found


@pytest.fixture
def stack_root() -> Iterator[Path]:
    """A folder the service user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="kipsense-stack-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_up_is_idempotent(stack_env: dict[str, str]) -> None:
    stack = LocalStack(_test_stack_root(), "test")
    first = stack.up()
    again = stack.up()
    assert first == again
    assert again.postgres_running and again.mqtt_running


def test_env_exports_reach_timescaledb_and_the_broker(stack_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kipsense.cli", "stack", "env", "--name", "test"],
        env={**os.environ, "KIPSENSE_STACK_ROOT": str(_test_stack_root())},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    exports = _exports(out)
    assert {"KIPSENSE_DATABASE_URL", "KIPSENSE_MQTT_HOST", "KIPSENSE_MQTT_PORT"} <= exports.keys()
    assert exports["KIPSENSE_MQTT_PORT"] == stack_env["KIPSENSE_MQTT_PORT"]
    assert "KIPSENSE_MQTT_TLS_CA" in out  # how to use the TLS listener, printed as a comment
    with psycopg.connect(exports["KIPSENSE_DATABASE_URL"]) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        hypertables = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()
    assert row is not None
    assert hypertables is not None and hypertables[0] >= 1
    with socket.create_connection((exports["KIPSENSE_MQTT_HOST"], int(exports["KIPSENSE_MQTT_PORT"])), timeout=2):
        pass


def test_a_port_held_by_another_server_is_a_clear_error(stack_root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        (stack_root / "held").mkdir()
        (stack_root / "held" / "ports.json").write_text(json.dumps({"postgres": port, "mqtt": port + 1}))
        with pytest.raises(StackError, match=f"port {port} .*held by another process"):
            LocalStack(stack_root, "held").up()
    assert not (stack_root / "held" / "env.json").exists()
