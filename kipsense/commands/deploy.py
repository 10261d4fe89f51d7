"""Commands of the production stack (``docker-compose.yml``): its broker configuration, the broker's service
accounts, and migrations that wait for the database.

Examples::

    kipsense deploy broker-config -o deploy/mosquitto/mosquitto.conf   # render the production broker config
    kipsense deploy migrate --wait 180       # retry until the database answers, then apply migrations
    kipsense deploy broker-auth              # ingest service users + registry devices + ACL into the files
    kipsense deploy health http://127.0.0.1:9200/metrics --metric kipsense_ingest_connected   # healthcheck
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"kipsense deploy: {message}\n")
    return 1


def cmd_broker_config(args: argparse.Namespace) -> int:
    from kipsense.stack.mosquitto import production_config, render_config

    text = render_config(production_config())
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    import psycopg

    from kipsense.settings import DatabaseSettings
    from store import migrate

    url = DatabaseSettings().database_url
    deadline = time.monotonic() + args.wait
    while True:
        try:
            applied = migrate.apply(url)
        except psycopg.OperationalError as exc:  # not up yet, still starting, or restarting
            if time.monotonic() >= deadline:
                return _fail(f"the database did not answer within {args.wait:.0f} s: {exc}")
            log.info("database not ready (%s); retrying", str(exc).strip().splitlines()[0] if str(exc) else exc)
            time.sleep(2)
            continue
        _out("applied: " + (", ".join(applied) if applied else "nothing (schema is current)"))
        return 0


def cmd_broker_auth(args: argparse.Namespace) -> int:
    from kipsense import mqtt_auth, provisioning
    from kipsense.settings import DatabaseSettings, MqttSettings
    from store.db import connect

    mqtt = MqttSettings()
    if mqtt.password_file is None or mqtt.acl_file is None:
        return _fail("KIPSENSE_MQTT_PASSWORD_FILE and KIPSENSE_MQTT_ACL_FILE must be set")
    if mqtt.password is None:
        return _fail("KIPSENSE_MQTT_PASSWORD (the ingest password, secret ingest_mqtt_password) is not set")
    hashed = mqtt_auth.hash_password(mqtt.password.get_secret_value())
    mqtt_auth.upsert_users(mqtt.password_file, dict.fromkeys(mqtt_auth.ingest_usernames(), hashed))
    with connect(DatabaseSettings().database_url) as conn:
        devices = provisioning.sync_broker(conn, mqtt)  # device entries = the registry's; writes the ACL
    _out(f"broker accounts: {len(mqtt_auth.ingest_usernames())} ingest service users, {devices} devices")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when ``url`` answers 2xx and, with ``--metric``, every sample of that metric is at least 1."""
    import urllib.error
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(args.url, timeout=args.timeout) as response:  # noqa: S310 (an operator's URL)
            text = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:  # HTTPError (non-2xx) is a URLError
        return _fail(f"{args.url}: {exc}")
    if args.metric is None:
        return 0
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == args.metric
    ]
    if not values or min(values) < 1:
        return _fail(f"{args.metric} is {values or 'missing'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deploy", help="production stack: broker config and accounts, migrations that wait")
    actions = p.add_subparsers(dest="deploy_action", required=True)
    a = actions.add_parser("broker-config", help="render the production mosquitto.conf")
    a.add_argument("-o", "--output", help="write here instead of standard output")
    a.set_defaults(func=cmd_broker_config)
    a = actions.add_parser("migrate", help="apply migrations, retrying while the database is not up")
    a.add_argument("--wait", type=float, default=180.0, help="seconds to keep retrying (default 180)")
    a.set_defaults(func=cmd_migrate)
    a = actions.add_parser("broker-auth", help="write the broker's service users, devices and ACL")
    a.set_defaults(func=cmd_broker_auth)
    a = actions.add_parser("health", help="container healthcheck: an HTTP endpoint answers (and a metric is >= 1)")
    a.add_argument("url")
    a.add_argument("--metric", help="every sample of this metric must be at least 1 (e.g. connected gauges)")
    a.add_argument("--timeout", type=float, default=3.0)
    a.set_defaults(func=cmd_health)
