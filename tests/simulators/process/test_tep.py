"""Tennessee Eastman replay: exact values, onset conventions, ground truth."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from simulators.process import ProcessFrame
from simulators.tep import DESCRIPTIONS, VARIABLES, TepConfig, TepReplay, load_tep, tep_data_dir

START = datetime(2024, 2, 1, tzinfo=UTC)


def test_files_are_found_through_the_import_system() -> None:
    folder = tep_data_dir()
    spec = importlib.util.find_spec("bibmon")
    assert spec is not None and spec.submodule_search_locations is not None
    assert str(folder).startswith(tuple(spec.submodule_search_locations))
    assert len(list(folder.glob("d*.dat"))) == 44


def test_missing_bibmon_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="bibmon"):
        load_tep("d01", test=True)


@pytest.mark.parametrize(
    ("run", "test", "rows", "onset"),
    [("d00", False, 500, None), ("0", True, 960, None), ("d03", True, 960, 160), ("13", False, 480, 0)],
)
def test_shapes_and_onsets(run: str, test: bool, rows: int, onset: int | None) -> None:
    r = load_tep(run, test=test)
    assert r.X.shape == (rows, 52)
    assert r.onset == onset
    assert len(r.variables) == len(DESCRIPTIONS) == 52


def test_d00_is_read_transposed() -> None:
    raw = np.loadtxt(tep_data_dir() / "d00.dat")
    assert raw.shape == (52, 500)
    np.testing.assert_array_equal(load_tep("d00", test=False).X, raw.T)


def test_onset_conventions_visible_in_the_data() -> None:
    # Fault 6 (A feed loss) drives XMEAS(1) to zero: from row 160 in testing, from row 0 in training.
    te = load_tep("d06", test=True).X[:, VARIABLES.index("xmeas_1")]
    assert te[:160].min() > 0.1
    assert np.abs(te[160:170]).max() < 0.01
    tr = load_tep("d06", test=False).X[:, VARIABLES.index("xmeas_1")]
    assert np.abs(tr[:20]).max() < 0.01


def test_replay_reproduces_file_values_exactly_in_chunks() -> None:
    replay = TepReplay(TepConfig(run="d04", test=True, device_id="tep-4"))
    raw = np.loadtxt(tep_data_dir() / "d04_te.dat")
    parts = list(replay.chunks(START, 100))
    assert [p.values.shape[0] for p in parts] == [100] * 9 + [60]
    joined = ProcessFrame.concat(parts)
    np.testing.assert_array_equal(joined.values, raw)
    whole = replay.generate(START)
    np.testing.assert_array_equal(whole.values, raw)
    np.testing.assert_array_equal(joined.times, whole.times)
    assert whole.times[1] - whole.times[0] == np.timedelta64(180_000, "ms")
    values = ProcessFrame.concat(parts[:1]).to_values()
    assert values[0].tag == "xmeas_1"
    assert values[0].value == raw[0, 0]


def test_truth_event_lines_up_with_onset() -> None:
    replay = TepReplay(TepConfig(run="d06", test=True, device_id="tep-6"))
    frame = replay.generate(START)
    (ev,) = frame.truth
    assert ev.kind == "tep_fault_6"
    assert ev.device_id == "tep-6"
    assert ev.start == START + timedelta(minutes=3 * 160)
    assert ev.end == START + timedelta(minutes=3 * 960)
    rows = frame.rows_of(ev)
    assert (rows.start, rows.stop) == (160, 960)
    a_feed = frame.column("xmeas_1")
    assert a_feed[: rows.start].min() > 0.1
    assert np.abs(a_feed[rows]).max() < 0.05
    early = next(iter(replay.chunks(START, 100)))
    assert early.truth == ()
    assert TepReplay(TepConfig(run="d00")).generate(START).truth == ()


def test_bad_run_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.21"):
        load_tep("d22", test=True)
