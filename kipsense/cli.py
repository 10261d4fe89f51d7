"""The ``kipsense`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _stack_root() -> Path:
    return Path(os.environ.get("KIPSENSE_STACK_ROOT", ".local"))


def _stop_event() -> threading.Event:
    """An event set by SIGINT/SIGTERM, so services stop cleanly (flush, ack, disconnect)."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _database_url() -> str:
    from kipsense.settings import DatabaseSettings

    return DatabaseSettings().database_url


# -- stack -------------------------------------------------------------------------------------------------
def cmd_stack(args: argparse.Namespace) -> int:
    from kipsense.stack import LocalStack, StackError

    try:
        stack = LocalStack(_stack_root(), args.name)
        if args.action == "up":
            status = stack.up()
        elif args.action == "down":
            status = stack.down()
        elif args.action == "env":
            for key, value in stack.env().items():
                print(f"export {key}='{value}'")
            tls = stack.tls_listener()
            if tls is not None:
                print(
                    f"# TLS listener on 127.0.0.1:{tls[0]}; to use it instead of the plain port:\n"
                    f"# export KIPSENSE_MQTT_PORT='{tls[0]}' KIPSENSE_MQTT_TLS_CA='{tls[1]}'"
                )
            return 0
        else:
            status = stack.status()
    except StackError as exc:
        print(f"kipsense stack: {exc}", file=sys.stderr)
        return 1
    for notice in status.notices:
        print(f"kipsense stack: {notice}", file=sys.stderr)
    print(
        f"postgres: {'running' if status.postgres_running else 'stopped'} on 127.0.0.1:{status.postgres_port}\n"
        f"mosquitto: {'running' if status.mqtt_running else 'stopped'} on 127.0.0.1:{status.mqtt_port}\n"
        f"data: {status.data_dir}"
    )
    return 0 if args.action == "down" or (status.postgres_running and status.mqtt_running) else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from store import migrate

    applied = migrate.apply(_database_url())
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is current)"))
    return 0


# -- keys ------------------------------------------------------------------------------------------------
def cmd_keys(args: argparse.Namespace) -> int:
    from store import apikeys
    from store.db import connect

    with connect(_database_url()) as conn:
        key, token = apikeys.create(conn, name=args.name, role=args.role, sites=args.site or [])
        conn.commit()
    if args.json:
        print(json.dumps({"key_id": key.key_id, "role": key.role, "token": token}))
    else:
        print(f"key {key.key_id} ({key.role}): {token}   (shown once)")
    return 0


# -- services ----------------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.service import run_workers
    from kipsense.settings import IngestSettings, MqttSettings

    return run_workers(
        settings=IngestSettings(),
        mqtt_settings=MqttSettings(),
        database_url=_database_url(),
        workers=args.workers,
        stop=_stop_event(),
    )


def cmd_score(args: argparse.Namespace) -> int:
    from kipsense.settings import ScorerSettings
    from models.scorer import Scorer
    from store import migrate

    url = _database_url()
    migrate.apply(url)
    from prometheus_client import CollectorRegistry

    from kipsense.metrics import MetricsSettings, ScorerMetrics, serve_platform_metrics

    registry = CollectorRegistry(auto_describe=False)
    scorer_metrics = ScorerMetrics(registry)
    endpoint = serve_platform_metrics(MetricsSettings(), database_url=url, registry=registry)
    try:
        Scorer(settings=ScorerSettings(), database_url=url, metrics=scorer_metrics).run(_stop_event())
    finally:
        if endpoint is not None:
            endpoint.stop()
    return 0


def default_api_workers() -> int:
    # Two processes keep requests flowing while one is busy (a Python process runs one request's Python code
    # at a time); more than two would only compete for the CPUs with the database on a small machine.
    return min(2, os.cpu_count() or 1)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app, freeze_startup_heap, server_options
    from kipsense.logging_setup import LogSettings, uvicorn_log_config
    from kipsense.settings import ApiSettings, MqttSettings
    from store import migrate

    settings = ApiSettings()
    url = _database_url()
    migrate.apply(url)
    host, port = args.host or settings.host, args.port or settings.port
    workers = args.workers or default_api_workers()
    log_config = uvicorn_log_config(LogSettings())  # JSON access and error logs when KIPSENSE_LOG_FORMAT=json
    if workers == 1:
        app = create_app(settings=settings, database_url=url, mqtt=MqttSettings())
        freeze_startup_heap()
        uvicorn.run(app, host=host, port=port, log_level="info", log_config=log_config, **server_options(settings))
    else:  # each worker process builds its own app (and pool) from the environment this one has filled
        uvicorn.run(
            "api.main:app_from_env",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            log_config=log_config,
            **server_options(settings),
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kipsense.runall import run_all

    return run_all(_stack_root(), stop=_stop_event(), port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kipsense", description="KIP Sense industrial sensor monitoring")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="the embedded local PostgreSQL+timescaledb and Mosquitto")
    p.add_argument("action", choices=["up", "down", "status", "env"])
    p.add_argument("--name", default="main", help="stack name: main (make run) or test (make test)")
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser("migrate", help="apply pending schema migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("keys", help="API keys")
    p.add_argument("action", choices=["create"])
    p.add_argument("--role", required=True, choices=["operator", "researcher", "field", "admin"])
    p.add_argument("--name", default="cli")
    p.add_argument("--site", action="append", help="field keys: a site the key may manage (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("ingest", help="MQTT -> TimescaleDB ingest workers")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("score", help="streaming scorer: new readings -> alerts")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("api", help="HTTP API and operator page")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--workers",
        type=int,
        help="API processes sharing the port, each with its own connection pool (default: 2, 1 on a 1-CPU machine)",
    )
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("run", help="the whole platform with simulators on the local stack (make run)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_run)

    from kipsense.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kipsense.logging_setup import configure_logging

    configure_logging(verbose=args.verbose)
    if args.command != "stack":
        from kipsense.stack import load_env_defaults

        load_env_defaults(_stack_root())
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
