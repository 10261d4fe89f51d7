"""Device health: silence against the expected rate, message rate, battery, RSSI, clock skew, quarantine.

``assess`` judges one device from its recent traffic (a pure function); ``check_devices`` is the housekeeping
task that judges every active device, stores the result and keeps two alerts per device in step with it:
``device_offline`` (major) while it is silent and ``device_degraded`` (warning) while it reports badly. Both are
raised once and kept current while the condition lasts, and cleared by the system when it ends.

Clock skew is judged on live traffic: ``store.health.traffic`` measures it only on deliveries whose device
time advanced in step with the receive time, so history a device back-fills after an outage (hours of readings
arriving within seconds) does not make its clock look wrong; while a device is still catching up its skew is
unknown and raises nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from store import alerts as store_alerts
from store import health as store_health
from store.health import Health, Traffic

OFFLINE = "device_offline"
DEGRADED = "device_degraded"


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Limits of a healthy device."""

    #: Offline after this many expected intervals without a message, and never sooner than ``min_offline_s``.
    offline_intervals: float = 6.0
    min_offline_s: float = 120.0
    #: Window for rate, skew and quarantine counts.
    window: timedelta = timedelta(minutes=15)
    min_rate_ratio: float = 0.5
    min_battery: float = 20.0  # percent
    min_rssi: float = -105.0  # dBm
    max_clock_skew_s: float = 120.0
    max_quarantined: int = 5


def offline_after_s(expected_interval_s: float, policy: HealthPolicy) -> float:
    return max(policy.offline_intervals * expected_interval_s, policy.min_offline_s)


def assess(t: Traffic, *, now: datetime, policy: HealthPolicy) -> Health:
    """The health of one device from what it sent."""
    reasons: list[str] = []
    limit = offline_after_s(t.expected_interval_s, policy)
    # A device that never reported has been silent since it was registered.
    silence = (now - (t.last_received or t.created_at)).total_seconds()
    # A device is judged over the part of the window it has existed for.
    observed_s = min(policy.window.total_seconds(), max((now - t.created_at).total_seconds(), 0.0))
    expected = observed_s / t.expected_interval_s
    rate = t.messages / expected if expected >= 1 else None
    state = "ok"
    if t.last_received is None:
        state = "offline" if silence > limit else "unknown"
        reasons.append("never reported")
    elif silence > limit:
        state = "offline"
        reasons.append(f"silent for {silence:.0f} s (expected a message every {t.expected_interval_s:g} s)")
    else:
        if rate is not None and rate < policy.min_rate_ratio:
            reasons.append(f"rate {rate:.0%} of expected")
        if t.battery is not None and t.battery < policy.min_battery:
            reasons.append(f"battery {t.battery:.0f} %")
        if t.rssi is not None and t.rssi < policy.min_rssi:
            reasons.append(f"RSSI {t.rssi:.0f} dBm")
        if t.clock_skew_s is not None and abs(t.clock_skew_s) > policy.max_clock_skew_s:
            reasons.append(f"clock off by {t.clock_skew_s:.0f} s")
        if t.quarantined > policy.max_quarantined:
            reasons.append(f"{t.quarantined} messages quarantined")
        state = "degraded" if reasons else "ok"
    return Health(t.device_id, state, now, silence, rate, t.battery, t.rssi, t.clock_skew_s, t.quarantined, reasons)


def _sync_alert(
    conn: psycopg.Connection[Any],
    t: Traffic,
    h: Health,
    *,
    type: str,
    active: bool,
    severity: str,
    value: float | None,
    threshold: float | None,
) -> bool:
    """Raise, refresh or clear one health alert; True when an alert was raised or cleared."""
    open_id = store_health.open_alert(conn, device_id=t.device_id, type=type)
    if active and open_id is None:
        store_alerts.raise_alert(
            conn,
            device_id=t.device_id,
            site_id=t.site_id,
            type=type,
            severity=severity,
            value=value,
            threshold=threshold,
            at=h.checked_at,
            details={"reasons": h.reasons, "firmware": t.firmware},
        )
        return True
    if active and open_id is not None and value is not None:
        store_alerts.update_open(conn, device_id=t.device_id, type=type, value=value, at=h.checked_at)
    if not active and open_id is not None:
        store_alerts.clear(conn, alert_id=open_id, user="system", comment=f"device is {h.state} again")
        return True
    return False


def check_devices(conn: psycopg.Connection[Any], *, now: datetime, policy: HealthPolicy | None = None, **_: Any) -> int:
    """Assess every active device, store the results and sync the alerts; returns alerts raised or cleared."""
    policy = policy or HealthPolicy()
    changed = 0
    with conn.transaction():
        rows = store_health.traffic(conn, now=now, window=policy.window)
        results = [assess(t, now=now, policy=policy) for t in rows]
        store_health.save(conn, results)
        for t, h in zip(rows, results, strict=True):
            changed += _sync_alert(
                conn,
                t,
                h,
                type=OFFLINE,
                active=h.state == "offline",
                severity="major",
                value=h.silence_s,
                threshold=offline_after_s(t.expected_interval_s, policy),
            )
            if h.state != "offline":  # while offline the reporting quality is unknown: keep the last verdict
                changed += _sync_alert(
                    conn,
                    t,
                    h,
                    type=DEGRADED,
                    active=h.state == "degraded",
                    severity="warning",
                    value=float(len(h.reasons)),
                    threshold=None,
                )
    return changed
