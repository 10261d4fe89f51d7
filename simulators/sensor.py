"""What low-cost PM sensors and met stations report, given the true air: gain, noise, humidity over-reading.

Optical PM sensors (Plantower, Sensirion class) read high when RH exceeds about 70 % because particles take
up water; below that threshold the RH effect is zero. The growth factor follows the water-activity form
``g(rh) = rh / (100 - rh)`` measured from its value at the threshold.

Random numbers come from one generator per quantity, each drawing a fixed number of values per time step,
and the slow multiplicative noise is an AR(1) filter whose state is carried: cutting a stream into chunks
gives the same numbers as generating it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from simulators.plume import unit_plume
from simulators.site import SiteLayout, Zone, to_latlon
from simulators.wind import WeatherState

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

RH_THRESHOLD = 70.0
_RH_CAP = 95.0
_ZONE_BACKGROUND = {Zone.FENCE: 1.0, Zone.INNER: 1.1, Zone.RESIDENTIAL: 1.15}
_STREAMS = ("ar", "white", "env", "gps", "rssi", "met")


def rh_growth(rh: FloatArray, k: FloatArray | float) -> FloatArray:
    """Over-reading factor of an optical PM sensor at relative humidity ``rh`` (%): 1 at or below 70 %."""
    h = np.clip(rh, 0.0, _RH_CAP)
    g = h / (100.0 - h) - RH_THRESHOLD / (100.0 - RH_THRESHOLD)
    return np.asarray(1.0 + k * np.maximum(g, 0.0), dtype=np.float64)


@dataclass
class Readings:
    """Mutable per-chunk arrays; dust arrays are (T, N), met arrays (T, M)."""

    pm1: FloatArray
    pm25: FloatArray
    pm10: FloatArray
    temperature: FloatArray
    rh: FloatArray
    lat: FloatArray
    lon: FloatArray
    battery: FloatArray
    rssi: FloatArray
    present: BoolArray
    clock_offset_s: FloatArray
    duplicate: BoolArray
    backfill: BoolArray
    met_wind_speed: FloatArray
    met_wind_dir: FloatArray
    met_temperature: FloatArray
    met_rh: FloatArray


class SensorModel:
    """Per-device constants and carried noise state of the network's sensors."""

    def __init__(self, layout: SiteLayout, n_mobile: int, n_met: int, seed: int, step_ms: int) -> None:
        seq = np.random.SeedSequence([seed, 0x5E75])
        const_rng = np.random.default_rng(seq.spawn(1)[0])
        self._rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seq.spawn(len(_STREAMS)), strict=True)}
        self.layout = layout
        self.n_fixed = len(layout.sensors)
        self.n = self.n_fixed + n_mobile
        self.n_met = n_met
        n = self.n
        self.gain = const_rng.uniform(0.88, 1.12, n)
        self.rh_k = const_rng.uniform(0.03, 0.05, n)
        self.temp_offset = const_rng.uniform(0.5, 2.0, n)
        self.rssi_mean = const_rng.uniform(-95.0, -62.0, n)
        zones = [_ZONE_BACKGROUND[s.zone] for s in layout.sensors] + [1.05] * n_mobile
        self.zone_factor = np.asarray(zones, dtype=np.float64) * const_rng.uniform(0.9, 1.1, n)
        self.met_speed_factor = const_rng.uniform(0.92, 1.08, n_met)
        self.src_xy = layout.source_xy()
        self.src_height = np.array([s.height for s in layout.sources])
        self.src_spread = np.array([s.spread for s in layout.sources])
        self.ratio25 = np.array([s.pm25_ratio for s in layout.sources])
        self.ratio1 = np.array([s.pm1_ratio for s in layout.sources])
        # Slow multiplicative noise: AR(1) with a 5-minute time constant, started in its stationary state.
        self._phi = float(np.exp(-step_ms / 300_000.0))
        self._ar_sigma = 0.06
        self._zi = self._phi * self._ar_sigma * const_rng.standard_normal((1, n))

    def receptor_plume(self, wx: WeatherState, mob_x: FloatArray, mob_y: FloatArray) -> FloatArray:
        """Unit plume (T, S, N) at the fixed sensors then the mobile ones."""
        fixed = self.layout.sensor_xy()
        args = (self.src_xy, self.src_height, self.src_spread)
        met = (wx.wind_dir, wx.wind_speed, wx.spread_factor)
        u_fixed = unit_plume(*args, fixed[:, 0], fixed[:, 1], *met)
        u_fixed = np.broadcast_to(u_fixed, (wx.wind_dir.size, *u_fixed.shape[1:]))
        if mob_x.shape[1] == 0:
            return np.asarray(u_fixed)
        return np.concatenate([u_fixed, unit_plume(*args, mob_x, mob_y, *met)], axis=2)

    def readings(
        self,
        t_ms: NDArray[np.int64],
        wx: WeatherState,
        base_q: FloatArray,
        epi_q: FloatArray,
        mob_x: FloatArray,
        mob_y: FloatArray,
    ) -> Readings:
        """Readings of all devices for one chunk; advances the carried noise state."""
        t, n = t_ms.size, self.n
        unit = self.receptor_plume(wx, mob_x, mob_y)
        q = base_q + epi_q
        # Sums over sources by plain reduction (not BLAS), bit-identical for any chunk length.
        pm10_src = (q[:, :, None] * unit).sum(axis=1)
        pm25_src = ((q * self.ratio25)[:, :, None] * unit).sum(axis=1)
        pm1_src = ((q * self.ratio1)[:, :, None] * unit).sum(axis=1)
        bg = wx.background_pm10[:, None] * self.zone_factor[None, :]

        ar, self._zi = lfilter(
            [np.sqrt(1.0 - self._phi**2) * self._ar_sigma],
            [1.0, -self._phi],
            self._rng["ar"].standard_normal((t, n)),
            axis=0,
            zi=self._zi,
        )
        factor = self.gain * rh_growth(wx.rh[:, None], self.rh_k) * np.exp(ar)
        white = self._rng["white"].standard_normal((t, 3 * n)).reshape(t, n, 3)
        pm10 = np.maximum((bg + pm10_src) * factor * (1.0 + 0.04 * white[..., 0]) + 0.5 * white[..., 1], 0.0)
        pm25 = np.minimum((0.55 * bg + pm25_src) * factor * (1.0 + 0.04 * white[..., 2]), pm10)
        pm1 = np.minimum((0.4 * bg + pm1_src) * factor, pm25)

        env = self._rng["env"].standard_normal((t, 2 * n)).reshape(t, n, 2)
        temperature = wx.temperature[:, None] + self.temp_offset + 0.15 * env[..., 0]
        rh = np.clip(wx.rh[:, None] - 3.0 * self.temp_offset + 1.0 * env[..., 1], 0.0, 100.0)

        xy = self.layout.sensor_xy()
        gps = self._rng["gps"].standard_normal((t, 2 * mob_x.shape[1])).reshape(t, -1, 2) * 3.0
        x = np.concatenate([np.broadcast_to(xy[:, 0], (t, self.n_fixed)), mob_x + gps[..., 0]], axis=1)
        y = np.concatenate([np.broadcast_to(xy[:, 1], (t, self.n_fixed)), mob_y + gps[..., 1]], axis=1)
        lat, lon = to_latlon(x, y)

        solar = np.cos(2 * np.pi * (wx.local_hour - 15.0) / 24.0)[:, None]
        battery = np.concatenate(
            [np.broadcast_to(82.0 + 12.0 * solar, (t, self.n_fixed)), np.full((t, n - self.n_fixed), 96.0)], axis=1
        )
        rssi = np.round(self.rssi_mean + 2.0 * self._rng["rssi"].standard_normal((t, n)))

        m = self.n_met
        met = self._rng["met"].standard_normal((t, 4 * m)).reshape(t, m, 4)
        return Readings(
            pm1=np.round(pm1, 1),
            pm25=np.round(pm25, 1),
            pm10=np.round(pm10, 1),
            temperature=np.round(temperature, 2),
            rh=np.round(rh, 1),
            lat=lat,
            lon=lon,
            battery=np.round(battery, 1),
            rssi=rssi,
            present=np.ones((t, n), dtype=np.bool_),
            clock_offset_s=np.zeros((t, n)),
            duplicate=np.zeros((t, n), dtype=np.bool_),
            backfill=np.zeros((t, n), dtype=np.bool_),
            met_wind_speed=np.maximum(wx.wind_speed[:, None] * self.met_speed_factor + 0.2 * met[..., 0], 0.0),
            met_wind_dir=(wx.wind_dir[:, None] + 4.0 * met[..., 1]) % 360.0,
            met_temperature=wx.temperature[:, None] + 0.1 * met[..., 2],
            met_rh=np.clip(wx.rh[:, None] + 1.0 * met[..., 3], 0.0, 100.0),
        )
