"""Liveness of the API and its dependencies."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Request, Response, status

from api.deps import PoolDep
from api.schemas import HealthPublic
from store.db import ping

router = APIRouter(tags=["health"])


def _broker_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@router.get("/health", response_model=HealthPublic)
def health(request: Request, response: Response, pool: PoolDep) -> HealthPublic:
    """Database and broker reachability; 503 when either is down. No key needed."""
    try:
        with pool.connection(timeout=2.0) as conn:
            database = ping(conn)
    except Exception:  # any failure to reach the database is "down", never a 500
        database = False
    mqtt = request.app.state.mqtt
    broker = _broker_reachable(mqtt.host, mqtt.port)
    if not (database and broker):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="ok" if database and broker else "degraded", database=database, broker=broker)
