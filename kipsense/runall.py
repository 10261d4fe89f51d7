"""``kipsense run`` (``make run``): the whole platform with simulators on the local stack.

Brings the stack up, makes sure a demo operator key exists, then runs ingest, scorer, API and the dust
simulator as child processes, each with its own clean shutdown on SIGTERM. The demo uses a short PM10
averaging window (60 s) and a dust episode 20 s into the run, so an alert appears within a minute or two;
production uses the EU daily window (``KIPSENSE_SCORER_PM10_WINDOW_S``, default 86 400 s).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from kipsense.stack import LocalStack
from store import apikeys
from store.db import connect

log = logging.getLogger(__name__)

DEMO_ENV = {
    "KIPSENSE_SCORER_PM10_WINDOW_S": "60",
    "KIPSENSE_SCORER_POLL_S": "1",
}


def demo_key(root: Path, database_url: str) -> str:
    """The demo operator key from ``.local/demo-api-key``, created when missing or no longer valid."""
    path = root / "demo-api-key"  # .local/demo-api-key
    with connect(database_url) as conn:
        if path.exists():
            token = path.read_text().strip()
            if apikeys.verify(conn, token=token) is not None:
                return token
        _, token = apikeys.create(conn, name="demo operator", role="operator")
        conn.commit()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "kipsense.cli", *args], env=env)  # noqa: S603


def run_all(root: Path, *, stop: threading.Event, port: int = 8000) -> int:
    """Run everything until ``stop`` is set (Ctrl-C), then stop the children in reverse order."""
    stack = LocalStack(root, "main")
    status = stack.up()
    env = {**DEMO_ENV, **os.environ, **stack.env()}
    key = demo_key(root, env["KIPSENSE_DATABASE_URL"])
    children = [
        _spawn(["ingest"], env),
        _spawn(["score"], env),
        _spawn(["api", "--port", str(port)], env),
        _spawn(
            [
                "simulate",
                "dust",
                "--step",
                "2",
                "--episode-at",
                "20",
                "--episode-duration",
                "240",
                "--episode-at",
                "900",
                "--episode-duration",
                "300",
            ],
            env,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    print(  # noqa: T201 - the command's own output
        f"\nKIP Sense is running (database 127.0.0.1:{status.postgres_port}, broker 127.0.0.1:{status.mqtt_port})\n"
        f"  API:       {url}  (OpenAPI: {url}/docs)\n"
        f"  demo key:  {key}  (also in {root / 'demo-api-key'})\n"
        f"  try:       curl -H 'Authorization: Bearer {key}' {url}/alerts\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            for child in children:
                if child.poll() is not None:
                    log.error("a service exited with code %s; stopping", child.returncode)
                    stop.set()
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 30
        for child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    return 0
