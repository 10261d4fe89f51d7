"""Low-cost sensor behaviour: humidity over-reading only above the threshold, size ratios by source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from simulators.dust import DustNetwork, DustNetworkConfig, Episode, FaultSpec
from simulators.sensor import RH_THRESHOLD, SensorModel, rh_growth
from simulators.site import build_layout
from simulators.wind import Weather


def test_rh_growth_is_one_up_to_the_threshold_and_rises_above() -> None:
    rh = np.linspace(0.0, 100.0, 1001)
    g = rh_growth(rh, 0.04)
    assert np.all(g[rh <= RH_THRESHOLD] == 1.0)
    above = g[rh > RH_THRESHOLD]
    assert np.all(above > 1.0) and np.all(np.diff(above) >= 0.0) and above.max() < 2.0


def test_sensor_readings_are_biased_only_at_high_humidity() -> None:
    layout = build_layout(20, 1)
    model = SensorModel(layout, 0, 1, seed=0, step_ms=10_000)
    t = 1_717_459_200_000 + np.arange(6000, dtype=np.int64) * 10_000
    wx = Weather(0).state(t)
    ramp = np.linspace(40.0, 97.0, t.size)
    flat = type(wx)(
        wind_speed=wx.wind_speed,
        wind_dir=wx.wind_dir,
        temperature=wx.temperature,
        rh=ramp,
        background_pm10=np.full(t.size, 10.0),
        spread_factor=wx.spread_factor,
        local_hour=wx.local_hour,
        weekday=wx.weekday,
    )
    zero = np.zeros((t.size, len(layout.sources)))
    r = model.readings(t, flat, zero, zero, np.zeros((t.size, 0)), np.zeros((t.size, 0)))
    level = r.pm10.mean(axis=1)
    low, mid, high = level[ramp < 55.0].mean(), level[(ramp > 55.0) & (ramp <= 70.0)].mean(), level[ramp > 92.0].mean()
    assert abs(mid - low) < 0.05 * low
    assert high > 1.3 * mid


def test_coarse_source_dust_lowers_the_pm25_share() -> None:
    offset = 360
    cfg = DustNetworkConfig(
        n_sensors=24,
        seed=1,
        episodes=(Episode("stockpile-north", offset * 10.0, 600.0),),
        random_episodes_per_day=0.0,
        faults=FaultSpec.none(),
    )
    f = DustNetwork(cfg).generate(datetime(2024, 6, 4, 8, tzinfo=UTC), timedelta(seconds=10), offset + 60)
    hit = f.pm10[offset:].mean(axis=0) > 100.0
    ratio_episode = f.pm25[offset:, hit].sum() / f.pm10[offset:, hit].sum()
    ratio_background = f.pm25[:offset].sum() / f.pm10[:offset].sum()
    assert hit.sum() >= 2
    assert ratio_episode < 0.35 < 0.45 < ratio_background
