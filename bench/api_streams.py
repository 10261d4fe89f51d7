"""``GET /alerts`` latency with and without 200 open live streams (``/stream``), alerts being raised throughout.

A dedicated database on the TEST stack holds 100k alerts (as ``bench/api.py``); the API runs as ``kipsense api``
(its default workers). Phase one offers ``GET /alerts`` at a fixed rate, open-loop, while an alert is raised
every half second; phase two does the same with 200 SSE clients connected and reading. Target: the p99 of
phase two stays within 2x that of phase one. Every stream must also receive every alert raised while it was
open (``stream_events_missed`` counts the shortfall), so a fast but silent stream cannot pass.

The SSE clients run in a process of their own, as they would be other machines: in the load generator's
process their reading would delay the measurement of the requests. A request unanswered after ``--timeout``
seconds counts as an error with that latency: before the streams held no connection, 200 of them took every
request slot and requests waited forever.

``--server-src DIR`` runs the API from another checkout (e.g. ``git archive main | tar -x -C DIR``) against
the same load, to measure the code before a change: ``.venv/bin/python bench/api_streams.py --server-src DIR``.

Run: ``.venv/bin/python bench/api_streams.py`` -> bench/results/api_streams.json and a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import RESULTS_DIR, machine, markdown_table, update_results_md, write_results
from api_latency import _alert_paths, _free_port, _Http, _pct

from kipsense.cli import default_api_workers
from kipsense.records import DeviceKind
from kipsense.stack import LocalStack
from store import admin, apikeys, migrate, synthetic
from store import alerts as store_alerts
from store import devices as store_devices
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent


def _fill(url: str, n_alerts: int, devices: int) -> list[str]:
    names = [f"bench-{i:03d}" for i in range(devices)]
    end = datetime.now(UTC).replace(microsecond=0)
    with connect(url, autocommit=True) as conn:
        for d in names:
            store_devices.create(conn, device_id=d, kind=DeviceKind.DUST)
        with conn.transaction():
            synthetic.fill_alerts(conn, n=n_alerts, devices=names, start=end - timedelta(days=365), step_s=300)
    admin.vacuum_analyze(url)
    return names


class _Raiser(threading.Thread):
    """Raises (and clears) one alert every ``interval`` seconds, like a park with things happening."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self._url, self._interval = url, interval
        self.stop = threading.Event()
        self.raised = 0

    def run(self) -> None:
        with connect(self._url) as conn:
            while not self.stop.wait(self._interval):
                alert_id, _ = store_alerts.raise_alert(
                    conn,
                    device_id=f"bench-live-{self.raised % 50}",
                    site_id="park",
                    type="pm10_limit",
                    severity="warning",
                    value=70.0,
                    threshold=50.0,
                    at=datetime.now(UTC),
                )
                store_alerts.clear(conn, alert_id=alert_id, user="bench", comment=None)
                conn.commit()
                self.raised += 1


class _Stream:
    """One SSE client that reads everything and counts the alert events it got."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.alerts = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self, port: int, token: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            tail = b""
            while chunk := await reader.read(65536):
                data = tail + chunk
                if b"event: ready" in data:
                    self.ready.set()
                self.alerts += data.count(b"event: alert\n")
                tail = data[-16:]
        finally:
            writer.close()


async def _timed_load(
    port: int, token: str, paths: list[str], rate: float, seconds: float, timeout: float, connections: int = 64
) -> tuple[np.ndarray, int, int]:
    """Open-loop load (latency from when a request was due); an answer later than ``timeout`` is an error."""
    queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        client = _Http("127.0.0.1", port, token)
        try:
            while True:
                due, path = await queue.get()
                try:
                    status, _ = await asyncio.wait_for(client.get(path), timeout)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    latencies.append(max(timeout, time.perf_counter() - due) * 1000.0)
                    await client.close()
                else:
                    latencies.append((time.perf_counter() - due) * 1000.0)
                    errors += status != 200
                finally:
                    queue.task_done()
        finally:
            await client.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    for i in range(connections * 2):  # warm up the connections and the server
        queue.put_nowait((time.perf_counter(), paths[i % len(paths)]))
    await queue.join()
    latencies.clear()
    errors = 0
    n = int(rate * seconds)
    start = time.perf_counter()
    for k in range(n):
        delay = start + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((start + k / rate, paths[k % len(paths)]))
    await queue.join()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return np.array(latencies), errors, n


def _stream_clients(port: int, token: str, n: int, timeout: float, ready: Any, stop: Any, out: Any) -> None:
    """In a process of its own (clients are other machines; here they must not share the load generator's CPU)."""

    async def run() -> None:
        clients = [_Stream() for _ in range(n)]
        for c in clients:
            c.task = asyncio.create_task(c.run(port, token))
        deadline = time.monotonic() + timeout
        for c in clients:
            try:
                await asyncio.wait_for(c.ready.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        out.put((sum(c.ready.is_set() for c in clients), [c.alerts for c in clients if c.ready.is_set()]))
        for c in clients:
            if c.task is not None:
                c.task.cancel()
        await asyncio.gather(*(c.task for c in clients if c.task is not None), return_exceptions=True)

    asyncio.run(run())


def _phase(
    port: int, token: str, paths: list[str], args: argparse.Namespace, streams: int, raiser: _Raiser
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = None
    if streams:
        proc = ctx.Process(target=_stream_clients, args=(port, token, streams, args.timeout, ready, stop, out))
        proc.start()
        ready.wait(args.timeout + 60)
    raised_before = raiser.raised
    lat, errors, n = asyncio.run(_timed_load(port, token, paths, args.rate, args.seconds, args.timeout))
    raised = raiser.raised - raised_before
    n_ready, got = 0, []
    if proc is not None:
        time.sleep(2.0)  # the last events reach the streams
        stop.set()
        n_ready, got = out.get(timeout=60)
        proc.join(timeout=30)
    # each raise+clear makes two alert events; a stream open for the whole phase sees at least those
    missed = sum(max(0, 2 * raised - g) for g in got)
    return {"lat": lat, "errors": errors, "n": n, "ready": n_ready, "raised": raised, "missed": missed}


def _start_server(
    port: int, env: dict[str, str], server_src: Path | None, workers: int | None
) -> subprocess.Popen[bytes]:
    server_env = dict(env)
    if server_src is not None:  # that checkout's packages come before this one's on the path
        server_env["PYTHONPATH"] = str(server_src)
    log = (ROOT / ".local" / "bench-api-streams-server.log").open("wb")  # git-ignored; read it when the API fails
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kipsense.cli",
            "api",
            "--port",
            str(port),
            *(["--workers", str(workers)] if workers else []),
        ],
        env=server_env,
        cwd=server_src or ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="GET /alerts per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each load phase")
    parser.add_argument("--timeout", type=float, default=10.0, help="a slower answer counts as an error")
    parser.add_argument("--raise-every", type=float, default=0.5, help="seconds between raised alerts")
    parser.add_argument("--workers", type=int, help="API processes (default: kipsense api's default)")
    parser.add_argument("--server-src", type=Path, help="run the API from this checkout (a before figure)")
    parser.add_argument("--stack", default="test")
    args = parser.parse_args(argv)

    stack = LocalStack(Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local")), args.stack)
    stack.up()
    admin_url = stack.admin_url()
    name = f"bench_streams_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    server: subprocess.Popen[bytes] | None = None
    raiser: _Raiser | None = None
    try:
        migrate.apply(url)
        devices = _fill(url, args.alerts, args.devices)
        with connect(url) as conn:
            _, token = apikeys.create(conn, name="bench", role="operator")
            conn.commit()
        port = _free_port()
        env = {**os.environ, **stack.env(), "KIPSENSE_DATABASE_URL": url}
        server = _start_server(port, env, args.server_src, args.workers)
        deadline = time.monotonic() + 180  # worker processes start slowly on a busy 2-CPU machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        paths = _alert_paths(devices, np.random.default_rng(0))
        raiser = _Raiser(url, args.raise_every)
        raiser.start()
        quiet = _phase(port, token, paths, args, 0, raiser)
        busy = _phase(port, token, paths, args, args.streams, raiser)
    finally:
        if raiser is not None:
            raiser.stop.set()
            raiser.join(timeout=10)
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        admin.drop_database(admin_url, name)

    p99_quiet, p99_busy = _pct(quiet["lat"], 99), _pct(busy["lat"], 99)
    ratio = p99_busy / p99_quiet
    results: dict[str, Any] = {
        "api_workers": args.workers or default_api_workers(),
        "code": "other checkout (--server-src)" if args.server_src else "this checkout",
        "alerts_p50_ms_no_streams": _pct(quiet["lat"], 50),
        "alerts_p99_ms_no_streams": p99_quiet,
        "alerts_errors_no_streams": quiet["errors"],
        f"alerts_p50_ms_{args.streams}_streams": _pct(busy["lat"], 50),
        f"alerts_p99_ms_{args.streams}_streams": p99_busy,
        f"alerts_errors_{args.streams}_streams": busy["errors"],
        "alerts_requests_per_phase": quiet["n"],
        "ratio": ratio,
        "ratio_target": 2.0,
        "ratio_within_target": ratio <= 2.0 and busy["errors"] == 0,
        "streams": args.streams,
        "streams_ready": busy["ready"],
        "alerts_raised_during_phase": busy["raised"],
        "stream_events_missed": busy["missed"],
    }
    name = "api_streams_before" if args.server_src else "api_streams"
    write_results(name, {**results, "args": {k: str(v) for k, v in vars(args).items()}, "machine": machine()})
    given = {k: v for k, v in vars(args).items() if v is not None and k != "server_src"}
    command = (
        "`.venv/bin/python bench/api_streams.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
        + "`"
    )
    s = args.streams
    table = markdown_table(
        ["GET /alerts", "p50 ms", "p99 ms", "requests (errors)", "streams ready", "events missed"],
        [
            ["no streams open", f"{results['alerts_p50_ms_no_streams']:.1f}", f"{p99_quiet:.1f}",
             f"{quiet['n']} ({quiet['errors']})", "-", "-"],
            [f"{s} streams open and reading", f"{results[f'alerts_p50_ms_{s}_streams']:.1f}", f"{p99_busy:.1f}",
             f"{busy['n']} ({busy['errors']})", f"{busy['ready']}/{s}", str(busy["missed"])],
        ],
    )  # fmt: skip
    body = (
        "## API with open live streams\n\n"
        f"Command: {command} (dedicated database on the {args.stack} stack, {args.alerts:,} alerts; the API as"
        f" `kipsense api` with {results['api_workers']} worker processes; GET /alerts open-loop at {args.rate:.0f}"
        f" req/s for {args.seconds:.0f} s per phase on 64 keep-alive connections, the same mix as `bench/api.py`;"
        f" an alert raised and cleared every {args.raise_every} s in both phases). p99 with {s} streams /"
        f" p99 without: **{ratio:.2f}** (target ≤ 2, {'met' if results['ratio_within_target'] else 'not met'}).\n\n"
        + table
        + "\n\nA stream holds no database connection and no request slot: it is authenticated, reads its starting"
        " point on a connection taken for that query, then waits on a queue fed by the process's single"
        " `LISTEN` connection. Before this, each stream kept a pooled connection (idle in a transaction) and a"
        " request slot for its whole life, and polled the database every second."
    )
    before_path = RESULTS_DIR / "api_streams_before.json"
    if not args.server_src and before_path.exists():
        before = json.loads(before_path.read_text())
        body += (
            f"\n\nBefore (the code of `main` before this change, measured with `--server-src`, same load;"
            f" bench/results/api_streams_before.json): with {before['streams']} streams only"
            f" {before['streams_ready']} got their first message, every one of"
            f" {before['alerts_requests_per_phase']} GET /alerts requests"
            f" {'timed out' if before[f'alerts_errors_{s}_streams'] else 'was answered'}"
            f" ({before[f'alerts_errors_{s}_streams']} errors, p99 {before[f'alerts_p99_ms_{s}_streams'] / 1000:.0f} s"
            f" counted from when each was due), ratio {before['ratio']:.0f}; without streams p99 was"
            f" {before['alerts_p99_ms_no_streams']:.1f} ms."
        )
    if not args.server_src:  # a before-figure run only leaves its json, for the next run's section
        update_results_md("api_streams", body)
    sys.stdout.write(body + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
