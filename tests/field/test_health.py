"""Device health on the real database: offline and degraded alerts raised once, kept current, cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kipsense.provisioning import create_device
from kipsense.records import DeviceKind, DustReading, Record
from kipsense.settings import MqttSettings
from models.health import DEGRADED, OFFLINE, HealthPolicy, assess, check_devices
from store import alerts, devices, health, readings
from store.db import Conn, connect
from store.health import Traffic
from store.quarantine import QuarantineItem, add_many

POLICY = HealthPolicy(window=timedelta(minutes=10), min_offline_s=60.0)


def _traffic(**kw: object) -> Traffic:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base: dict[str, object] = {
        "device_id": "d",
        "site_id": "park",
        "kind": "dust",
        "expected_interval_s": 10.0,
        "firmware": "1.0",
        "created_at": now - timedelta(days=1),
        "last_seen": now - timedelta(seconds=5),
        "last_received": now - timedelta(seconds=5),
        "messages": 60,
    }
    return Traffic(**{**base, **kw})  # type: ignore[arg-type]


def test_assess_states() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert assess(_traffic(), now=now, policy=POLICY).state == "ok"
    silent = assess(_traffic(last_received=now - timedelta(seconds=61)), now=now, policy=POLICY)
    assert silent.state == "offline" and silent.silence_s == 61
    # Slow devices get a longer grace: six intervals.
    slow = _traffic(expected_interval_s=60.0, messages=10, last_received=now - timedelta(seconds=300))
    assert assess(slow, now=now, policy=POLICY).state == "ok"
    young = _traffic(created_at=now - timedelta(seconds=30), last_seen=None, last_received=None, messages=0)
    assert assess(young, now=now, policy=POLICY).state == "unknown"
    degraded = assess(
        _traffic(messages=20, battery=12.0, rssi=-111.0, clock_skew_s=-400.0, quarantined=9), now=now, policy=POLICY
    )
    assert degraded.state == "degraded"
    assert degraded.rate_ratio is not None and abs(degraded.rate_ratio - 20 / 60) < 1e-9
    assert [r.split()[0] for r in degraded.reasons] == ["rate", "battery", "RSSI", "clock", "9"]


def test_offline_and_degraded_alerts_follow_the_device(
    database_url: str, mqtt_settings: MqttSettings, uid: str
) -> None:
    with connect(database_url) as conn:
        quiet = create_device(conn, mqtt_settings, device_id=f"{uid}-quiet", kind=DeviceKind.DUST)
        weak = create_device(conn, mqtt_settings, device_id=f"{uid}-weak", kind=DeviceKind.DUST)
    start = datetime.now(UTC)
    with connect(database_url, autocommit=True) as conn:
        # Nobody has reported yet and both are new: unknown, no alert.
        check_devices(conn, now=start, policy=POLICY)
        assert {h.state for h in health.list_health(conn)} == {"unknown"}
        later = start + timedelta(minutes=5)
        _readings(conn, weak.device_id, later, battery=9.0, rssi=-80.0)
        check_devices(conn, now=later + timedelta(seconds=1), policy=POLICY)
        quiet_health = health.get(conn, device_id=quiet.device_id)
        weak_health = health.get(conn, device_id=weak.device_id)
        assert quiet_health is not None and quiet_health.state == "offline"
        assert weak_health is not None and weak_health.state == "degraded"
        assert any("battery 9" in r for r in weak_health.reasons)
        off = alerts.list_alerts(conn, device_id=quiet.device_id, type=OFFLINE)
        deg = alerts.list_alerts(conn, device_id=weak.device_id, type=DEGRADED)
        assert len(off) == 1 and off[0].severity == "major" and len(deg) == 1
        # Repeated checks keep the same alerts (no new occurrences), and the silence grows.
        check_devices(conn, now=later + timedelta(seconds=30), policy=POLICY)
        off = alerts.list_alerts(conn, device_id=quiet.device_id, type=OFFLINE)
        assert len(off) == 1 and off[0].occurrences == 1 and off[0].value is not None and off[0].value > 300
        # The quiet device comes back with good readings: its offline alert is cleared by the system.
        _readings(conn, quiet.device_id, later + timedelta(seconds=40), battery=90.0, rssi=-70.0)
        _readings(conn, weak.device_id, later + timedelta(seconds=40), battery=95.0, rssi=-70.0)
        check_devices(conn, now=later + timedelta(seconds=41), policy=POLICY)
        assert alerts.list_alerts(conn, device_id=quiet.device_id, type=OFFLINE)[0].status == "cleared"
        assert alerts.list_alerts(conn, device_id=weak.device_id, type=DEGRADED)[0].status == "cleared"
        # Quarantined messages count against a device.
        add_many(
            conn,
            [
                QuarantineItem(
                    received_at=later + timedelta(seconds=42),
                    topic=f"sensors/{weak.device_id}/json",
                    device_id=weak.device_id,
                    reason="bad_json",
                    detail="",
                    payload=b"{",
                )
                for _ in range(POLICY.max_quarantined + 1)
            ],
        )
        check_devices(conn, now=later + timedelta(seconds=43), policy=POLICY)
        weak_health = health.get(conn, device_id=weak.device_id)
        assert weak_health is not None and weak_health.quarantined == POLICY.max_quarantined + 1
        assert weak_health.state == "degraded"


def _readings(conn: Conn, device_id: str, at: datetime, *, battery: float, rssi: float) -> None:
    """Ten minutes of readings every 10 s ending at ``at``, received when they were taken."""
    for i in range(60):
        t = at - timedelta(seconds=10 * i)
        row = DustReading(device_id, t, pm10=20.0, battery=battery, rssi=rssi)
        readings.write_records(conn, [row], received_at=t + timedelta(seconds=1))
    devices.touch_seen(conn, device_ids=[device_id], last_times=[at], received=at)


def test_backfill_is_not_clock_skew(database_url: str, uid: str) -> None:
    """Back-filled history raises no clock alert, done or in progress; a clock that is really off still does."""
    now = datetime.now(UTC).replace(microsecond=0)
    back = now - timedelta(minutes=5)  # the devices came back after a day away and sent what they held
    day = [back - timedelta(seconds=60 * i) for i in range(1, 1441)]  # one reading a minute, newest first
    live = [back + timedelta(seconds=60 * i) for i in range(5)]  # then one a minute, sent when taken
    # Device clock error: "ahead" stamps readings 400 s late, "behind" 400 s early.
    offsets = {"done": 0.0, "behind": -400.0, "ahead": 400.0, "catching-up": 0.0, "loaded": 0.0}
    ids = {name: f"{uid}-{name}" for name in offsets}
    with connect(database_url, autocommit=True) as conn:
        for device_id in ids.values():
            devices.create(conn, device_id=device_id, kind=DeviceKind.DUST, expected_interval_s=60.0)

        def deliver(name: str, times: list[datetime], received_at: datetime) -> None:
            rows = [DustReading(ids[name], t + timedelta(seconds=offsets[name]), pm10=20.0) for t in times]
            readings.write_records(conn, rows, received_at=received_at)

        for name in ("done", "behind", "ahead"):
            # The held day arrives in batches of 100 readings within a few seconds (the MQTT back-fill), then
            # the live readings, each a second after it was taken.
            oldest_first = day[::-1]
            for k in range(0, len(oldest_first), 100):
                deliver(name, oldest_first[k : k + 100], back + timedelta(milliseconds=200 * k // 100))
            for t in live:
                deliver(name, [t], t + timedelta(seconds=1))
        # Still catching up when health looks: batches of the day, each ten minutes of it, every two seconds.
        for k in range(10):
            deliver("catching-up", day[::-1][10 * k : 10 * k + 10], now - timedelta(seconds=20 - 2 * k))
        # A history load (as `kipsense simulate --backfill` writes it): the whole day in one transaction, just now.
        history: list[Record] = [DustReading(ids["loaded"], t, pm10=20.0) for t in day]
        readings.write_records(conn, history, received_at=now - timedelta(seconds=1))
        devices.touch_seen(conn, device_ids=list(ids.values()), last_times=[now] * len(ids), received=now)

        check_devices(conn, now=now + timedelta(seconds=2), policy=POLICY)
        got = {h.device_id.removeprefix(f"{uid}-"): h for h in health.list_health(conn) if h.device_id in ids.values()}
        skews = {name: h.clock_skew_s for name, h in got.items()}
        assert skews == {"done": 1.0, "behind": 401.0, "ahead": -399.0, "catching-up": None, "loaded": None}
        states = {name: h.state for name, h in got.items()}
        assert states == {"done": "ok", "behind": "degraded", "ahead": "degraded", "catching-up": "ok", "loaded": "ok"}
        assert any("clock off by 401 s" in r for r in got["behind"].reasons)
        degraded = {a.device_id for a in alerts.list_alerts(conn, type=DEGRADED) if a.device_id in ids.values()}
        assert degraded == {ids["behind"], ids["ahead"]}
