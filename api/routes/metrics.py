"""Prometheus exposition of platform-wide figures (alerts, quarantine, device lag, latest PM, rollup lag)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import PoolDep, require
from kipsense.metrics import platform_registry
from store.apikeys import ApiKey

router = APIRouter(tags=["metrics"])

Scraper = Annotated[ApiKey, Depends(require("operator"))]


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(pool: PoolDep, key: Scraper) -> Response:
    """Prometheus text format; Prometheus scrapes it with an operator key (``credentials_file``)."""

    def connection() -> AbstractContextManager[psycopg.Connection[Any]]:
        return pool.connection(timeout=2.0)

    return Response(generate_latest(platform_registry(connection)), media_type=CONTENT_TYPE_LATEST)
