"""The local PostgreSQL cluster with timescaledb preloaded, run by ``pg_ctl`` as the service user."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from kipsense.stack.runner import ServiceUser, StackError

SUPERUSER = "kipsense"

_CONF = """
# --- kipsense local stack ---
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
"""


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise StackError("PostgreSQL server binaries not found; run deploy/local/install-system-deps.sh as root")
    return versions[-1].parent


def _has_timescaledb(bin_dir: Path) -> bool:
    sharedir = subprocess.run(  # noqa: S603
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (Path(sharedir) / "extension" / "timescaledb.control").exists()


@dataclass(frozen=True, slots=True)
class LocalPostgres:
    """One cluster in ``data_dir`` listening on ``127.0.0.1:port``."""

    data_dir: Path
    log_file: Path
    port: int
    password: str
    user: ServiceUser

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self.user.prefix, str(_bin_dir() / args[0]), *args[1:]]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)  # noqa: S603

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (scram-sha-256 on TCP only) and write the platform's settings into it."""
        if not _has_timescaledb(_bin_dir()):
            raise StackError("the timescaledb extension is not installed; run deploy/local/install-system-deps.sh")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / ".pgpass-init"
        pwfile.write_text(self.password + "\n")
        self.user.chown(self.data_dir.parent)
        try:
            result = self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stderr.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_CONF.format(port=self.port))

    def running(self) -> bool:
        return (
            self.initialised() and self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0
        )

    def start(self) -> None:
        # The port is given on the command line: it wins over postgresql.conf, so a port the stack moved applies.
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "90",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
            check=False,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise StackError(f"PostgreSQL did not start:\n{result.stderr.strip()}\n{tail}")

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data_dir))

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"
