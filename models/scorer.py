"""The streaming scorer: committed readings in, alerts out, incrementally and idempotently.

Per device it keeps a watermark (the newest reading time scored) and whether the condition currently holds;
both are saved in the same transaction as the alerts they produce, so a restart or a replay of the same data
never raises a second alert. The detector's rolling buffer is not persisted: after a restart it is rebuilt from
the readings inside the window before the watermark. The scorer sleeps on LISTEN/NOTIFY, so new data is scored
within milliseconds of its commit; ``poll_s`` bounds the wait when notifications are lost.

Readings that arrive later than the device's watermark (back-fill of an older period) are stored but not scored
by the streaming path; the researcher loop scores history in bulk.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from kipsense.records import DeviceKind
from kipsense.settings import ScorerSettings
from models.detectors.base import State
from models.dust.limit import RollingMeanExceedance
from models.housekeeping import Housekeeper
from store import alerts as store_alerts
from store import devices as store_devices
from store import readings as store_readings
from store import scoring as store_scoring
from store.db import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A rolling-mean limit on one metric of dust sensors, raising alerts of type ``name``."""

    name: str
    metric: str
    window_s: float
    limit: float
    min_capture: float
    severity: str = "warning"


@dataclass(slots=True)
class _DeviceState:
    watermark: datetime
    above: bool
    detector_state: State


class Scorer:
    """Runs the rules over new data of every active dust device."""

    def __init__(self, *, settings: ScorerSettings, database_url: str) -> None:
        self._settings = settings
        self._database_url = database_url
        self.rules = (
            LimitRule(
                name="pm10_limit",
                metric="pm10",
                window_s=settings.pm10_window_s,
                limit=settings.pm10_limit,
                min_capture=settings.min_capture,
            ),
        )
        self._states: dict[tuple[str, str], _DeviceState] = {}

    def run_once(self, conn: psycopg.Connection[Any]) -> int:
        """Score everything new; returns the number of alerts opened or repeated. ``conn`` is autocommit."""
        devices = {d.device_id: d for d in store_devices.list_devices(conn, kind=DeviceKind.DUST)}
        raised = 0
        for rule in self.rules:
            saved = store_scoring.load_states(conn, detector=rule.name)
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            watermarks = {}
            for device_id in devices:
                state = self._states.get((rule.name, device_id))
                if state is not None:
                    watermarks[device_id] = state.watermark
                elif device_id in saved:
                    watermarks[device_id] = saved[device_id].watermark
                else:
                    watermarks[device_id] = epoch
            for series in store_scoring.series_after(
                conn,
                table="dust_readings",
                metric=rule.metric,
                watermarks=watermarks,
                limit_per_device=self._settings.batch_limit,
            ):
                device = devices[series.device_id]
                detector = RollingMeanExceedance(
                    window_s=rule.window_s,
                    limit=rule.limit,
                    expected_interval_s=device.expected_interval_s,
                    min_capture=rule.min_capture,
                ).fit()
                key = (rule.name, series.device_id)
                state = self._states.get(key) or self._warm_up(conn, rule, detector, series.device_id, saved)
                with conn.transaction():
                    raised += self._apply(conn, rule, detector, state, series, device.site_id)
                self._states[key] = state
        return raised

    def _warm_up(
        self,
        conn: psycopg.Connection[Any],
        rule: LimitRule,
        detector: RollingMeanExceedance,
        device_id: str,
        saved: dict[str, store_scoring.ScorerState],
    ) -> _DeviceState:
        if device_id not in saved:
            return _DeviceState(datetime(1970, 1, 1, tzinfo=UTC), False, detector.init_state())
        wm = saved[device_id].watermark
        state = detector.init_state()
        history = store_scoring.series_between(
            conn,
            table="dust_readings",
            metric=rule.metric,
            device_id=device_id,
            start=wm - timedelta(seconds=rule.window_s),
            end=wm,
        )
        if history is not None:
            _, state = detector.score_stream(history.values, state, times=history.times)
        return _DeviceState(wm, bool(saved[device_id].state.get("above", False)), state)

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        rule: LimitRule,
        detector: RollingMeanExceedance,
        state: _DeviceState,
        series: store_scoring.Series,
        site_id: str,
    ) -> int:
        scores, state.detector_state = detector.score_stream(series.values, state.detector_state, times=series.times)
        above = np.nan_to_num(scores, nan=-np.inf) > detector.threshold_
        # Where the score is undecidable (too little data) the previous condition is kept, not reset.
        decided = np.isfinite(scores)
        held = above.copy()
        if decided.any():
            idx = np.where(decided, np.arange(len(scores)), -1)
            last_decided = np.maximum.accumulate(idx)
            held = np.where(last_decided >= 0, above[np.maximum(last_decided, 0)], state.above)
        else:
            held = np.full(len(scores), state.above)
        previous = np.r_[state.above, held[:-1]]
        rising = np.flatnonzero(held & ~previous)
        raised = 0
        details = {"metric": rule.metric, "window_s": rule.window_s, "limit": rule.limit}
        for i in rising:
            at = datetime.fromtimestamp(float(series.times[i]), tz=UTC)
            store_alerts.raise_alert(
                conn,
                device_id=series.device_id,
                site_id=site_id,
                type=rule.name,
                severity=rule.severity,
                value=float(scores[i]),
                threshold=rule.limit,
                at=at,
                details=details,
            )
            raised += 1
        if held[-1] and decided[-1]:
            last = datetime.fromtimestamp(float(series.times[-1]), tz=UTC)
            store_alerts.update_open(conn, device_id=series.device_id, type=rule.name, value=float(scores[-1]), at=last)
        state.above = bool(held[-1])
        state.watermark = series.last_time
        store_scoring.save_state(
            conn,
            detector=rule.name,
            device_id=series.device_id,
            watermark=state.watermark,
            state={"above": state.above},
        )
        return raised

    def run(self, stop: threading.Event) -> None:
        """Score until ``stop`` is set, waking on new-data notifications; reconnects after database errors."""
        while not stop.is_set():
            try:
                with (
                    connect(self._database_url, autocommit=True, application_name="scorer") as conn,
                    connect(self._database_url, autocommit=True, application_name="scorer-listen") as listen,
                ):
                    store_readings.listen_new(listen)
                    housekeeper = Housekeeper(self._settings)
                    while not stop.is_set():
                        raised = self.run_once(conn)
                        if raised:
                            log.info("raised %d alert occurrences", raised)
                        housekeeper.run_due(conn)
                        store_readings.wait_new(listen, timeout=self._settings.poll_s)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying", exc)
                self._states.clear()
                stop.wait(2.0)
