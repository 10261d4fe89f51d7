"""Input every route shares: text that the database can store, ids that fit a bigint, times that fit a calendar.

PostgreSQL refuses NUL characters in text, a string with a lone surrogate cannot be encoded as UTF-8, an id
past 2**63 - 1 is not a bigint, and a time like ``0001-01-01T00:00:00+14:00`` has no UTC equivalent in
Python. Each of these used to reach a query or a date computation and end as a 500. Here they are refused
at the edge with a 422 in FastAPI's validation-error shape, naming where the bad value was:

- :class:`TextInputMiddleware` checks the path and the query string of every request (so no route can
  forget), before routing;
- :class:`RequestBody` is the base of every JSON request body and checks every string in it, keys too;
- :data:`Instant` bounds a time to 1900-2200 UTC (no sensor data lies outside it, and a day's or a year's
  arithmetic around it cannot overflow); :data:`MAX_ID` bounds ids and cursors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_ID = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (None when it can)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it has a lone surrogate)"
    return None


def _bytes_problem(raw: bytes) -> str | None:
    if b"\x00" in raw:
        return "must not contain NUL characters"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "must be valid UTF-8 text"
    return None


def _url_problems(scope: Scope) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    reason = _bytes_problem(unquote_to_bytes(raw_path)) or text_problem(scope["path"])
    if reason:
        problems.append({"type": "value_error", "loc": ["path"], "msg": f"the path {reason}"})
    query: bytes = scope.get("query_string", b"")
    for pair in query.split(b"&") if query else ():
        name, _, value = pair.replace(b"+", b" ").partition(b"=")
        name_bytes = unquote_to_bytes(name)
        shown = name_bytes.decode("utf-8", "replace").replace("\x00", "\\x00")
        reason = _bytes_problem(name_bytes) or _bytes_problem(unquote_to_bytes(value))
        if reason:
            problems.append({"type": "value_error", "loc": ["query", shown], "msg": f"the parameter {reason}"})
    return problems


class TextInputMiddleware:
    """Refuse (422) a request whose path or query string holds a NUL or bytes that are not UTF-8."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problems = _url_problems(scope)
            if problems:
                await JSONResponse({"detail": problems}, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _check_tree(value: Any, where: str) -> None:
    if isinstance(value, str):
        reason = text_problem(value)
        if reason:
            raise ValueError(f"text at {where or 'the top'} {reason}")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_tree(k, f"{where}.{k!s}" if where else str(k))
            _check_tree(v, f"{where}.{k!s}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_tree(v, f"{where}[{i}]")


class RequestBody(BaseModel):
    """Base of every JSON request body: no string anywhere in it may hold a NUL or a lone surrogate."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        _check_tree(data, "")
        return data


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with the echoed input made encodable (a lone surrogate would fail the response itself)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _printable(jsonable_encoder(errors))}, status_code=422)


def document_error_shapes(app: FastAPI) -> None:
    """Say in the OpenAPI schema that a 422's ``detail`` is FastAPI's list of errors or one message.

    Checks across parameters and the domain's own refusals (an id the broker cannot take) answer with one
    message; the schema said only the list, so a client generated from it could not read those answers.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        detail = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError", {}).get("properties", {})
        if fresh and "detail" in detail:
            detail["detail"] = {"anyOf": [detail["detail"], {"type": "string"}], "title": "Detail"}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def invalid(where: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in the documented shape for a check across parameters (e.g. start before end)."""
    return RequestValidationError([{"type": "value_error", "loc": list(where), "msg": message}])


def _in_range(value: datetime) -> datetime:
    earliest, latest = EARLIEST, LATEST
    if value.tzinfo is None:
        earliest, latest = earliest.replace(tzinfo=None), latest.replace(tzinfo=None)
    # the year test first: converting 0001-01-01T00:00+14:00 to UTC would itself overflow
    if not earliest.year - 1 <= value.year <= latest.year or not earliest <= value < latest:
        raise ValueError(f"times must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC")
    return value


#: A time the API accepts: 1900-01-01 <= t < 2200-01-01 (UTC when it has a zone).
Instant = Annotated[datetime, AfterValidator(_in_range)]
