"""``kipsense db backup|restore``: pg_dump of schema and data, restored into an empty database, row counts checked.

The backup is a pg_dump custom-format archive plus ``<file>.manifest.json`` with the row count of every
table. The counts are taken inside the very snapshot pg_dump reads (``pg_export_snapshot``), so they match
the archive exactly even while ingest keeps writing. A restore follows TimescaleDB's procedure (the extension
first, ``timescaledb_pre_restore()``, pg_restore, ``timescaledb_post_restore()``) and then compares every
table's rows with the manifest. The client binaries are those of the server's major version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

PG_ROOT = Path("/usr/lib/postgresql")


class BackupError(RuntimeError):
    """A backup or restore that could not be done or did not verify."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    file: Path
    manifest: Path
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    counts: dict[str, int]


def manifest_path(file: Path) -> Path:
    return file.with_name(file.name + ".manifest.json")


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10_000


def client_binary(name: str, major: int, *, bin_dir: Path | None = None) -> Path:
    """``pg_dump``/``pg_restore`` matching the server's major version (or from ``bin_dir``)."""
    candidates = [bin_dir / name] if bin_dir else [PG_ROOT / str(major) / "bin" / name]
    found = shutil.which(name)
    if bin_dir is None and found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise BackupError(f"{name} for PostgreSQL {major} not found (looked in {', '.join(map(str, candidates))})")


def _env_and_dsn(url: str) -> tuple[dict[str, str], str]:
    """The libpq environment (password out of the command line) and the DSN without the password."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return env, make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def _run(cmd: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def _tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """Ordinary and partitioned tables of the platform (chunks are counted through their hypertable)."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE '\\_timescaledb%%'"
        " AND n.nspname NOT IN ('timescaledb_information', 'timescaledb_experimental')"
        " ORDER BY 1, 2"
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for schema, table in _tables(conn):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        fetched = row.fetchone()
        out[f"{schema}.{table}"] = int(fetched[0]) if fetched else 0
    return out


def backup(url: str, file: Path, *, bin_dir: Path | None = None) -> BackupResult:
    """Dump the database at ``url`` to ``file`` (custom format) and write its manifest beside it."""
    env, dsn = _env_and_dsn(url)
    with psycopg.connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snap = conn.execute("SELECT pg_export_snapshot()").fetchone()
        if snap is None:  # pragma: no cover - the function always returns a value
            raise BackupError("no snapshot")
        counts = _counts(conn)
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        pg_dump = client_binary("pg_dump", _server_major(conn), bin_dir=bin_dir)
        # The exporting transaction stays open while pg_dump reads the same snapshot.
        _run([str(pg_dump), "--format=custom", f"--snapshot={snap[0]}", f"--file={file}", f"--dbname={dsn}"], env)
    manifest = manifest_path(file)
    manifest.write_text(
        json.dumps(
            {
                "created_at": datetime.now(UTC).isoformat(),
                "timescaledb": version[0] if version else None,
                "counts": counts,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    return BackupResult(file, manifest, counts)


def _read_manifest(file: Path) -> dict[str, Any]:
    path = manifest_path(file)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"no manifest {path} beside the archive: cannot verify a restore") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(data.get("counts"), dict):
        raise BackupError(f"manifest {path} has no row counts")
    return data


def restore(url: str, file: Path, *, bin_dir: Path | None = None) -> RestoreResult:
    """Restore ``file`` into the empty database at ``url`` and check every table's rows against the manifest."""
    if not file.is_file():
        raise BackupError(f"no archive {file}")
    manifest = _read_manifest(file)
    env, dsn = _env_and_dsn(url)
    with psycopg.connect(url, autocommit=True) as conn:
        if _tables(conn):
            raise BackupError("the target database is not empty; restore into a new database")
        major = _server_major(conn)
        pg_restore = client_binary("pg_restore", major, bin_dir=bin_dir)
        # The extension is created here, so its entries in the archive are left out of the restore list.
        listing = _run([str(pg_restore), "--list", str(file)], env)
        keep = [line for line in listing.splitlines() if not (" EXTENSION " in line and "timescaledb" in line)]
        list_file = file.with_name(file.name + ".restore-list")
        list_file.write_text("\n".join(keep) + "\n")
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
        try:
            options = ["--exit-on-error", "--no-owner", f"--use-list={list_file}", f"--dbname={dsn}"]
            _run([str(pg_restore), *options, str(file)], env)
        finally:
            conn.execute("SELECT timescaledb_post_restore()")
            list_file.unlink(missing_ok=True)
    with psycopg.connect(url) as conn:
        counts = _counts(conn)
    expected = {str(k): int(v) for k, v in manifest["counts"].items()}
    if counts != expected:
        diff = {t: (expected.get(t), counts.get(t)) for t in sorted(set(expected) | set(counts))}
        bad = {t: v for t, v in diff.items() if v[0] != v[1]}
        raise BackupError(f"row counts differ after restore (table: expected, restored): {bad}")
    return RestoreResult(counts)
