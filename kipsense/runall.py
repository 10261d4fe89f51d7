"""``kipsense run`` (``make run``): the whole platform with its three simulated streams on the local stack.

Brings the stack up, makes sure a demo operator key exists, then runs ingest, scorer, API and the
simulators as child processes, each with its own clean shutdown on SIGTERM:

- the dust network in real time (24 fixed sensors and a met station, 2-s steps, native JSON, SenML and
  airrohr devices) with a dust episode 20 s into the run and another after 15 minutes. The demo uses a
  short PM10 averaging window (60 s), so the first alert appears within a minute or two; production uses
  the EU daily window (``KIPSENSE_SCORER_PM10_WINDOW_S``, default 86 400 s). Its faults are the device
  behaviours only (dropouts, outages with back-fill, low battery, clock skew, duplicates): they change what
  arrives, never the PM values, so every PM10 alert of the demo comes from dust that is really there
  (a simulated episode, in the ground truth) and not from a spiking or stuck sensor;
- eight battery-cycler channels sampled every 10 s and the precursor process line over Sparkplug B (10 s),
  both in real time. Their accelerated modes (``kipsense simulate cycler --speed 120``) replay history with
  device times far behind the receive time, which the device-health checks rightly report as clock or rate
  problems; the demo avoids showing those artefacts. Cycler and process faults (every kind) start within
  the first day; ground truth is in ``ground_truth`` under run ids ``<stream>-live-seed0``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from kipsense import notify_demo
from kipsense.stack import LocalStack
from store import apikeys
from store.db import connect

log = logging.getLogger(__name__)

#: ``kipsense simulate`` arguments of the demo's streams (see the module docstring).
SIMULATORS: tuple[tuple[str, ...], ...] = (
    (
        "dust", "--step", "2", "--faults", "device",
        "--episode-at", "20", "--episode-duration", "240", "--episode-at", "900", "--episode-duration", "300",
    ),
    ("cycler", "--step", "10"),
    ("process",),
)  # fmt: skip

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
    for notice in status.notices:
        print(f"kipsense stack: {notice}", file=sys.stderr)  # noqa: T201 - the command's own output
    env = {**DEMO_ENV, **os.environ, **stack.env()}
    key = demo_key(root, env["KIPSENSE_DATABASE_URL"])
    demo_notify = notify_demo.prepare(root, database_url=env["KIPSENSE_DATABASE_URL"], api_port=port)
    env = {**demo_notify.env, **env}  # the caller's own KIPSENSE_NOTIFY_... settings win
    children = [
        _spawn(demo_notify.catcher_args, env),
        _spawn(["ingest"], env),
        _spawn(["score"], env),
        _spawn(["api", "--port", str(port)], env),
        _spawn(["notify"], env),
        *(_spawn(["simulate", *args], env) for args in SIMULATORS),
    ]
    url = f"http://127.0.0.1:{port}"
    print(  # noqa: T201 - the command's own output
        f"\nKIP Sense is running (database 127.0.0.1:{status.postgres_port}, broker 127.0.0.1:{status.mqtt_port})\n"
        f"  API:       {url}  (OpenAPI: {url}/docs)\n"
        f"  demo key:  {key}  (also in {root / 'demo-api-key'})\n"
        f"  try:       curl -H 'Authorization: Bearer {key}' {url}/alerts\n"
        f"  messages:  {demo_notify.folder / 'mail'}/*.eml and {demo_notify.folder / 'webhook.log'}\n"
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
