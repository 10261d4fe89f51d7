"""The live feed of alert and incident events as server-sent events, resumable with ``Last-Event-ID``.

A stream holds no database connection and no request slot while it is open: the caller is authenticated,
the starting point and any backlog are read on a connection taken for that moment, and new events come from
the process's single listener (:mod:`api.live`). Subscribing before reading the backlog, and skipping ids
already sent, makes the hand-over from backlog to live events complete and free of repeats.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from api.config import ApiLimits
from api.deps import LimitsDep, Reader, run_db, site_scope
from api.inputs import MAX_ID
from api.live import EventHub, format_event
from store import alert_stream
from store.alert_stream import StreamEvent

router = APIRouter(tags=["live"])

#: Events read from the database per round trip while catching up.
PAGE = 500


def _page(conn: alert_stream.Conn, *, after_id: int, sites: list[str] | None) -> list[StreamEvent]:
    return alert_stream.after(conn, after_id=after_id, sites=sites, limit=PAGE)


async def _backlog(request: Request, after_id: int, sites: list[str] | None) -> AsyncIterator[StreamEvent]:
    """Stored events after ``after_id``, page by page, each page on a connection held only for its query."""
    while True:
        page = await run_db(request, partial(_page, after_id=after_id, sites=sites))
        for event in page:
            yield event
        if len(page) < PAGE:
            return
        after_id = page[-1].stream_id


async def _events(
    request: Request, hub: EventHub, limits: ApiLimits, resume: int | None, sites: list[str] | None
) -> AsyncIterator[str]:
    sub = hub.subscribe(sites)  # before the backlog is read, so nothing falls between the two
    if sub is None:  # the last place was taken since the route looked; the client retries
        return
    try:
        last = resume if resume is not None else await run_db(request, alert_stream.last_id)
        # The first message tells where the feed starts, so a client knows its resume point before any event.
        yield f"retry: 2000\nid: {last}\nevent: ready\ndata: {json.dumps({'stream_id': last})}\n\n"
        started = beat = time.monotonic()
        catch_up = resume is not None
        while (left := limits.stream_max_s - (time.monotonic() - started)) > 0:
            sub.wake.clear()
            if catch_up or sub.lagged:
                sub.lagged = catch_up = False
                async for event in _backlog(request, last, sites):
                    last = event.stream_id
                    yield format_event(event)
            # everything waiting goes out as one write; the backlog may already have sent some of it
            texts = []
            while not sub.queue.empty():
                delivery = sub.queue.get_nowait()
                if delivery.stream_id > last:
                    last = delivery.stream_id
                    texts.append(delivery.text)
            if texts:
                yield "".join(texts)
            if not sub.queue.empty() or sub.lagged:
                continue
            try:
                await asyncio.wait_for(sub.wake.wait(), timeout=min(left, limits.stream_heartbeat_s))
            except TimeoutError:
                if time.monotonic() - beat >= limits.stream_heartbeat_s:
                    beat = time.monotonic()
                    yield ": keep-alive\n\n"
    finally:
        hub.unsubscribe(sub)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "server-sent events"},
        503: {"description": "this process serves as many streams as it may; retry later"},
    },
)
async def stream(
    request: Request,
    limits: LimitsDep,
    key: Reader,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="resume after this id (when no Last-Event-ID)")
    ] = None,
) -> StreamingResponse:
    """Alert and incident events as they happen (text/event-stream); resume with `Last-Event-ID`."""
    resume = last_event_id if last_event_id is not None else after
    hub: EventHub = request.app.state.events
    sites = site_scope(key)
    if hub.full():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "too many open streams; retry later", headers={"Retry-After": "5"}
        )
    return StreamingResponse(
        _events(request, hub, limits, resume, sites),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
