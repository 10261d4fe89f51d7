"""Simulator payloads decode, through the platform's own decoders, to the values the generators produced."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from ingest.decoders import TimeWindow, decode_message
from ingest.decoders.sparkplug import REBIRTH_METRIC, DataType, Metric, SparkplugDecoder, encode_payload, topic
from kipsense.records import CyclerSample, DeviceKind, DustReading, MetReading, ProcessValue
from simulators.cycler import CyclerBank, CyclerConfig
from simulators.dust import DustNetwork, DustNetworkConfig, FaultRate, FaultSpec
from simulators.encoders import (
    DECIMALS,
    MET_DECIMALS,
    DustEncoder,
    Format,
    FormatMix,
    assign_formats,
    cycler_rows,
    is_rebirth_request,
    met_rows,
    process_json_rows,
    sparkplug_birth,
    sparkplug_data,
    stamped_ms,
)
from simulators.process import ProcessConfig, ProcessLine

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RECEIVED = START + timedelta(days=2)
WINDOW = TimeWindow(max_age=timedelta(days=30), max_future=timedelta(days=1))
BUSY = (
    FaultSpec.none()
    .with_rate("offline", FaultRate(12.0, (60.0, 600.0)))
    .with_rate("duplicate", FaultRate(12.0, (60.0, 300.0)))
    .with_rate("clock_skew", FaultRate(12.0, (600.0, 3600.0)))
    .with_rate("spike", FaultRate(12.0, (10.0, 60.0)))
    .with_rate("rh_artefact", FaultRate(6.0, (600.0, 1800.0)))
    .with_rate("dropout", FaultRate(12.0, (10.0, 60.0)))
)


def _decode(fmt: str, payload: bytes, device_id: str, kind: DeviceKind) -> list[Any]:
    return decode_message(fmt, payload, topic_device=device_id, kind=kind, received_at=RECEIVED, window=WINDOW)


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def test_formats_are_a_deterministic_mix_and_mobile_units_send_native_json() -> None:
    ids = [f"dust-{i:02d}" for i in range(200)]
    a = assign_formats(ids, seed=4, mobile=ids[:5])
    assert a == assign_formats(ids, seed=4, mobile=ids[:5])
    assert a != assign_formats(ids, seed=5, mobile=ids[:5])
    assert all(a[d] is Format.JSON for d in ids[:5])
    counts = Counter(a.values())
    assert counts[Format.JSON] > counts[Format.SENML] > 10 and counts[Format.AIRROHR] > 10
    assert set(assign_formats(ids, seed=4, mix=FormatMix(senml=0.0, airrohr=0.0)).values()) == {Format.JSON}
    with pytest.raises(ValueError, match="shares"):
        FormatMix(senml=0.7, airrohr=0.5)


def test_dust_messages_decode_to_the_rounded_frame_values_in_every_format() -> None:
    net = DustNetwork(DustNetworkConfig(n_sensors=12, n_mobile=2, seed=3, faults=BUSY))
    frame = net.generate(START, timedelta(seconds=10), 2000)
    mobile = net.device_ids[12:]
    formats = assign_formats(net.device_ids, seed=3, mix=FormatMix(senml=0.35, airrohr=0.35), mobile=mobile)
    assert set(formats.values()) == set(Format)
    encoder = DustEncoder(formats, seed=3)
    messages = encoder.messages(frame)

    stamps = stamped_ms(frame)
    backfill = frame.backfill if frame.backfill is not None else np.zeros(frame.pm10.shape, dtype=bool)
    duplicate = frame.duplicate if frame.duplicate is not None else np.zeros(frame.pm10.shape, dtype=bool)
    assert backfill.any() and duplicate.any() and not np.all(stamps == stamps[:, :1])
    decoded: dict[str, list[DustReading]] = {d: [] for d in net.device_ids}
    for device_id, fmt, payload in messages:
        assert fmt == formats[device_id] or (fmt == "json" and formats[device_id] is Format.JSON)
        for rec in _decode(fmt, payload, device_id, DeviceKind.DUST):
            assert isinstance(rec, DustReading)
            decoded[device_id].append(rec)

    for n, device_id in enumerate(net.device_ids):
        fmt = formats[device_id]
        sent = frame.present[:, n] | (backfill[:, n] & (fmt is not Format.AIRROHR))
        rows = np.flatnonzero(sent)
        recs = decoded[device_id]
        extra = int((duplicate[:, n] & frame.present[:, n]).sum())
        assert len(recs) == rows.size + extra, device_id
        by_time = {_ms(r.time): r for r in recs}
        if fmt is Format.AIRROHR:  # no timestamps: compared in sending order, duplicates included
            assert all(r.time == RECEIVED and r.time_estimated for r in recs)
            order = [t for t in rows for _ in range(2 if duplicate[t, n] else 1)]
            assert [r.pm10 for r in recs] == [round(float(frame.pm10[t, n]), 2) for t in order]
            continue
        assert set(by_time) == {int(stamps[t, n]) for t in rows}, device_id
        for t in rows:
            rec = by_time[int(stamps[t, n])]
            assert not rec.time_estimated
            for name, places in DECIMALS.items():
                want = round(float(getattr(frame, name)[t, n]), places)
                assert getattr(rec, name) == want, (device_id, name)


def test_airrohr_messages_carry_every_value_in_sending_order() -> None:
    net = DustNetwork(DustNetworkConfig(n_sensors=4, seed=8, faults=BUSY))
    frame = net.generate(START, timedelta(seconds=10), 600)
    formats = dict.fromkeys(net.device_ids, Format.AIRROHR)
    for n, device_id in enumerate(net.device_ids):
        msgs = [m for m in DustEncoder(formats, seed=8).messages(frame) if m[0] == device_id]
        recs = [r for _, fmt, p in msgs for r in _decode(fmt, p, device_id, DeviceKind.DUST)]
        dup = frame.duplicate[:, n] if frame.duplicate is not None else np.zeros(frame.pm10.shape[0], dtype=bool)
        rows = [t for t in np.flatnonzero(frame.present[:, n]) for _ in range(2 if dup[t] else 1)]
        assert [r.pm10 for r in recs] == [round(float(frame.pm10[t, n]), 2) for t in rows]
        assert [r.rh for r in recs] == [round(float(frame.rh[t, n]), 2) for t in rows]
        assert [r.rssi for r in recs] == [round(float(frame.rssi[t, n])) for t in rows]
        assert all(r.battery is None and r.lat is None for r in recs)


def test_held_readings_are_sent_when_the_device_returns_in_a_later_frame() -> None:
    net = DustNetwork(DustNetworkConfig(n_sensors=6, seed=3, faults=BUSY))
    whole = net.generate(START, timedelta(seconds=10), 1200)
    formats = dict.fromkeys(net.device_ids, Format.JSON)
    one = DustEncoder(formats).messages(whole)
    chunked = DustEncoder(formats)
    parts = [
        m
        for frame in _take(net.chunks(START, timedelta(seconds=10), 37), 1200 // 37 + 1)
        for m in chunked.messages(frame)
    ]
    assert parts[: len(one)] == one


def _take(it: Any, n: int) -> list[Any]:
    return [next(it) for _ in range(n)]


def test_met_messages_decode_to_rounded_values() -> None:
    frame = DustNetwork(DustNetworkConfig(n_sensors=3, n_met=2, seed=1)).generate(START, timedelta(seconds=10), 50)
    for t, row in enumerate(met_rows(frame)):
        for m, (device_id, fmt, payload) in enumerate(row):
            (rec,) = _decode(fmt, payload, device_id, DeviceKind.MET)
            assert isinstance(rec, MetReading)
            assert rec.wind_dir == round(float(frame.met.wind_dir[t, m] % 360.0), MET_DECIMALS["wind_dir"])
            assert rec.wind_speed == round(float(frame.met.wind_speed[t, m]), 2)


def test_cycler_messages_decode_to_the_frame_samples_exactly() -> None:
    frame = CyclerBank(CyclerConfig(n_channels=3, seed=2, sample_interval_s=30.0)).generate(START, 400)
    decoded = [
        rec
        for row in cycler_rows(frame)
        for device_id, fmt, payload in row
        for rec in _decode(fmt, payload, device_id, DeviceKind.CYCLER)
    ]
    assert all(isinstance(r, CyclerSample) for r in decoded)
    assert decoded == frame.to_samples()


def test_process_json_and_sparkplug_decode_to_the_frame_values_exactly() -> None:
    frame = ProcessLine(ProcessConfig(seed=4, device_id="line-9")).generate(START, 30)
    values = frame.values.copy()
    values[3, 2] = np.nan  # a tag that was not sent
    frame = type(frame)(frame.device_id, frame.tags, frame.times, values, frame.truth)
    expected = frame.to_values()

    as_json = [
        rec
        for row in process_json_rows(frame)
        for device_id, fmt, payload in row
        for rec in _decode(fmt, payload, device_id, DeviceKind.PROCESS)
    ]
    assert as_json == expected

    decoder = SparkplugDecoder()
    times = frame.times.astype("datetime64[ms]").astype(np.int64).tolist()
    got: list[ProcessValue] = []
    for t, ms in enumerate(times):
        if t == 0:
            payload, kind = sparkplug_birth(frame.tags, values[0].tolist(), timestamp_ms=ms, bd_seq=0), "NBIRTH"
        else:
            payload, kind = sparkplug_data(values[t].tolist(), timestamp_ms=ms, seq=t), "NDATA"
        result = decoder.decode(topic("kip", kind, "line-9"), payload, received_at=RECEIVED, window=WINDOW)
        assert result.seq_gaps == 0
        got.extend(result.records)
    assert sorted(got, key=lambda r: (r.time, r.tag)) == sorted(expected, key=lambda r: (r.time, r.tag))


def test_rebirth_requests_are_recognised() -> None:
    request = encode_payload([Metric(REBIRTH_METRIC, True, DataType.BOOLEAN)], timestamp_ms=1)
    assert is_rebirth_request(request)
    assert not is_rebirth_request(encode_payload([Metric(REBIRTH_METRIC, False, DataType.BOOLEAN)]))
    assert not is_rebirth_request(encode_payload([Metric("Node Control/Reboot", True, DataType.BOOLEAN)]))
    assert not is_rebirth_request(b"\xff\x00 not protobuf")
