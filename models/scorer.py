"""The streaming scorer: committed readings in, alerts out, incrementally and idempotently.

Sources are the dust rules (PM10 limit, spikes, stuck sensors, episodes, RH artefact), the cycler live checks
(counter restarts, capacity resets, thermal excursions) and every active registry model (on the devices it
names; process-line models read tag values pivoted to one row per timestamp). See :mod:`models.rules`.

Per (source, device) the scorer keeps a watermark (the newest sample time scored), the alert decision state
and, for detectors with small state, the detector's JSON stream state. They are saved in the same
transaction as the alerts they produce, so a restart or a replay of the same data never raises a second
alert. Detectors with long windows (daily mean, episode baseline) are not saved each time: after a restart
their state is rebuilt from the history inside the window before the watermark, which gives the same state
because scoring in chunks equals scoring whole.

The scorer sleeps on LISTEN/NOTIFY, so new data is scored within milliseconds of its commit; ``poll_s``
bounds the wait when notifications are lost. Several scorer processes share the devices by
``Partition(index, count)`` (a stable hash of the device id). Readings that arrive later than a device's
watermark (back-fill of an older period) are stored but not scored here; the researcher loop scores history
in bulk.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from kipsense.metrics import ScorerMetrics
from kipsense.records import DeviceKind
from kipsense.settings import ScorerSettings
from models.detectors.base import BaseDetector
from models.housekeeping import Housekeeper
from models.rules import DustRuleConfig, cycler_sources, dust_sources, model_source
from models.streaming import DeviceInfo, Occurrence, Source, Tracker
from store import alerts as store_alerts
from store import devices as store_devices
from store import history as store_history
from store import models as store_models
from store import readings as store_readings
from store import scoring as store_scoring
from store.db import connect

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Partition:
    """This process scores the devices whose stable hash modulo ``count`` is ``index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"partition index must be in 0..{self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``"i/N"``, e.g. ``"0/2"``."""
        try:
            index, count = (int(p) for p in text.split("/"))
        except ValueError:
            raise ValueError(f"partition must look like i/N, got {text!r}") from None
        return cls(index, count)

    def owns(self, device_id: str) -> bool:
        return zlib.crc32(device_id.encode()) % self.count == self.index


@dataclass(slots=True)
class _Slot:
    """One (source, device) stream in memory."""

    tracker: Tracker
    watermark: datetime


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


class Scorer:
    """Runs every source over new data of the devices of this partition."""

    def __init__(
        self,
        *,
        settings: ScorerSettings,
        database_url: str,
        partition: Partition | None = None,
        rules: Collection[str] | None = None,
        models: bool = True,
        dust_config: DustRuleConfig | None = None,
        metrics: ScorerMetrics | None = None,
    ) -> None:
        """``rules`` selects rule sources by key (all when None); ``models=False`` ignores the registry;
        ``metrics`` counts passes, alerts raised and failed tasks and reports the watermark lag."""
        self._settings = settings
        self._metrics = metrics
        if metrics is not None:
            metrics.watch_watermark(self.newest_watermark)
        self._database_url = database_url
        self.partition = partition or Partition()
        cfg = dust_config or DustRuleConfig(
            pm10_window_s=settings.pm10_window_s, pm10_limit=settings.pm10_limit, min_capture=settings.min_capture
        )
        sources = (*dust_sources(cfg), *cycler_sources())
        unknown = set(rules or ()) - {s.key for s in sources}
        if unknown:
            raise ValueError(f"unknown rules {sorted(unknown)}; known: {[s.key for s in sources]}")
        self.rules = tuple(s for s in sources if rules is None or s.key in rules)
        self._models = models
        self._model_sources: dict[int, Source] = {}
        self._slots: dict[tuple[str, str], _Slot] = {}
        self.backlog = False

    # -- sources ---------------------------------------------------------------------------------------------
    def _sources(self, conn: psycopg.Connection[Any]) -> list[Source]:
        if not self._models:
            return list(self.rules)
        active = {r.model_id: r for r in store_models.list_models(conn, active=True)}
        for model_id in [m for m in self._model_sources if m not in active]:
            del self._model_sources[model_id]
            for key in [k for k in self._slots if k[0] == f"model:{model_id}"]:
                del self._slots[key]
        for model_id, record in active.items():
            if model_id not in self._model_sources:
                try:
                    self._model_sources[model_id] = model_source(record)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("model %d cannot be loaded and is skipped: %s", model_id, exc)
        return [*self.rules, *self._model_sources.values()]

    # -- one pass --------------------------------------------------------------------------------------------
    def run_once(self, conn: psycopg.Connection[Any]) -> int:
        """Score everything new; returns the number of alert occurrences raised. ``conn`` is autocommit."""
        raised = 0
        self.backlog = False
        sources = self._sources(conn)
        for kind in DeviceKind:
            of_kind = [s for s in sources if s.kind == kind.value]
            if not of_kind:
                continue
            devices = {
                d.device_id: d for d in store_devices.list_devices(conn, kind=kind) if self.partition.owns(d.device_id)
            }
            if not devices:
                continue
            # one read per column set: rule columns of a kind are read together; process models each alone
            groups: dict[tuple[str, ...], list[Source]] = {}
            if kind == DeviceKind.PROCESS:
                for s in of_kind:
                    groups.setdefault(s.columns, []).append(s)
            else:
                columns = tuple(dict.fromkeys(c for s in of_kind for c in s.columns))
                groups[columns] = of_kind
            for columns, group in groups.items():
                raised += self._score_group(conn, kind.value, columns, group, devices)
        return raised

    def _score_group(
        self,
        conn: psycopg.Connection[Any],
        kind: str,
        columns: tuple[str, ...],
        group: Sequence[Source],
        devices: dict[str, store_devices.Device],
    ) -> int:
        for source in group:
            self._ensure_loaded(conn, source, devices)
        marks: dict[str, datetime] = {}
        for device_id in devices:
            own = [self._slots[(s.key, device_id)].watermark for s in group if (s.key, device_id) in self._slots]
            if own:
                marks[device_id] = min(own)
        limit = self._settings.batch_limit
        raised = 0
        for hist in store_history.read_after(
            conn, kind=kind, columns=columns, watermarks=marks, limit_per_device=limit
        ):
            device_id = str(hist.devices[0])
            self.backlog |= len(hist) >= limit
            with conn.transaction():
                for source in group:
                    slot = self._slots.get((source.key, device_id))
                    if slot is not None:
                        raised += self._apply(conn, source, slot, hist, devices[device_id])
        return raised

    def _ensure_loaded(
        self, conn: psycopg.Connection[Any], source: Source, devices: dict[str, store_devices.Device]
    ) -> None:
        missing = [d for d in devices if source.applies_to(d) and (source.key, d) not in self._slots]
        if not missing:
            return
        saved = store_scoring.load_states(conn, detector=source.key)
        start = EPOCH if source.start_after is None else _dt(source.start_after)
        for device_id in missing:
            device = devices[device_id]
            info = DeviceInfo(device_id, device.expected_interval_s)
            detector = source.build(info)
            if device_id not in saved:
                self._slots[(source.key, device_id)] = _Slot(Tracker(source, detector), start)
                continue
            state = saved[device_id]
            tracker = Tracker(source, detector, state.state)
            if source.warmup_s is not None:
                self._warm_up(conn, source, tracker, device_id, state.watermark)
            self._slots[(source.key, device_id)] = _Slot(tracker, state.watermark)

    def _warm_up(
        self, conn: psycopg.Connection[Any], source: Source, tracker: Tracker, device_id: str, watermark: datetime
    ) -> None:
        """Rebuild a long-window detector's state from the history before the watermark."""
        above = tracker.above
        hist = store_history.read(
            conn,
            kind=source.kind,
            columns=source.columns,
            device_ids=[device_id],
            start=watermark - timedelta(seconds=float(source.warmup_s or 0.0)),
            end=watermark + timedelta(microseconds=1),
        )
        if len(hist):
            tracker.feed(hist.values, hist.times)
        tracker.above = above  # the decision state is the saved one, not the replayed one

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        source: Source,
        slot: _Slot,
        hist: store_history.History,
        device: store_devices.Device,
    ) -> int:
        new = hist.times > slot.watermark.timestamp()
        if not new.any():
            return 0
        cols = [hist.columns.index(c) for c in source.columns]
        X = hist.values[new][:, cols]
        times = hist.times[new]
        result = slot.tracker.feed(X, times)
        for occ in result.occurrences:
            self._raise(conn, source, slot.tracker.detector, device, occ, X)
        last = result.last_decided
        if source.mode == "level" and result.holding and last is not None:
            store_alerts.update_open(
                conn,
                device_id=device.device_id,
                type=source.alert_type,
                value=float(result.scores[last]),
                at=_dt(float(times[last])),
            )
        slot.watermark = _dt(float(times[-1]))
        store_scoring.save_state(
            conn,
            detector=source.key,
            device_id=device.device_id,
            watermark=slot.watermark,
            state=slot.tracker.to_json(with_detector=source.warmup_s is None),
        )
        return len(result.occurrences)

    def _raise(
        self,
        conn: psycopg.Connection[Any],
        source: Source,
        detector: BaseDetector,
        device: store_devices.Device,
        occ: Occurrence,
        X: np.ndarray,
    ) -> None:
        threshold = float(detector.threshold_)
        details: dict[str, Any] = {
            **source.details,
            "score": occ.value,
            "limit": threshold,
            "window": {"start": _dt(occ.first).isoformat(), "end": _dt(occ.last).isoformat()},
            "decided_at": _dt(occ.at).isoformat(),
        }
        contributions = _contributions(detector, X, occ.index)
        if contributions is not None:
            details["contributions"] = contributions
            details["columns"] = list(source.columns)
        store_alerts.raise_alert(
            conn,
            device_id=device.device_id,
            site_id=device.site_id,
            type=source.alert_type,
            severity=source.severity,
            value=occ.value,
            threshold=threshold,
            at=_dt(occ.first),
            details=details,
        )

    def newest_watermark(self) -> float | None:
        """Unix time of the newest sample scored by this process (None before the first)."""
        marks = [slot.watermark for slot in list(self._slots.values())]
        return max(marks).timestamp() if marks else None

    def _housekeeping_failed(self, task: str) -> None:
        if self._metrics is not None:
            self._metrics.failed("housekeeping")

    # -- service loop ----------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Score until ``stop`` is set, waking on new-data notifications; reconnects after database errors."""
        while not stop.is_set():
            try:
                with (
                    connect(self._database_url, autocommit=True, application_name="scorer") as conn,
                    connect(self._database_url, autocommit=True, application_name="scorer-listen") as listen,
                ):
                    store_readings.listen_new(listen)
                    on_error = self._housekeeping_failed if self._metrics is not None else None
                    housekeeper = Housekeeper(self._settings, on_error=on_error)
                    while not stop.is_set():
                        t0 = time.monotonic()
                        raised = self.run_once(conn)
                        if self._metrics is not None:
                            self._metrics.passed(raised)
                        if raised:
                            log.info("raised %d alert occurrences in %.3f s", raised, time.monotonic() - t0)
                        housekeeper.run_due(conn)
                        if not self.backlog:
                            store_readings.wait_new(listen, timeout=self._settings.poll_s)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying", exc)
                if self._metrics is not None:
                    self._metrics.failed("database")
                self._slots.clear()
                self._model_sources.clear()
                stop.wait(2.0)


def _contributions(detector: BaseDetector, X: np.ndarray, index: int) -> dict[str, list[float]] | None:
    """Per-variable T² and SPE contributions of row ``index`` of ``X``, for PCA-family models.

    Dynamic PCA needs the row's lag window; when the chunk does not hold it there is no diagnosis.
    """
    fn = getattr(detector, "contributions", None)
    lags = int(getattr(detector, "lags", 0))
    rows = X[index - lags : index + 1] if index >= lags else X[:0]
    if fn is None or rows.shape[0] != lags + 1 or not np.isfinite(rows).all():
        return None
    t2c, spec = fn(rows)
    return {"t2": [float(v) for v in t2c[-1]], "spe": [float(v) for v in spec[-1]]}
