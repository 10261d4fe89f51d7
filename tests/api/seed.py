"""Test data for the API: devices on two sites, readings, a met station, a cycler channel and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from kipsense import park
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading, Record
from store import alerts as store_alerts
from store import devices as store_devices
from store import readings as store_readings


@dataclass(frozen=True, slots=True)
class Seeded:
    now: datetime
    park_dust: str
    north_dust: str
    mobile: str
    met: str
    cycler: str
    park_alert: int
    north_alert: int


def seed(conn: psycopg.Connection[dict[str, object]], tag: str) -> Seeded:
    """Devices ``{tag}-...``; readings of the last hour; one open alert per site. Commits."""
    now = datetime.now(UTC).replace(microsecond=0)
    conn.execute("INSERT INTO sites (site_id, name) VALUES ('north', 'North yard') ON CONFLICT DO NOTHING")
    d = {
        "park_dust": f"{tag}-dust-p",
        "north_dust": f"{tag}-dust-n",
        "mobile": f"{tag}-mobile",
        "met": f"{tag}-met",
        "cycler": f"{tag}-cyc",
    }
    store_devices.create(
        conn, device_id=d["park_dust"], kind=DeviceKind.DUST, lat=park.to_lat(0.0), lon=park.to_lon(0.0), firmware="1.2"
    )
    store_devices.create(
        conn, device_id=d["north_dust"], kind=DeviceKind.DUST, site_id="north", lat=park.to_lat(500), lon=park.to_lon(0)
    )
    store_devices.create(conn, device_id=d["mobile"], kind=DeviceKind.DUST, mobile=True)
    store_devices.create(conn, device_id=d["met"], kind=DeviceKind.MET, lat=park.to_lat(40), lon=park.to_lon(-100))
    store_devices.create(conn, device_id=d["cycler"], kind=DeviceKind.CYCLER)
    times = [now - timedelta(seconds=10 * i) for i in range(360, 0, -1)]
    records: list[Record] = []
    for i, t in enumerate(times):
        records.append(DustReading(d["park_dust"], t, pm10=20.0 + i % 7, pm25=8.0, battery=3.9, rssi=-71.0))
        records.append(DustReading(d["north_dust"], t, pm10=60.0, pm25=20.0))
        records.append(
            DustReading(d["mobile"], t, pm10=30.0, lat=park.to_lat(i * 2.0), lon=park.to_lon(-i * 1.0), battery=3.7)
        )
        records.append(MetReading(d["met"], t, wind_speed=4.0, wind_dir=225.0))
    for i in range(600):  # three cycles of 200 samples: charge then discharge
        cycle, k = divmod(i, 200)
        charging = k < 100
        records.append(
            CyclerSample(
                d["cycler"],
                now - timedelta(hours=2) + timedelta(seconds=10 * i),
                test_time=10.0 * i,
                cycle_index=cycle + 1,
                step_index=1 if charging else 2,
                voltage=3.6 + (0.005 * k if charging else 0.5 - 0.005 * (k - 100)),
                current=1.0 if charging else -1.0,
                temperature=25.0 + 0.01 * k,
                charge_capacity=0.01 * min(k, 100),
                discharge_capacity=0.0098 * max(k - 100, 0),
            )
        )
    store_readings.write_records(conn, records, received_at=now)
    park_alert, _ = store_alerts.raise_alert(
        conn,
        device_id=d["park_dust"],
        site_id="park",
        type="pm10_limit",
        severity="warning",
        value=61.0,
        threshold=50.0,
        at=now - timedelta(minutes=30),
    )
    north_alert, _ = store_alerts.raise_alert(
        conn,
        device_id=d["north_dust"],
        site_id="north",
        type="pm10_limit",
        severity="major",
        value=72.0,
        threshold=50.0,
        at=now - timedelta(minutes=20),
    )
    conn.commit()
    return Seeded(now=now, park_alert=park_alert, north_alert=north_alert, **d)
