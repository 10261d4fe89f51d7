"""JSON logs from every process when asked: uvicorn's worker processes and spawned ingest workers included."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kipsense import mqtt_auth
from kipsense.settings import MqttSettings
from tests.support import discard_session, wait_until

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
KIPSENSE = str(Path(sys.executable).with_name("kipsense"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_for(cmd: list[str], env: dict[str, str], until: float, poke: str | None = None) -> list[str]:
    """Start ``cmd``, optionally GET ``poke`` once it answers, stop it after ``until`` seconds; stderr lines."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if poke is not None:
            wait_until(lambda: _get(poke), timeout=60, interval=0.3)
        time.sleep(until)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    return [line for line in err.splitlines() if line.strip()]


def _get(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _records(lines: list[str]) -> list[dict[str, object]]:
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return records


def test_api_with_two_workers_logs_json_including_access_lines(stack_env: dict[str, str], database_url: str) -> None:
    port = _free_port()
    env = {**os.environ, **stack_env, "KIPSENSE_DATABASE_URL": database_url, "KIPSENSE_LOG_FORMAT": "json"}
    lines = _run_for(
        [KIPSENSE, "api", "--workers", "2", "--port", str(port)], env, 1.0, poke=f"http://127.0.0.1:{port}/health"
    )
    records = _records(lines)
    assert any(r["logger"] == "uvicorn.access" and "/health" in str(r["message"]) for r in records)
    assert any(r["logger"] == "uvicorn.error" for r in records)


def test_ingest_with_two_workers_logs_json(
    stack_env: dict[str, str], database_url: str, mqtt_settings: MqttSettings
) -> None:
    env = {
        **os.environ,
        **stack_env,
        "KIPSENSE_DATABASE_URL": database_url,
        "KIPSENSE_LOG_FORMAT": "json",
        "KIPSENSE_INGEST_CLIENT_ID": "logtest",
        "KIPSENSE_INGEST_SHARE_GROUP": "logtest",
    }
    try:
        records = _records(_run_for([KIPSENSE, "ingest", "--workers", "2"], env, 8.0))
    finally:  # the local broker names sessions by username: leave no subscription of this group behind
        for username in mqtt_auth.ingest_usernames()[:2]:
            discard_session(mqtt_settings, username)
    messages = " ".join(str(r["message"]) for r in records)
    assert "logtest-0 connected" in messages and "logtest-1 connected" in messages
