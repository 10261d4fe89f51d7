"""The embedded local stack: a PostgreSQL+timescaledb cluster and a Mosquitto broker in a git-ignored folder.

``LocalStack(root, name)`` keeps everything under ``root/name`` (``.local/main`` for ``make run``,
``.local/test`` for ``make test`` so tests never touch a running platform's data). When the service user
cannot reach that folder (a clone in a private home directory while running as root), the services' data
lives under ``/var/lib/kipsense/<hash>/<name>`` instead, linked from the folder.

Ports. Every listener (PostgreSQL, MQTT, MQTT over TLS) has its own port, chosen outside the kernel's
ephemeral range (see ``kipsense.stack.ports``) and remembered in ``<name>/ports.json``. ``up`` keeps the
ports of running services; a stopped service whose remembered port has become unusable (inside the ephemeral
range, as stacks made before chose them, or held by another program) gets a new one, and ``up`` says so in
``StackStatus.notices``: clients read the ports from ``kipsense stack env`` / ``env.json`` again. When a
server still finds its port taken at start (another program bound it after the check), a new port is chosen
and the start repeated, a few times at most.

Only ``up`` creates anything. ``status``, ``env`` and ``down`` of a stack that was never started in this
root are an error that says so (run from another folder they would otherwise make a new, empty stack), and
a stack name is a plain name, never a path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from kipsense import mqtt_auth
from kipsense.stack import ports
from kipsense.stack.mosquitto import LocalMosquitto
from kipsense.stack.postgres import LocalPostgres
from kipsense.stack.runner import ServiceUser, StackError, service_user
from store import admin, migrate

#: First candidates per stack (the next usable port is taken when one is held); all below the ephemeral range.
DEFAULT_PORTS = {
    "main": {"postgres": 15432, "mqtt": 11883, "mqtt_tls": 18883},
    "test": {"postgres": 15442, "mqtt": 11893, "mqtt_tls": 18893},
}
#: Which service listens on each port.
_SERVICE = {"postgres": "postgres", "mqtt": "mosquitto", "mqtt_tls": "mosquitto"}
DATABASE = "kipsense"
#: A stack name: a folder name under the root, never a path.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
#: Starts repeated after a server found its port taken.
_START_ATTEMPTS = 4

__all__ = ["LocalStack", "StackError", "StackStatus"]


@dataclass(frozen=True, slots=True)
class StackStatus:
    postgres_running: bool
    mqtt_running: bool
    postgres_port: int
    mqtt_port: int
    data_dir: Path
    #: What ``up`` changed that a user should know (ports moved), one sentence each.
    notices: tuple[str, ...] = ()


class LocalStack:
    """Start, stop and describe the local services of one named stack."""

    def __init__(self, root: Path, name: str = "main") -> None:
        if not _NAME.fullmatch(name):
            raise StackError(
                f"invalid stack name {name!r}: use up to 40 lower-case letters, digits, '-' or '_' "
                "(a name such as main or test, not a path)"
            )
        self.root = root.resolve()
        self.name = name
        self.dir = self.root / name

    # -- layout -------------------------------------------------------------------------------------------
    def _secret(self, name: str, *, create: bool = False) -> str:
        path = self.dir / "secrets" / name
        if not path.exists():
            if not create:
                raise self._missing()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def _service_dir(self, user: ServiceUser, *, create: bool = False) -> Path:
        link = self.dir / "services"
        if link.exists():
            return link.resolve()
        if not create:
            raise self._missing()
        self.dir.mkdir(parents=True, exist_ok=True)
        if user.can_reach(self.dir):
            link.mkdir()
            return link
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        target = Path("/var/lib/kipsense") / digest / self.name
        target.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        return target

    @property
    def _ports_file(self) -> Path:
        return self.dir / "ports.json"

    def _missing(self) -> StackError:
        return StackError(
            f"there is no stack {self.name!r} in {self.root}: start it with `kipsense stack up --name {self.name}` "
            "in the checkout it belongs to (or point KIPSENSE_STACK_ROOT at that checkout's .local folder)"
        )

    def _parts(
        self, port_map: dict[str, int] | None = None, *, create: bool = False
    ) -> tuple[LocalPostgres, LocalMosquitto, ServiceUser]:
        if not create and not self._ports_file.exists():
            raise self._missing()
        user = service_user()
        services = self._service_dir(user, create=create)
        port_map = port_map if port_map is not None else ports.load(self._ports_file)
        pg = LocalPostgres(
            data_dir=services / "pg" / "data",
            log_file=services / "pg" / "postgres.log",
            port=port_map.get("postgres", 0),
            password=self._secret("db-password", create=create),
            user=user,
        )
        mq = LocalMosquitto(
            dir=services / "mosquitto", port=port_map.get("mqtt", 0), user=user, tls_port=port_map.get("mqtt_tls", 0)
        )
        return pg, mq, user

    def _plan_ports(self, pg: LocalPostgres, mq: LocalMosquitto, notices: list[str]) -> dict[str, int]:
        """The remembered ports, with those of stopped services that became unusable (or were never chosen) new."""
        defaults = DEFAULT_PORTS.get(self.name, DEFAULT_PORTS["test"])
        stored = ports.load(self._ports_file)
        remembered = dict(stored)
        running = {"postgres": pg.running(), "mosquitto": mq.running()}
        if running["mosquitto"] and "mqtt_tls" not in remembered and "mqtt" in remembered:
            remembered["mqtt_tls"] = remembered["mqtt"] + 1  # a broker started before the TLS port was remembered
        low, high = ports.ephemeral_range()
        keep: dict[str, int] = {}
        moved: dict[str, str] = {}
        for name, port in remembered.items():
            if name not in defaults:
                continue
            if running[_SERVICE[name]]:
                keep[name] = port
                if ports.in_ephemeral_range(port):
                    notices.append(
                        f"{name} port {port} lies in the kernel's ephemeral range {low}-{high}, where any outgoing "
                        f"connection may take it; it moves on the next `kipsense stack up` after `down`"
                    )
            elif ports.in_ephemeral_range(port):
                moved[name] = f"lies in the kernel's ephemeral range {low}-{high}"
            elif not ports.usable(port):
                moved[name] = "is held by another program"
            else:
                keep[name] = port
        chosen = ports.choose(defaults, keep)
        for name, why in moved.items():
            notices.append(f"{name} port {remembered[name]} {why}: moved to {chosen[name]}")
        if chosen != stored:
            ports.save(self._ports_file, chosen)
        return chosen

    # -- lifecycle ----------------------------------------------------------------------------------------
    def up(self) -> StackStatus:
        """Start both services if they are not running (idempotent) and apply migrations."""
        notices: list[str] = []
        with ports.port_lock():
            pg, mq, _ = self._parts({}, create=True)
            port_map = self._plan_ports(pg, mq, notices)
            failed: set[int] = set()
            for attempt in range(_START_ATTEMPTS):
                pg, mq, _ = self._parts(port_map, create=True)
                try:
                    self._start(pg, mq)
                    break
                except StackError as exc:
                    names = self._raced(exc, pg, mq)
                    if not names or attempt == _START_ATTEMPTS - 1:
                        raise
                failed |= {port_map[n] for n in names}
                new = ports.choose(
                    DEFAULT_PORTS.get(self.name, DEFAULT_PORTS["test"]),
                    {n: p for n, p in port_map.items() if n not in names},
                    avoid=failed,
                )
                notices += [f"{n} port {port_map[n]} was taken as the server started: moved to {new[n]}" for n in names]
                port_map = new
                ports.save(self._ports_file, port_map)
        admin.ensure_database(pg.url("postgres"), DATABASE)
        migrate.apply(pg.url(DATABASE))
        self._write_env_file(pg, mq)
        return replace(self.status(), notices=tuple(notices))

    def _start(self, pg: LocalPostgres, mq: LocalMosquitto) -> None:
        if not pg.initialised():
            pg.init()
        if not pg.running():
            pg.start()
        mq.dir.mkdir(parents=True, exist_ok=True)
        if not mq.running():
            mq.write_config(mqtt_auth.hash_password(self._secret("ingest-password", create=True)))
            mq.start()
        else:
            mq.refresh_acl()  # a broker started by an earlier version gets the current ACL rules

    @staticmethod
    def _raced(exc: StackError, pg: LocalPostgres, mq: LocalMosquitto) -> list[str]:
        """The port names a failed start lost to another program (empty: it failed for another reason)."""
        if "Address already in use" not in str(exc):
            return []
        candidates = {"postgres": pg.port} if str(exc).startswith("PostgreSQL") else {"mqtt": mq.port}
        if candidates.keys() == {"mqtt"} and mq.tls_port:
            candidates["mqtt_tls"] = mq.tls_port
        held = [name for name, port in candidates.items() if not ports.port_bindable(port)]
        return held or list(candidates)

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
