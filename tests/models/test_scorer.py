"""The streaming scorer on the real database: rules, idempotency (replay, restart), chunked == whole."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from kipsense.records import DeviceKind
from kipsense.settings import ScorerSettings
from models.scorer import Partition, Scorer
from store import alerts as store_alerts
from store import devices as store_devices
from store import scoring as store_scoring
from store.db import connect
from tests.models import scoring_data as data

SETTINGS = ScorerSettings(pm10_window_s=600.0, pm10_limit=50.0)
DUST_RULES = {"pm10_limit", "dust_spike", "dust_stuck", "dust_rh_artefact"}


def _scorer(url: str, **kw: Any) -> Scorer:
    return Scorer(settings=SETTINGS, database_url=url, rules=kw.pop("rules", DUST_RULES), models=False, **kw)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _alerts(conn: Any, device_id: str) -> list[tuple[str, str, int]]:
    rows = store_alerts.list_alerts(conn, device_id=device_id, limit=100)
    return sorted((a.type, a.first_time.isoformat(), a.occurrences) for a in rows)


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        yield c


def _device(conn: Any, device_id: str, kind: DeviceKind = DeviceKind.DUST) -> str:
    with conn.transaction():
        store_devices.create(conn, device_id=device_id, kind=kind, expected_interval_s=data.STEP_S)
    return device_id


def test_rules_raise_once_and_replay_or_restart_raises_nothing(conn: Any, database_url: str, uid: str) -> None:
    dev = _device(conn, f"{uid}-a")
    pm10 = data.dust_series()
    data.write(conn, data.dust_readings(dev, pm10))
    scorer = _scorer(database_url)
    assert scorer.run_once(conn) == 3
    got = {a.type: a for a in store_alerts.list_alerts(conn, device_id=dev)}
    assert set(got) == {"pm10_limit", "dust_spike", "dust_stuck"}
    spike = got["dust_spike"]
    assert spike.first_time == data.T0 + _s(data.STEP_S * data.SPIKE_AT)
    assert spike.details["window"]["start"] == spike.first_time.isoformat()
    assert spike.value is not None and spike.threshold is not None and spike.value > spike.threshold
    # stuck from index 400: flagged once the flat run is longer than 90 s
    assert got["dust_stuck"].first_time == data.T0 + _s(data.STEP_S * (data.STUCK[0] + 10))
    assert got["pm10_limit"].details["limit"] == 50.0
    before = _alerts(conn, dev)
    assert scorer.run_once(conn) == 0
    data.write(conn, data.dust_readings(dev, pm10))  # redelivery: stored rows are not duplicated
    assert _scorer(database_url).run_once(conn) == 0  # a restarted scorer replays nothing
    assert _alerts(conn, dev) == before


def test_chunked_arrival_and_restarts_equal_whole(conn: Any, database_url: str, uid: str) -> None:
    whole, chunked = _device(conn, f"{uid}-w"), _device(conn, f"{uid}-c")
    pm10 = data.dust_series(seed=3)
    data.write(conn, data.dust_readings(whole, pm10))
    _scorer(database_url, partition=_only(whole)).run_once(conn)
    bounds = [0, 1, 97, 301, 302, 430, 575, 600, data.N]
    live = _scorer(database_url, partition=_only(chunked))
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        data.write(conn, data.dust_readings(chunked, pm10, lo, hi))
        if i >= 4:  # the second half: a restart before every chunk, state comes back from the database
            live = _scorer(database_url, partition=_only(chunked))
        live.run_once(conn)
    assert [a[0:1] + a[2:] for a in _alerts(conn, whole)] == [a[0:1] + a[2:] for a in _alerts(conn, chunked)]
    assert [a[1] for a in _alerts(conn, whole)] == [a[1] for a in _alerts(conn, chunked)]
    for rule in DUST_RULES:
        saved = store_scoring.load_states(conn, detector=rule)
        assert saved[whole].state == saved[chunked].state
        assert saved[whole].watermark == saved[chunked].watermark


def _only(device_id: str) -> Partition:
    """A partition that owns ``device_id`` (of 64, so other test devices are mostly left out)."""
    return next(p for p in (Partition(i, 64) for i in range(64)) if p.owns(device_id))


def test_partitions_split_devices_disjointly(conn: Any, database_url: str, uid: str) -> None:
    ids = [_device(conn, f"{uid}-p{i}") for i in range(8)]
    pm10 = data.dust_series(seed=5)
    for dev in ids:
        data.write(conn, data.dust_readings(dev, pm10))
    parts = [Partition.parse(f"{i}/3") for i in range(3)]
    owners = [[p for p in parts if p.owns(d)] for d in ids]
    assert all(len(o) == 1 for o in owners)
    for p in parts:
        _scorer(database_url, partition=p, rules={"dust_spike"}).run_once(conn)
    for dev in ids:
        assert [a[0] for a in _alerts(conn, dev)] == ["dust_spike"]
    with pytest.raises(ValueError, match="i/N"):
        Partition.parse("1-3")
    with pytest.raises(ValueError, match="partition index"):
        Partition(3, 3)


def test_cycler_counter_restart_raises_one_alert(conn: Any, database_url: str, uid: str) -> None:
    dev = _device(conn, f"{uid}-cy", DeviceKind.CYCLER)
    data.write(conn, data.cycler_samples(dev))
    scorer = Scorer(
        settings=SETTINGS, database_url=database_url, rules={"cycler_counter", "cycler_thermal"}, models=False
    )
    assert scorer.run_once(conn) == 1
    (alert,) = store_alerts.list_alerts(conn, device_id=dev)
    assert alert.type == "cycler_counter" and alert.first_time == data.T0 + _s(30.0 * 150)
    assert scorer.run_once(conn) == 0


def test_unknown_rule_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="unknown rules"):
        Scorer(settings=SETTINGS, database_url=database_url, rules={"nope"})
