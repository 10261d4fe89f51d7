"""``kipsense devices``: provision and manage devices from the command line (``--json`` for scripts).

create      register a device and print its broker credentials (password shown once)
list        registered devices (``--all`` with retired ones, ``--site`` to filter)
update      change name, site, position, mobility, expected interval or firmware
rotate      a new password; the old one is refused after the broker reloads
revoke      take the credential away (a lost unit); the device stays registered
retire      remove the device from service and its credential from the broker
claim       a single-use claim code for the device (``--qr FILE.svg|png`` writes a printable QR code)
sync-broker rebuild the broker's password file from the registry
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from kipsense.records import DeviceKind

_NEEDS_ID = {"create", "update", "rotate", "revoke", "retire", "claim"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "devices",
        help="provision and manage devices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["create", "list", "update", "rotate", "revoke", "retire", "claim", "sync-broker"])
    p.add_argument("device_id", nargs="?")
    p.add_argument("--kind", choices=[k.value for k in DeviceKind], default="dust")
    p.add_argument("--site", help="create/claim: the device's site (default park); list: only this site")
    p.add_argument("--name")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.add_argument("--mobile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--interval", type=float, help="expected seconds between readings (default 10)")
    p.add_argument("--firmware")
    p.add_argument("--valid-for", type=float, default=900.0, help="claim: seconds the code stays valid")
    p.add_argument("--qr", type=Path, help="claim: write a QR code of the redeem address to this .svg or .png file")
    p.add_argument("--api-url", default="http://127.0.0.1:8000", help="claim: the API address devices redeem at")
    p.add_argument("--all", action="store_true", help="list: include retired devices")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_devices)


def cmd_devices(args: argparse.Namespace) -> int:
    from kipsense import provisioning
    from kipsense.settings import DatabaseSettings, MqttSettings
    from store.db import connect
    from store.devices import DeviceExistsError

    if args.action in _NEEDS_ID and not args.device_id:
        _err(f"kipsense devices {args.action}: a device id is required")
        return 2
    mqtt = MqttSettings()
    with connect(DatabaseSettings().database_url) as conn:
        try:
            return _dispatch(args, conn, mqtt)
        except (provisioning.ProvisioningError, DeviceExistsError) as exc:
            _err(f"kipsense devices {args.action}: {exc}")
            return 1


def _dispatch(args: argparse.Namespace, conn: Any, mqtt: Any) -> int:
    from kipsense import provisioning
    from store import devices as store_devices

    if args.action == "create":
        creds = provisioning.create_device(
            conn,
            mqtt,
            device_id=args.device_id,
            kind=DeviceKind(args.kind),
            site_id=args.site or "park",
            name=args.name,
            lat=args.lat,
            lon=args.lon,
            mobile=bool(args.mobile),
            expected_interval_s=args.interval or 10.0,
            firmware=args.firmware,
        )
        return _print_credentials(creds, args.json)
    if args.action == "rotate":
        return _print_credentials(provisioning.rotate(conn, mqtt, device_id=args.device_id), args.json)
    if args.action in {"revoke", "retire"}:
        done = getattr(provisioning, args.action)(conn, mqtt, device_id=args.device_id)
        if not done:
            _err(f"no device {args.device_id!r}")
            return 1
        _emit({"device_id": args.device_id, "action": args.action}, args.json, f"{args.action}d {args.device_id}")
        return 0
    if args.action == "update":
        changes = {
            field: value
            for field, value in (
                ("name", args.name),
                ("site_id", args.site),
                ("lat", args.lat),
                ("lon", args.lon),
                ("mobile", args.mobile),
                ("expected_interval_s", args.interval),
                ("firmware", args.firmware),
            )
            if value is not None
        }
        device = provisioning.update_device(conn, device_id=args.device_id, changes=changes)
        _emit(asdict(device), args.json, f"updated {device.device_id}: {', '.join(sorted(changes)) or 'nothing'}")
        return 0
    if args.action == "claim":
        return _claim(args, conn)
    if args.action == "sync-broker":
        n = provisioning.sync_broker(conn, mqtt)
        _emit({"devices": n}, args.json, f"broker has credentials of {n} devices")
        return 0
    rows = store_devices.list_devices(conn, include_retired=args.all, sites=[args.site] if args.site else None)
    if args.json:
        _out(json.dumps([asdict(d) for d in rows], default=str, indent=1))
    else:
        for d in rows:
            _out(f"{d.device_id:24} {d.kind:8} {d.site_id:12} {d.status:8} last seen {d.last_seen or '-'}")
    return 0


def _claim(args: argparse.Namespace, conn: Any) -> int:
    import segno

    from kipsense import provisioning

    claim, code = provisioning.create_claim(
        conn,
        device_id=args.device_id,
        kind=DeviceKind(args.kind),
        site_id=args.site or "park",
        created_by="cli",
        valid_for=timedelta(seconds=args.valid_for),
        name=args.name,
        lat=args.lat,
        lon=args.lon,
        mobile=bool(args.mobile),
        expected_interval_s=args.interval or 10.0,
        firmware=args.firmware,
    )
    if args.qr is not None:
        kind = "png" if args.qr.suffix.lower() == ".png" else "svg"
        segno.make(f"{args.api_url.rstrip('/')}/claims/{code}/redeem", error="m").save(
            str(args.qr), kind=kind, scale=8, border=4
        )
    _emit(
        {"device_id": claim.device_id, "code": code, "expires_at": claim.expires_at.isoformat()},
        args.json,
        f"claim code for {claim.device_id}: {code}   (shown once)\n"
        f"valid until {claim.expires_at:%Y-%m-%d %H:%M:%S %Z}\n"
        f"redeem:  POST {args.api_url.rstrip('/')}/claims/{code}/redeem",
    )
    return 0


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    _out(json.dumps(data, default=str) if as_json else text)


def _print_credentials(creds: Any, as_json: bool) -> int:
    if as_json:
        _out(json.dumps(asdict(creds)))
    else:
        _out(
            f"device:   {creds.device_id}\nusername: {creds.username}\npassword: {creds.password}   (shown once)\n"
            f"broker:   {creds.host}:{creds.port}\npublish:  {creds.topic}"
        )
        if not creds.reloaded:
            _out("note: broker not reloaded (no running local broker known); run `kipsense devices sync-broker`")
    return 0
