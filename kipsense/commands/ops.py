"""Operations commands: the maintenance loop, backups, retention policies and the EU exceedance report.

Examples::

    kipsense maintain                      # rollups every minute, retention every hour, until stopped
    kipsense maintain --once               # one full pass, then exit
    kipsense db backup /backups/kipsense-2025-01-31.dump
    kipsense db restore /backups/kipsense-2025-01-31.dump --url postgresql://.../kipsense_restored
    kipsense retention set dust_readings --keep-days 400
    kipsense exceedance report --year 2024 --limits 2030 --csv > exceedance-2024.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _url(args: argparse.Namespace) -> str:
    if getattr(args, "url", None):
        return str(args.url)
    from kipsense.settings import DatabaseSettings

    return DatabaseSettings().database_url


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(command: str, message: str) -> int:
    sys.stderr.write(f"kipsense {command}: {message}\n")
    return 1


def _days(text: str) -> float | None:
    if text.lower() in {"none", "forever"}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of days or 'none', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("days must be positive")
    return value


def cmd_maintain(args: argparse.Namespace) -> int:
    from kipsense.cli import _stop_event
    from kipsense.maintenance import Maintainer, MaintenanceSettings
    from kipsense.metrics import MetricsSettings, serve_platform_metrics
    from store import migrate
    from store.db import connect

    url = _url(args)
    migrate.apply(url)
    maintainer = Maintainer(settings=MaintenanceSettings(), database_url=url)
    if args.once:
        with connect(url, autocommit=True, application_name="maintain") as conn:
            report = maintainer.run_once(conn)
        for r in report.rollups:
            _out(f"rollups {r.source}: {r.queued} buckets queued, {r.buckets} re-aggregated ({r.hours} hours)")
        for d in report.dropped:
            _out(f"retention {d.hypertable}: {len(d.chunks)} chunks before {d.horizon.isoformat()} dropped")
        for table in report.compressed:
            _out(f"compression enabled on {table}")
        return 0
    endpoint = serve_platform_metrics(MetricsSettings(), database_url=url)
    try:
        maintainer.run(_stop_event())
    finally:
        if endpoint is not None:
            endpoint.stop()
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from kipsense import backup

    file = Path(args.file)
    try:
        if args.action == "backup":
            made = backup.backup(_url(args), file)
            _out(f"backup {made.file} ({file.stat().st_size} bytes), manifest {made.manifest}")
            counts = made.counts
        else:
            counts = backup.restore(_url(args), file).counts
            _out(f"restored {file}: row counts of {len(counts)} tables match the manifest")
    except backup.BackupError as exc:
        return _fail(f"db {args.action}", str(exc))
    for table, n in sorted(counts.items()):
        if n:
            _out(f"  {table}: {n}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from store import retention
    from store.db import connect

    with connect(_url(args)) as conn:
        if args.action == "set":
            if not args.hypertable:
                return _fail("retention set", "a hypertable is required")
            current = {p.hypertable: p for p in retention.policies(conn)}.get(args.hypertable)
            # An option not given keeps the table's current value (argparse.SUPPRESS leaves it unset).
            keep = getattr(args, "keep_days", current.keep_days if current else None)
            compress = getattr(args, "compress_after_days", current.compress_after_days if current else None)
            try:
                retention.set_policy(conn, hypertable=args.hypertable, keep_days=keep, compress_after_days=compress)
            except ValueError as exc:
                return _fail("retention set", str(exc))
            conn.commit()
        rows = retention.policies(conn)
        license_ = retention.edition(conn)
    _out(f"edition: {license_}")
    for p in rows:
        keep = "forever" if p.keep_days is None else f"{p.keep_days:g} days"
        comp = "-" if p.compress_after_days is None else f"after {p.compress_after_days:g} days (licensed)"
        _out(f"{p.hypertable:18} keep {keep:12} compress {comp}")
    return 0


def cmd_exceedance(args: argparse.Namespace) -> int:
    from kipsense import exceedance
    from store import rollups
    from store.db import connect

    with connect(_url(args), autocommit=True) as conn:
        if not args.no_refresh:
            rollups.refresh(conn, source="dust_readings")
        try:
            rows = exceedance.report(conn, year=args.year, limit_set=args.limits, tz=args.tz)
        except ValueError as exc:
            return _fail("exceedance report", str(exc))
    if args.csv:
        sys.stdout.write(exceedance.to_csv(rows))
    elif args.json:
        _out(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        for r in rows:
            verdict = "-" if r.complies is None else ("complies" if r.complies else "EXCEEDS")
            _out(
                f"{r.device_id:20} {r.metric:5} > {r.limit:g}: {r.exceedance_days:3} days"
                f" (allowed {r.allowed_days}), {r.valid_days} valid days ({r.data_capture:.0%}) {verdict}"
            )
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("maintain", help="rollups, retention and (licensed) compression: the maintenance loop")
    p.add_argument("--once", action="store_true", help="one full pass, then exit")
    p.add_argument("--url", help="database URL (default: KIPSENSE_DATABASE_URL)")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("db", help="backup and restore of the whole database")
    p.add_argument("action", choices=["backup", "restore"])
    p.add_argument("file", help="archive (pg_dump custom format) with FILE.manifest.json beside it")
    p.add_argument("--url", help="database URL (restore: an empty database; default: KIPSENSE_DATABASE_URL)")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("retention", help="show or set how long each hypertable keeps its data")
    p.add_argument("action", choices=["show", "set"])
    p.add_argument("hypertable", nargs="?")
    p.add_argument("--keep-days", type=_days, default=argparse.SUPPRESS, help="days, or 'none' to keep for ever")
    p.add_argument("--compress-after-days", type=_days, default=argparse.SUPPRESS, help="licensed edition only")
    p.add_argument("--url")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("exceedance", help="EU daily-limit exceedance days per dust station and year")
    p.add_argument("action", choices=["report"])
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--limits", default="current", help="limit set: current or 2030")
    p.add_argument("--tz", default="UTC", help="time zone of the calendar days")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true")
    out.add_argument("--json", action="store_true")
    p.add_argument("--no-refresh", action="store_true", help="do not roll up new data first")
    p.add_argument("--url")
    p.set_defaults(func=cmd_exceedance)
