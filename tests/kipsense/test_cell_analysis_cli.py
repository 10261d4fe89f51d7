"""The cell analytics commands end to end on the real database: fleet, lake, life model, drivers, pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kipsense.cli import main

pytestmark = pytest.mark.stack


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, *argv: str) -> str:
    monkeypatch.setenv("KIPSENSE_DATABASE_URL", database_url)
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_walkthrough(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("KIPSENSE_LAKE_ROOT", str(tmp_path / "lake"))

    def run(*argv: str) -> str:
        return _run(monkeypatch, capsys, database_url, *argv)

    truth = tmp_path / "truth.json"
    loaded = json.loads(run("cell-fleet", "load", "--batches", "6", "--cells-per-lot", "3", "--seed", "3",
                            "--truth", str(truth), "--json"))  # fmt: skip
    assert loaded["cells"] == 18 and loaded["batches"] == 6
    assert json.loads(truth.read_text())["true_drivers"]["fade_rate"]["tag"] == "reactor_ph"
    assert "cycler_samples:" in run("lake", "export", "--lag-s", "0")
    assert "(duckdb)" in run("lake", "features", "--engine", "duckdb", "--out", str(tmp_path / "features"))
    assert (tmp_path / "features" / "qv.parquet").exists()
    plot = tmp_path / "pvo.png"
    trained = json.loads(run("cell-life", "train", "--name", "life-cli", "--lake", "--plot", str(plot),
                             "--json"))  # fmt: skip
    assert trained["held_out"]["cells"] >= 1 and trained["cv"]["cells"] >= 10
    assert {"model", "baseline_mean_life", "baseline_fade_extrapolation"} <= set(trained["held_out"])
    assert plot.read_bytes().startswith(b"\x89PNG")
    predicted = json.loads(run("cell-life", "predict", "fc-0000", "--json"))
    assert predicted[0]["status"] == "ended" and predicted[0]["lower"] <= predicted[0]["upper"]
    assert "MAPE" in run("cell-life", "evaluate", "life-cli")
    drivers = json.loads(run("cell-drivers", "--outcome", "initial_capacity", "--json"))
    assert drivers[0]["lots"] == 6 and drivers[0]["tags"]
    out = tmp_path / "fade.png"
    run("cell-plot", "fade", "--out", str(out))
    assert out.read_bytes().startswith(b"\x89PNG")


def test_errors_are_clear(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("KIPSENSE_DATABASE_URL", database_url)
    monkeypatch.setenv("KIPSENSE_LAKE_ROOT", str(tmp_path / "nothing"))
    assert main(["lake", "features"]) == 1
    assert "no cycler samples" in capsys.readouterr().err
    assert main(["cell-life", "predict", "--model", "nope"]) == 1
    assert "no cell-life model" in capsys.readouterr().err
