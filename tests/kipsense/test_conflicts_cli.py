"""``kipsense conflicts`` lists recorded conflicts with the differing values, as text or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kipsense.cli import main
from kipsense.records import DustReading, ProcessValue
from store import readings
from store.db import connect


def test_conflicts_are_listed_newest_first_with_what_differs(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with connect(database_url, autocommit=True) as conn:
        for rows in ([DustReading("cli-d", t, pm10=1.0)], [DustReading("cli-d", t, pm10=2.0)]):
            with conn.transaction():
                readings.write_records(conn, rows, received_at=t)
        for value in (5.0, 6.0):
            with conn.transaction():
                readings.write_records(conn, [ProcessValue("cli-p", t, "FIC101.PV", value)], received_at=t)
    assert main(["conflicts", "--url", database_url]) == 0
    out = capsys.readouterr().out
    assert "conflicts recorded ever: dust_readings 1, process_values 1" in out
    assert "cli-d at" in out and "pm10: 1 -> 2" in out
    assert "cli-p [FIC101.PV]" in out and "value: 5 -> 6" in out
    assert main(["conflicts", "--device", "cli-d", "--hours", "1", "--json", "--url", database_url]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["device_id"], row["stored"]["pm10"], row["offered"]["pm10"]) == ("cli-d", 1.0, 2.0)
