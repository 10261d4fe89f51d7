"""Alert latency on the test stack: device publish -> broker -> ingest -> commit -> scorer -> alert in GET /alerts.

Everything runs for real on the TEST stack (``kipsense stack up --name test``) in its own fresh database: an
ingest worker and the streaming scorer in threads of this process, the API app served in-process through its
ASGI test client, and devices publishing with their own broker credentials. Each trial device first sends a
normal reading, then one batch of condensation readings (RH 99 %, as many as the RH-artefact rule needs in a
row) that the rule flags; the clock runs from just before that publish until the alert is listed by
``GET /alerts?device_id=...`` (polled every 5 ms).

    .venv/bin/python bench/alert_latency.py --trials 60
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table, update_results_md, write_results

from api.main import create_app
from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import ApiSettings, MqttSettings, ScorerSettings
from kipsense.stack import LocalStack
from models.rules import DustRuleConfig
from models.scorer import Scorer
from store import admin, apikeys, migrate
from store.db import connect
from tests.support import DeviceSession, running_worker

ROOT = Path(__file__).resolve().parent.parent


def _reading(ts: datetime, seq: int, rh: float) -> dict[str, object]:
    return {"ts": ts.isoformat(), "seq": seq, "pm10": 20.0, "pm25": 10.0, "rh": rh}


#: Condensation readings in a row the RH-artefact rule needs at the default 10 s interval.
CONDENSATION_READINGS = max(1, round(DustRuleConfig().rh_min_duration_s / 10.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=60)
    args = parser.parse_args(argv)
    stack = LocalStack(ROOT / ".local", "test")
    stack.up()
    env = stack.env()
    admin_url = stack.admin_url()
    name = f"bench_latency_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        latencies = _measure(url, env, args.trials)
    finally:
        admin.drop_database(admin_url, name)
    lat = np.array(latencies)
    stats = {
        "p50_s": float(np.percentile(lat, 50)),
        "p90_s": float(np.percentile(lat, 90)),
        "p99_s": float(np.percentile(lat, 99)),
        "max_s": float(lat.max()),
    }
    result = {
        "trials": int(lat.size),
        **stats,
        "target_p99_s": 1.0,
        "rule": "dust_rh_artefact",
        "machine": machine(),
    }
    table = markdown_table(
        ["trials", "p50 ms", "p90 ms", "p99 ms", "max ms", "target p99"],
        [[str(lat.size), *(f"{1000 * v:.0f}" for v in stats.values()), "1000 ms"]],
    )
    print(table)
    write_results("alert_latency", result)
    update_results_md(
        "alert_latency",
        "## Alert latency (publish -> alert visible in GET /alerts)\n\n"
        f"`.venv/bin/python bench/alert_latency.py --trials {args.trials}`: test stack, own database; ingest worker "
        "and scorer in threads, API in-process; one RH-artefact rule alert per trial device, measured from just "
        f"before the publish until the alert is listed (5 ms polling).\n\n{table}",
    )
    return 0


def _measure(url: str, env: dict[str, str], trials: int) -> list[float]:
    mqtt = MqttSettings(
        host=env["KIPSENSE_MQTT_HOST"],
        port=int(env["KIPSENSE_MQTT_PORT"]),
        username=env["KIPSENSE_MQTT_USERNAME"],
        password=SecretStr(env["KIPSENSE_MQTT_PASSWORD"]),
        password_file=Path(env["KIPSENSE_MQTT_PASSWORD_FILE"]),
        acl_file=Path(env["KIPSENSE_MQTT_ACL_FILE"]),
        pid_file=Path(env["KIPSENSE_MQTT_PID_FILE"]),
    )
    tag = "l" + secrets.token_hex(3)
    with connect(url) as conn:
        creds = [create_device(conn, mqtt, device_id=f"{tag}-{i}", kind=DeviceKind.DUST) for i in range(trials)]
        _, token = apikeys.create(conn, name="latency", role="operator")
        conn.commit()
    time.sleep(0.5)  # the broker reloads its password file
    stop = threading.Event()
    scorer = Scorer(settings=ScorerSettings(poll_s=1.0), database_url=url, rules={"dust_rh_artefact"}, models=False)
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    app = create_app(settings=ApiSettings(), database_url=url, mqtt=mqtt)
    latencies: list[float] = []
    with running_worker(mqtt, url, group=tag, slot=15, flush_ms=20), TestClient(app) as client:
        thread.start()
        auth = {"Authorization": f"Bearer {token}"}
        now = datetime.now(UTC)
        for i, c in enumerate(creds):
            device = DeviceSession(c)
            try:
                device.publish(json.dumps(_reading(now + timedelta(seconds=i, milliseconds=1), 1, 50.0)).encode())
                time.sleep(0.2)
                t0 = time.perf_counter()
                batch = [
                    _reading(now + timedelta(seconds=i, milliseconds=2 + k), 2 + k, 99.0)
                    for k in range(CONDENSATION_READINGS)
                ]
                device.publish(json.dumps(batch).encode())
                while not client.get("/alerts", params={"device_id": c.device_id}, headers=auth).json()["data"]:
                    if time.perf_counter() - t0 > 10.0:
                        raise RuntimeError(f"no alert for {c.device_id} within 10 s")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
            finally:
                device.close()
        stop.set()
        thread.join(timeout=10)
    return latencies


if __name__ == "__main__":
    sys.exit(main())
