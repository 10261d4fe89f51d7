"""Dependencies: the connection pool, the caller's API key, role checks and failed-auth throttling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Annotated, Any, TypeVar

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

T = TypeVar("T")


async def run_db(request: Request, work: Callable[[psycopg.Connection[dict[str, Any]]], T]) -> T:
    """Run ``work`` on a pooled connection inside a request slot, then give both back at once (committed).

    For long-lived responses (streams, exports): their dependencies would otherwise keep the connection and
    the slot until the last byte is sent.
    """
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = request.app.state.pool
    slots: asyncio.Semaphore = request.app.state.db_slots

    def run() -> T:
        with pool.connection() as conn:
            return work(conn)

    async with slots:
        return await run_in_threadpool(run)


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


def _verify(pool: ConnectionPool[psycopg.Connection[dict[str, Any]]], token: str) -> ApiKey | None:
    with pool.connection() as conn:  # committed and returned at once: nothing stays idle in a transaction
        return apikeys.verify(conn, token=token)


async def _lookup(request: Request, token: str, *, suspect: bool) -> ApiKey | None:
    """Look a key up on a worker thread inside the lookup budget of the pool.

    Lookups for a client already over its failure limit queue behind each other on one lane, so a guesser
    occupies at most one of the lookup slots and valid keys from other clients keep getting through.
    """
    state = request.app.state
    async with AsyncExitStack() as stack:
        if suspect:
            await stack.enter_async_context(state.suspect_lane)
        await stack.enter_async_context(state.auth_slots)
        return await run_in_threadpool(_verify, state.pool, token)


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (a forwarded address only from a configured proxy)."""
    return request.client.host if request.client else "unknown"


async def current_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The caller's key: from the key cache when it was verified moments ago, else looked up.

    A valid key is always accepted, whatever other keys sent from the same address did: only failed
    attempts are counted and refused (429 past the limit), so one client behind a shared proxy cannot lock
    the others out. The lookup takes a connection for that moment only, never for the whole request.
    """
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise _unauthorized("API key required")
    cache: KeyCache = request.app.state.key_cache
    key = cache.get(token)
    if key is not None:
        return key
    limiter: FailedAuthLimiter = request.app.state.auth_limiter
    client = client_address(request)
    blocked = limiter.retry_after(client) > 0  # already had its share of failures in this window
    key = await _lookup(request, token, suspect=blocked)
    if key is None:
        limiter.failed(client)
        if blocked:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many failed authentication attempts",
                headers={"Retry-After": str(int(limiter.retry_after(client)) + 1)},
            )
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
