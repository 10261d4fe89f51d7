"""Simulator generation speed in back-fill mode, payload encoding speed, and back-fill into the store.

Generation: one long ``generate`` call per simulator on one core (best of three): the dust network (50 fixed
sensors, one met station, 10-s steps, one day, default faults), a cycler bank (64 channels, 10-s samples, one
day), the process line (21 tags, 1-s samples, one day). A dust reading is one sensor at one time step; a
cycler sample one channel at one step; a process sample one tag value.

Encoding: live payloads per second for each dust format (native JSON, SenML, airrohr) and the Sparkplug B
process rows, built from the same frames.

Store (``--store``): ``kipsense simulate dust --backfill`` into a scratch database of the local test stack
(``.local/test``, started if needed and the database dropped afterwards): generation, records and binary
COPY together, rows per second.

Run: ``.venv/bin/python bench/simulators_speed.py [--store]`` -> bench/results/simulators.json and a section of
bench/RESULTS.md. (The script is not called ``simulators.py``: that name would shadow the ``simulators``
package for the script itself and for the type checker.)
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, best_time, machine, markdown_table, update_results_md, write_results
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from simulators.backfill import dust_chunks, to_store
from simulators.cycler import CyclerBank, CyclerConfig
from simulators.dust import DustNetwork, DustNetworkConfig
from simulators.encoders import DustEncoder, Format, sparkplug_data
from simulators.frames import DustFrame
from simulators.process import ProcessConfig, ProcessLine

COMMAND = ".venv/bin/python bench/simulators_speed.py --store"
START = datetime(2026, 6, 1, tzinfo=UTC)
DAY = 86_400


def generation() -> dict[str, float]:
    """Readings (samples, tag values) generated per second, best of three one-day runs each."""
    net = DustNetwork(DustNetworkConfig(n_sensors=50, seed=1))
    n_dust = DAY // 10
    dust_s = best_time(lambda: net.generate(START, timedelta(seconds=10), n_dust))
    bank = CyclerBank(CyclerConfig(n_channels=64, seed=1, sample_interval_s=10.0))
    cycler_s = best_time(lambda: bank.generate(START, DAY // 10))
    line = ProcessLine(ProcessConfig(seed=1, sample_interval_s=1.0))
    process_s = best_time(lambda: line.generate(START, DAY))
    return {
        "dust_readings_per_s": n_dust * 50 / dust_s,
        "cycler_samples_per_s": (DAY // 10) * 64 / cycler_s,
        "process_samples_per_s": DAY * len(line.tags) / process_s,
    }


def _encode(formats: dict[str, Format], frame: DustFrame) -> None:
    DustEncoder(formats).messages(frame)


def encoding() -> dict[str, float]:
    """Live messages built per second in each format."""
    net = DustNetwork(DustNetworkConfig(n_sensors=50, seed=2))
    frame = net.generate(START, timedelta(seconds=10), 600)
    out: dict[str, float] = {}
    for fmt in Format:
        formats = dict.fromkeys(net.device_ids, fmt)
        n = len(DustEncoder(formats).messages(frame))
        out[f"{fmt.value}_messages_per_s"] = n / best_time(partial(_encode, formats, frame))
    rows = ProcessLine(ProcessConfig(seed=2)).generate(START, 5000).values.tolist()

    def spb() -> None:
        for i, row in enumerate(rows):
            sparkplug_data(row, timestamp_ms=i, seq=i % 256)

    out["sparkplug_messages_per_s"] = len(rows) / best_time(spb)
    return out


def store_backfill(days: float, sensors: int) -> dict[str, float]:
    """Dust back-fill into a scratch database of the local test stack: rows per second, end to end."""
    from kipsense.stack import LocalStack
    from store import admin, migrate
    from store.db import connect

    stack = LocalStack(BENCH_DIR.parent / ".local", "test")
    stack.up()
    admin_url = stack.admin_url()
    name = f"bench_simulators_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        net = DustNetwork(DustNetworkConfig(n_sensors=sensors, seed=3))
        n_steps = round(days * DAY / 10)
        t0 = time.perf_counter()
        with connect(url) as conn:
            chunks = dust_chunks(net, start=START, step=timedelta(seconds=10), n_steps=n_steps)
            stats = to_store(conn, chunks, total=n_steps, run_id="bench")
        seconds = time.perf_counter() - t0
    finally:
        admin.drop_database(admin_url, name)
    return {"backfill_store_rows": stats.rows, "backfill_store_rows_per_s": stats.rows / seconds}


def report(results: dict[str, Any], store: dict[str, float], days: float, sensors: int) -> str:
    gen = [
        ["dust network (50 sensors, 10 s, 1 day)", f"{results['dust_readings_per_s']:,.0f} readings/s"],
        ["cycler bank (64 channels, 10 s, 1 day)", f"{results['cycler_samples_per_s']:,.0f} samples/s"],
        ["process line (21 tags, 1 s, 1 day)", f"{results['process_samples_per_s']:,.0f} tag values/s"],
    ]
    enc = [[k.removesuffix("_messages_per_s"), f"{v:,.0f}"] for k, v in results["encoding"].items()]
    lines = [
        "## Simulators",
        "",
        f"Command: `{COMMAND}` (one core for the generators; {results['machine']['cpus']} CPUs on the machine).",
        "",
        "Generation in back-fill mode (best of three):",
        "",
        markdown_table(["simulator", "rate"], gen),
        "",
        f"Target: >= 1,000,000 dust readings/s; measured {results['dust_readings_per_s'] / 1e6:.2f}x of it.",
        "",
        "Live payloads built per second (dust: 50 sensors x 600 steps; Sparkplug: NDATA of 21 tags):",
        "",
        markdown_table(["format", "messages/s"], enc),
    ]
    if store:
        lines += [
            "",
            f"Dust back-fill into the store ({days:g} days x {sensors} sensors + met station at 10 s, generation +"
            f" records + binary COPY into a fresh TimescaleDB database): {store['backfill_store_rows']:,.0f} rows"
            f" at {store['backfill_store_rows_per_s']:,.0f} rows/s; 30 days x 50 sensors (13 M rows) therefore"
            f" take about {13.0e6 / store['backfill_store_rows_per_s'] / 60:.1f} minutes.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", action="store_true", help="also measure back-fill into the local test stack")
    parser.add_argument("--days", type=float, default=3.0, help="--store: days of dust history")
    parser.add_argument("--sensors", type=int, default=50, help="--store: dust sensors")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        results: dict[str, Any] = generation()
        results["encoding"] = encoding()
    store = store_backfill(args.days, args.sensors) if args.store else {}
    results.update(store)
    results["machine"] = machine()
    results["command"] = COMMAND if args.store else COMMAND.removesuffix(" --store")
    path = write_results("simulators", results)
    update_results_md("simulators", report(results, store, args.days, args.sensors))
    for key in ("dust_readings_per_s", "cycler_samples_per_s", "process_samples_per_s", *store):
        print(f"{key}: {results[key]:,.0f}")
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
