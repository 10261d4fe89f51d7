"""Rollup maintenance and long-range reads on the test stack: raw ``time_bucket`` against the rollup path.

A fresh database gets ``--devices`` dust sensors at one reading per ``--step`` seconds over ``--days`` days
(written with the ingest COPY path). Measured: how fast a first rollup pass re-aggregates it (raw rows per
second), an incremental pass after one minute of new data from every device, and reads of one device's
whole range at 1-hour buckets and a week at 1-minute buckets, raw against rollup (best of 5).

    .venv/bin/python bench/rollups.py --devices 10 --days 30 --step 10
"""

from __future__ import annotations

import argparse
import functools
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import best_time, machine, markdown_table, update_results_md, write_results

from kipsense.records import DustReading
from kipsense.stack import LocalStack
from store import admin, migrate, readings, rollups
from store.db import Conn, connect

ROOT = Path(__file__).resolve().parent.parent


def _fill(conn: Conn, devices: int, days: int, step: int, end: datetime) -> int:
    rng = np.random.default_rng(0)
    n = days * 86_400 // step
    start = end - timedelta(seconds=n * step)
    total = 0
    for d in range(devices):
        pm = rng.gamma(2.0, 12.0, n)
        rows = [
            DustReading(f"bench-{d:03d}", start + timedelta(seconds=i * step), pm10=float(pm[i]), pm25=float(pm[i] / 2))
            for i in range(n)
        ]
        with conn.transaction():  # history that arrived a day ago: outside the rollup's re-scan overlap
            readings.write_records(conn, rows, received_at=datetime.now(UTC) - timedelta(days=1))
        total += n
    return total


def _raw(conn: Conn, device: str, start: datetime, end: datetime, bucket_s: int) -> int:
    return len(
        readings.raw_bucketed(
            conn, table="dust_readings", device_id=device, metric="pm10", start=start, end=end, bucket_s=bucket_s
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--stack", default="test", help="local stack to run on (.local/<name>)")
    args = parser.parse_args(argv)
    stack = LocalStack(ROOT / ".local", args.stack)
    stack.up()
    admin_url = stack.admin_url()
    name = f"bench_rollups_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        with connect(url, autocommit=True) as conn:
            results = _measure(conn, args)
    finally:
        admin.drop_database(admin_url, name)
    command = "`.venv/bin/python bench/rollups.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()) + "`"
    write_results("rollups", {**results, "args": vars(args), "machine": machine()})
    rows = [
        ["first pass (raw rows/s re-aggregated)", f"{results['first_pass_rows_per_s']:,.0f}", ""],
        ["incremental pass, 1 new minute per device (s)", f"{results['incremental_pass_s']:.3f}", ""],
        ["raw dust table, bytes per row (with indexes)", f"{results['raw_bytes_per_row']:.0f}", ""],
        [
            "rollup bytes per sensor-day (1 min / 1 h)",
            f"{results['rollup_1m_bytes_per_sensor_day']:,.0f}",
            f"{results['rollup_1h_bytes_per_sensor_day']:,.0f}",
        ],
        [
            f"{args.days} days at 1 h buckets, one device (ms)",
            f"{results['raw_range_1h_ms']:.1f} raw",
            f"{results['rollup_range_1h_ms']:.1f} rollup ({results['speedup_1h']:.1f}x)",
        ],
        [
            "7 days at 1 min buckets, one device (ms)",
            f"{results['raw_week_1m_ms']:.1f} raw",
            f"{results['rollup_week_1m_ms']:.1f} rollup ({results['speedup_1m']:.1f}x)",
        ],
    ]
    body = (
        "## Rollups: maintenance and long-range reads\n\n"
        f"Command: {command} ({args.stack} stack, {args.devices} sensors, one reading per {args.step} s,"
        f" {int(results['rows']):,} raw rows). Reads are best of 5 and return identical buckets.\n\n"
        + markdown_table(["measure", "value", "rollup"], rows)
    )
    update_results_md("rollups", body)
    sys.stdout.write(body + "\n")
    return 0


def _measure(conn: Conn, args: argparse.Namespace) -> dict[str, float]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    total = _fill(conn, args.devices, args.days, args.step, end)
    admin.analyze(conn)
    t0 = time.perf_counter()
    rollups.refresh(conn, source="dust_readings")
    first = time.perf_counter() - t0
    fresh = [
        DustReading(f"bench-{d:03d}", end + timedelta(seconds=s), pm10=1.0)
        for d in range(args.devices)
        for s in range(0, 60, args.step if args.step < 60 else 30)
    ]
    with conn.transaction():
        readings.write_records(conn, fresh, received_at=datetime.now(UTC))
    t0 = time.perf_counter()
    rollups.refresh(conn, source="dust_readings")
    incremental = time.perf_counter() - t0
    device = "bench-000"
    start = end - timedelta(days=args.days)
    week = end - timedelta(days=7)
    size = admin.hypertable_bytes(conn, "dust_readings")
    rollup_1m = admin.hypertable_bytes(conn, "dust_rollup_1m")
    rollup_1h = admin.hypertable_bytes(conn, "dust_rollup_1h")
    out: dict[str, float] = {
        "raw_bytes_per_row": size / total,
        "rollup_1m_bytes_per_sensor_day": rollup_1m / (args.devices * args.days),
        "rollup_1h_bytes_per_sensor_day": rollup_1h / (args.devices * args.days),
        "rows": float(total),
        "first_pass_rows_per_s": total / first,
        "incremental_pass_s": incremental,
    }
    for label, lo, bucket in (("range_1h", start, 3600), ("week_1m", week, 60)):
        via = rollups.bucketed(
            conn, table="dust_readings", device_id=device, metric="pm10", start=lo, end=end, bucket_s=bucket
        )
        if via is None or len(via) != _raw(conn, device, lo, end, bucket):
            raise RuntimeError("the rollup path did not answer the same buckets as the raw query")
        raw_s = best_time(functools.partial(_raw, conn, device, lo, end, bucket), repeat=5)
        roll_s = best_time(
            functools.partial(
                rollups.bucketed,
                conn,
                table="dust_readings",
                device_id=device,
                metric="pm10",
                start=lo,
                end=end,
                bucket_s=bucket,
            ),
            repeat=5,
        )
        key = label.split("_")[1]
        out[f"raw_{label}_ms"] = raw_s * 1000
        out[f"rollup_{label}_ms"] = roll_s * 1000
        out[f"speedup_{key}"] = raw_s / roll_s
    return out


if __name__ == "__main__":
    sys.exit(main())
