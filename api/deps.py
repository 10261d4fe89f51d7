"""Dependencies: the connection pool, the caller's API key and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from kipsense.settings import ApiSettings
from store import apikeys
from store.apikeys import ApiKey

_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_pool(request: Request) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = request.app.state.pool
    return pool


PoolDep = Annotated[ConnectionPool[psycopg.Connection[dict[str, Any]]], Depends(get_pool)]


def get_conn(pool: PoolDep) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A pooled connection; the request's work commits when the handler returns without error."""
    with pool.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.Connection[dict[str, Any]], Depends(get_conn)]


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def current_key(
    conn: ConnDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "API key required", headers={"WWW-Authenticate": "Bearer"})
    key = apikeys.verify(conn, token=token)
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return key


def require(*roles: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency admitting the given roles (and admin)."""
    allowed = {*roles, "admin"}

    def check(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if key.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role!r} may not use this route")
        return key

    return check


def site_scope(key: ApiKey) -> list[str] | None:
    """Sites a key may see: None for all; a field key sees only its own sites."""
    return key.sites if key.role == "field" else None


Reader = Annotated[ApiKey, Depends(require("operator", "researcher", "field"))]
Operator = Annotated[ApiKey, Depends(require("operator"))]
