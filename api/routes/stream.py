"""The live feed of alert and incident events as server-sent events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from api.config import ApiLimits
from api.deps import LimitsDep, PoolDep, Reader, site_scope
from store import alert_stream
from store.alert_stream import StreamEvent

router = APIRouter(tags=["live"])

Pool = ConnectionPool[psycopg.Connection[dict[str, Any]]]


def format_event(event: StreamEvent) -> str:
    """One SSE message: the id to resume from, the topic as event name, the event as JSON."""
    data = asdict(event)
    data["at"] = event.at.isoformat()
    return f"id: {event.stream_id}\nevent: {event.topic}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _read(pool: Pool, after_id: int, sites: list[str] | None) -> list[StreamEvent]:
    with pool.connection() as conn:
        return alert_stream.after(conn, after_id=after_id, sites=sites)


def _start(pool: Pool, resume: int | None) -> int:
    if resume is not None:
        return resume
    with pool.connection() as conn:
        return alert_stream.last_id(conn)


async def _events(
    request: Request, pool: Pool, limits: ApiLimits, resume: int | None, sites: list[str] | None
) -> AsyncIterator[str]:
    last = await run_in_threadpool(_start, pool, resume)
    # The first message tells where the feed starts, so a client knows its resume point before any event.
    yield f"retry: 2000\nid: {last}\nevent: ready\ndata: {json.dumps({'stream_id': last})}\n\n"
    started = beat = time.monotonic()
    while time.monotonic() - started < limits.stream_max_s:
        if await request.is_disconnected():
            return
        events = await run_in_threadpool(_read, pool, last, sites)
        for event in events:
            last = event.stream_id
            yield format_event(event)
        if events:
            continue
        if time.monotonic() - beat > limits.stream_heartbeat_s:
            beat = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(limits.stream_poll_s)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
def stream(
    request: Request,
    pool: PoolDep,
    limits: LimitsDep,
    key: Reader,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this id (when no Last-Event-ID)")] = None,
) -> StreamingResponse:
    """Alert and incident events as they happen (text/event-stream); resume with `Last-Event-ID`."""
    resume = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _events(request, pool, limits, resume, site_scope(key)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
