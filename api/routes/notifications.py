"""Notification routes, contacts, on-call groups and the delivery log; the acknowledgement page of a message link."""

from __future__ import annotations

import html
from dataclasses import asdict
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import Field, field_validator

from api.deps import Admin, ConnDep, Operator
from api.inputs import Instant, RequestBody
from kipsense.notify_text import t
from kipsense.settings import NotifyLinkSettings
from kipsense.signing import LinkError, verify_ack
from store import alerts as store_alerts
from store import notifications as store
from store.alerts import AlertStateError

router = APIRouter(prefix="/notifications", tags=["notifications"])
ack_router = APIRouter(prefix="/notify", include_in_schema=False)

Severity = Literal["info", "warning", "major", "critical"]
Kind = Literal["dust", "met", "cycler", "process"]
Language = Literal["fi", "sv", "en"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Ids = Annotated[list[Annotated[int, Field(ge=1, le=2**62)]], Field(max_length=100)]
Texts = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)]


class RouteFields(RequestBody):
    """Which alerts a route matches, whom it notifies and when; empty match lists match everything."""

    position: int | None = Field(default=None, ge=0, le=1_000_000)
    enabled: bool | None = None
    match_sites: Texts | None = None
    match_types: Texts | None = None
    min_severity: Severity | None = None
    match_kinds: list[Kind] | None = Field(default=None, max_length=4)
    match_tags: Texts | None = None
    contact_ids: Ids | None = None
    group_ids: Ids | None = None
    escalation_group_ids: Ids | None = None
    active_days: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, max_length=7)
    active_from: time | None = None
    active_until: time | None = None
    quiet_from: time | None = None
    quiet_until: time | None = None
    quiet_bypass_critical: bool | None = None
    group_window_s: float | None = Field(default=None, ge=0, le=7 * 86_400)
    repeat_every_s: float | None = Field(default=None, ge=60, le=7 * 86_400)
    stop_after: bool | None = None

    @field_validator("active_from", "active_until", "quiet_from", "quiet_until")
    @classmethod
    def _wall_clock(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("must be a wall-clock time (Europe/Helsinki) without an offset")
        return value

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RouteCreate(RouteFields):
    name: Name


class ContactCreate(RequestBody):
    name: Name
    language: Language = "fi"
    phone: Annotated[str, Field(max_length=40)] | None = None
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    webhook_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None
    apprise_urls: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=20, default_factory=list)]


class GroupCreate(RequestBody):
    name: Name
    member_ids: Annotated[Ids, Field(default_factory=list)]
    rotation_start: Instant | None = None
    rotation_hours: float = Field(default=168.0, gt=0, le=24 * 366)


def _route_or_404(route: store.Route | None, route_id: int) -> dict[str, Any]:
    if route is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no route {route_id}")
    return asdict(route)


def _conflict(exc: psycopg.Error) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, f"refused by the database: {type(exc).__name__}")


@router.get("/routes")
def list_routes(conn: ConnDep, key: Operator) -> list[dict[str, Any]]:
    """Routing rules in the order they are tried."""
    return [asdict(r) for r in store.list_routes(conn)]


@router.post("/routes", status_code=status.HTTP_201_CREATED)
def create_route(conn: ConnDep, key: Admin, body: RouteCreate) -> dict[str, Any]:
    """Add a routing rule."""
    try:
        return asdict(store.create_route(conn, **body.values()))
    except psycopg.errors.IntegrityError as exc:
        raise _conflict(exc) from exc


@router.patch("/routes/{route_id}")
def update_route(
    conn: ConnDep, key: Admin, route_id: Annotated[int, Path(ge=1, le=2**62)], body: RouteFields
) -> dict[str, Any]:
    """Change a routing rule (only the fields given)."""
    try:
        return _route_or_404(store.update_route(conn, route_id=route_id, **body.values()), route_id)
    except psycopg.errors.IntegrityError as exc:
        raise _conflict(exc) from exc


@router.delete("/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_route(conn: ConnDep, key: Admin, route_id: Annotated[int, Path(ge=1, le=2**62)]) -> None:
    """Remove a routing rule."""
    if not store.delete_route(conn, route_id=route_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no route {route_id}")


@router.get("/contacts")
def list_contacts(conn: ConnDep, key: Operator) -> list[dict[str, Any]]:
    """People (and endpoints) notifications reach."""
    return [asdict(c) for c in store.list_contacts(conn)]


@router.post("/contacts", status_code=status.HTTP_201_CREATED)
def create_contact(conn: ConnDep, key: Admin, body: ContactCreate) -> dict[str, Any]:
    """Add a contact."""
    try:
        return asdict(store.create_contact(conn, **body.model_dump()))
    except psycopg.errors.IntegrityError as exc:
        raise _conflict(exc) from exc


class ContactUpdate(RequestBody):
    language: Language | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    webhook_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None
    apprise_urls: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=20)] | None = None
    active: bool | None = None


@router.patch("/contacts/{contact_id}")
def update_contact(
    conn: ConnDep, key: Admin, contact_id: Annotated[int, Path(ge=1, le=2**62)], body: ContactUpdate
) -> dict[str, Any]:
    """Change a contact (only the fields given); `active: false` stops notifying them."""
    contact = store.update_contact(conn, contact_id=contact_id, **body.model_dump(exclude_none=True))
    if contact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact {contact_id}")
    return asdict(contact)


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_contact(conn: ConnDep, key: Admin, contact_id: Annotated[int, Path(ge=1, le=2**62)]) -> None:
    """Remove a contact, their group memberships and their delivery log."""
    if not store.delete_contact(conn, contact_id=contact_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact {contact_id}")


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(conn: ConnDep, key: Admin, group_id: Annotated[int, Path(ge=1, le=2**62)]) -> None:
    """Remove an on-call group (routes naming it then skip it)."""
    if not store.delete_group(conn, group_id=group_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no group {group_id}")


@router.get("/groups")
def list_groups(conn: ConnDep, key: Operator) -> list[dict[str, Any]]:
    """On-call groups with their rotation."""
    return [asdict(g) for g in store.list_groups(conn)]


@router.post("/groups", status_code=status.HTTP_201_CREATED)
def create_group(conn: ConnDep, key: Admin, body: GroupCreate) -> dict[str, Any]:
    """Add an on-call group; members take turns in the order given."""
    try:
        return asdict(store.create_group(conn, **body.model_dump()))
    except psycopg.errors.IntegrityError as exc:
        raise _conflict(exc) from exc


@router.get("/oncall")
def oncall(conn: ConnDep, key: Operator, at: Instant | None = None) -> list[dict[str, Any]]:
    """Who is on duty in each group now (or at `at`, UTC unless it has an offset), since when, and the next handover."""
    when = datetime.now(UTC) if at is None else at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    contacts = {c.contact_id: c.name for c in store.list_contacts(conn)}
    out = []
    for group in store.list_groups(conn):
        duty = store.on_call(group, at=when)
        out.append(
            {
                **asdict(duty),
                "contact_name": contacts.get(duty.contact_id) if duty.contact_id else None,
                "next_contact_name": contacts.get(duty.next_contact_id) if duty.next_contact_id else None,
            }
        )
    return out


@router.get("/messages")
def list_messages(
    conn: ConnDep,
    key: Operator,
    status_: Annotated[Literal["pending", "sending", "sent", "failed"] | None, Query(alias="status")] = None,
    alert_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The delivery log: each message with its status, attempts and last error, newest first."""
    return [asdict(m) for m in store.list_messages(conn, status=status_, alert_id=alert_id, limit=limit)]


@router.get("/stats")
def delivery_stats(conn: ConnDep, key: Operator) -> dict[str, Any]:
    """Messages pending, sent and failed; alert -> delivery latency (p50, p99) of sent messages."""
    return asdict(store.stats(conn))


# -- acknowledgement from a message ----------------------------------------------------------------------------
_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main class="ack"><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _page(lang: str, title: str, text: str, form: str = "", code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(lang=lang, title=html.escape(title), text=html.escape(text), form=form),
        status_code=code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _links(request: Request) -> NotifyLinkSettings:
    links: NotifyLinkSettings = request.app.state.notify_links
    return links


def _check(conn: ConnDep, request: Request, token: str) -> tuple[store_alerts.Alert, store.Contact] | HTMLResponse:
    """The alert and contact a link names, or the page that says why the link is refused."""
    links = _links(request)
    if links.link_key is None:
        return _page("en", "KIP Sense", "Acknowledgement links are not configured on this server.", code=503)
    try:
        claim = verify_ack(links.link_key.get_secret_value().encode(), token, now=datetime.now(UTC))
    except LinkError as exc:
        return _page("en", t("ack.title", "en"), t("ack.invalid", "en", reason=exc.reason), code=403)
    contacts = store.list_contacts(conn, ids=[claim.contact_id])
    alert = store_alerts.get(conn, alert_id=claim.alert_id)
    if not contacts or alert is None:
        return _page("en", t("ack.title", "en"), t("ack.invalid", "en", reason="unknown"), code=404)
    return alert, contacts[0]


def _who(contact: store.Contact) -> str:
    return f"{contact.name} ({contact.phone})" if contact.phone else contact.name


@ack_router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(conn: ConnDep, request: Request, token: Annotated[str, Path(max_length=200)]) -> HTMLResponse:
    """The confirmation page a message links to. Fetching it changes nothing (mail scanners fetch links)."""
    checked = _check(conn, request, token)
    if isinstance(checked, HTMLResponse):
        return checked
    alert, contact = checked
    lang = contact.language
    if alert.status != "active":
        return _page(
            lang,
            t("ack.title", lang),
            t("ack.already", lang, alert=alert.alert_id, status=t(f"status.{alert.status}", lang)),
        )
    text = t("ack.confirm", lang, alert=alert.alert_id, type=alert.type, device=alert.device_id, who=_who(contact))
    form = (
        f'<form method="post" action="/notify/ack/{html.escape(token)}">'
        f'<button type="submit">{html.escape(t("ack.button", lang))}</button></form>'
    )
    return _page(lang, t("ack.title", lang), text, form)


@ack_router.post("/ack/{token}", response_class=HTMLResponse)
def ack_confirm(conn: ConnDep, request: Request, token: Annotated[str, Path(max_length=200)]) -> HTMLResponse:
    """Acknowledge the linked alert, and the other active alerts of the messages that carried it to this contact."""
    checked = _check(conn, request, token)
    if isinstance(checked, HTMLResponse):
        return checked
    alert, contact = checked
    lang = contact.language
    who = _who(contact)
    grouped = {
        alert_id
        for message in store.list_messages(conn, alert_id=alert.alert_id, limit=100)
        if message.contact_id == contact.contact_id
        for alert_id in message.alert_ids
    }
    done = 0
    for alert_id in sorted(grouped | {alert.alert_id}):
        try:
            if store_alerts.acknowledge(conn, alert_id=alert_id, user=who, comment="from a notification link"):
                done += 1
        except AlertStateError:
            continue  # already acknowledged or cleared (by someone else, or an earlier click)
    if done == 0:
        current = store_alerts.get(conn, alert_id=alert.alert_id)
        state = current.status if current else "gone"
        return _page(
            lang, t("ack.title", lang), t("ack.already", lang, alert=alert.alert_id, status=t(f"status.{state}", lang))
        )
    return _page(lang, t("ack.title", lang), t("ack.done", lang, alert=alert.alert_id, who=who))
