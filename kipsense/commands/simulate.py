"""``kipsense simulate``: simulated devices, live over MQTT or as back-filled history.

streams   dust (fixed and mobile PM sensors plus met stations), cycler (battery test channels), process (the
          precursor line, Sparkplug B by default), tep (a Tennessee Eastman run replayed as a process line)
live      every device connects with its own credentials (provisioned on first use, kept in
          --credentials-file, rotated when no longer valid); --speed above 1 replays --history hours of
          simulated past at that speed, then runs in real time (never ahead of the wall clock)
back-fill --backfill DAYS generates history ending now, written straight into the store (--to store) or
          published as native JSON batches through the ingest path (--to mqtt), with a progress line
faults    none, all (default), or kind[=N],...: dust N = events per device and day, also the groups
          sensor and device; cycler and process N = magnitude
examples  kipsense simulate dust --devices 50 --speed 288            (a simulated day in five minutes)
          kipsense simulate dust --devices 50 --backfill 30           (30 days x 50 sensors at 10 s)
          kipsense simulate process --faults bias,drift=0.5 --speed 60
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from simulators.cli import SimOptions

_STREAMS = ("dust", "cycler", "process", "tep")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulated devices: live over MQTT or back-filled history",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stream", choices=_STREAMS)
    p.add_argument("--devices", type=int, help="dust sensors (24), cycler channels (8) or process lines (1)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default="all", help="none, all, or kind[=N],... (see above)")
    p.add_argument("--backfill", type=float, metavar="DAYS", help="generate DAYS of history ending now, then exit")
    p.add_argument("--to", choices=["store", "mqtt"], default="store", help="back-fill target")
    p.add_argument("--step", type=float, help="simulated seconds between samples (dust 10, cycler 30, process 10)")
    p.add_argument("--duration", type=float, help="live: stop after this many real seconds")
    p.add_argument("--history", type=float, help="live: simulated hours replayed before real time (24 if fast)")
    p.add_argument("--prefix", help="device id prefix (dust, cyc, line, tep)")
    p.add_argument("--run-id", help="ground-truth run id (default <stream>-<live|backfill>-seed<seed>)")
    p.add_argument("--credentials-file", type=Path, help="where simulated devices' passwords are kept")
    p.add_argument("--mobile", type=int, default=0, help="dust: mobile sensors driving through the park")
    p.add_argument("--senml", type=float, default=0.15, help="dust: share of fixed sensors sending SenML")
    p.add_argument("--airrohr", type=float, default=0.15, help="dust: share of fixed sensors sending airrohr JSON")
    p.add_argument("--episode-at", type=float, action="append", help="dust: episode start, simulated s after start")
    p.add_argument("--episode-duration", type=float, default=600.0, help="dust: episode length in simulated s")
    p.add_argument("--episode-source", default="stockpile-north", help="dust: the source of explicit episodes")
    p.add_argument("--process-format", choices=["sparkplug", "json"], default="sparkplug")
    p.add_argument("--run", default="d01", help="tep: the testing run to replay (d00..d21)")
    p.set_defaults(func=cmd_simulate)


def _stack_root() -> Path:
    return Path(os.environ.get("KIPSENSE_STACK_ROOT", ".local"))


def _stop_on_signal() -> threading.Event:
    """Set on SIGINT/SIGTERM, so the devices finish their step and disconnect cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


class ProgressLine:
    """A one-line progress bar on a terminal stream, redrawn at most a few times a second."""

    def __init__(self, label: str, out: TextIO = sys.stderr) -> None:
        self.label = label
        self.out = out
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, steps: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.25 and steps < total:
            return
        self._drawn = now
        frac = steps / total if total else 1.0
        rate = rows / max(now - self.started, 1e-9)
        eta = (now - self.started) * (1 - frac) / frac if frac > 0 else 0.0
        bar = "#" * int(frac * 30)
        self.out.write(f"\r{self.label} [{bar:<30}] {frac:6.1%}  {rows:,} rows  {rate:,.0f} rows/s  eta {eta:4.0f} s")
        if steps >= total:
            self.out.write("\n")
        self.out.flush()


def options(args: argparse.Namespace) -> SimOptions:
    """``SimOptions`` from the parsed command line."""
    from simulators.cli import SimOptions
    from simulators.dust import Episode
    from simulators.encoders import FormatMix

    episodes = tuple(Episode(args.episode_source, at, args.episode_duration) for at in args.episode_at or [])
    return SimOptions(
        stream=args.stream,
        devices=args.devices,
        seed=args.seed,
        speed=args.speed,
        step_s=args.step,
        faults=args.faults,
        duration_s=args.duration,
        history_h=args.history,
        prefix=args.prefix,
        credentials_file=args.credentials_file or _stack_root() / "main" / "simulator-credentials.json",
        run_id=args.run_id,
        mobile=args.mobile,
        formats=FormatMix(senml=args.senml, airrohr=args.airrohr),
        episodes=episodes,
        process_format=args.process_format,
        tep_run=args.run,
        backfill_days=args.backfill,
        backfill_to=args.to,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from kipsense.provisioning import ProvisioningError
    from kipsense.settings import DatabaseSettings, MqttSettings
    from simulators.cli import OptionsError, run_backfill, run_live

    try:
        opts = options(args)
        database_url = DatabaseSettings().database_url
        mqtt = MqttSettings()
        if opts.backfill_days is not None:
            label = f"{opts.stream} back-fill {opts.backfill_days:g} d -> {opts.backfill_to}"
            stats = run_backfill(opts, database_url=database_url, mqtt=mqtt, progress=ProgressLine(label))
            sys.stdout.write(
                f"{stats.rows:,} rows in {stats.seconds:.1f} s ({stats.rows_per_s:,.0f} rows/s), "
                f"{stats.truth_events} ground-truth events (run {opts.run_name('backfill')})"
                + (f", {stats.messages:,} MQTT messages" if stats.messages else "")
                + "\n"
            )
            return 0
        sent = run_live(opts, database_url=database_url, mqtt=mqtt, stop=_stop_on_signal())
        sys.stdout.write(f"published {sent.messages:,} messages in {sent.steps:,} steps ({sent.failed} not sent)\n")
        return 0
    except (OptionsError, ProvisioningError, ValueError, TimeoutError) as exc:
        sys.stderr.write(f"kipsense simulate: {exc}\n")
        return 2
