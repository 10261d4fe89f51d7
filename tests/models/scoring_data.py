"""Stored data with known faults for the scorer tests, written straight to the database (no broker)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from kipsense.records import CyclerSample, DustReading, ProcessValue, Record
from store import readings
from store.db import Conn

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
STEP_S = 10.0
N = 720  # two hours
SPIKE_AT = 300
STUCK = (400, 460)  # ten minutes flat
EPISODE = (560, 640)


def dust_series(seed: int = 0) -> np.ndarray:
    """PM10 with a spike, a stuck stretch and a high-level stretch at known indices."""
    rng = np.random.default_rng(seed)
    pm10 = np.round(20.0 + 3.0 * rng.standard_normal(N), 1)
    pm10[SPIKE_AT] *= 10.0
    pm10[STUCK[0] : STUCK[1]] = 17.3
    pm10[EPISODE[0] : EPISODE[1]] += 180.0
    return pm10


def dust_readings(device_id: str, pm10: np.ndarray, lo: int = 0, hi: int = N) -> list[DustReading]:
    return [
        DustReading(
            device_id=device_id,
            time=T0 + timedelta(seconds=STEP_S * i),
            pm10=float(pm10[i]),
            pm25=float(pm10[i]) * 0.5,
            rh=55.0,
        )
        for i in range(lo, hi)
    ]


def write(conn: Conn, records: Sequence[Record]) -> None:
    with conn.transaction():
        readings.write_records(conn, records, received_at=datetime.now(UTC))


def cycler_samples(device_id: str, n: int = 200, reset_at: int = 150) -> list[CyclerSample]:
    """A channel whose counters restart at ``reset_at``."""
    out = []
    for i in range(n):
        k = i if i < reset_at else i - reset_at
        out.append(
            CyclerSample(
                device_id=device_id,
                time=T0 + timedelta(seconds=30.0 * i),
                test_time=30.0 * k,
                cycle_index=1 + k // 50,
                step_index=1 + (k % 50) // 25,
                current=1.0,
                voltage=3.7,
                temperature=25.0,
                charge_capacity=0.01 * (k % 50),
                discharge_capacity=0.0,
            )
        )
    return out


def process_values(device_id: str, X: np.ndarray, tags: list[str], start: datetime) -> list[ProcessValue]:
    return [
        ProcessValue(device_id=device_id, time=start + timedelta(seconds=60.0 * i), tag=tag, value=float(X[i, j]))
        for i in range(X.shape[0])
        for j, tag in enumerate(tags)
    ]
