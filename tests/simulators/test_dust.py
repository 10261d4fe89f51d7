"""The dust network as a whole: determinism, chunking, episodes downwind only, background, truth alignment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray

from kipsense.records import is_valid_device_id
from simulators.dust import DustFrame, DustNetwork, DustNetworkConfig, Episode, FaultRate, FaultSpec
from simulators.frames import concat_frames

START = datetime(2024, 6, 4, 6, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
FIELDS = (
    "pm1",
    "pm25",
    "pm10",
    "temperature",
    "rh",
    "lat",
    "lon",
    "battery",
    "rssi",
    "present",
    "clock_offset_s",
    "duplicate",
    "backfill",
)


def rolling_mean(x: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    return np.asarray((c[window:] - c[:-window]) / window, dtype=np.float64)


def truth_keys(frame: DustFrame) -> set[tuple[str, str, datetime, datetime]]:
    return {(e.device_id, e.kind, e.start, e.end) for e in frame.truth}


def test_same_seed_same_stream_other_seed_differs() -> None:
    cfg = DustNetworkConfig(n_sensors=20, n_mobile=2, seed=7)
    a = DustNetwork(cfg).generate(START, STEP, 400)
    b = DustNetwork(cfg).generate(START, STEP, 400)
    c = DustNetwork(DustNetworkConfig(n_sensors=20, n_mobile=2, seed=8)).generate(START, STEP, 400)
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert truth_keys(a) == truth_keys(b)
    assert not np.array_equal(a.pm10, c.pm10)


@pytest.mark.parametrize("chunk_steps", [1, 37, 500])
def test_chunks_concatenate_to_generate(chunk_steps: int) -> None:
    cfg = DustNetworkConfig(
        n_sensors=12,
        n_mobile=2,
        n_met=2,
        seed=3,
        random_episodes_per_day=24.0,
        episodes=(Episode("haul-road", 600.0, 900.0),),
    )
    n = 360 if chunk_steps == 1 else 2600  # 2600 crosses generate()'s internal block boundary
    net = DustNetwork(cfg)
    whole = net.generate(START, STEP, n)
    stream = net.chunks(START, STEP, chunk_steps)
    parts = [next(stream) for _ in range(-(-n // chunk_steps))]
    joined = concat_frames(parts)
    for name in FIELDS:
        assert np.array_equal(getattr(whole, name), getattr(joined, name)[:n]), name
    for name in ("wind_speed", "wind_dir", "temperature", "rh"):
        assert np.array_equal(getattr(whole.met, name), getattr(joined.met, name)[:n]), name
    assert np.array_equal(whole.times, joined.times[:n])
    end = START + n * STEP
    assert truth_keys(whole) == {k for k in truth_keys(joined) if k[2] < end}
    assert any(e.kind == "dust_episode" for e in whole.truth)


def test_frame_shape_times_and_ids() -> None:
    cfg = DustNetworkConfig(n_sensors=30, n_mobile=3, n_met=2, seed=1)
    f = DustNetwork(cfg).generate(START, STEP, 50)
    assert f.pm10.shape == (50, 33) and f.met.wind_dir.shape == (50, 2)
    assert f.times.dtype == np.dtype("datetime64[ms]")
    assert np.all(np.diff(f.times.astype(np.int64)) == 10_000)
    assert f.times[0].astype(np.int64) == int(START.timestamp() * 1000)
    assert len(set(f.device_ids)) == 33 and all(is_valid_device_id(d) for d in f.device_ids + f.met.device_ids)
    assert f.device_ids[-1] == "dust-m03" and f.met.device_ids == ("met-01", "met-02")
    assert np.all(f.pm1 <= f.pm25) and np.all(f.pm25 <= f.pm10) and np.all(f.pm1 >= 0.0)


def test_rejects_naive_start_and_sub_millisecond_step() -> None:
    net = DustNetwork(DustNetworkConfig(n_sensors=3))
    with pytest.raises(ValueError, match="timezone"):
        net.generate(datetime(2024, 1, 1), STEP, 10)
    with pytest.raises(ValueError, match="millisecond"):
        net.generate(START, timedelta(microseconds=1500), 10)
    with pytest.raises(ValueError, match="chunk_steps"):
        net.chunks(START, STEP, 0)
    with pytest.raises(ValueError, match="not in the layout"):
        DustNetwork(DustNetworkConfig(n_sensors=3, episodes=(Episode("nowhere", 0.0, 60.0),))).generate(START, STEP, 5)


@pytest.mark.parametrize("source", ["stockpile-north", "stack-roaster", "harbour-loading", "rail-unloading"])
@pytest.mark.parametrize("seed", [0, 5])
def test_explicit_episode_reaches_two_sensors_within_a_minute(source: str, seed: int) -> None:
    offset_steps = 360
    cfg = DustNetworkConfig(
        n_sensors=24,
        seed=seed,
        episodes=(Episode(source, offset_steps * 10.0, 900.0),),
        random_episodes_per_day=0.0,
        faults=FaultSpec.none(),
    )
    f = DustNetwork(cfg).generate(START, STEP, offset_steps + 120)
    first_minute = f.pm10[offset_steps : offset_steps + 6].mean(axis=0)
    assert np.sort(first_minute)[-2] > 75.0
    assert rolling_mean(f.pm10[:offset_steps], 6).max() < 50.0
    affected = {e.device_id for e in f.truth if e.params["source"] == source}
    hit = {f.device_ids[i] for i in np.flatnonzero(first_minute > 75.0)}
    assert len(affected) >= 2 and hit <= affected


def test_episode_is_seen_downwind_and_not_upwind() -> None:
    offset = 720
    cfg = DustNetworkConfig(
        n_sensors=40,
        seed=2,
        episodes=(Episode("stockpile-south", offset * 10.0, 1200.0),),
        random_episodes_per_day=0.0,
        faults=FaultSpec.none(),
    )
    net = DustNetwork(cfg)
    f = net.generate(START, STEP, offset + 120)
    src = net.layout.source("stockpile-south")
    xy = net.layout.sensor_xy()
    bearing_to = np.degrees(np.arctan2(xy[:, 0] - src.x, xy[:, 1] - src.y)) % 360.0
    wind_from = float(np.degrees(np.angle(np.exp(1j * np.radians(f.met.wind_dir[offset:, 0])).mean())) % 360.0)
    off_axis = np.abs((bearing_to - (wind_from + 180.0) + 180.0) % 360.0 - 180.0)
    during = f.pm10[offset:].mean(axis=0)
    before = f.pm10[offset - 120 : offset].mean(axis=0)
    upwind = off_axis > 90.0
    affected = [f.device_ids.index(e.device_id) for e in f.truth]
    peaks = {e.device_id: e.params["peak_pm10_added"] for e in f.truth}
    strong = [f.device_ids.index(d) for d, peak in peaks.items() if isinstance(peak, float) and peak > 100.0]
    assert upwind.sum() >= 5 and len(strong) >= 2
    assert np.all(off_axis[affected] < 30.0)
    assert np.all(during[affected] > before[affected] + 5.0)
    assert np.all(during[strong] > 4.0 * before[strong])
    assert np.all(during[upwind] < 1.5 * before[upwind] + 5.0)


def test_background_stays_below_limit_without_episodes_or_faults() -> None:
    cfg = DustNetworkConfig(n_sensors=40, n_mobile=2, seed=11, random_episodes_per_day=0.0, faults=FaultSpec.none())
    f = DustNetwork(cfg).generate(datetime(2024, 1, 8, tzinfo=UTC), STEP, 2 * 8640)
    assert rolling_mean(f.pm10, 6).max() < 50.0
    assert 5.0 <= float(np.median(f.pm10)) <= 25.0
    assert f.truth == ()


def test_episode_truth_intervals_line_up_with_data() -> None:
    cfg = DustNetworkConfig(
        n_sensors=30,
        seed=4,
        random_episodes_per_day=12.0,
        faults=FaultSpec.none(),
        episodes=(Episode("haul-road", 3600.0, 600.0),),
    )
    f = DustNetwork(cfg).generate(START, STEP, 8640)
    t = f.times.astype(np.int64)
    events = [e for e in f.truth if e.kind == "dust_episode"]
    assert len({e.params["episode_id"] for e in events}) >= 3
    for e in events:
        i0, i1 = np.searchsorted(t, [e.start.timestamp() * 1000, e.end.timestamp() * 1000])
        n = f.device_ids.index(e.device_id)
        inside = f.pm10[i0:i1, n]
        assert inside.size >= 1
        assert inside.max() >= 20.0
        assert inside.max() > 2.0 * np.median(f.pm10[:, n])


def test_mobile_sensors_move_and_report_gps() -> None:
    f = DustNetwork(DustNetworkConfig(n_sensors=5, n_mobile=2, seed=0)).generate(START, STEP, 360)
    assert np.all(np.ptp(f.lat[:, 5:], axis=0) > 1e-3)
    assert np.all(np.ptp(f.lat[:, :5], axis=0) == 0.0)


def test_truth_params_are_json_and_backfill_only_where_silent() -> None:
    cfg = DustNetworkConfig(
        n_sensors=20,
        n_mobile=1,
        seed=6,
        random_episodes_per_day=12.0,
        faults=FaultSpec().with_rate("offline", FaultRate(6.0, (300.0, 1800.0))),
    )
    f = DustNetwork(cfg).generate(START, STEP, 4000)
    kinds = {e.kind for e in f.truth}
    assert {"dust_episode", "offline", "dropout"} <= kinds
    for e in f.truth:
        assert json.loads(json.dumps(e.params)) == e.params
        assert e.start < e.end and e.device_id in f.device_ids
    assert f.backfill is not None and f.backfill.any()
    assert not np.any(f.backfill & f.present)
