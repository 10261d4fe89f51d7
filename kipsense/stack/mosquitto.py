"""The local Mosquitto broker: authentication on, per-device ACL, persistence, queue limits raised.

Besides the plain listener on loopback it opens a TLS listener on its own chosen port (``tls_port``) with a CA
and server certificate generated for the local stack in ``<dir>/tls``; clients that want it trust
``tls/ca.crt``. The same accounts and ACL apply on both listeners (``per_listener_settings false``).

Connections and open files. Every socket costs the broker a file descriptor from the moment it is accepted,
before it has sent CONNECT or proved anything; at the default limit of 1024 open files about a thousand idle
sockets lock every device out. So:

- the broker starts with a raised open-file limit (``prlimit`` inside the service user's session, since
  ``runuser``'s PAM session resets limits): ``OPEN_FILES``, or the hard limit the service user has if lower;
- every listener has ``max_connections``, together below that limit minus ``FD_RESERVE`` for the broker's
  own files, so a flood makes the broker refuse new sockets on one listener, never run out of descriptors
  (which would also break accepting on the other listener and writing the persistence file);
- Mosquitto 2.0 has no setting for a CONNECT timeout, but gives a new socket the default 60 s keep-alive
  until its CONNECT says otherwise and closes it after 1.5 times that: a socket that never sends CONNECT is
  dropped after about 90 s (measured on 2.0.11), so idle sockets must be renewed to be held.

Beyond that a flood from many addresses can only be bounded outside the broker (per-address connection
limits in the firewall, separate listeners for devices and services): see ``deploy/mosquitto/README.md``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kipsense import mqtt_auth
from kipsense.stack.runner import ServiceUser, StackError
from kipsense.tls import TlsError, ensure_local_certificates

log = logging.getLogger(__name__)

#: Open files the broker asks for; the service user's hard limit caps it.
OPEN_FILES = 65536
#: Descriptors kept back from client connections: listeners, epoll, log, persistence file, config reloads.
FD_RESERVE = 64


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """CA, certificate and key of a TLS listener."""

    cafile: str
    certfile: str
    keyfile: str


@dataclass(frozen=True, slots=True)
class Listener:
    """One listener: port, bind address (None: every interface), its connection limit and its options."""

    port: int
    bind: str | None
    max_connections: int
    tls: TlsFiles | None = None
    #: The client id is the username, so no client can take another's session (devices). Off where several
    #: processes of one service account connect with ids of their own (the services listener in containers).
    username_as_clientid: bool = True
    comment: str = ""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything one ``mosquitto.conf`` says; :func:`render_config` writes it."""

    header: str
    listeners: tuple[Listener, ...]
    password_file: str
    acl_file: str
    persistence_dir: str
    log_dest: str
    pid_file: str | None = None
    #: Per client: the ingest workers' sessions hold the backlog while they or the database are down.
    max_queued_messages: int = 1_000_000
    max_queued_bytes: int = 536_870_912
    max_inflight_messages: int = 1000
    #: Ingest quarantines payloads above 256 KiB; the broker refuses packets above about 1 MiB outright.
    max_packet_size: int = 1_100_000


def render_config(config: BrokerConfig) -> str:
    """The text of ``mosquitto.conf``. Listeners come first: options placed before any listener would create
    a default listener on 1883."""
    out = [config.header.rstrip("\n"), "per_listener_settings false"]
    for lst in config.listeners:
        out.append("")
        out.extend(f"# {line}" if line else "#" for line in lst.comment.splitlines())
        out.append(f"listener {lst.port}" + (f" {lst.bind}" if lst.bind else ""))
        out.append("protocol mqtt")
        out.append(f"max_connections {lst.max_connections}")
        if lst.username_as_clientid:
            out.append("use_username_as_clientid true")
        if lst.tls is not None:
            out += [f"cafile {lst.tls.cafile}", f"certfile {lst.tls.certfile}", f"keyfile {lst.tls.keyfile}"]
            out.append("tls_version tlsv1.2")
    out += [
        "",
        "# --- who may connect and what they may touch (files maintained by the platform, reloaded on SIGHUP)",
        "allow_anonymous false",
        f"password_file {config.password_file}",
        f"acl_file {config.acl_file}",
        "",
        "# --- persistence: queued QoS1 messages survive a broker restart; written every 10 s and on shutdown",
        "persistence true",
        f"persistence_location {config.persistence_dir}",
        "autosave_interval 10",
        "autosave_on_changes false",
        "# Sessions of workers or devices gone for longer are dropped (ingest workers use a 7-day expiry).",
        "persistent_client_expiration 14d",
        "",
        "# --- queues, in-flight window and message size, per client (deploy/mosquitto/README.md)",
        f"max_queued_messages {config.max_queued_messages}",
        f"max_queued_bytes {config.max_queued_bytes}",
        "queue_qos0_messages false",
        f"max_inflight_messages {config.max_inflight_messages}",
        "max_inflight_bytes 0",
        f"max_packet_size {config.max_packet_size}",
        "",
        "# --- logging",
        f"log_dest {config.log_dest}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "log_timestamp true",
    ]
    if config.pid_file:
        out.append(f"pid_file {config.pid_file}")
    return "\n".join(out) + "\n"


#: Connection limits of the production listeners; together ``FD_RESERVE`` or more below ``OPEN_FILES``.
PRODUCTION_DEVICE_CONNECTIONS = 60_000
PRODUCTION_SERVICE_CONNECTIONS = 2_000
#: Where the production broker container keeps what it reads (deploy/mosquitto/run.sh copies the platform's
#: password and ACL files from the shared volume there, owned by the broker, and sends SIGHUP on a change).
PRODUCTION_AUTH_DIR = "/mosquitto/data/auth"

_PRODUCTION_HEADER = """\
# KIP Sense production broker (Mosquitto 2.0, the eclipse-mosquitto image's paths). GENERATED: do not edit;
# `kipsense deploy broker-config -o deploy/mosquitto/mosquitto.conf` writes it from kipsense/stack/mosquitto.py,
# the same code that writes the local stack's broker, and tests/deploy/test_broker_render.py keeps them equal.
#
# Every socket holds a file descriptor from accept on, before CONNECT; a socket that never sends CONNECT is
# closed after about 90 s. So the broker runs with 65536 open files (compose `ulimits`, or the systemd drop-in
# mosquitto.service.d/limits.conf), each listener has its own max_connections, together below that, and
# devices and services have separate listeners. Sizing and alarms: deploy/mosquitto/README.md."""


def production_config() -> BrokerConfig:
    """The broker of ``docker-compose.yml``: devices on 8883 (TLS), the platform's services on 1883."""
    return BrokerConfig(
        header=_PRODUCTION_HEADER,
        listeners=(
            Listener(
                8883,
                None,
                PRODUCTION_DEVICE_CONNECTIONS,
                tls=TlsFiles("/run/secrets/mqtt_tls_ca", "/run/secrets/mqtt_tls_cert", "/run/secrets/mqtt_tls_key"),
                comment="Devices, TLS only (published by compose). A client id is its username: no device can take\n"
                "over another's persistent session.",
            ),
            Listener(
                1883,
                None,
                PRODUCTION_SERVICE_CONNECTIONS,
                username_as_clientid=False,
                comment="The platform's services on the internal backend network (compose does not publish it).\n"
                "Ingest containers share service accounts and name their sessions themselves (<id>-<slot>).",
            ),
        ),
        password_file=f"{PRODUCTION_AUTH_DIR}/passwd",
        acl_file=f"{PRODUCTION_AUTH_DIR}/acl",
        persistence_dir="/mosquitto/data/",
        log_dest="stderr",  # unbuffered (stdout is block-buffered when it is not a terminal)
    )


@dataclass(frozen=True, slots=True)
class LocalMosquitto:
    """One broker with its config, password and ACL files in ``dir``."""

    dir: Path
    port: int
    user: ServiceUser
    #: TLS listener port, 0 for no TLS listener.
    tls_port: int = 0
    #: Open files to ask for (None: ``OPEN_FILES``); the service user's hard limit caps it.
    open_files: int | None = None

    @property
    def tls_dir(self) -> Path:
        return self.dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The certificate a client trusts to use the TLS listener."""
        return self.tls_dir / "ca.crt"

    def effective_tls_port(self) -> int | None:
        return self.tls_port or None

    def open_file_limit(self) -> int:
        """The open-file limit the broker gets: what is asked for, capped by the service user's hard limit."""
        wanted = self.open_files or OPEN_FILES
        prlimit = shutil.which("prlimit")
        if prlimit is None:  # the broker keeps the limit it inherits
            return int(self._probe(["sh", "-c", "ulimit -Sn"]) or 1024)
        hard = self._probe([prlimit, "--nofile", "--output", "HARD", "--noheadings"])
        return wanted if hard is None else min(wanted, hard)

    def _probe(self, cmd: list[str]) -> int | None:
        out = subprocess.run([*self.user.prefix, *cmd], capture_output=True, text=True, check=False)  # noqa: S603
        text = out.stdout.strip()
        return int(text) if text.isdigit() else None

    def max_connections(self, open_files: int) -> int:
        """Connections each listener accepts: all listeners together stay ``FD_RESERVE`` below ``open_files``."""
        listeners = 2 if self.effective_tls_port() else 1
        return max((open_files - FD_RESERVE) // listeners, 1)

    @property
    def pid_file(self) -> Path:
        return self.dir / "mosquitto.pid"

    @property
    def password_file(self) -> Path:
        return self.dir / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.dir / "acl"

    def write_config(self, service_hash: str) -> None:
        """Config, ACL and the service users' entries (devices' entries are kept)."""
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        limit = self.max_connections(self.open_file_limit())
        (self.dir / "mosquitto.conf").write_text(render_config(self.config(limit)))
        mqtt_auth.write_acl(self.acl_file)
        mqtt_auth.upsert_users(self.password_file, dict.fromkeys(mqtt_auth.ingest_usernames(), service_hash))
        self.user.chown(self.dir)

    def config(self, max_connections: int) -> BrokerConfig:
        """This broker's configuration: loopback listeners, files under ``dir``, generous queues."""
        listeners = [Listener(self.port, "127.0.0.1", max_connections)]
        tls = self._tls_files()
        if tls is not None and (port := self.effective_tls_port()) is not None:
            comment = f"TLS on its own port, certificates of the local stack's private CA (clients trust {tls.cafile})."
            listeners.append(Listener(port, "127.0.0.1", max_connections, tls=tls, comment=comment))
        return BrokerConfig(
            header="# Generated by kipsense stack up (local development broker); production: deploy/mosquitto/",
            listeners=tuple(listeners),
            password_file=str(self.password_file),
            acl_file=str(self.acl_file),
            persistence_dir=f"{self.dir}/data/",
            log_dest=f"file {self.dir}/mosquitto.log",
            pid_file=str(self.pid_file),
            # A burst to a slow or absent consumer is kept whole on the development broker.
            max_queued_messages=2_000_000,
            max_queued_bytes=0,
        )

    def _tls_files(self) -> TlsFiles | None:
        # TLS is an extra: without openssl the broker still starts on the plain port. Its port was chosen and
        # checked with the others (a port taken since makes the start fail, and the stack choose again).
        if self.effective_tls_port() is None:
            return None
        try:
            ensure_local_certificates(self.tls_dir)
        except TlsError as exc:
            log.warning("TLS listener left out: %s", exc)
            return None
        return TlsFiles(
            str(self.tls_dir / "ca.crt"), str(self.tls_dir / "server.crt"), str(self.tls_dir / "server.key")
        )

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        return self._pid() is not None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise StackError("mosquitto is not installed; run deploy/local/install-system-deps.sh as root")
        self.pid_file.unlink(missing_ok=True)
        prlimit = shutil.which("prlimit")
        limit = self.open_file_limit()
        raise_limit = [prlimit, f"--nofile={limit}:{limit}", "--"] if prlimit else []
        cmd = [*self.user.prefix, *raise_limit, binary, "-c", str(self.dir / "mosquitto.conf"), "-d"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.running():
                return
            time.sleep(0.1)
        log = (self.dir / "mosquitto.log").read_text()[-2000:] if (self.dir / "mosquitto.log").exists() else ""
        raise StackError(f"Mosquitto did not start: {result.stderr.strip()}\n{log}")

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._pid() is not None:
            time.sleep(0.1)
        if self._pid() is not None:
            os.kill(pid, signal.SIGKILL)

    def reload(self) -> None:
        mqtt_auth.reload_broker(self.pid_file)

    def refresh_acl(self) -> bool:
        """Bring a running broker's ACL up to the current rules (rewrite and SIGHUP); True when it changed."""
        if not mqtt_auth.write_acl(self.acl_file):  # written owned like the folder: the broker can read it
            return False
        self.reload()
        return True
