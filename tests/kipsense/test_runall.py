"""``kipsense run`` puts the recommended process model in place once, through the same commands a researcher runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kipsense.runall import PROCESS_HISTORY, PROCESS_MODEL, ensure_process_model
from store import models as store_models
from store.db import connect


def test_the_demo_trains_and_activates_process_monitor_once(
    stack_env: dict[str, str], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the simulator keeps its device credentials under .local/ of the working dir
    env = {**os.environ, **stack_env, "KIPSENSE_DATABASE_URL": database_url}
    assert ensure_process_model(env) is True
    with connect(database_url) as conn:
        record = store_models.find(conn, ref=PROCESS_MODEL)
    assert record is not None and record.active and record.detector == "process_monitor"
    assert record.kind == "process" and list(record.devices) == ["line-1"]
    rows = PROCESS_HISTORY.total_seconds() / 10.0  # the line samples every 10 s
    assert rows - 2 <= record.n_samples <= rows + 1
    assert ensure_process_model(env) is False  # a second run leaves the model as it is
    with connect(database_url) as conn:
        assert [m.version for m in store_models.list_models(conn)] == [record.version]
