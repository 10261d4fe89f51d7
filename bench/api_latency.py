"""API latency under load: ``GET /alerts`` at a fixed request rate with 100k alerts stored, and readings
queries over 10M stored dust readings.

A dedicated database on the TEST stack is filled inside PostgreSQL (``store.synthetic``), the API runs as its
own process (``kipsense api``) and this process drives it over loopback with an open-loop schedule: requests
start at fixed intervals whatever the latency, so a slow response cannot slow the offered load down.

(Named api_latency, not api: a top-level module ``api`` would shadow the ``api`` package.)

Run: ``.venv/bin/python bench/api_latency.py`` -> bench/results/api.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import machine, markdown_table, update_results_md, write_results

from kipsense.records import DeviceKind
from kipsense.stack import LocalStack
from store import admin, apikeys, migrate, synthetic
from store import devices as store_devices
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fill(url: str, args: argparse.Namespace, end: datetime) -> tuple[list[str], int, int]:
    devices = [f"bench-{i:03d}" for i in range(args.devices)]
    per_device = args.rows // args.devices
    start = end - timedelta(seconds=per_device * args.step)
    with connect(url, autocommit=True) as conn:
        for d in devices:
            store_devices.create(conn, device_id=d, kind=DeviceKind.DUST)
        rows = 0
        for i in range(0, len(devices), 10):
            with conn.transaction():
                rows += synthetic.fill_dust(
                    conn, devices=devices[i : i + 10], start=start, step_s=args.step, per_device=per_device
                )
        with conn.transaction():
            alerts = synthetic.fill_alerts(
                conn, n=args.alerts, devices=devices, start=end - timedelta(days=365), step_s=300
            )
        conn.execute("ANALYZE")
    return devices, rows, alerts


async def _load(base: str, token: str, paths: list[str], rate: float, duration_s: float) -> tuple[np.ndarray, int, int]:
    """Open-loop: request k starts at k / rate seconds; returns latencies (ms), errors, requests sent."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30.0) as client:

        async def one(path: str) -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                r = await client.get(path)
            except httpx.TransportError:  # counted, never hidden: the table shows errors beside the latencies
                errors += 1
                return
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if r.status_code != 200:
                errors += 1

        # warm the connection pool and the server's caches before measuring
        await asyncio.gather(*(one(paths[i % len(paths)]) for i in range(50)))
        latencies.clear()
        n = int(rate * duration_s)
        start = time.perf_counter()
        tasks = []
        for k in range(n):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(paths[k % len(paths)])))
        await asyncio.gather(*tasks)
    return np.array(latencies), errors, n


def _sequential(base: str, token: str, paths: list[str], n: int) -> np.ndarray:
    """Closed loop, one request at a time: the service time without queueing (ms)."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
        for path in paths[:10]:
            client.get(path)
        for k in range(n):
            t0 = time.perf_counter()
            r = client.get(paths[k % len(paths)])
            out.append((time.perf_counter() - t0) * 1000.0)
            if r.status_code != 200:
                raise RuntimeError(f"{paths[k % len(paths)]}: HTTP {r.status_code}")
    return np.array(out)


def _alert_paths(devices: list[str], rng: np.random.Generator) -> list[str]:
    """The operator page's and integrations' mix: newest page, active only, one device, one type, page 2."""
    out = []
    for i in range(400):
        kind = i % 5
        if kind == 0:
            out.append("/alerts")
        elif kind == 1:
            out.append("/alerts?status=active&limit=100")
        elif kind == 2:
            out.append(f"/alerts?device_id={devices[int(rng.integers(len(devices)))]}")
        elif kind == 3:
            out.append("/alerts?type=stuck&severity=critical")
        else:
            out.append(f"/alerts?cursor={int(rng.integers(1_000, 100_000))}")
    return out


def _reading_paths(devices: list[str], end: datetime, args: argparse.Namespace, rng: np.random.Generator) -> list[str]:
    """One day of one device's PM10 at a random place in its history (point limit keeps ≤ 5000 buckets)."""
    span = args.rows // args.devices * args.step
    out = []
    for _ in range(400):
        d = devices[int(rng.integers(len(devices)))]
        s = end - timedelta(seconds=int(rng.integers(86_400, span)))
        e = s + timedelta(days=1)
        out.append(f"/devices/{d}/readings?metric=pm10&start={s:%Y-%m-%dT%H:%M:%SZ}&end={e:%Y-%m-%dT%H:%M:%SZ}")
    return out


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--step", type=int, default=10, help="seconds between a device's readings")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each load phase")
    parser.add_argument("--stack", default="test")
    args = parser.parse_args(argv)

    stack = LocalStack(Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local")), args.stack)
    stack.up()
    env = stack.env()
    admin_url = stack.admin_url()
    name = f"bench_api_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    server: subprocess.Popen[bytes] | None = None
    try:
        migrate.apply(url)
        end = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        devices, rows, alerts = _fill(url, args, end)
        fill_s = time.perf_counter() - t0
        with connect(url) as conn:
            _, token = apikeys.create(conn, name="bench", role="operator")
            conn.commit()
        port = _free_port()
        log = (ROOT / ".local" / "bench-api-server.log").open("wb")  # git-ignored; read it when the API fails
        server_env = {**os.environ, **env, "KIPSENSE_DATABASE_URL": url}
        server = subprocess.Popen(
            [sys.executable, "-m", "kipsense.cli", "api", "--port", str(port)],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        rng = np.random.default_rng(0)
        alert_paths = _alert_paths(devices, rng)
        a_seq = _sequential(base, token, alert_paths, 400)
        a_lat, a_err, a_n = asyncio.run(_load(base, token, alert_paths, args.rate, args.seconds))
        r_lat = _sequential(base, token, _reading_paths(devices, end, args, rng), 200)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        admin.drop_database(admin_url, name)

    results: dict[str, Any] = {
        "alerts_p50_ms": _pct(a_lat, 50),
        "alerts_p99_ms": _pct(a_lat, 99),
        "alerts_max_ms": float(a_lat.max()),
        "alerts_requests": a_n,
        "alerts_errors": a_err,
        "alerts_rate_per_s": args.rate,
        "alerts_stored": alerts,
        "alerts_unloaded_p50_ms": _pct(a_seq, 50),
        "alerts_unloaded_p99_ms": _pct(a_seq, 99),
        "alerts_capacity_per_s_estimate": 1000.0 / float(a_seq.mean()),
        "readings_p50_ms": _pct(r_lat, 50),
        "readings_p99_ms": _pct(r_lat, 99),
        "readings_requests": len(r_lat),
        "readings_stored": rows,
        "fill_s": fill_s,
        "alerts_p99_target_ms": 50.0,
        "alerts_p99_within_target": _pct(a_lat, 99) <= 50.0,
    }
    write_results("api", {**results, "args": vars(args), "machine": machine()})
    command = "`.venv/bin/python bench/api_latency.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()) + "`"
    table = markdown_table(
        ["measure", "p50 ms", "p99 ms", "requests (errors)"],
        [
            [
                f"GET /alerts at {args.rate:.0f} req/s, {alerts:,} alerts stored",
                f"{results['alerts_p50_ms']:.1f}",
                f"{results['alerts_p99_ms']:.1f}",
                f"{a_n} ({a_err})",
            ],
            [
                "GET /alerts one at a time (service time, no queue)",
                f"{results['alerts_unloaded_p50_ms']:.1f}",
                f"{results['alerts_unloaded_p99_ms']:.1f}",
                f"{len(a_seq)} (0)",
            ],
            [
                f"GET /devices/{{id}}/readings (1 day of PM10, ≤ 5000 points) one at a time, {rows:,} rows stored",
                f"{results['readings_p50_ms']:.1f}",
                f"{results['readings_p99_ms']:.1f}",
                f"{len(r_lat)} (0)",
            ],
        ],
    )
    body = (
        "## API latency under load\n\n"
        f"Command: {command} (dedicated database on the {args.stack} stack; API in its own process, load from"
        " this one over loopback, open-loop schedule). The alert mix: newest page, active only, one device,"
        " one type + severity, a deep cursor page. Target: alerts p99 ≤ 50 ms at the offered rate"
        f" ({'met' if results['alerts_p99_within_target'] else 'not met'}); one API process serves about"
        f" {results['alerts_capacity_per_s_estimate']:.0f} alert requests/s one at a time on this machine"
        f" ({machine()['cpus']} CPUs shared with the database and the load generator), so a rate above that"
        " queues.\n\n" + table
    )
    update_results_md("api", body)
    sys.stdout.write(body + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
