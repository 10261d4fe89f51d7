"""Builds the FastAPI application; ``kipsense api`` serves it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.routes import alerts, devices, health
from api.routes import claims, field, sites
from kipsense import __version__
from kipsense.settings import ApiSettings, MqttSettings


def create_app(*, settings: ApiSettings, database_url: str, mqtt: MqttSettings) -> FastAPI:
    """The application; the connection pool opens in the lifespan, so building the app touches nothing."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            database_url,
            open=False,
            min_size=1,
            max_size=16,
            kwargs={"row_factory": dict_row, "application_name": "api"},
            check=ConnectionPool.check_connection,
        )
        pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="KIP Sense",
        version=__version__,
        description="Sensor monitoring of the industrial park: alerts, devices and readings.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.mqtt = mqtt
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"],
        )
    app.include_router(health.router)
    app.include_router(devices.router)
    app.include_router(alerts.router)
    app.include_router(field.router)
    app.include_router(sites.router)
    app.include_router(claims.router)
    return app
