"""The model registry: fitted detectors as strict-JSON state with their training metadata.

A model is identified by ``model_id``; ``(name, version)`` is its human name, a new training run of the same
name gets the next version. Any number of models may be active; the streaming scorer runs every active one on
the devices it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One registry row. ``state`` is the detector's ``to_state()`` dict."""

    model_id: int
    name: str
    version: int
    detector: str
    kind: str
    params: dict[str, Any]
    columns: list[str]
    devices: list[str]
    train_start: datetime
    train_end: datetime
    n_samples: int
    fingerprint: str
    versions: dict[str, Any]
    state: dict[str, Any]
    metrics: dict[str, Any]
    severity: str
    active: bool
    created_by: str
    created_at: datetime
    activated_at: datetime | None


_COLS = (
    "model_id, name, version, detector, kind, params, columns, devices, train_start, train_end, n_samples,"
    " fingerprint, versions, state, metrics, severity, active, created_by, created_at, activated_at"
)


def register(
    conn: Conn,
    *,
    name: str,
    detector: str,
    kind: str,
    params: dict[str, Any],
    columns: Sequence[str],
    devices: Sequence[str],
    train_start: datetime,
    train_end: datetime,
    n_samples: int,
    fingerprint: str,
    versions: dict[str, Any],
    state: dict[str, Any],
    severity: str = "warning",
    created_by: str = "cli",
) -> ModelRecord:
    """Save a fitted model as the next version of ``name`` (inactive)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('kipsense-models:' || %s))", (name,))
    with conn.cursor(row_factory=class_row(ModelRecord)) as cur:
        row = cur.execute(
            "INSERT INTO models (name, version, detector, kind, params, columns, devices, train_start, train_end,"  # noqa: S608
            " n_samples, fingerprint, versions, state, severity, created_by)"
            " VALUES (%(name)s, (SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = %(name)s),"
            " %(detector)s, %(kind)s, %(params)s, %(columns)s, %(devices)s, %(start)s, %(end)s, %(n)s, %(fp)s,"
            f" %(versions)s, %(state)s, %(severity)s, %(by)s) RETURNING {_COLS}",
            {
                "name": name,
                "detector": detector,
                "kind": kind,
                "params": Jsonb(params),
                "columns": list(columns),
                "devices": list(devices),
                "start": train_start,
                "end": train_end,
                "n": n_samples,
                "fp": fingerprint,
                "versions": Jsonb(versions),
                "state": Jsonb(state),
                "severity": severity,
                "by": created_by,
            },
        ).fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("insert returned no row")
    return row


def get(conn: Conn, *, model_id: int) -> ModelRecord | None:
    with conn.cursor(row_factory=class_row(ModelRecord)) as cur:
        return cur.execute(f"SELECT {_COLS} FROM models WHERE model_id = %s", (model_id,)).fetchone()  # noqa: S608


def find(conn: Conn, *, ref: str) -> ModelRecord | None:
    """A model by id (``"12"``), ``name@version`` or name (its latest version)."""
    if ref.isdigit():
        return get(conn, model_id=int(ref))
    name, _, version = ref.partition("@")
    with conn.cursor(row_factory=class_row(ModelRecord)) as cur:
        return cur.execute(
            f"SELECT {_COLS} FROM models WHERE name = %s AND (%s::int IS NULL OR version = %s::int)"  # noqa: S608
            " ORDER BY version DESC LIMIT 1",
            (name, version or None, version or None),
        ).fetchone()


def list_models(conn: Conn, *, active: bool | None = None, kind: str | None = None) -> list[ModelRecord]:
    """Models, newest first."""
    with conn.cursor(row_factory=class_row(ModelRecord)) as cur:
        return cur.execute(
            f"SELECT {_COLS} FROM models WHERE (%(a)s::bool IS NULL OR active = %(a)s)"  # noqa: S608
            " AND (%(k)s::text IS NULL OR kind = %(k)s) ORDER BY model_id DESC",
            {"a": active, "k": kind},
        ).fetchall()


def set_active(conn: Conn, *, model_id: int, active: bool) -> ModelRecord | None:
    """Activate or deactivate a model; None when there is no such model."""
    with conn.cursor(row_factory=class_row(ModelRecord)) as cur:
        return cur.execute(
            "UPDATE models SET active = %s, activated_at = CASE WHEN %s THEN now() ELSE activated_at END"  # noqa: S608
            f" WHERE model_id = %s RETURNING {_COLS}",
            (active, active, model_id),
        ).fetchone()


def set_metrics(conn: Conn, *, model_id: int, metrics: dict[str, Any]) -> None:
    """Store the latest evaluation summary with the model."""
    conn.execute("UPDATE models SET metrics = %s WHERE model_id = %s", (Jsonb(metrics), model_id))
