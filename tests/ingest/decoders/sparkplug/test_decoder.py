"""Sparkplug B decoding: births and aliases, data, deaths, seq gaps, device ids, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.decoders import TimeWindow
from ingest.decoders.errors import DecodeError, Reason
from ingest.decoders.sparkplug import (
    OFFLINE,
    ONLINE,
    SEQ_GAP,
    DataType,
    Metric,
    SparkplugDecoder,
    SparkplugResult,
    encode_payload,
    parse_sparkplug_topic,
    platform_device_id,
    topic,
)

NOW = datetime(2026, 11, 28, 8, 5, tzinfo=UTC)
T0 = int((NOW - timedelta(minutes=1)).timestamp() * 1000)
GROUP, EDGE = "precursor", "Line1 PLC"
NODE_ID = "line1-plc"


def _send(
    decoder: SparkplugDecoder, kind: str, metrics: list[Metric], *, seq: int | None, device: str | None = None,
    ts: int | None = T0,
) -> SparkplugResult:  # fmt: skip
    payload = encode_payload(metrics, timestamp_ms=ts, seq=seq)
    return decoder.decode(topic(GROUP, kind, EDGE, device), payload, received_at=NOW, window=TimeWindow())


def _birth(decoder: SparkplugDecoder, bd_seq: int = 0) -> SparkplugResult:
    return _send(
        decoder,
        "NBIRTH",
        [
            Metric("bdSeq", bd_seq, DataType.UINT64),
            Metric("Node Control/Rebirth", False, DataType.BOOLEAN, alias=1),
            Metric("FIC101.PV", 12.5, DataType.DOUBLE, alias=2),
            Metric("TT101.PV", -3, DataType.INT16, alias=3),
            Metric("R101.pH", 11.2, DataType.FLOAT, alias=4),
            Metric("Mode", "auto", DataType.STRING, alias=5),
            Metric("P101.Run", True, DataType.BOOLEAN, alias=6),
            Metric("Level", None, DataType.DOUBLE, alias=7),
        ],
        seq=0,
    )


def test_birth_declares_aliases_and_carries_values() -> None:
    decoder = SparkplugDecoder()
    result = _birth(decoder)
    assert [(r.device_id, r.tag, r.value) for r in result.records] == [
        (NODE_ID, "FIC101.PV", 12.5),
        (NODE_ID, "TT101.PV", -3.0),
        (NODE_ID, "R101.pH", 11.2),
        (NODE_ID, "P101.Run", 1.0),
    ]
    assert all(r.time == datetime.fromtimestamp(T0 / 1000, UTC) and not r.time_estimated for r in result.records)
    assert [(e.device_id, e.event) for e in result.events] == [(NODE_ID, ONLINE)]
    assert decoder.state.nodes[f"{GROUP}/{EDGE}"].aliases[2] == ("FIC101.PV", DataType.DOUBLE)


def test_data_by_alias_uses_birth_names_and_types() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder)
    result = _send(decoder, "NDATA", [Metric(None, -40, DataType.INT16, alias=3)], seq=1)
    # the wire carries no datatype: -40 is 0xFFFFFFD8 and only the BIRTH's INT16 makes it negative
    assert [(r.tag, r.value) for r in result.records] == [("TT101.PV", -40.0)]
    assert result.seq_gaps == 0 and result.events == []


def test_metric_timestamp_wins_over_payload_timestamp_and_receive_time_is_the_fallback() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder)
    own = _send(decoder, "NDATA", [Metric(None, 1.0, alias=2, timestamp_ms=T0 + 500)], seq=1, ts=T0 + 900)
    assert own.records[0].time == datetime.fromtimestamp((T0 + 500) / 1000, UTC)
    none = _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=2, ts=None)
    assert none.records[0].time == NOW and none.records[0].time_estimated


def test_seq_gaps_are_counted_with_wraparound_and_redelivery_is_not_a_gap() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder)
    assert _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=4).seq_gaps == 3
    assert _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=4).seq_gaps == 0  # redelivered
    for seq in range(5, 256):
        assert _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=seq).seq_gaps == 0
    wrapped = _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=1)
    assert wrapped.seq_gaps == 1
    assert [(e.device_id, e.event) for e in wrapped.events] == [(NODE_ID, SEQ_GAP)]


def test_device_birth_data_and_death() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder)
    birth = _send(decoder, "DBIRTH", [Metric("Flow", 3.5, DataType.FLOAT, alias=1)], seq=1, device="Pump 7")
    assert [(r.device_id, r.tag) for r in birth.records] == [("line1-plc-pump-7", "Flow")]
    data = _send(decoder, "DDATA", [Metric(None, 4.0, DataType.FLOAT, alias=1)], seq=2, device="Pump 7")
    assert [(r.device_id, r.tag, r.value) for r in data.records] == [("line1-plc-pump-7", "Flow", 4.0)]
    death = _send(decoder, "DDEATH", [], seq=3, device="Pump 7")
    assert [(e.device_id, e.event) for e in death.events] == [("line1-plc-pump-7", OFFLINE)]
    with pytest.raises(DecodeError) as caught:
        _send(decoder, "DDATA", [Metric(None, 4.0, alias=1)], seq=4, device="Pump 7")
    assert caught.value.reason is Reason.UNKNOWN_ALIAS


def test_node_death_takes_its_devices_offline_unless_it_is_a_stale_will() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder, bd_seq=5)
    _send(decoder, "DBIRTH", [Metric("Flow", 3.5, alias=1)], seq=1, device="Pump 7")
    stale = _send(decoder, "NDEATH", [Metric("bdSeq", 4, DataType.UINT64)], seq=None)
    assert stale.events == []
    death = _send(decoder, "NDEATH", [Metric("bdSeq", 5, DataType.UINT64)], seq=None)
    assert [(e.device_id, e.event) for e in death.events] == [(NODE_ID, OFFLINE), ("line1-plc-pump-7", OFFLINE)]
    assert all(e.time == NOW for e in death.events)  # the will's own timestamp dates from the connect
    assert decoder.state.nodes == {}


def test_data_by_unknown_alias_is_refused_and_leaves_state_unchanged() -> None:
    decoder = SparkplugDecoder()
    _birth(decoder)
    with pytest.raises(DecodeError) as caught:
        _send(decoder, "NDATA", [Metric(None, 1.0, alias=2), Metric(None, 1.0, alias=99)], seq=1)
    assert caught.value.reason is Reason.UNKNOWN_ALIAS
    assert decoder.state.nodes[f"{GROUP}/{EDGE}"].last_seq == 0
    assert _send(decoder, "NDATA", [Metric(None, 1.0, alias=2)], seq=1).seq_gaps == 0


def test_data_with_names_decodes_without_a_birth() -> None:
    result = _send(SparkplugDecoder(), "NDATA", [Metric("FIC101.PV", 2.0)], seq=7)
    assert [(r.tag, r.value) for r in result.records] == [("FIC101.PV", 2.0)]


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ([Metric("x", float("nan"))], Reason.NON_FINITE),
        ([Metric("x", float("inf"), DataType.FLOAT)], Reason.NON_FINITE),
        ([Metric("x", 1.0, timestamp_ms=T0 + 3_600_000)], Reason.FUTURE_TIMESTAMP),
        ([Metric("x", 1.0, timestamp_ms=10**15)], Reason.BAD_TIMESTAMP),
        ([Metric("x" * 129, 1.0)], Reason.OUT_OF_RANGE),
        ([Metric(None, 1.0)], Reason.MISSING_FIELD),
    ],
)
def test_refused_metrics(metrics: list[Metric], reason: Reason) -> None:
    with pytest.raises(DecodeError) as caught:
        _send(SparkplugDecoder(), "NDATA", metrics, seq=1)
    assert caught.value.reason is reason


def test_birth_needs_names_and_unique_aliases() -> None:
    for metrics, reason in (
        ([Metric(None, 1.0, alias=1)], Reason.MISSING_FIELD),
        ([Metric("a", 1.0, alias=1), Metric("b", 1.0, alias=1)], Reason.DUPLICATE_KEY),
    ):
        with pytest.raises(DecodeError) as caught:
            _send(SparkplugDecoder(), "NBIRTH", metrics, seq=0)
        assert caught.value.reason is reason


def test_garbage_and_commands() -> None:
    decoder = SparkplugDecoder()
    with pytest.raises(DecodeError) as caught:
        decoder.decode(topic(GROUP, "NDATA", EDGE), b"\x12\xff", received_at=NOW, window=TimeWindow())
    assert caught.value.reason is Reason.BAD_PROTOBUF
    command = encode_payload([Metric("Node Control/Rebirth", True, DataType.BOOLEAN)])
    result = decoder.decode(topic(GROUP, "NCMD", EDGE), command, received_at=NOW, window=TimeWindow())
    assert result == SparkplugResult([], [])
    state = decoder.decode("spBv1.0/STATE/scada-1", b'{"online": true}', received_at=NOW, window=TimeWindow())
    assert state == SparkplugResult([], [])


@pytest.mark.parametrize(
    "bad_topic",
    ["spBv1.0/g/NDATA", "spBv1.0/g/XDATA/e", "spBv2.0/g/NDATA/e", "spBv1.0/g/DDATA/e", "spBv1.0/g/NDATA/e/d",
     "spBv1.0//NDATA/e", "sensors/dust-07/json"],
)  # fmt: skip
def test_bad_topics(bad_topic: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_sparkplug_topic(bad_topic)
    assert caught.value.reason is Reason.BAD_TOPIC


def test_device_id_mapping() -> None:
    assert platform_device_id("Line1_PLC") == "line1_plc"
    assert platform_device_id("Line 1/PLC", "Reactor #2") == "line-1-plc-reactor-2"
    long_id = platform_device_id("edge" * 20, "device" * 10)
    assert len(long_id) == 63 and long_id != platform_device_id("edge" * 20, "device" * 11)
    with pytest.raises(DecodeError):
        platform_device_id("!!!")
