"""Builds the FastAPI application; ``kipsense api`` serves it with uvicorn."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.config import ApiLimits
from api.inputs import TextInputMiddleware, document_error_shapes, validation_error
from api.keycache import KeyCache
from api.live import EventHub
from api.ratelimit import FailedAuthLimiter
from api.routes import (
    alerts,
    cells,
    claims,
    cycles,
    devices,
    exceedance,
    export,
    field,
    health,
    incidents,
    metrics,
    notifications,
    page,
    park,
    sites,
    stream,
)
from api.routes import cell_life as cell_life_routes
from api.routes import conflicts as conflict_routes
from api.routes import models as model_routes
from api.routes import quarantine as quarantine_routes
from kipsense import __version__
from kipsense.settings import ApiSettings, DatabaseSettings, MqttSettings, NotifyLinkSettings


def create_app(
    *,
    settings: ApiSettings,
    database_url: str,
    mqtt: MqttSettings,
    limits: ApiLimits | None = None,
    notify_links: NotifyLinkSettings | None = None,
) -> FastAPI:
    """The application; the connection pool opens in the lifespan, so building the app touches nothing.

    ``limits`` default to ``KIPSENSE_API_...`` variables, read here (when the process builds its app).
    """
    limits = limits or ApiLimits()
    notify_links = notify_links or NotifyLinkSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            database_url,
            open=False,
            min_size=1,
            max_size=limits.db_pool_size,
            kwargs={"row_factory": dict_row, "application_name": "api"},
            check=ConnectionPool.check_connection,
        )
        pool.open(wait=False)
        app.state.pool = pool
        # made here, in the loop that serves the requests; the budgets add up to at most the pool (ApiLimits)
        app.state.db_slots = asyncio.Semaphore(limits.db_request_slots)
        app.state.auth_slots = asyncio.Semaphore(limits.db_auth_slots)
        app.state.suspect_lane = asyncio.Semaphore(1)
        app.state.export_slots = asyncio.Semaphore(limits.export_concurrency)
        hub = EventHub(
            database_url=database_url,
            poll_s=limits.stream_poll_s,
            queue_size=limits.stream_queue,
            max_subscribers=limits.stream_max_clients,
        )
        hub.start()
        app.state.events = hub
        try:
            yield
        finally:
            hub.stop()
            pool.close()

    app = FastAPI(
        title="KIP Sense",
        version=__version__,
        description="Sensor monitoring of the industrial park: alerts, devices and readings.",
        lifespan=lifespan,
        # refused with 413 before it is read, by its Content-Length or by counting a streamed body
        max_body_size=limits.max_body_bytes,
    )
    app.state.settings = settings
    app.state.mqtt = mqtt
    app.state.limits = limits
    app.state.notify_links = notify_links
    app.state.auth_limiter = FailedAuthLimiter(
        limit=limits.auth_failures, window_s=limits.auth_window_s, max_clients=limits.auth_clients
    )
    app.state.key_cache = KeyCache(ttl_s=limits.key_cache_s, max_keys=limits.key_cache_size)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"],
        )
    app.add_middleware(TextInputMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error)
    document_error_shapes(app)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    app.include_router(health.router)
    app.include_router(park.router)
    app.include_router(devices.router)
    app.include_router(cycles.router)
    app.include_router(cells.router)
    app.include_router(cell_life_routes.router)
    app.include_router(alerts.router)
    app.include_router(incidents.router)
    app.include_router(stream.router)
    app.include_router(export.router)
    app.include_router(field.router)
    app.include_router(sites.router)
    app.include_router(claims.router)
    app.include_router(exceedance.router)
    app.include_router(metrics.router)
    app.include_router(model_routes.router)
    app.include_router(quarantine_routes.router)
    app.include_router(conflict_routes.router)
    app.include_router(notifications.router)
    app.include_router(notifications.ack_router)
    return app


def server_options(settings: ApiSettings) -> dict[str, Any]:
    """uvicorn options every start of the API passes: forwarded headers are believed from configured proxies only.

    uvicorn otherwise trusts ``X-Forwarded-For`` from 127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``), so anything on
    the API's own machine could pose as any address, e.g. to spread its failed key guesses over many.
    """
    trusted = settings.trusted_proxies
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted)}


def freeze_startup_heap() -> None:
    """Keep the garbage collector off the objects of imports and app building, which live as long as the process.

    A full collection walked those ~200k objects every few dozen requests that make many rows (a readings
    chart), a ~100 ms pause each time; after ``gc.freeze`` a collection looks at request garbage only.
    """
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """The application of one ``kipsense api --workers N`` process, configured from ``KIPSENSE_...`` variables."""
    app = create_app(settings=ApiSettings(), database_url=DatabaseSettings().database_url, mqtt=MqttSettings())
    freeze_startup_heap()
    return app
