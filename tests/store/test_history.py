"""Bulk history reads: columns whitelisted, process tags pivoted, per-device watermarks and limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from kipsense.records import DeviceKind, ProcessValue
from store import devices as store_devices
from store import history
from store.db import connect
from tests.models import scoring_data as data


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        yield c


def test_dust_rows_as_arrays_and_after_watermarks(conn: Any) -> None:
    with conn.transaction():
        for d in ("h-a", "h-b"):
            store_devices.create(conn, device_id=d, kind=DeviceKind.DUST)
    pm10 = data.dust_series()
    data.write(conn, data.dust_readings("h-a", pm10, 0, 50) + data.dust_readings("h-b", pm10, 0, 20))
    h = history.read(
        conn,
        kind="dust",
        columns=["pm10", "rh"],
        device_ids=["h-a", "h-b"],
        start=data.T0,
        end=data.T0 + timedelta(hours=1),
    )
    assert len(h) == 70 and h.columns == ("pm10", "rh")
    np.testing.assert_array_equal(h.of("h-a").values[:, 0], pm10[:50])
    assert [len(p) for p in h.split()] == [50, 20]
    marks = {"h-a": data.T0 + timedelta(seconds=10 * 44), "h-b": data.T0 - timedelta(days=1)}
    after = history.read_after(conn, kind="dust", columns=["pm10"], watermarks=marks, limit_per_device=8)
    assert [(str(p.devices[0]), len(p)) for p in after] == [("h-a", 5), ("h-b", 8)]
    assert after[0].times[0] == (data.T0 + timedelta(seconds=450)).timestamp()


def test_process_tags_pivot_with_missing_values(conn: Any) -> None:
    with conn.transaction():
        store_devices.create(conn, device_id="h-line", kind=DeviceKind.PROCESS)
    t = data.T0
    rows = [
        ProcessValue("h-line", t, "a", 1.0),
        ProcessValue("h-line", t, "b", 2.0),
        ProcessValue("h-line", t + timedelta(seconds=1), "b", 4.0),
        ProcessValue("h-line", t + timedelta(seconds=1), "other", 9.0),
    ]
    data.write(conn, rows)
    h = history.read(conn, kind="process", columns=["b", "a"], device_ids=["h-line"], start=t, end=t + timedelta(1))
    np.testing.assert_array_equal(h.values, np.array([[2.0, 1.0], [4.0, np.nan]]))
    assert history.tags(conn, device_ids=["h-line"], start=t, end=t + timedelta(1)) == ["a", "b", "other"]
    after = history.read_after(conn, kind="process", columns=["a", "b"], watermarks={"h-line": t})
    assert len(after) == 1 and np.isnan(after[0].values[0, 0]) and after[0].values[0, 1] == 4.0


def test_columns_are_whitelisted() -> None:
    with pytest.raises(ValueError, match="not columns of dust"):
        history.check_columns("dust", ["pm10; DROP TABLE devices"])
    with pytest.raises(ValueError, match="unknown device kind"):
        history.check_columns("boat", ["x"])
    with pytest.raises(ValueError, match="distinct"):
        history.check_columns("dust", ["pm10", "pm10"])
