"""The spool file format: what goes in comes back, only whole files count, size accounting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ingest.spool import Spool, decode_line, encode_line
from kipsense.records import DeviceEvent, DustReading, ProcessValue, Record
from store.quarantine import QuarantineItem

AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_records_and_quarantine_round_trip_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    records: list[Record] = [
        DustReading("d-1", AT, pm10=12.5, seq=3, time_estimated=True),
        ProcessValue("plc", AT, "FIC101.PV", 1.5),
        DeviceEvent("plc", AT, "offline", "NDEATH"),
    ]
    bad = QuarantineItem("sensors/d-1/json", "d-1", "not_json", "line 1", b"\xff{", AT)
    path = spool.append(
        [
            encode_line("sensors/d-1/json", b"{}", AT, records, None),
            encode_line("sensors/d-1/json", b"\xff{", AT, [], bad),
        ]
    )
    first, second = list(spool.read(path))
    assert first == ("sensors/d-1/json", b"{}", AT, records, None)
    assert second == ("sensors/d-1/json", b"\xff{", AT, [], bad)
    assert spool.files() == [path]
    assert spool.size_bytes() == path.stat().st_size
    spool.remove(path)
    assert spool.files() == [] and spool.size_bytes() == 0


def test_partial_files_are_discarded_and_a_full_spool_has_no_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10)
    (tmp_path / "00000000000000000001-1-000001.tmp").write_text("half a batch")
    assert spool.discard_partial() == 1
    assert spool.has_room()
    spool.append([encode_line("t", b"x" * 20, AT, [], None)])
    assert not spool.has_room()
    later = spool.append([encode_line("t", b"y", AT, [], None)])
    assert spool.files()[-1] == later


def test_suppressed_quarantine_stays_suppressed_and_old_lines_still_read() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    item = QuarantineItem("sensors/s-1/json", "s-1", "oversized", "big", b"x" * 10, at, suppressed=True)
    assert decode_line(encode_line(item.topic, item.payload, at, [], item))[4] == item
    # A line written before suppression existed has three quarantine fields.
    old = '{"t":"sensors/s-1/json","p":"eA==","at":"2026-01-01T00:00:00+00:00","rec":[],"q":["s-1","not_json","d"]}'
    assert decode_line(old)[4] == QuarantineItem("sensors/s-1/json", "s-1", "not_json", "d", b"x", at)
