"""Readers are not fitted to the development files: other layouts, locales, encodings and counter conventions of
the same quantities give the same normalised samples.

Each case writes one synthetic test in a layout an instrument (or a lab's own export) uses: two cycles of a
1 A charge for an hour (1 Ah) and a 0.9 A discharge for an hour (0.9 Ah) with rests between, one sample a
minute, so every per-cycle capacity is known exactly.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cellfiles.normalise import Samples, counter_increments, label_kind
from cellfiles.raw import CellFileError
from cellfiles.reader import read

T0 = datetime(2025, 3, 4, 5, 6, 7)


def profile() -> dict[str, np.ndarray]:
    """Per-sample columns of the synthetic test: time, current, voltage, cycle, step, labels, counters."""
    blocks = []  # (cycle, step, label, current A, minutes)
    step = 0
    for cycle in (1, 2):
        for label, amps in (("Rest", 0.0), ("CC Chg", 1.0), ("Rest", 0.0), ("CC DChg", -0.9)):
            step += 1
            blocks.append((cycle, step, label, amps, 60 if amps else 10))
    rows = []
    t = 0.0
    for cycle, st, label, amps, minutes in blocks:
        for k in range(minutes + 1):
            rows.append((t + 60.0 * k, cycle, st, label, amps, 60.0 * k))
        t += 60.0 * minutes + 1.0
    t_s = np.array([r[0] for r in rows])
    current = np.array([r[4] for r in rows])
    step_time = np.array([r[5] for r in rows])
    cap_step = np.abs(current) * step_time / 3600  # restarts every step
    return {
        "t": t_s,
        "cycle": np.array([r[1] for r in rows]),
        "step": np.array([r[2] for r in rows]),
        "label": np.array([r[3] for r in rows], dtype=object),
        "current": current,
        "voltage": 3.6 + 0.5 * np.sign(current) * step_time / 3600,
        "cap_step": cap_step,
        "step_time": step_time,
    }


def check(s: Samples, *, n: int) -> None:
    assert len(s) == n and s.n_cycles == 2
    for c in (1, 2):
        sel = s.cycle_index == c
        assert s.charge_capacity[sel].max() == pytest.approx(1.0, rel=1e-3)
        assert s.discharge_capacity[sel].max() == pytest.approx(0.9, rel=1e-3)
        assert s.charge_energy[sel].max() > 3.0  # about 1 Ah at 3.6-4.1 V
    assert np.all(s.current[s.step_type == "discharge"] < 0)
    assert set(s.step_type) == {"rest", "charge", "discharge"}


def _fmt(x: float, comma: bool) -> str:
    text = f"{x:.6f}"
    return text.replace(".", ",") if comma else text


def arbin_csv(p: dict[str, np.ndarray]) -> bytes:
    """Arbin MITS CSV, counters running on through the whole test (no restart)."""
    qc = np.cumsum(np.where(p["current"] > 0, np.diff(p["cap_step"], prepend=0).clip(0), 0))
    qd = np.cumsum(np.where(p["current"] < 0, np.diff(p["cap_step"], prepend=0).clip(0), 0))
    lines = ["Data_Point,Test_Time(s),Date_Time,Step_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),"
             "Charge_Capacity(Ah),Discharge_Capacity(Ah),Charge_Energy(Wh),Discharge_Energy(Wh),Internal_Resistance(Ohm),"
             "Aux_Temperature_1(C)"]  # fmt: skip
    for i in range(p["t"].size):
        when = (T0 + timedelta(seconds=float(p["t"][i]))).strftime("%m/%d/%Y %H:%M:%S")
        lines.append(
            f"{i + 1},{p['t'][i]},{when},{p['step_time'][i]},{p['step'][i] % 4 + 1},{p['cycle'][i]},"
            f"{p['current'][i]},{p['voltage'][i]},{qc[i]},{qd[i]},{qc[i] * 3.8},{qd[i] * 3.8},0.021,25.5"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def biologic_mpt(p: dict[str, np.ndarray]) -> bytes:
    """EC-Lab text export in a decimal-comma locale, cp1252, one signed (Q-Qo) counter and no cycle column."""
    q = np.cumsum(np.diff(p["cap_step"], prepend=0).clip(0) * np.sign(p["current"]))
    cols = "mode\tox/red\terror\tcontrol changes\tNs\ttime/s\tcontrol/V/mA\tEwe/V\tI/mA\tdq/mA.h\t(Q-Qo)/mA.h\t"
    head = [
        "EC-Lab ASCII FILE",
        "Nb header lines : 6",
        "",
        "Électrode de travail : Si/C — démo",
        f"Acquisition started on : {T0.strftime('%m/%d/%Y %H:%M:%S')}.000",
        cols,
    ]
    rows = [
        "\t".join(["1", "1", "0", "0", str(int(p["step"][i]) - 1), _fmt(p["t"][i], True), "0",
                   _fmt(p["voltage"][i], True), _fmt(1000 * p["current"][i], True), "0",
                   _fmt(1000 * q[i], True)]) + "\t"
        for i in range(p["t"].size)
    ]  # fmt: skip
    return ("\r\n".join(head + rows) + "\r\n").encode("cp1252")


def novonix_csv(p: dict[str, np.ndarray]) -> bytes:
    """Novonix export: summary block, run time in hours, one capacity counter restarting every step, UTF-8 BOM."""
    codes = {"Rest": 0, "CC Chg": 1, "CC DChg": 2}
    head = ["[Summary]", "Cell: demo", f"Started: {T0.isoformat(sep=' ')}", "[End Summary]", "[Data]",
            "Date and Time,Cycle Number,Step Type,Run Time (h),Step Time (h),Current (A),Potential (V),"
            "Capacity (Ah),Temperature (°C),Circuit Temperature (°C),Energy (Wh),Step Number"]  # fmt: skip
    rows = [
        f"{(T0 + timedelta(seconds=float(p['t'][i]))).strftime('%Y-%m-%d %I:%M:%S %p')},{p['cycle'][i] - 1},"
        f"{codes[str(p['label'][i])]},{p['t'][i] / 3600:.8f},{p['step_time'][i] / 3600:.8f},{p['current'][i]},"
        f"{p['voltage'][i]},{p['cap_step'][i]},24.0,30.0,{p['cap_step'][i] * 3.8},{p['step'][i]}"
        for i in range(p["t"].size)
    ]
    return codecs.BOM_UTF8 + ("\n".join(head + rows) + "\n").encode()


def generic_semicolon_utf16(p: dict[str, np.ndarray]) -> bytes:
    """A lab's own export: semicolons, decimal commas, UTF-16, unit suffixes, mA and mAh, HH:MM:SS test time."""
    qc = np.where(p["current"] > 0, p["cap_step"], 0) * 1000
    qd = np.where(p["current"] < 0, p["cap_step"], 0) * 1000
    lines = ["Export of channel 7", "operator;someone", "",
             "Record;Test_Time;Cycle;Step;Step_Type;Voltage_V;Current_mA;"
             "Charge_Capacity_mAh;Discharge_Capacity_mAh"]  # fmt: skip
    for i in range(p["t"].size):
        t = int(p["t"][i])
        hms = f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}"
        lines.append(
            f"{i + 1};{hms};{p['cycle'][i]};{p['step'][i]};{p['label'][i]};{_fmt(p['voltage'][i], True)};"
            f"{_fmt(1000 * p['current'][i], True)};{_fmt(qc[i], True)};{_fmt(qd[i], True)}"
        )
    return ("\n".join(lines) + "\n").encode("utf-16")


def maccor_unsigned(p: dict[str, np.ndarray]) -> bytes:
    """Maccor text: |I| with a C/D/R state, one Amp-hr counter restarting every step, d HH:MM:SS test time."""
    state = {"Rest": "R", "CC Chg": "C", "CC DChg": "D"}
    head = ["Today's Date:\t04 March 2025\tDate of Test:\t04 March 2025", "Filename:\tdemo",
            "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time"]  # fmt: skip
    rows = []
    for i in range(p["t"].size):
        t = p["t"][i]
        tt = f"  {int(t // 86400)}d {int(t % 86400 // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:05.2f}"
        when = (T0 + timedelta(seconds=float(t))).strftime("%m/%d/%Y %I:%M:%S %p")
        rows.append(
            f"{i + 1}\t{p['cycle'][i] - 1}\t{p['step'][i]}\t{tt}\t0d 00:00:00\t{p['cap_step'][i]:.6f}\t"
            f"{p['cap_step'][i] * 3.8:.6f}\t{abs(p['current'][i]):.5f}\t{p['voltage'][i]:.5f}\t"
            f"{state[str(p['label'][i])]}\t0\t{when}\t"
        )
    return ("\n".join(head + rows) + "\n").encode()


def neware_chinese(p: dict[str, np.ndarray]) -> bytes:
    """Neware BTS export in its default language: Chinese headers and step names, GB18030, mA and mAh."""
    names = {"Rest": "搁置", "CC Chg": "恒流充电", "CC DChg": "恒流放电"}
    lines = ["数据序号,循环序号,工步号,工步类型,总时间,电流(mA),电压(V),充电容量(mAh),放电容量(mAh),绝对时间"]
    for i in range(p["t"].size):
        t = int(p["t"][i])
        hms = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
        when = (T0 + timedelta(seconds=float(p["t"][i]))).strftime("%Y-%m-%d %H:%M:%S")
        qc = p["cap_step"][i] * 1000 if p["current"][i] > 0 else 0.0
        qd = p["cap_step"][i] * 1000 if p["current"][i] < 0 else 0.0
        lines.append(
            f"{i + 1},{p['cycle'][i]},{p['step'][i]},{names[str(p['label'][i])]},{hms},{1000 * p['current'][i]:.3f},"
            f"{p['voltage'][i]:.4f},{qc:.4f},{qd:.4f},{when}"
        )
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


VARIANTS: dict[str, tuple[str, str, Callable[[dict[str, np.ndarray]], bytes]]] = {
    "arbin": ("run.csv", "arbin_csv", arbin_csv),
    "biologic": ("run.mpt", "biologic_mpt", biologic_mpt),
    "novonix": ("run.csv", "novonix_csv", novonix_csv),
    "generic": ("run.txt", "generic_csv", generic_semicolon_utf16),
    "maccor": ("run.001", "maccor_txt", maccor_unsigned),
    "neware_chinese": ("run.csv", "neware_csv", neware_chinese),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_layouts_locales_and_encodings_read_the_same(tmp_path: Path, variant: str) -> None:
    name, fmt, write = VARIANTS[variant]
    p = profile()
    path = tmp_path / name
    path.write_bytes(write(p))
    s = read(path)
    assert s.format == fmt
    check(s, n=p["t"].size)
    assert s.test_time[-1] == pytest.approx(p["t"][-1], abs=1.0)
    if variant != "generic":  # the generic export has no date: its times are estimated and flagged
        assert s.start == T0.replace(tzinfo=UTC) and not s.time_estimated
    else:
        assert s.time_estimated


def test_instrument_time_zone(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    path = tmp_path / "run.csv"
    path.write_bytes(arbin_csv(profile()))
    s = read(path, tz=ZoneInfo("Europe/Helsinki"))
    assert s.start == T0.replace(tzinfo=ZoneInfo("Europe/Helsinki")).astimezone(UTC)


def test_counter_restarts_and_noise() -> None:
    q = np.array([0.0, 0.5, 1.0, 0.0, 0.2, 0.19, 0.4, 0.1])
    new_step = np.array([True, False, False, True, False, False, False, False])
    # restart at the step boundary; a small dip inside a step is noise; a drop below half restarts
    np.testing.assert_allclose(counter_increments(q, new_step), [0, 0.5, 0.5, 0, 0.2, 0, 0.21, 0.1])


@pytest.mark.parametrize(
    ("label", "kind"),
    [("CC Chg", 1), ("CCCV_Chg", 1), ("CC DChg", -1), ("D", -1), ("C", 1), ("Rest", 0), ("R", 0), ("OCV", 0),
     ("Pause", 2), ("Control", None), ("O", None), ("7", None), ("恒流放电", -1), ("恒流恒压充电", 1), ("搁置", 0)],
)  # fmt: skip
def test_step_labels(label: str, kind: int | None) -> None:
    assert label_kind(label) == kind


def test_not_a_cycler_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("name,value\nalpha,1\n")
    with pytest.raises(CellFileError, match=r"notes\.csv: not a recognised cycler file"):
        read(path)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(CellFileError, match="empty file"):
        read(tmp_path / "empty.csv")


def test_a_non_number_names_line_and_column(tmp_path: Path) -> None:
    data = arbin_csv(profile()).decode().splitlines()
    fields = data[30].split(",")
    fields[7] = "3.x"  # Voltage(V)
    data[30] = ",".join(fields)
    path = tmp_path / "run.csv"
    path.write_text("\n".join(data) + "\n")
    with pytest.raises(CellFileError, match=r"run\.csv: line 31: column 'Voltage\(V\)': '3\.x' is not a number"):
        read(path)


def test_an_export_of_several_cells_is_refused(samples: Path, tmp_path: Path) -> None:
    # the PEC layout with a second cell's rows appended: one file must be one test
    lines = (samples / "pec.csv").read_text(encoding="utf-8").splitlines()
    h = next(i for i, ln in enumerate(lines) if ln.startswith("Test,Cell,Rack"))
    other = [ln.replace("187,1,", "187,2,", 1) for ln in lines[h + 1 : h + 50]]
    path = tmp_path / "two.csv"
    path.write_text("\n".join([*lines, *other]) + "\n", encoding="utf-8")
    with pytest.raises(CellFileError, match=r"two\.csv: line \d+: holds 2 cells or channels \(column 'Cell'\)"):
        read(path)


def _arbin_workbook(p: dict[str, np.ndarray]) -> bytes:
    """Arbin MITS Pro's Excel export: an info sheet, the channel sheet split in two, a statistics sheet."""
    import io

    from openpyxl import Workbook

    rows = [line.split(",") for line in arbin_csv(p).decode().splitlines()]
    header, data = rows[0], rows[1:]
    book = Workbook()
    info = book.active
    assert info is not None
    info.title = "Info"
    info.append(["Test Name", "demo"])
    half = len(data) // 2
    for title, part in (("Channel_1-008", data[:half]), ("Channel_1-008_2", data[half:])):
        sheet = book.create_sheet(title)
        sheet.append(header)
        for r in part:
            when = datetime.strptime(r[2], "%m/%d/%Y %H:%M:%S")
            sheet.append([float(r[0]), float(r[1]), when, *(float(x) for x in r[3:])])
    stats = book.create_sheet("Statistics_1-008")
    stats.append(["Cycle_Index", "Test_Time(s)", "Current(A)", "Voltage(V)", "Charge_Capacity(Ah)"])
    stats.append([1, 100.0, 1.0, 4.0, 1.0])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_excel_exports(tmp_path: Path) -> None:
    p = profile()
    path = tmp_path / "channel.xlsx"
    path.write_bytes(_arbin_workbook(p))
    s = read(path)
    assert s.format == "arbin_xlsx" and s.meta["sheets"] == "Channel_1-008,Channel_1-008_2"
    check(s, n=p["t"].size)
    assert s.start == T0.replace(tzinfo=UTC)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CellFileError, match=r"cut\.xlsx: unreadable Excel workbook"):
        read(cut)


def test_units_on_the_line_under_the_names(tmp_path: Path) -> None:
    p = profile()
    lines = ["Time\tCycle\tStep\tCurrent\tVoltage\tCapacity", "h\t\t\tmA\tV\tmAh"]
    lines += [
        f"{p['t'][i] / 3600:.8f}\t{p['cycle'][i]}\t{p['step'][i]}\t{1000 * p['current'][i]:.3f}\t"
        f"{p['voltage'][i]:.4f}\t{1000 * p['cap_step'][i]:.4f}"
        for i in range(p["t"].size)
    ]
    path = tmp_path / "units.txt"
    path.write_text("\n".join(lines) + "\n")
    s = read(path)
    check(s, n=p["t"].size)
    assert s.test_time[-1] == pytest.approx(p["t"][-1], abs=0.1)
