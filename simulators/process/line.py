"""The process line as a dynamic latent-variable model: AR(1) factors -> loadings -> tags, plus faults.

Every step is a whole-chunk array operation: factors are filtered with ``scipy.signal.lfilter`` whose
state is carried from chunk to chunk, so chunks concatenated equal one long run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from kipsense.records import TruthEvent
from simulators.cycler.config import OPEN_END
from simulators.process.config import ProcessConfig
from simulators.process.frame import ProcessFrame, datetime64_ms
from simulators.process.tags import FACTORS, LAGGED, TAGS

FloatArray = NDArray[np.float64]

_FACTOR_NAMES: Final = tuple(f.name for f in FACTORS)
_ALL_FACTORS: Final = _FACTOR_NAMES + tuple(name for name, _, _ in LAGGED)
_TAG_NAMES: Final = tuple(t.name for t in TAGS)


def loading_matrix() -> FloatArray:
    """(n_tags, n_factors + n_lagged) loadings in standardised units; each row's squared norm is < 1."""
    lmat = np.zeros((len(TAGS), len(_ALL_FACTORS)))
    for i, tag in enumerate(TAGS):
        for name, w in tag.loadings:
            lmat[i, _ALL_FACTORS.index(name)] = w
    norms = np.sqrt((lmat**2).sum(axis=1))
    return np.asarray(lmat / np.maximum(norms / 0.95, 1.0)[:, None], dtype=np.float64)


class _Run:
    def __init__(self, config: ProcessConfig, start: datetime) -> None:
        self.cfg = config
        self.start = start
        self.t0 = datetime64_ms(start)
        self.k = 0
        self.rng = np.random.default_rng(config.seed)
        dt = config.sample_interval_s
        self.a = np.exp(-dt / np.array([f.tau_s for f in FACTORS]))
        src = np.array([_FACTOR_NAMES.index(s) for _, s, _ in LAGGED])
        self.lag_src = src
        self.b = np.exp(-dt / np.array([tau for _, _, tau in LAGGED]))
        a_s = self.a[src]
        # Gain that keeps the lagged factors at unit variance.
        var = (1 - self.b) * (1 + a_s * self.b) / ((1 + self.b) * (1 - a_s * self.b))
        self.lag_gain = (1 - self.b) / np.sqrt(var)
        self.lmat = loading_matrix()
        self.noise_sd = np.sqrt(np.maximum(1.0 - (self.lmat**2).sum(axis=1), 0.0))
        self.mean = np.array([t.mean for t in TAGS])
        self.sd = np.array([t.sd for t in TAGS])
        # normal long-term changes draw from their own stream, so runs without them are unchanged
        self.rng_normal = np.random.default_rng([config.seed, 1])
        self.drift_sign = self.rng_normal.choice([-1.0, 1.0], size=len(TAGS))
        # Start the factors in their stationary distribution.
        z0 = self.rng.standard_normal(len(FACTORS))
        self.zi = (self.a * z0)[None, :]
        self.zi_lag = (self.b * z0[src])[None, :]
        self.truth = tuple(
            TruthEvent(
                config.device_id,
                f.kind,
                start + timedelta(seconds=f.start_s),
                OPEN_END if f.duration_s is None else start + timedelta(seconds=f.end_s),
                {"target": f.target, "magnitude": f.magnitude},
            )
            for f in config.faults
        )

    def advance(self, n: int) -> ProcessFrame:
        cfg, dt = self.cfg, self.cfg.sample_interval_s
        k_idx = np.arange(self.k, self.k + n)
        t_s = k_idx.astype(np.float64) * dt
        draws = self.rng.standard_normal((n, len(FACTORS) + len(TAGS)))
        e_f, e_x = draws[:, : len(FACTORS)], draws[:, len(FACTORS) :]

        z = np.empty((n, len(FACTORS)))
        for j in range(len(FACTORS)):  # a handful of factors, each filtered over the whole chunk
            gain = np.sqrt(1.0 - self.a[j] ** 2)
            z[:, j], self.zi[:, j] = lfilter([gain], [1.0, -self.a[j]], e_f[:, j], zi=self.zi[:, j])
        normal = cfg.normal
        if normal is not None:
            if normal.season_sd:
                thermal = _FACTOR_NAMES.index("thermal")
                z[:, thermal] += normal.season_sd * np.sin(2.0 * np.pi * t_s / normal.season_period_s)
            throughput = _FACTOR_NAMES.index("throughput")
            for since, magnitude in normal.setpoint_shifts:
                z[t_s >= since, throughput] += magnitude
        faults = [(f, (t_s >= f.start_s) & (t_s < f.end_s)) for f in cfg.faults]
        for f, act in faults:
            if f.target in _FACTOR_NAMES and f.kind in ("step", "drift"):
                j = _FACTOR_NAMES.index(f.target)
                z[act, j] += self._shape(f.kind, f.magnitude, t_s[act] - f.start_s)
        zl = np.empty((n, len(LAGGED)))
        for j, src in enumerate(self.lag_src):
            zl[:, j], self.zi_lag[:, j] = lfilter(
                [self.lag_gain[j]], [1.0, -self.b[j]], z[:, src], zi=self.zi_lag[:, j]
            )
        smooth = np.hstack([z, zl]) @ self.lmat.T
        noise = e_x * self.noise_sd
        x = smooth + noise
        for f, act in faults:
            if f.target not in _TAG_NAMES:
                continue
            c = _TAG_NAMES.index(f.target)
            if f.kind == "variance":
                x[act, c] *= f.magnitude
            elif f.kind == "stiction":
                # A stuck valve holds the flow; it only follows the demand (the smooth process part) in
                # jumps of one dead band, and the meter sees a tenth of its usual noise on a steady flow.
                x[act, c] = f.magnitude * np.round(smooth[act, c] / f.magnitude) + 0.1 * noise[act, c]
            else:
                x[act, c] += self._shape(f.kind, f.magnitude, t_s[act] - f.start_s)
        if normal is not None and normal.drift_sd_per_day:
            x += (normal.drift_sd_per_day * t_s / 86_400.0)[:, None] * self.drift_sign
        values = self.mean + self.sd * x
        if normal is not None and normal.resolution_sd:
            step = normal.resolution_sd * self.sd
            values = np.round(values / step) * step

        self.k += n
        dt_ms = round(dt * 1000.0)
        times = self.t0 + (k_idx * dt_ms).astype("timedelta64[ms]")
        if normal is not None and normal.jitter_s:
            jitter = self.rng_normal.uniform(-normal.jitter_s, normal.jitter_s, size=n)
            times = times + np.round(jitter * 1000.0).astype("timedelta64[ms]")
        t_first = self.start + timedelta(seconds=float(t_s[0]))
        t_end = self.start + timedelta(seconds=float(t_s[-1]) + dt)
        truth = tuple(e for e in self.truth if e.start < t_end and e.end > t_first)
        return ProcessFrame(cfg.device_id, _TAG_NAMES, times, values, truth)

    @staticmethod
    def _shape(kind: str, magnitude: float, since_s: FloatArray) -> FloatArray:
        if kind == "drift":
            return magnitude * since_s / 3600.0
        return np.full(since_s.shape, magnitude)


class ProcessLine:
    """A seeded precursor co-precipitation line with correlated, dynamic tags and injectable faults.

    Each call to :meth:`chunks` or :meth:`generate` starts a fresh run from the seed; chunks of one run,
    concatenated, equal ``generate`` of the same length.

    Example
    -------
    >>> from datetime import UTC, datetime
    >>> line = ProcessLine(ProcessConfig(seed=1))
    >>> frame = line.generate(datetime(2024, 1, 1, tzinfo=UTC), 360)
    >>> frame.values.shape == (360, len(line.tags))
    True
    """

    def __init__(self, config: ProcessConfig) -> None:
        self.config = config
        self.tags: tuple[str, ...] = _TAG_NAMES
        self.units: tuple[str, ...] = tuple(t.unit for t in TAGS)

    def chunks(self, start: datetime, chunk_steps: int) -> Iterator[ProcessFrame]:
        """Endless frames of ``chunk_steps`` samples from ``start`` (UTC)."""
        if chunk_steps < 1:
            raise ValueError("chunk_steps must be >= 1")
        run = _Run(self.config, start)
        while True:
            yield run.advance(chunk_steps)

    def generate(self, start: datetime, n_steps: int) -> ProcessFrame:
        """``n_steps`` samples of every tag from ``start`` (UTC) in one frame."""
        if n_steps < 1:
            raise ValueError("n_steps must be >= 1")
        return _Run(self.config, start).advance(n_steps)
