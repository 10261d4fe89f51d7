"""``kipsense cells import`` against the real database: ``--json`` output, per-cycle summaries equal to the
samples, re-import of the same file is a no-op, and a file that fails leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cellfiles.reader import read
from kipsense.cellimport import import_file
from kipsense.cli import main
from kipsense.records import DeviceKind
from store import cells as store_cells
from store import devices as store_devices
from store.db import connect
from tests.cellfiles.conftest import samples_dir
from tests.models import scoring_data as data

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def samples() -> Path:
    d = samples_dir()
    if d is None:
        pytest.fail("the real cycler files (shared/data/cycler-samples) were not found; set KIPSENSE_CYCLER_SAMPLES")
    return d


@pytest.fixture(scope="module")
def conn(database_url: str) -> Any:
    with connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, stack_env: dict[str, str], database_url: str) -> None:
    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KIPSENSE_DATABASE_URL", database_url)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _samples_in_store(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) AS n FROM cycler_samples").fetchone()["n"])


@pytest.mark.usefixtures("cli_env")
def test_import_folder_json_cycles_and_reimport(
    capsys: pytest.CaptureFixture[str], samples: Path, tmp_path: Path, conn: Any
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ("pec.csv", "maccor_002.txt", "nw_regular_export_ife_example.csv", "bad_custom_truncated.csv"):
        (folder / name).symlink_to(samples / name)
    assert _run(capsys, "lots", "register", "L-A", "--material", "NMC", "--json")[0] == 0

    code, out, _ = _run(capsys, "cells", "import", str(folder), "--lot", "L-A", "--json")
    assert code == 1  # the truncated file failed; the others went in
    results = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    bad = results.pop("bad_custom_truncated.csv")
    assert bad["status"] == "failed" and "bad_custom_truncated.csv: line 80:" in bad["error"]
    expected_formats = {"pec.csv": "pec_csv", "maccor_002.txt": "maccor_txt",
                        "nw_regular_export_ife_example.csv": "neware_csv_nested"}  # fmt: skip
    for name, r in results.items():
        s = read(samples / name)
        assert r["status"] == "imported" and r["format"] == expected_formats[name]
        assert (r["samples"], r["cycles"]) == (len(s), s.n_cycles)
        assert r["cell_id"] == Path(name).stem

    # per-cycle summaries in the store are those of the samples
    code, out, _ = _run(capsys, "cells", "cycles", "nw_regular_export_ife_example", "--json")
    body = json.loads(out)
    assert code == 0 and body["cell_id"] == "nw_regular_export_ife_example"
    s = read(samples / "nw_regular_export_ife_example.csv")
    assert len(body["cycles"]) == s.n_cycles == 20  # the export's own cycle summary lists 20
    for cyc in body["cycles"]:
        sel = s.cycle_index == cyc["cycle_index"]
        assert cyc["charge_capacity_ah"] == pytest.approx(s.charge_capacity[sel].max(), abs=1e-9)
        assert cyc["discharge_capacity_ah"] == pytest.approx(s.discharge_capacity[sel].max(), abs=1e-9)
        assert cyc["max_temperature_c"] == pytest.approx(np.nanmax(s.temperature[sel]))
        for key in ("charge_energy_wh", "discharge_energy_wh", "coulombic_efficiency", "internal_resistance_ohm"):
            assert key in cyc
    code, out, _ = _run(capsys, "cells", "show", "pec", "--json")
    shown = json.loads(out)
    assert shown["lot"]["lot_id"] == "L-A" and shown["tests"][0]["file_format"] == "pec_csv"

    # the same files again (also under another name): nothing new
    before = _samples_in_store(conn)
    shutil.copy(samples / "pec.csv", tmp_path / "renamed.csv")
    code, out, _ = _run(capsys, "cells", "import", str(folder / "pec.csv"), str(tmp_path / "renamed.csv"), "--json")
    again = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [r["status"] for r in again] == ["already imported"] * 2
    assert {r["cell_id"] for r in again} == {"pec"} and again[0]["samples"] == results["pec.csv"]["samples"]
    assert _samples_in_store(conn) == before

    # forgotten, then imported again under another cell
    code, out, _ = _run(capsys, "cells", "remove-test", str(results["pec.csv"]["test_id"]), "--json")
    assert code == 0 and json.loads(out)["samples_removed"] == results["pec.csv"]["samples"]
    assert _samples_in_store(conn) == before - results["pec.csv"]["samples"]
    code, out, _ = _run(capsys, "cells", "import", str(folder / "pec.csv"), "--cell", "pec-7", "--json")
    assert code == 0 and json.loads(out)["status"] == "imported" and json.loads(out)["cell_id"] == "pec-7"
    assert _samples_in_store(conn) == before


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 6 // 10])
    return dst


@pytest.mark.parametrize("name", ["pec.csv", "biol.mpr", "20160805_test001_45_cc_01.res", "neware_uio.csv"])
def test_a_truncated_file_leaves_nothing(samples: Path, tmp_path: Path, conn: Any, name: str) -> None:
    before = _samples_in_store(conn)
    path = _truncated(samples / name, tmp_path / f"cut-{name}")
    r = import_file(conn, path)
    assert r.status == "failed" and r.error is not None and r.error.startswith(str(path))
    assert r.file_sha256 is not None
    assert store_cells.imported_test(conn, file_sha256=r.file_sha256) is None
    assert store_cells.get_cell(conn, cell_id=path.stem) is None
    assert store_devices.get(conn, device_id=f"file-{r.file_sha256[:12]}") is None
    assert _samples_in_store(conn) == before


def test_a_failure_after_writing_rolls_everything_back(samples: Path, tmp_path: Path, conn: Any) -> None:
    """The second file fails inside the COPY (same samples on the same channel): its cell and test vanish too."""
    first = import_file(conn, samples / "maccor_001.txt", channel="rig-7", cell_id="cell-first")
    assert first.status == "imported"
    before = _samples_in_store(conn)
    copy = tmp_path / "maccor_001_again.txt"
    copy.write_bytes((samples / "maccor_001.txt").read_bytes() + b"\n")  # another hash, the same samples
    second = import_file(conn, copy, channel="rig-7", cell_id="cell-second")
    assert second.status == "failed" and "already has samples" in (second.error or "")
    assert store_cells.get_cell(conn, cell_id="cell-second") is None
    assert second.file_sha256 and store_cells.imported_test(conn, file_sha256=second.file_sha256) is None
    assert _samples_in_store(conn) == before
    # archive channels never send: they are out of service, so no offline alert ever fires for them
    channel = store_devices.get(conn, device_id="rig-7")
    assert channel is not None and channel.kind == "cycler" and channel.status == "retired"


@pytest.mark.usefixtures("cli_env")
def test_registry_cli(capsys: pytest.CaptureFixture[str], conn: Any) -> None:
    store_devices.create(conn, device_id="line-cli", kind=DeviceKind.PROCESS)
    code, out, _ = _run(capsys, "batches", "register", "B-cli", "--device", "line-cli", "--start",
                        "2026-01-01T00:00:00", "--end", "2026-01-01T08:00:00", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["device_id"] == "line-cli"
    assert _run(capsys, "lots", "register", "L-cli", "--batch", "B-cli", "--json")[0] == 0
    code, out, _ = _run(capsys, "cells", "register", "C-cli", "--chemistry", "LFP/Gr", "--capacity", "2.5",
                        "--formed", "2026-01-05", "--lot", "L-cli", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["nominal_capacity_ah"] == 2.5
    code, out, _ = _run(capsys, "cells", "show", "C-cli", "--json")
    assert [b["batch_id"] for b in json.loads(out)["batches"]] == ["B-cli"]
    code, out, _ = _run(capsys, "cells", "list", "--lot", "L-cli", "--json")
    assert [c["cell_id"] for c in json.loads(out)] == ["C-cli"]
    code, _, err = _run(capsys, "cells", "register", "C-cli")
    assert code == 1 and "already exists" in err
    code, out, _ = _run(capsys, "cells", "update", "C-cli", "--maker", "lab 2", "--json")
    assert code == 0 and json.loads(out)["maker"] == "lab 2" and json.loads(out)["chemistry"] == "LFP/Gr"
    code, _, err = _run(capsys, "lots", "register", "L-bad", "--batch", "B-missing")
    assert code == 1 and "B-missing" in err

    # a live channel's samples become a test of the cell: cycles computed while it runs, stored once it ended
    store_devices.create(conn, device_id="ch-cli", kind=DeviceKind.CYCLER)
    data.write(conn, data.cycler_samples("ch-cli", n=200, reset_at=200))
    start = data.T0.isoformat()
    code, out, _ = _run(capsys, "cells", "assign", "C-cli", "--channel", "ch-cli", "--start", start, "--json")
    assert code == 0
    code, out, _ = _run(capsys, "cells", "cycles", "C-cli", "--json")
    running = json.loads(out)["cycles"]
    assert [c["cycle_index"] for c in running] == [1, 2, 3, 4] and sum(c["n_samples"] for c in running) == 200
    assert running[0]["charge_capacity_ah"] == pytest.approx(0.49)
    code, out, _ = _run(capsys, "cells", "rebuild", "C-cli", "--json")
    assert code == 0 and json.loads(out) == {"tests": 0, "cycles": 0}  # a running test has nothing stored
