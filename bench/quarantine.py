"""Quarantine under a flood: 200 payloads of 1 MB from one device, through the real broker and ingest worker.

Measures what the flood costs the database (on-disk bytes of ``quarantine`` and ``quarantine_suppressed``,
indexes and TOAST included), how many rows were stored in full, how many name their device, and how many
messages were counted instead of stored. Runs on the TEST stack (``kipsense stack up --name test``) in a
fresh database of its own.

    .venv/bin/python bench/quarantine.py
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table, update_results_md, write_results

from kipsense.provisioning import create_device
from kipsense.records import DeviceKind
from kipsense.settings import IngestSettings, MqttSettings
from kipsense.stack import LocalStack
from store import admin, migrate, quarantine
from store.db import connect
from tests.support import DeviceSession, running_worker, wait_until

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("quarantine", "quarantine_suppressed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=1_000_000, help="payload bytes (the broker takes up to 1 MiB)")
    args = parser.parse_args(argv)
    stack = LocalStack(ROOT / ".local", "test")
    stack.up()
    env = stack.env()
    admin_url = stack.admin_url()
    name = f"bench_quarantine_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        result = _measure(url, env, args.messages, args.size)
    finally:
        admin.drop_database(admin_url, name)
    result["machine"] = machine()
    table = markdown_table(
        ["messages x size", "rows stored", "rows naming the device", "counted (suppressed)", "quarantine bytes"],
        [
            [
                f"{args.messages} x {args.size / 1e6:g} MB",
                str(result["quarantine_rows"]),
                str(result["rows_with_device"]),
                str(result["suppressed_messages"]),
                f"{result['quarantine_bytes'] / 1e6:.2f} MB",
            ]
        ],
    )
    print(table)
    write_results("quarantine", result)
    update_results_md(
        "quarantine",
        "## Quarantine under a flood (issue 13, item 12)\n\n"
        f"`.venv/bin/python bench/quarantine.py`: one device publishes {args.messages} oversized payloads of "
        f"{args.size:,} bytes at QoS 1 through the test broker to one ingest worker (default settings: "
        f"{result['keep_bytes']} bytes kept per row, {result['burst']} rows per device in a burst, then "
        f"{result['per_minute']:g} per minute). Bytes are the on-disk growth of `quarantine` and "
        "`quarantine_suppressed` with indexes and TOAST. Before the bound (commit 6cb3ded, same flood, same "
        "stack) all 200 messages were stored whole, none naming its device, and `quarantine` grew by 208.0 MB "
        "(the issue measured 207 MB).\n\n"
        f"{table}",
    )
    return 0


def _measure(url: str, env: dict[str, str], messages: int, size: int) -> dict[str, Any]:
    mqtt = MqttSettings(
        host=env["KIPSENSE_MQTT_HOST"],
        port=int(env["KIPSENSE_MQTT_PORT"]),
        username=env["KIPSENSE_MQTT_USERNAME"],
        password=SecretStr(env["KIPSENSE_MQTT_PASSWORD"]),
        password_file=Path(env["KIPSENSE_MQTT_PASSWORD_FILE"]),
        acl_file=Path(env["KIPSENSE_MQTT_ACL_FILE"]),
        pid_file=Path(env["KIPSENSE_MQTT_PID_FILE"]),
    )
    tag = "q" + secrets.token_hex(3)
    with connect(url) as conn:
        creds = create_device(conn, mqtt, device_id=f"{tag}-flood", kind=DeviceKind.DUST)
        conn.commit()
        before = sum(admin.table_bytes(conn, t) for t in TABLES)
    time.sleep(0.5)  # the broker reloads its password file
    # Incompressible bytes, as garbage or encrypted payloads are: TOAST compression would flatter a pattern.
    payloads = [random.Random(i).randbytes(size) for i in range(messages)]
    settings = IngestSettings()
    with running_worker(mqtt, url, group=tag, slot=14) as worker:
        device = DeviceSession(creds)
        t0 = time.perf_counter()
        try:
            device.publish_many(payloads)
        finally:
            device.close()
        wait_until(lambda: worker.stats.acked >= messages, timeout=300)
        elapsed = time.perf_counter() - t0
    with connect(url) as conn:
        admin.analyze(conn)
        rows = quarantine.recent(conn, limit=messages + 1)
        grown = sum(admin.table_bytes(conn, t) for t in TABLES) - before
        suppressed = sum(s.messages for s in quarantine.suppressed(conn, limit=10_000))
    return {
        "messages": messages,
        "payload_bytes": size,
        "quarantine_rows": len(rows),
        "rows_with_device": sum(r.device_id == creds.device_id for r in rows),
        "suppressed_messages": suppressed,
        "quarantine_bytes": grown,
        "seconds": elapsed,
        "keep_bytes": settings.quarantine_keep_bytes,
        "burst": settings.quarantine_burst,
        "per_minute": settings.quarantine_per_minute,
    }


if __name__ == "__main__":
    raise SystemExit(main())
