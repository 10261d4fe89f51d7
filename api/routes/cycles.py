"""Per-cycle summaries of a battery test channel, computed on request over a bounded range."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, status

from api.deps import Analyst, ConnDep, LimitsDep, site_scope
from api.inputs import Instant
from api.schemas import CyclePublic, CyclesPublic
from models.cycler.features import cycle_features
from models.cycler.samples import ChannelSamples
from store import devices as store_devices
from store import export as store_export

router = APIRouter(prefix="/devices", tags=["devices"])


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@router.get("/{device_id}/cycles", response_model=CyclesPublic)
def cycles(
    device_id: str,
    conn: ConnDep,
    key: Analyst,
    limits: LimitsDep,
    start: Instant | None = None,
    end: Instant | None = None,
) -> CyclesPublic:
    """Per-cycle capacities, efficiencies, resistance and temperature of a cycler channel (default: last 7 days)."""
    device = store_devices.get(conn, device_id=device_id)
    scope = site_scope(key)
    if device is None or (scope is not None and device.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r}")
    if device.kind != "cycler":
        raise HTTPException(422, "per-cycle summaries exist for cycler channels only")
    try:
        end = (end or datetime.now(UTC)).astimezone(UTC)
        start = (start or end - timedelta(days=7)).astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(422, "time out of range") from None
    span_days = (end - start).total_seconds() / 86_400
    if not 0 < span_days <= limits.cycles_max_days:
        raise HTTPException(
            422,
            f"the range must be positive and at most {limits.cycles_max_days} days",
        )
    cols = store_export.cycler_columns(
        conn, device_id=device_id, start=start, end=end, limit=limits.cycles_max_samples + 1
    )
    n = int(cols["test_time"].size)
    truncated = n > limits.cycles_max_samples
    samples = ChannelSamples.from_columns({k: v[: limits.cycles_max_samples] for k, v in cols.items()})
    try:
        f = cycle_features(samples)
    except ValueError as exc:  # test_time going backwards: a channel restart inside the range
        raise HTTPException(422, str(exc)) from None
    last = len(f.cycle_index) - 1
    data = [
        CyclePublic(
            cycle_index=int(f.cycle_index[i]),
            n_samples=int(f.n_samples[i]),
            charge_capacity=_num(f.charge_capacity[i]),
            discharge_capacity=_num(f.discharge_capacity[i]),
            coulombic_efficiency=_num(f.coulombic_efficiency[i]),
            energy_efficiency=_num(f.energy_efficiency[i]),
            internal_resistance=_num(f.internal_resistance[i]),
            pulse_resistance=_num(f.pulse_resistance[i]),
            max_temperature=_num(f.max_temperature[i]),
            max_dtdt=_num(f.max_dtdt[i]),
            complete=i < last,
        )
        for i in range(len(f.cycle_index))
    ]
    return CyclesPublic(
        device_id=device_id,
        start=start,
        end=end,
        samples=min(n, limits.cycles_max_samples),
        truncated=truncated,
        data=data,
    )
