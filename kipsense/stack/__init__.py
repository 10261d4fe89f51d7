"""The embedded local stack: a PostgreSQL+timescaledb cluster and a Mosquitto broker in a git-ignored folder.

``LocalStack(root, name)`` keeps everything under ``root/name`` (``.local/main`` for ``make run``,
``.local/test`` for ``make test`` so tests never touch a running platform's data). When the service user
cannot reach that folder (a clone in a private home directory while running as root), the services' data
lives under ``/var/lib/kipsense/<hash>/<name>`` instead, linked from the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kipsense import mqtt_auth
from kipsense.stack.mosquitto import LocalMosquitto
from kipsense.stack.ports import load_or_choose, port_in_use
from kipsense.stack.postgres import LocalPostgres
from kipsense.stack.runner import ServiceUser, StackError, service_user
from store import admin, migrate

DEFAULT_PORTS = {"main": {"postgres": 55432, "mqtt": 51883}, "test": {"postgres": 55442, "mqtt": 51893}}
DATABASE = "kipsense"

__all__ = ["LocalStack", "StackError", "StackStatus"]


@dataclass(frozen=True, slots=True)
class StackStatus:
    postgres_running: bool
    mqtt_running: bool
    postgres_port: int
    mqtt_port: int
    data_dir: Path


class LocalStack:
    """Start, stop and describe the local services of one named stack."""

    def __init__(self, root: Path, name: str = "main") -> None:
        self.root = root.resolve()
        self.name = name
        self.dir = self.root / name

    # -- layout -------------------------------------------------------------------------------------------
    def _secret(self, name: str) -> str:
        path = self.dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def _service_dir(self, user: ServiceUser) -> Path:
        link = self.dir / "services"
        if link.exists():
            return link.resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        if user.can_reach(self.dir):
            link.mkdir()
            return link
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        target = Path("/var/lib/kipsense") / digest / self.name
        target.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        return target

    def _ports(self) -> dict[str, int]:
        return load_or_choose(self.dir / "ports.json", DEFAULT_PORTS.get(self.name, DEFAULT_PORTS["test"]))

    def _parts(self) -> tuple[LocalPostgres, LocalMosquitto, ServiceUser]:
        user = service_user()
        services = self._service_dir(user)
        ports = self._ports()
        pg = LocalPostgres(
            data_dir=services / "pg" / "data",
            log_file=services / "pg" / "postgres.log",
            port=ports["postgres"],
            password=self._secret("db-password"),
            user=user,
        )
        mq = LocalMosquitto(dir=services / "mosquitto", port=ports["mqtt"], user=user)
        return pg, mq, user

    # -- lifecycle ----------------------------------------------------------------------------------------
    def up(self) -> StackStatus:
        """Start both services if they are not running (idempotent) and apply migrations."""
        pg, mq, _ = self._parts()
        if not pg.initialised():
            self._check_port_free(pg.port, "PostgreSQL")
            pg.init()
        if not pg.running():
            self._check_port_free(pg.port, "PostgreSQL")
            pg.start()
        mq.dir.mkdir(parents=True, exist_ok=True)
        if not mq.running():
            self._check_port_free(mq.port, "Mosquitto")
            mq.write_config(mqtt_auth.hash_password(self._secret("ingest-password")))
            mq.start()
        else:
            mq.refresh_acl()  # a broker started by an earlier version gets the current ACL rules
        admin.ensure_database(pg.url("postgres"), DATABASE)
        migrate.apply(pg.url(DATABASE))
        self._write_env_file(pg, mq)
        return self.status()

    def down(self) -> StackStatus:
        """Stop both services cleanly; data stays in the folder."""
        pg, mq, _ = self._parts()
        mq.stop()
        pg.stop()
        return self.status()

    def status(self) -> StackStatus:
        pg, mq, _ = self._parts()
        return StackStatus(pg.running(), mq.running(), pg.port, mq.port, self.dir)

    def env(self) -> dict[str, str]:
        """Variables that point every process and tool at this stack."""
        pg, mq, _ = self._parts()
        return {
            "KIPSENSE_DATABASE_URL": pg.url(DATABASE),
            "KIPSENSE_MQTT_HOST": "127.0.0.1",
            "KIPSENSE_MQTT_PORT": str(mq.port),
            "KIPSENSE_MQTT_USERNAME": mqtt_auth.ingest_usernames()[0],
            "KIPSENSE_MQTT_PASSWORD": self._secret("ingest-password"),
            "KIPSENSE_MQTT_PASSWORD_FILE": str(mq.password_file),
            "KIPSENSE_MQTT_ACL_FILE": str(mq.acl_file),
            "KIPSENSE_MQTT_PID_FILE": str(mq.pid_file),
        }

    def tls_listener(self) -> tuple[int, Path] | None:
        """The broker's TLS listener (port, CA certificate a client trusts), if the stack opens one."""
        _, mq, _ = self._parts()
        port = mq.effective_tls_port()
        return None if port is None else (port, mq.ca_file)

    def admin_url(self, database: str = "postgres") -> str:
        pg, _, _ = self._parts()
        return pg.url(database)

    # -- helpers ------------------------------------------------------------------------------------------
    def _check_port_free(self, port: int, what: str) -> None:
        if port_in_use(port):
            raise StackError(
                f"port {port} for the local {what} is held by another process; stop it, or delete "
                f"{self.dir / 'ports.json'} so that free ports are chosen and remembered"
            )

    def _write_env_file(self, pg: LocalPostgres, mq: LocalMosquitto) -> None:
        path = self.dir / "env.json"
        path.write_text(json.dumps(self.env(), indent=2) + "\n")
        path.chmod(0o600)


def load_env_defaults(root: Path, name: str = "main") -> None:
    """Fill unset ``KIPSENSE_*`` variables from a started local stack, so the CLI works without ``eval``."""
    path = root / name / "env.json"
    if not path.exists():
        return
    for key, value in json.loads(path.read_text()).items():
        os.environ.setdefault(key, value)
