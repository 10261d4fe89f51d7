"""Dependencies: the connection pool, the caller's API key, role checks and failed-auth throttling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from api.config import ApiLimits
from api.keycache import KeyCache
from api.ratelimit import FailedAuthLimiter
from kipsense.settings import ApiSettings
from store import apikeys
from store.apikeys import ApiKey

_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_pool(request: Request) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = request.app.state.pool
    return pool


PoolDep = Annotated[ConnectionPool[psycopg.Connection[dict[str, Any]]], Depends(get_pool)]


async def db_slot(request: Request) -> AsyncIterator[None]:
    """Wait, in the event loop, for one of the request slots that never outnumber the pool's connections.

    Handlers run on a bounded thread pool: if every thread blocked in the pool waiting for a connection, the
    requests holding connections could get no thread to finish on. Waiting here costs no thread.
    """
    slots: asyncio.Semaphore = request.app.state.db_slots
    async with slots:
        yield


def get_conn(pool: PoolDep, _slot: Annotated[None, Depends(db_slot)]) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A pooled connection; the request's work commits when the handler returns without error."""
    with pool.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.Connection[dict[str, Any]], Depends(get_conn)]


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_limits(request: Request) -> ApiLimits:
    limits: ApiLimits = request.app.state.limits
    return limits


LimitsDep = Annotated[ApiLimits, Depends(get_limits)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_key(
    request: Request,
    conn: ConnDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The caller's key: from the key cache when it was verified moments ago, else looked up on a worker thread."""
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise _unauthorized("API key required")
    limiter: FailedAuthLimiter = request.app.state.auth_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.retry_after(client)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed authentication attempts",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    cache: KeyCache = request.app.state.key_cache
    key = cache.get(token)
    if key is None:
        key = await run_in_threadpool(apikeys.verify, conn, token=token)
        if key is None:
            limiter.failed(client)
            raise _unauthorized("invalid API key")
        cache.put(token, key)
    return key


class RoleCheck:
    """A dependency admitting the given roles (and admin); ``roles`` tells which, for docs and tests.

    Dependencies without I/O are ``async`` so they run in the event loop, not on a worker thread.
    """

    def __init__(self, *roles: str) -> None:
        unknown = set(roles) - set(apikeys.ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        self.roles = frozenset({*roles, "admin"})

    async def __call__(self, key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if key.role not in self.roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role!r} may not use this route")
        return key


def require(*roles: str) -> RoleCheck:
    """A dependency admitting the given roles (and admin): ``Annotated[ApiKey, Depends(require("field"))]``."""
    return RoleCheck(*roles)


def site_scope(key: ApiKey) -> list[str] | None:
    """Sites a key may see: None for all; a field key sees only its own sites."""
    return key.sites if key.role == "field" else None


Reader = Annotated[ApiKey, Depends(require("operator", "researcher", "field"))]
Operator = Annotated[ApiKey, Depends(require("operator"))]
Researcher = Annotated[ApiKey, Depends(require("researcher"))]
Analyst = Annotated[ApiKey, Depends(require("operator", "researcher"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]
