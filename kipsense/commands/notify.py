"""``kipsense notify``: the sender, its routes, contacts, on-call groups and delivery log.

Examples::

    kipsense notify                                             # the sender process (make run starts it)
    kipsense notify contact add --name "Aino" --email aino@example.org --phone +358401234567 --language fi
    kipsense notify group add --name duty --member 1 --member 2 --rotation-hours 168 --start 2025-01-06T08:00+02:00
    kipsense notify route add --name dust-night --type pm10_limit --min-severity warning --group 1 \\
        --quiet 22:00-07:00 --repeat-every 1800 --escalate-to 2
    kipsense notify route set 1 --enabled false
    kipsense notify routes | contacts | groups | oncall | log
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any


def _url() -> str:
    from kipsense.settings import DatabaseSettings

    return DatabaseSettings().database_url


def _print(rows: list[Any]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(asdict(row) if not isinstance(row, dict) else row, default=str) + "\n")


def _window(text: str) -> tuple[time, time]:
    try:
        start, end = text.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM-HH:MM, got {text!r}") from None


def _bool(text: str) -> bool:
    if text.lower() in {"true", "yes", "1", "on"}:
        return True
    if text.lower() in {"false", "no", "0", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def cmd_run(args: argparse.Namespace) -> int:
    from kipsense.cli import _stop_event
    from kipsense.metrics import MetricsSettings
    from kipsense.settings import NotifyLinkSettings
    from notify.sender import Sender
    from notify.settings import NotifySettings
    from store import migrate

    url = _url()
    migrate.apply(url)
    logging.getLogger("apprise").setLevel(logging.WARNING)  # it logs every message sent at INFO
    try:
        sender = Sender(settings=NotifySettings(), links=NotifyLinkSettings(), database_url=url)
    except ValueError as exc:
        sys.stderr.write(f"kipsense notify: {exc}\n")
        return 2
    stop = _stop_event()
    endpoint = None
    metrics = MetricsSettings()  # KIPSENSE_METRICS_PORT/_HOST, as the scorer and the maintenance loop
    if metrics.port:
        from prometheus_client import start_http_server

        endpoint, _ = start_http_server(metrics.port, metrics.host, registry=sender.metrics.registry)
    try:
        sender.run(stop)
    finally:
        if endpoint is not None:
            endpoint.shutdown()
    return 0


def cmd_catcher(args: argparse.Namespace) -> int:
    from kipsense.cli import _stop_event
    from notify.catcher import Catcher
    from notify.settings import NotifySettings

    secret = NotifySettings().webhook_secret
    if secret is None:
        sys.stderr.write("kipsense notify catcher: KIPSENSE_NOTIFY_WEBHOOK_SECRET is not set\n")
        return 2
    catcher = Catcher(
        Path(args.dir),
        smtp_port=args.smtp_port,
        webhook_port=args.webhook_port,
        webhook_secret=secret.get_secret_value().encode(),
    )
    catcher.start()
    stop = _stop_event()
    stop.wait()
    catcher.stop()
    return 0


def _route_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for arg, field in (
        ("site", "match_sites"),
        ("type", "match_types"),
        ("kind", "match_kinds"),
        ("tag", "match_tags"),
        ("contact", "contact_ids"),
        ("group", "group_ids"),
        ("escalate_to", "escalation_group_ids"),
        ("days", "active_days"),
    ):
        value = getattr(args, arg, None)
        if value is not None:
            fields[field] = value
    for arg, field in (
        ("min_severity", "min_severity"),
        ("position", "position"),
        ("enabled", "enabled"),
        ("repeat_every", "repeat_every_s"),
        ("group_window", "group_window_s"),
        ("stop", "stop_after"),
        ("quiet_bypass_critical", "quiet_bypass_critical"),
    ):
        value = getattr(args, arg, None)
        if value is not None:
            fields[field] = value
    if getattr(args, "quiet", None):
        fields["quiet_from"], fields["quiet_until"] = args.quiet
    if getattr(args, "hours", None):
        fields["active_from"], fields["active_until"] = args.hours
    return fields


def cmd_admin(args: argparse.Namespace) -> int:
    import psycopg

    from store import notifications as n
    from store.db import connect

    try:
        with connect(_url()) as conn:
            what = args.what
            if what == "routes":
                _print(n.list_routes(conn))
            elif what == "contacts":
                _print(n.list_contacts(conn))
            elif what == "groups":
                _print(n.list_groups(conn))
            elif what == "oncall":
                now = datetime.now(UTC)
                _print([n.on_call(g, at=now) for g in n.list_groups(conn)])
            elif what == "log":
                _print(n.list_messages(conn, status=args.status, limit=args.limit))
            elif what == "contact":
                _print(
                    [
                        n.create_contact(
                            conn,
                            name=args.name,
                            language=args.language,
                            phone=args.phone,
                            email=args.email,
                            webhook_url=args.webhook,
                            apprise_urls=args.apprise or [],
                        )
                    ]
                )
            elif what == "group":
                start = datetime.fromisoformat(args.start) if args.start else None
                _print(
                    [
                        n.create_group(
                            conn,
                            name=args.name,
                            member_ids=args.member or [],
                            rotation_start=start,
                            rotation_hours=args.rotation_hours,
                        )
                    ]
                )
            elif what == "route-add":
                _print([n.create_route(conn, name=args.name, **_route_fields(args))])
            elif what == "route-set":
                route = n.update_route(conn, route_id=args.route_id, **_route_fields(args))
                if route is None:
                    sys.stderr.write(f"kipsense notify: no route {args.route_id}\n")
                    return 1
                _print([route])
            elif what == "route-delete":
                if not n.delete_route(conn, route_id=args.route_id):
                    sys.stderr.write(f"kipsense notify: no route {args.route_id}\n")
                    return 1
            conn.commit()
    except (psycopg.errors.IntegrityError, psycopg.errors.CheckViolation, ValueError) as exc:
        sys.stderr.write(f"kipsense notify: {exc}\n")
        return 1
    return 0


def _route_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", action="append", help="match this site (repeatable; none = all)")
    p.add_argument("--type", action="append", help="match this alert type (repeatable)")
    p.add_argument("--kind", action="append", choices=["dust", "met", "cycler", "process"])
    p.add_argument("--tag", action="append", help="match devices with this tag")
    p.add_argument("--min-severity", choices=["info", "warning", "major", "critical"])
    p.add_argument("--contact", type=int, action="append", help="contact id to notify")
    p.add_argument("--group", type=int, action="append", help="group id whose on-duty member is notified")
    p.add_argument("--escalate-to", type=int, action="append", help="escalation step k notifies the k-th group")
    p.add_argument("--days", type=int, action="append", help="ISO weekdays the route applies (1=Monday)")
    p.add_argument("--hours", type=_window, help="only during HH:MM-HH:MM (Europe/Helsinki)")
    p.add_argument("--quiet", type=_window, help="quiet hours HH:MM-HH:MM: delivery waits until their end")
    p.add_argument("--quiet-bypass-critical", type=_bool)
    p.add_argument("--repeat-every", type=float, help="seconds between reminders while unacknowledged")
    p.add_argument("--group-window", type=float, help="seconds an incident's alerts share one message")
    p.add_argument("--position", type=int)
    p.add_argument("--enabled", type=_bool)
    p.add_argument("--stop", type=_bool, help="no later route applies when this one matched")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("notify", help="notifications: the sender, routes, contacts, on-call and delivery log")
    p.set_defaults(func=cmd_run)  # plain ``kipsense notify`` runs the sender
    nsub = p.add_subparsers(dest="notify_command")
    q = nsub.add_parser("run", help="the sender process")
    q.set_defaults(func=cmd_run)
    q = nsub.add_parser("catcher", help="local mail catcher and webhook log (development)")
    q.add_argument("--dir", required=True)
    q.add_argument("--smtp-port", type=int, required=True)
    q.add_argument("--webhook-port", type=int, required=True)
    q.set_defaults(func=cmd_catcher)
    for name in ("routes", "contacts", "groups", "oncall"):
        q = nsub.add_parser(name, help=f"list {name}")
        q.set_defaults(func=cmd_admin, what=name)
    q = nsub.add_parser("log", help="delivery log, newest first")
    q.add_argument("--status", choices=["pending", "sending", "sent", "failed"])
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(func=cmd_admin, what="log")
    q = nsub.add_parser("contact", help="add a contact")
    q.add_argument("action", choices=["add"])
    q.add_argument("--name", required=True)
    q.add_argument("--language", default="fi", choices=["fi", "sv", "en"])
    q.add_argument("--phone")
    q.add_argument("--email")
    q.add_argument("--webhook")
    q.add_argument("--apprise", action="append", help="an apprise URL (repeatable)")
    q.set_defaults(func=cmd_admin, what="contact")
    q = nsub.add_parser("group", help="add an on-call group")
    q.add_argument("action", choices=["add"])
    q.add_argument("--name", required=True)
    q.add_argument("--member", type=int, action="append", help="contact id, in rotation order")
    q.add_argument("--rotation-hours", type=float, default=168.0)
    q.add_argument("--start", help="first handover, ISO time with offset")
    q.set_defaults(func=cmd_admin, what="group")
    q = nsub.add_parser("route", help="add, change or delete a route")
    rsub = q.add_subparsers(dest="route_action", required=True)
    r = rsub.add_parser("add")
    r.add_argument("--name", required=True)
    _route_args(r)
    r.set_defaults(func=cmd_admin, what="route-add")
    r = rsub.add_parser("set")
    r.add_argument("route_id", type=int)
    _route_args(r)
    r.set_defaults(func=cmd_admin, what="route-set")
    r = rsub.add_parser("delete")
    r.add_argument("route_id", type=int)
    r.set_defaults(func=cmd_admin, what="route-delete")
