"""Binary COPY of imported samples: every value (NULL for NaN, text, exact microseconds) comes back as written,
and a sample at a time the channel already has is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from store import cell_samples, cells
from store.db import connect

T0_US = int(datetime(2021, 5, 11, 15, 40, 24, tzinfo=UTC).timestamp() * 1e6)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        cells.ensure_archive_channel(c, device_id="copy-ch", name="archive")
        yield c


def _columns(n: int, start_us: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    temperature = rng.normal(25, 1, n)
    temperature[::3] = np.nan
    return {
        "time": start_us + np.arange(n, dtype=np.int64) * 1_000_001,
        "test_time": np.arange(n) * 1.000001,
        "cycle_index": np.repeat(np.arange(1, 4, dtype=np.int32), -(-n // 3))[:n],
        "step_index": np.arange(n, dtype=np.int32) // 5 + 1,
        "step_type": np.array(["rest", "charge", "discharge", "pause", "charge"] * (n // 5 + 1), dtype=object)[:n],
        "voltage": rng.uniform(2.5, 4.2, n),
        "current": rng.normal(0, 1, n),
        "temperature": temperature,
        "charge_capacity": np.linspace(0, 1, n),
        "discharge_capacity": np.zeros(n),
        "charge_energy": np.full(n, np.nan),
        "discharge_energy": np.linspace(0, 2, n),
        "internal_resistance": np.where(np.arange(n) % 7 == 0, 0.021, np.nan),
    }


def test_round_trip(conn: Any) -> None:
    cols = _columns(1000, T0_US)
    with conn.transaction():
        assert cell_samples.copy_samples(conn, device_id="copy-ch", columns=cols, time_estimated=True, chunk_rows=300)
    rows = conn.execute(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint AS us, test_time, cycle_index, step_index, step_type,"
        " voltage, temperature, charge_energy, internal_resistance, time_estimated FROM cycler_samples"
        " WHERE device_id = 'copy-ch' ORDER BY time"
    ).fetchall()
    assert len(rows) == 1000
    np.testing.assert_array_equal([r["us"] for r in rows], cols["time"])
    np.testing.assert_array_equal([r["test_time"] for r in rows], cols["test_time"])
    np.testing.assert_array_equal([r["cycle_index"] for r in rows], cols["cycle_index"])
    np.testing.assert_array_equal([r["step_index"] for r in rows], cols["step_index"])
    assert [r["step_type"] for r in rows] == list(cols["step_type"])
    np.testing.assert_array_equal([r["voltage"] for r in rows], cols["voltage"])
    temps = np.array([np.nan if r["temperature"] is None else r["temperature"] for r in rows])
    np.testing.assert_array_equal(temps, cols["temperature"])  # NaN went in as NULL
    assert all(r["charge_energy"] is None for r in rows) and all(r["time_estimated"] for r in rows)
    assert sum(r["internal_resistance"] is not None for r in rows) == 143


def test_overlap_is_refused(conn: Any) -> None:
    cols = _columns(10, T0_US + 10**12)
    with conn.transaction():
        cell_samples.copy_samples(conn, device_id="copy-ch", columns=cols, time_estimated=False)
    before = conn.execute("SELECT count(*) AS n FROM cycler_samples").fetchone()["n"]
    with pytest.raises(cells.RegistryError, match="already has samples"), conn.transaction():
        cell_samples.copy_samples(conn, device_id="copy-ch", columns=_columns(20, T0_US + 10**12), time_estimated=False)
    assert conn.execute("SELECT count(*) AS n FROM cycler_samples").fetchone()["n"] == before
