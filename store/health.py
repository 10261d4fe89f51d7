"""What device health is judged from (recent traffic per device) and the stored assessments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row, tuple_row
from psycopg.sql import SQL, Identifier

Conn = psycopg.Connection[Any]

#: Reading tables and the expression counting one "message" in each (process lines send one row per tag).
_TRAFFIC = {
    "dust_readings": "count(*)",
    "met_readings": "count(*)",
    "cycler_samples": "count(*)",
    "process_values": "count(DISTINCT time)",
}
#: How far a device clock may lag and still have its readings counted in the window.
_MAX_LAG = timedelta(days=1)
#: How much faster than the receive time a device's clock may seem to advance between two live deliveries.
_LIVE_SLACK = timedelta(seconds=60)


@dataclass(slots=True)
class Traffic:
    """One active device and what it sent within the window."""

    device_id: str
    site_id: str
    kind: str
    expected_interval_s: float
    firmware: str | None
    created_at: datetime
    last_seen: datetime | None
    last_received: datetime | None
    messages: int = 0
    battery: float | None = None
    rssi: float | None = None
    clock_skew_s: float | None = None
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class Health:
    device_id: str
    state: str
    checked_at: datetime
    silence_s: float | None
    rate_ratio: float | None
    battery: float | None
    rssi: float | None
    clock_skew_s: float | None
    quarantined: int
    reasons: list[str] = field(default_factory=list)


def traffic(conn: Conn, *, now: datetime, window: timedelta) -> list[Traffic]:
    """Every active device with its message count, latest battery/RSSI, clock skew and quarantine count.

    Clock skew is receive time minus device time (positive: the device clock is behind), judged on live
    traffic only. A delivery is what the device had stored by one receive time (``received_at``); its newest
    reading says where the device clock stood. A delivery is live when the device clock advanced no faster
    than the receive time since the device's previous delivery (within ``_LIVE_SLACK``): back-fill after an
    outage, a history load or a backlog drained after an ingest stop carries hours of device time in seconds
    of receive time, and says how late the readings came, not how wrong the clock is. The skew is the
    smallest lag of the live deliveries in the window (the minimum-delay estimate NTP uses: transport delay
    only adds to it). A clock that is behind makes every lag at least the offset, one that is ahead makes
    them negative; both still show. With no live delivery yet (a device still catching up, or sending only
    history) the skew is unknown, never the age of the history: a day of back-fill once read as a clock
    twelve hours off.
    """
    with conn.cursor(row_factory=class_row(Traffic)) as cur:
        out = {
            t.device_id: t
            for t in cur.execute(
                "SELECT device_id, site_id, kind, expected_interval_s, firmware, created_at, last_seen,"
                " last_received FROM devices WHERE status = 'active' ORDER BY device_id"
            ).fetchall()
        }
    since = now - window
    # Deliveries from one window earlier give the first delivery in the window its predecessor.
    params = {"since": since, "now": now, "oldest": since - _MAX_LAG, "before": since - window, "slack": _LIVE_SLACK}
    with conn.cursor(row_factory=tuple_row) as cur:
        for table, count in _TRAFFIC.items():
            extras = (
                ", (array_agg(battery ORDER BY time DESC) FILTER (WHERE battery IS NOT NULL))[1],"
                " (array_agg(rssi ORDER BY time DESC) FILTER (WHERE rssi IS NOT NULL))[1]"
                if table == "dust_readings"
                else ", NULL::float8, NULL::float8"
            )
            query = SQL(
                "WITH delivery AS ("  # noqa: S608 - the fragments are constants above
                "   SELECT device_id, received_at, max(time) AS newest FROM {table}"
                "   WHERE NOT time_estimated AND time > %(oldest)s AND received_at > %(before)s"
                "     AND received_at <= %(now)s GROUP BY device_id, received_at),"
                " paced AS ("
                "   SELECT device_id, received_at, newest,"
                "     newest - lag(newest) OVER w <= received_at - lag(received_at) OVER w + %(slack)s AS live"
                "   FROM delivery WINDOW w AS (PARTITION BY device_id ORDER BY received_at)),"
                " skew AS ("
                "   SELECT device_id, min(extract(epoch FROM received_at - newest)) AS skew FROM paced"
                "   WHERE live AND received_at > %(since)s GROUP BY device_id),"
                " stats AS ("
                "   SELECT device_id, " + count + extras + " FROM {table}"
                "   WHERE time > %(oldest)s AND received_at > %(since)s AND received_at <= %(now)s"
                "   GROUP BY device_id)"
                " SELECT stats.*, skew.skew FROM stats LEFT JOIN skew USING (device_id)"
            ).format(table=Identifier(table))
            for device_id, n, battery, rssi, skew in cur.execute(query, params).fetchall():
                t = out.get(device_id)
                if t is not None:
                    t.messages += int(n)
                    t.battery, t.rssi = battery, rssi
                    t.clock_skew_s = float(skew) if skew is not None else None
        for device_id, n in cur.execute(
            "SELECT device_id, count(*) FROM quarantine WHERE received_at > %(since)s AND received_at <= %(now)s"
            " AND device_id IS NOT NULL GROUP BY device_id",
            params,
        ).fetchall():
            if device_id in out:
                out[device_id].quarantined = int(n)
    return list(out.values())


def save(conn: Conn, rows: list[Health]) -> None:
    """Replace the stored assessment of each device in ``rows``."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO device_health (device_id, state, checked_at, silence_s, rate_ratio, battery, rssi,"
            " clock_skew_s, quarantined, reasons) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id) DO UPDATE SET state = EXCLUDED.state, checked_at = EXCLUDED.checked_at,"
            " silence_s = EXCLUDED.silence_s, rate_ratio = EXCLUDED.rate_ratio, battery = EXCLUDED.battery,"
            " rssi = EXCLUDED.rssi, clock_skew_s = EXCLUDED.clock_skew_s, quarantined = EXCLUDED.quarantined,"
            " reasons = EXCLUDED.reasons",
            [
                (
                    h.device_id,
                    h.state,
                    h.checked_at,
                    h.silence_s,
                    h.rate_ratio,
                    h.battery,
                    h.rssi,
                    h.clock_skew_s,
                    h.quarantined,
                    h.reasons,
                )
                for h in rows
            ],
        )


_COLS = "device_id, state, checked_at, silence_s, rate_ratio, battery, rssi, clock_skew_s, quarantined, reasons"


def get(conn: Conn, *, device_id: str) -> Health | None:
    with conn.cursor(row_factory=class_row(Health)) as cur:
        return cur.execute(f"SELECT {_COLS} FROM device_health WHERE device_id = %s", (device_id,)).fetchone()  # noqa: S608


def list_health(conn: Conn, *, sites: list[str] | None = None, state: str | None = None) -> list[Health]:
    """Stored assessments of active devices, optionally limited to some sites or one state."""
    with conn.cursor(row_factory=class_row(Health)) as cur:
        return cur.execute(
            "SELECT h.device_id, h.state, h.checked_at, h.silence_s, h.rate_ratio, h.battery, h.rssi,"
            " h.clock_skew_s, h.quarantined, h.reasons FROM device_health h JOIN devices d USING (device_id)"
            " WHERE d.status = 'active' AND (%(s)s::text[] IS NULL OR d.site_id = ANY(%(s)s))"
            " AND (%(st)s::text IS NULL OR h.state = %(st)s) ORDER BY h.device_id",
            {"s": sites, "st": state},
        ).fetchall()


def open_alert(conn: Conn, *, device_id: str, type: str) -> int | None:
    """The id of the device's open (not cleared) alert of ``type``."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            "SELECT alert_id FROM alerts WHERE device_id = %s AND type = %s AND status <> 'cleared'",
            (device_id, type),
        ).fetchone()
    return int(row[0]) if row else None
