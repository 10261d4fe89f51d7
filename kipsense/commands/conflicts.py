"""Reading conflicts: readings refused because their key was already stored with other values.

Examples::

    kipsense conflicts                         # the 50 newest, with the values that differ
    kipsense conflicts --device dust-07 --hours 24
    kipsense conflicts --json --limit 1000 > conflicts.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any


def _differences(stored: dict[str, Any], offered: dict[str, Any]) -> str:
    keys = sorted(k for k in {*stored, *offered} if stored.get(k) != offered.get(k))
    return ", ".join(f"{k}: {stored.get(k)!r} -> {offered.get(k)!r}" for k in keys)


def cmd_conflicts(args: argparse.Namespace) -> int:
    from kipsense.settings import DatabaseSettings
    from store import conflicts
    from store.db import connect

    url = args.url or DatabaseSettings().database_url
    since = None if args.hours is None else datetime.now(UTC) - timedelta(hours=args.hours)
    with connect(url) as conn:
        rows = conflicts.recent(conn, limit=args.limit, device_id=args.device, since=since)
        totals = conflicts.counts_by_table(conn, since=since)
    if args.json:
        out = [
            {
                "recorded_at": r.recorded_at.isoformat(),
                "table": r.source_table,
                "device_id": r.device_id,
                "time": r.time.isoformat(),
                "tag": r.tag,
                "stored": r.stored,
                "offered": r.offered,
                "stored_received_at": r.stored_received_at.isoformat() if r.stored_received_at else None,
                "topic": r.topic,
                "received_at": r.received_at.isoformat(),
                "payload_sha256": r.payload_sha256.hex(),
                "worker": r.worker,
                "repeats": r.repeats,
            }
            for r in rows
        ]
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return 0
    scope = "ever" if since is None else f"in the last {args.hours:g} h"
    total = ", ".join(f"{table} {n}" for table, n in sorted(totals.items())) or "none"
    sys.stdout.write(f"conflicts recorded {scope}: {total}\n")
    for r in rows:
        tag = f" [{r.tag}]" if r.tag else ""
        repeats = f" (offered {r.repeats}x)" if r.repeats > 1 else ""
        sys.stdout.write(
            f"{r.recorded_at:%Y-%m-%d %H:%M:%S} {r.device_id}{tag} at {r.time.isoformat()} in {r.source_table}:"
            f" {_differences(r.stored, r.offered)}{repeats} via {r.topic or '(no message)'}\n"
        )
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "conflicts", help="readings refused because their key was already stored with other values (newest first)"
    )
    p.add_argument("--device", help="only this device")
    p.add_argument("--hours", type=float, help="only conflicts recorded in the last N hours")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="every field, as JSON")
    p.add_argument("--url", help="database URL (default: KIPSENSE_DATABASE_URL)")
    p.set_defaults(func=cmd_conflicts)
