"""Every reader on the real files: formats recognised from the content, and per-cycle capacities checked against
an independent computation from the raw columns (the current integrated over time, per cycle and direction),
parsed here with the standard library and the instruments' own readers, not with the import code."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cellfiles.normalise import Samples
from cellfiles.raw import CellFileError
from cellfiles.reader import read

# file -> (format, function giving raw (time s, signed current A) per row in file order)
RawSeries = tuple[np.ndarray, np.ndarray]


def _rows(path: Path, delim: str, header_starts: str, encoding: str = "latin-1") -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding=encoding).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(header_starts))
    rows = [r for r in csv.reader(lines[i + 1 :], delimiter=delim) if r and any(x.strip() for x in r)]
    return next(csv.reader([lines[i]], delimiter=delim)), rows


def _hms(text: str) -> float:
    m = re.match(r"\s*(?:(\d+)d\s*)?(\d+):(\d+):([\d.]+)", text)
    assert m, text
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


def raw_arbin_res(p: Path) -> RawSeries:
    out = subprocess.run(["mdb-export", str(p), "Channel_Normal_Table"], capture_output=True, check=True, text=True)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    return np.array([float(r["Test_Time"]) for r in rows]), np.array([float(r["Current"]) for r in rows])


def raw_ndax(p: Path) -> RawSeries:
    import NewareNDA  # type: ignore[import-untyped]

    df = NewareNDA.read(str(p))
    t = (df["Timestamp"] - df["Timestamp"].iloc[0]).dt.total_seconds().to_numpy()
    return np.asarray(t, dtype=float), df["Current(mA)"].to_numpy(dtype=float) / 1000


def raw_mpr(p: Path) -> RawSeries:
    from galvani import BioLogic  # type: ignore[import-untyped]

    d = BioLogic.MPRfile(io.BytesIO(p.read_bytes())).data
    return d["time/s"].astype(float), d["I/mA"].astype(float) / 1000


def raw_maccor_001(p: Path) -> RawSeries:
    h, rows = _rows(p, "\t", "Rec#")
    t, i, st = h.index("TestTime"), h.index("Amps"), h.index("State")
    return (
        np.array([_hms(r[t]) for r in rows]),
        np.array([float(r[i]) * (-1 if r[st] == "D" else 1) for r in rows]),
    )


def raw_maccor_002(p: Path) -> RawSeries:
    h, rows = _rows(p, "\t", "Rec\t")
    # this export's TestTime is in minutes (one sample a minute at the start: 0, 1, 2 ... beside DPT Time)
    t, i, st = h.index("TestTime"), h.index("Current [A]"), h.index("Md")
    return (
        np.array([float(r[t]) * 60 for r in rows]),
        np.array([float(r[i]) * (-1 if r[st] == "D" else 1) for r in rows]),
    )


def raw_neware_uio(p: Path) -> RawSeries:
    h, rows = _rows(p, ",", "DataPoint", "utf-8")
    t, i = h.index("Cumulative Time"), h.index("Current(A)")
    return np.array([_hms(r[t]) for r in rows]), np.array([float(r[i]) for r in rows])


def raw_neware_nested(p: Path) -> RawSeries:
    rows = [r for r in csv.reader(p.read_text(encoding="latin-1").splitlines()) if r[:2] == ["", ""]]
    header, records = rows[0], rows[1:]
    t, i = header.index("Date"), header.index("Current(A)")
    stamps = [datetime.fromisoformat(r[t]).timestamp() for r in records]
    return np.array(stamps) - stamps[0], np.array([float(r[i]) for r in records])


def raw_pec(p: Path) -> RawSeries:
    h, rows = _rows(p, ",", "Test,Cell,Rack")
    t, i = h.index("Total Time (Seconds)"), h.index("Current (mA)")
    return np.array([float(r[t]) for r in rows]), np.array([float(r[i]) / 1000 for r in rows])


CASES: dict[str, tuple[str, Callable[[Path], RawSeries]]] = {
    "20160805_test001_45_cc_01.res": ("arbin_res", raw_arbin_res),
    "20260302_IFE_BTS85_2_9_8_1.ndax": ("neware_ndax", raw_ndax),
    "biol.mpr": ("biologic_mpr", raw_mpr),
    "maccor_001.txt": ("maccor_txt", raw_maccor_001),
    "maccor_002.txt": ("maccor_txt", raw_maccor_002),
    "neware_uio.csv": ("neware_csv", raw_neware_uio),
    "nw_regular_export_ife_example.csv": ("neware_csv_nested", raw_neware_nested),
    "pec.csv": ("pec_csv", raw_pec),
}


def integrated(t: np.ndarray, current: np.ndarray, cycle: np.ndarray) -> dict[int, tuple[float, float]]:
    """Charge and discharge Ah per cycle: trapezoids of the current, each interval counted in its end's cycle."""
    dq = 0.5 * (current[1:] + current[:-1]) * np.diff(t) / 3600
    out: dict[int, tuple[float, float]] = {}
    for c in np.unique(cycle):
        sel = dq[cycle[1:] == c]
        out[int(c)] = (float(sel[sel > 0].sum()), float(-sel[sel < 0].sum()))
    return out


def per_cycle(s: Samples) -> dict[int, tuple[float, float]]:
    return {
        int(c): (
            float(s.charge_capacity[s.cycle_index == c].max()),
            float(s.discharge_capacity[s.cycle_index == c].max()),
        )
        for c in np.unique(s.cycle_index)
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_reader_matches_the_integrated_current(samples: Path, name: str) -> None:
    fmt, raw = CASES[name]
    s = read(samples / name)
    t, current = raw(samples / name)
    assert s.format == fmt and len(s) == t.size and s.skipped_rows == 0
    assert not s.time_estimated and s.start.year >= 2000
    # sample times strictly increasing, test time spans what the raw file says
    assert np.all(np.diff(s.time_us) > 0)
    assert s.test_time[-1] - s.test_time[0] == pytest.approx(t[-1] - t[0], rel=1e-4, abs=1.0)
    # cycles counted from 1 without going back; counters cumulative within a cycle from 0
    assert s.cycle_index[0] == 1 and np.all(np.diff(s.cycle_index) >= 0)
    assert set(np.unique(s.step_type)) <= {"charge", "discharge", "rest", "pause"}
    same = np.diff(s.cycle_index) == 0
    assert np.all(np.diff(s.charge_capacity)[same] >= -1e-12)
    assert np.all(np.diff(s.discharge_capacity)[same] >= -1e-12)
    # the sign convention: positive current charges
    np.testing.assert_allclose(np.sign(s.current), np.sign(current), atol=0)
    ours, expected = per_cycle(s), integrated(t, current, s.cycle_index)
    scale = max(max(v) for v in expected.values())
    assert scale > 0
    for c, (qc, qd) in expected.items():
        assert ours[c][0] == pytest.approx(qc, rel=0.02, abs=0.005 * scale), (c, ours[c], (qc, qd))
        assert ours[c][1] == pytest.approx(qd, rel=0.02, abs=0.005 * scale), (c, ours[c], (qc, qd))


def test_nested_neware_export_matches_its_own_cycle_summary(samples: Path) -> None:
    path = samples / "nw_regular_export_ife_example.csv"
    s = read(path)
    summary = [r for r in csv.reader(path.read_text(encoding="latin-1").splitlines()) if r and r[0].strip()]
    header, rows = summary[0], summary[1:]
    qc_col, qd_col = header.index("Chg. Cap.(Ah)"), header.index("DChg. Cap.(Ah)")
    ours = per_cycle(s)
    assert len(rows) == len(ours)
    for k, r in enumerate(rows, start=1):
        assert ours[k][0] == pytest.approx(float(r[qc_col]), rel=2e-3, abs=2e-5)
        assert ours[k][1] == pytest.approx(float(r[qd_col]), rel=2e-3, abs=2e-5)


def test_the_bad_file_names_its_line(samples: Path) -> None:
    with pytest.raises(CellFileError, match=r"bad_custom_truncated\.csv: line 80: expected 10 fields, found 5"):
        read(samples / "bad_custom_truncated.csv")


def _truncate(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    cut = len(data) * 6 // 10
    if b"\0" not in data[:4096]:  # text: cut in the middle of a row
        start = data.rfind(b"\n", 0, cut) + 1
        end = data.find(b"\n", cut)
        cut = (start + end) // 2
    dst.write_bytes(data[:cut])


@pytest.mark.parametrize("name", sorted(CASES))
def test_truncated_copies_are_refused_with_the_place(samples: Path, tmp_path: Path, name: str) -> None:
    dst = tmp_path / name
    _truncate(samples / name, dst)
    with pytest.raises(CellFileError) as info:
        read(dst)
    msg = str(info.value)
    assert msg.startswith(str(dst))
    if b"\0" not in (samples / name).read_bytes()[:4096]:
        last_line = dst.read_bytes().count(b"\n") + 1  # the cut row is the file's last line
        assert re.search(rf": line {last_line}: expected \d+ fields, found \d+", msg), msg
    else:
        assert re.search(r"truncated|damaged|not a zip", msg), msg


def test_copies_import_the_same_under_any_name(samples: Path, tmp_path: Path) -> None:
    # the format comes from the content: a Maccor export named .csv and a PEC export named .dat
    shutil.copy(samples / "maccor_001.txt", tmp_path / "x.csv")
    shutil.copy(samples / "pec.csv", tmp_path / "y.dat")
    assert read(tmp_path / "x.csv").format == "maccor_txt"
    assert read(tmp_path / "y.dat").format == "pec_csv"
