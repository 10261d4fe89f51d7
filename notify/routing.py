"""Which routes an alert event matches, who they reach, and when (working hours, quiet hours).

Pure functions over the store's records; times of day are Europe/Helsinki wall-clock times.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from notify.messages import TZ
from store.alerts import SEVERITIES
from store.notifications import Group, OutboxItem, Route, on_call


def _within(t: time, start: time, end: time) -> bool:
    """``start <= t < end``, across midnight when ``end <= start`` (22:00-07:00)."""
    if start < end:
        return start <= t < end
    return t >= start or t < end


def matches(route: Route, item: OutboxItem, *, now: datetime) -> bool:
    """Does the route apply to this alert event now? Empty match lists match everything."""
    if not route.enabled:
        return False
    if route.match_sites and item.site_id not in route.match_sites:
        return False
    if route.match_types and item.type not in route.match_types:
        return False
    if SEVERITIES.index(item.severity) < SEVERITIES.index(route.min_severity):
        return False
    if route.match_kinds and item.device_kind not in route.match_kinds:
        return False
    if route.match_tags and not set(route.match_tags) & set(item.tags):
        return False
    local = now.astimezone(TZ)
    if local.isoweekday() not in route.active_days:
        return False
    return not (
        route.active_from is not None
        and route.active_until is not None
        and not _within(local.time(), route.active_from, route.active_until)
    )


def quiet_until(route: Route, *, severity: str, now: datetime) -> datetime | None:
    """The end of the route's quiet hours when ``now`` falls in them (delivery waits until then), else None."""
    if route.quiet_from is None or route.quiet_until is None:
        return None
    if route.quiet_bypass_critical and severity == "critical":
        return None
    local = now.astimezone(TZ)
    if not _within(local.time(), route.quiet_from, route.quiet_until):
        return None
    end = datetime.combine(local.date(), route.quiet_until, tzinfo=TZ)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), route.quiet_until, tzinfo=TZ)
    return end


def recipients(route: Route, item: OutboxItem, groups: dict[int, Group], *, now: datetime) -> list[int]:
    """Contact ids: the route's contacts and the on-duty member of its groups; an escalation step k notifies
    the on-duty member of the route's k-th escalation group instead (none when the route has no such step).
    """
    if item.kind == "escalated":
        level = int(item.data.get("level", 0))
        if not 1 <= level <= len(route.escalation_group_ids):
            return []
        group_ids = [route.escalation_group_ids[level - 1]]
        contact_ids: list[int] = []
    else:
        group_ids = list(route.group_ids)
        contact_ids = list(route.contact_ids)
    for group_id in group_ids:
        group = groups.get(group_id)
        if group is not None:
            duty = on_call(group, at=now).contact_id
            if duty is not None:
                contact_ids.append(duty)
    return list(dict.fromkeys(contact_ids))


def group_key(item: OutboxItem) -> str:
    """Alerts of one site and type in a route's window share a message: one plume seen by 30 sensors is one
    incident and one message. (The incident id is assigned minutes later, so it cannot be the key.)"""
    key = f"{item.site_id}/{item.type}"
    if item.kind == "escalated":
        key += f"/escalation-{int(item.data.get('level', 0))}"
    return key
