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

The process line is watched by the recommended multivariate model from the start: on the first run, twelve
hours of its normal history (no faults) are back-filled ending now, ``process_monitor`` is trained on them
with its defaults (``kipsense models train``, as the README's walkthrough does) and activated, so the
scorer raises ``model:line-1-monitor`` alerts when the live line's faults begin. Later runs find the model
and leave it as it is.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kipsense import notify_demo
from kipsense.stack import LocalStack
from store import apikeys
from store import models as store_models
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


#: The demo's process-line model, the device it watches and the normal history it is trained on.
PROCESS_MODEL = "line-1-monitor"
PROCESS_DEVICE = "line-1"
PROCESS_HISTORY = timedelta(hours=12)


def ensure_process_model(env: dict[str, str]) -> bool:
    """Train and activate ``process_monitor`` on back-filled normal history of the line, unless it exists.

    Returns whether a model was trained. Each step is the CLI command a researcher would run; a failing step
    raises (the demo does not run on without the model silently).
    """
    with connect(env["KIPSENSE_DATABASE_URL"]) as conn:
        if store_models.find(conn, ref=PROCESS_MODEL) is not None:
            return False
    start = datetime.now(UTC) - PROCESS_HISTORY - timedelta(minutes=1)
    days = f"{PROCESS_HISTORY.total_seconds() / 86_400.0:.6f}"
    _run(["simulate", "process", "--backfill", days, "--faults", "none", "--run-id", "process-history"], env)
    end = datetime.now(UTC) + timedelta(seconds=1)  # after the back-fill has finished
    _run(
        ["models", "train", "--name", PROCESS_MODEL, "--devices", PROCESS_DEVICE, "--by", "kipsense run",
         "--start", start.isoformat(), "--end", end.isoformat()],
        env,
    )  # fmt: skip
    _run(["models", "activate", PROCESS_MODEL], env)
    return True


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "kipsense.cli", *args], env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"kipsense {' '.join(args[:2])} failed with exit code {done.returncode}")


def run_all(root: Path, *, stop: threading.Event, port: int = 8000) -> int:
    """Run everything until ``stop`` is set (Ctrl-C), then stop the children in reverse order."""
    stack = LocalStack(root, "main")
    status = stack.up()
    for notice in status.notices:
        print(f"kipsense stack: {notice}", file=sys.stderr)  # noqa: T201 - the command's own output
    env = {**DEMO_ENV, **os.environ, **stack.env()}
    key = demo_key(root, env["KIPSENSE_DATABASE_URL"])
    if ensure_process_model(env):  # twelve hours: the line's slow factors move over hours
        log.info("trained and activated %s (process_monitor) on the line's back-filled history", PROCESS_MODEL)
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
