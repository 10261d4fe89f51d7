"""Device health's clock verdict on simulated traffic it was not designed on: back-fill and real clock faults.

The dust simulator injects outages after which a device sends what it held together with its next live
reading, and clock faults (offset 5-300 s plus drift); here offline (3 a day, all back-filled) and clock
faults (1 a day) are the only faults. Every step's deliveries are written as the ingest worker writes them
(one receive time per step, a second after the true time), and ``models.health.check_devices`` judges the
network every 30 simulated minutes on the TEST stack, in a fresh database per seed. Each judgement of a
device that is not offline is compared with the truth at that moment: is its clock off by more than the
policy's 120 s? ``false_clock_alerts`` are "clock off" reasons on devices whose clock is fine, counted
separately for devices that back-filled within the window (the case that raised false alerts before) and
for clocks off by 108-120 s (``false_near_limit``: a second of transport delay or the drift within the
window carries them over the limit).

    .venv/bin/python bench/health_skew.py --days 1 --seeds 11 12 13
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table, update_results_md, write_results

from kipsense.records import DeviceKind, DustReading
from kipsense.stack import LocalStack
from models.health import HealthPolicy, check_devices
from simulators.dust import DustNetwork, DustNetworkConfig
from simulators.encoders import stamped_ms
from simulators.faults import FaultRate, FaultSpec
from store import admin, devices, health, migrate, readings
from store.db import connect

ROOT = Path(__file__).resolve().parent.parent
STEP = timedelta(seconds=60)
CHECK_EVERY = 30  # steps


def _faults() -> FaultSpec:
    spec = FaultSpec.none().with_rate("offline", FaultRate(3.0, (600.0, 4 * 3600.0)))
    spec = spec.with_rate("clock_skew", FaultRate(1.0, (6 * 3600.0, 2 * 86400.0)))
    return replace(spec, offline_backfill_probability=1.0)


def run_seed(admin_url: str, seed: int, days: float, policy: HealthPolicy) -> dict[str, int]:
    """Counts of judgements against the truth for one simulated network."""
    n_steps = int(days * 86400 / STEP.total_seconds())
    start = (datetime.now(UTC) - timedelta(days=days + 1)).replace(second=0, microsecond=0)
    net = DustNetwork(
        DustNetworkConfig(n_sensors=24, n_met=1, seed=seed, random_episodes_per_day=0.0, faults=_faults())
    )
    frame = net.generate(start, STEP, n_steps)
    stamps = stamped_ms(frame)
    if frame.backfill is None or frame.clock_offset_s is None:
        raise RuntimeError("the simulator injected no back-fill or clock faults")
    ids = list(frame.device_ids)
    name = f"bench_health_{seed}_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    counts = dict.fromkeys(
        (
            "judged",
            "skewed",
            "detected",
            "missed",
            "false_clock_alerts",
            "false_near_limit",
            "false_after_backfill",
            "backfill_judged",
        ),
        0,
    )
    try:
        migrate.apply(url)
        with connect(url, autocommit=True) as conn:
            for device_id in ids:
                devices.create(conn, device_id=device_id, kind=DeviceKind.DUST, expected_interval_s=60.0)
            held: list[list[int]] = [[] for _ in ids]
            backfilled_at: list[int] = [-(10**9)] * len(ids)
            times = frame.times.astype("datetime64[ms]").astype(np.int64)
            for t in range(n_steps):
                received = datetime.fromtimestamp(times[t] / 1000, tz=UTC) + timedelta(seconds=1)
                rows: list[DustReading] = []
                for n, device_id in enumerate(ids):
                    if frame.present[t, n]:
                        if held[n]:
                            backfilled_at[n] = t
                        for s in [*held[n], t]:
                            at = datetime.fromtimestamp(int(stamps[s, n]) / 1000, tz=UTC)
                            rows.append(DustReading(device_id, at, pm10=float(frame.pm10[s, n])))
                        held[n] = []
                    elif frame.backfill[t, n]:
                        held[n].append(t)
                if rows:
                    with conn.transaction():
                        readings.write_records(conn, rows, received_at=received)
                        sent = sorted({r.device_id for r in rows})
                        newest = {r.device_id: r.time for r in rows}
                        devices.touch_seen(
                            conn, device_ids=sent, last_times=[newest[d] for d in sent], received=received
                        )
                if t < 2 * CHECK_EVERY or t % CHECK_EVERY:
                    continue
                check_devices(conn, now=received + timedelta(seconds=1), policy=policy)
                window_steps = int(policy.window.total_seconds() / STEP.total_seconds())
                for h in health.list_health(conn):
                    n = ids.index(h.device_id)
                    if h.state in ("offline", "unknown"):
                        continue
                    counts["judged"] += 1
                    skewed = abs(float(frame.clock_offset_s[t, n])) > policy.max_clock_skew_s
                    flagged = any(r.startswith("clock off") for r in h.reasons)
                    after_backfill = t - backfilled_at[n] <= window_steps
                    counts["backfill_judged"] += after_backfill
                    if skewed:
                        counts["skewed"] += 1
                        counts["detected" if flagged else "missed"] += 1
                    elif flagged:
                        counts["false_clock_alerts"] += 1
                        # Within 10 % of the limit: the second of transport delay or the drift within the
                        # window can carry a true offset just under the limit over it.
                        near = abs(float(frame.clock_offset_s[t, n])) > 0.9 * policy.max_clock_skew_s
                        counts["false_near_limit"] += near
                        counts["false_after_backfill"] += after_backfill
    finally:
        admin.drop_database(admin_url, name)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--label", default="", help="a name for this run in the output (e.g. the code version)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args(argv)
    stack = LocalStack(ROOT / ".local", "test")
    stack.up()
    policy = HealthPolicy()
    per_seed = {seed: run_seed(stack.admin_url(), seed, args.days, policy) for seed in args.seeds}
    total = {k: sum(c[k] for c in per_seed.values()) for k in next(iter(per_seed.values()))}
    judged_fine = total["judged"] - total["skewed"]
    result: dict[str, Any] = {
        "label": args.label,
        "days": args.days,
        "seeds": args.seeds,
        "devices": 24,
        "per_seed": {str(k): v for k, v in per_seed.items()},
        **total,
        "recall": round(total["detected"] / total["skewed"], 4) if total["skewed"] else None,
        "false_clock_alert_rate": round(total["false_clock_alerts"] / judged_fine, 4) if judged_fine else None,
        "machine": machine(),
    }
    line = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("per_seed", "machine"))
    print(line)
    if args.no_write:
        return 0
    write_results("health_skew", result)
    rows = [[str(s), *(str(c[k]) for k in total)] for s, c in per_seed.items()]
    update_results_md(
        "health_skew",
        "## Device health: clock skew against simulated back-fill and clock faults\n\n"
        "`.venv/bin/python bench/health_skew.py --days "
        f"{args.days:g} --seeds {' '.join(map(str, args.seeds))}` (24 dust sensors a seed, judged every 30 simulated "
        "minutes; data the method was not designed on).\n\n"
        + markdown_table(["seed", *total], rows)
        + f"\n\nRecall on clocks off by more than 120 s: {result['recall']}; false clock alerts per judgement of "
        f"a device with a good clock: {result['false_clock_alert_rate']}.\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
