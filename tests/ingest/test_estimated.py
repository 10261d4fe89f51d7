"""EstimatedClock: receive-time estimates of one device never repeat across messages; device times are untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.estimated import EstimatedClock
from kipsense.records import DeviceEvent, DustReading, ProcessValue, Record

T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def _untimed(device: str, n: int, at: datetime) -> list[Record]:
    return [DustReading(device, at - (n - 1 - k) * US, pm10=float(k), time_estimated=True) for k in range(n)]


def test_a_message_overlapping_the_previous_one_is_shifted_whole_past_it() -> None:
    clock = EstimatedClock()
    first = clock.place(_untimed("d1", 5, T))
    second = clock.place(_untimed("d1", 5, T + 2 * US))  # received 2 µs later: would reuse 3 of the times
    times = [r.time for r in first + second]
    assert times == sorted(set(times))
    assert [r.time - second[0].time for r in second] == [k * US for k in range(5)]  # spacing kept
    assert second[0].time == T + US


def test_devices_are_independent_and_device_times_are_never_moved() -> None:
    clock = EstimatedClock()
    clock.place(_untimed("d1", 3, T))
    timed = DustReading("d1", T - US, pm10=1.0)
    other = _untimed("d2", 3, T)
    event = DeviceEvent("d1", T, "online")
    placed = clock.place([timed, *other, event])
    assert placed == [timed, *other, event]


def test_messages_received_later_are_left_as_they_are() -> None:
    clock = EstimatedClock()
    clock.place(_untimed("d1", 3, T))
    later = _untimed("d1", 3, T + timedelta(seconds=1))
    assert clock.place(later) == later


def test_tags_sharing_one_estimated_time_stay_together_when_shifted() -> None:
    clock = EstimatedClock()
    clock.place([ProcessValue("p1", T, "A", 1.0, time_estimated=True)])
    placed = clock.place(
        [ProcessValue("p1", T, "A", 2.0, time_estimated=True), ProcessValue("p1", T, "B", 3.0, time_estimated=True)]
    )
    assert {r.time for r in placed} == {T + US}
