"""The researcher loop on the real database: train -> registry -> load -> identical scores; evaluate; activate;
the active model alerting in the streaming scorer with its contributions; CLI and API smoke tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kipsense import cli
from kipsense.records import DeviceKind, TruthEvent
from kipsense.settings import ApiSettings, MqttSettings, ScorerSettings
from models.artifacts import load_model
from models.assessment import assess
from models.detectors.registry import build_detector
from models.scorer import Scorer
from models.training import TrainingError, TrainSpec, fit, normal_rows, train
from store import alerts as store_alerts
from store import apikeys, ground_truth
from store import devices as store_devices
from store import models as store_models
from store.db import connect
from tests.models import scoring_data as data

TAGS = ["flow", "level", "pressure", "temp", "valve", "speed"]
T0 = datetime(2024, 5, 1, tzinfo=UTC)
N_TRAIN, N_TEST, FAULT = 400, 200, (120, 160)


def _line(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    mixing = np.random.default_rng(99).normal(size=(2, len(TAGS)))
    return 50.0 + latent @ mixing + 0.1 * rng.normal(size=(n, len(TAGS)))


@pytest.fixture(scope="module")
def line(database_url: str) -> dict[str, Any]:
    """A process line: a normal training week and a test window whose 'valve' breaks the correlation."""
    device = "line-1"
    train_x, test_x = _line(N_TRAIN, 1), _line(N_TEST, 2)
    test_x[FAULT[0] : FAULT[1], 4] += 3.0
    test_start = T0 + timedelta(seconds=60.0 * N_TRAIN)
    with connect(database_url) as conn:
        store_devices.create(conn, device_id=device, kind=DeviceKind.PROCESS)
        conn.commit()
    with connect(database_url, autocommit=True) as conn:
        data.write(conn, data.process_values(device, train_x, TAGS, T0))
        data.write(conn, data.process_values(device, test_x, TAGS, test_start))
        with conn.transaction():
            fault = (test_start + timedelta(seconds=60.0 * FAULT[0]), test_start + timedelta(seconds=60.0 * FAULT[1]))
            ground_truth.add_many(conn, [TruthEvent(device, "valve_bias", *fault, {})], run_id="t")
    return {"device": device, "train": train_x, "test": test_x, "test_start": test_start}


def _spec(line: dict[str, Any], **kw: Any) -> TrainSpec:
    return TrainSpec(
        name=kw.pop("name", "line1-pca"),
        detector=kw.pop("detector", "pca"),
        kind="process",
        devices=(line["device"],),
        start=T0,
        end=line["test_start"],
        params=kw.pop("params", {"n_components": 2}),
        **kw,
    )


def test_train_register_load_scores_identically(database_url: str, line: dict[str, Any]) -> None:
    with connect(database_url) as conn:
        first = train(conn, _spec(line))
        again = train(conn, _spec(line))
        conn.commit()
        loaded = load_model(store_models.find(conn, ref="line1-pca@1"))  # type: ignore[arg-type]
        rows = normal_rows(conn, _spec(line), first.columns)
    in_memory = fit(build_detector("pca", {"n_components": 2}), rows)
    assert (first.version, again.version) == (1, 2)
    assert first.fingerprint == again.fingerprint and first.fingerprint.startswith("sha256:")
    assert first.columns == sorted(TAGS) and first.n_samples == N_TRAIN
    assert first.versions["numpy"] == np.__version__ and first.active is False
    order = [TAGS.index(c) for c in first.columns]  # the registry keeps tags sorted
    test = line["test"][:, order]
    # the saved and loaded model scores bit for bit like the fitted one it was saved from
    np.testing.assert_array_equal(loaded.decision_function(test), in_memory.decision_function(test))
    # and the stored training rows are the written ones (an independent fit agrees to rounding)
    np.testing.assert_array_equal(rows.values, line["train"][:, order])
    direct = build_detector("pca", {"n_components": 2}).fit(line["train"][:, order])
    np.testing.assert_allclose(loaded.decision_function(test), direct.decision_function(test), rtol=1e-9)
    assert json.dumps(first.state, allow_nan=False)  # strict JSON, no pickle anywhere


def test_training_errors_are_clear(database_url: str, line: dict[str, Any]) -> None:
    with connect(database_url) as conn:
        with pytest.raises(TrainingError, match="unknown detector"):
            train(conn, _spec(line, detector="nope"))
        with pytest.raises(TrainingError, match="no complete normal rows"):
            train(conn, TrainSpec("empty", "ewma", "process", ("line-1",), T0 - timedelta(days=9), T0, ("flow",)))
        with pytest.raises(TrainingError, match="not columns of dust"):
            train(conn, TrainSpec("x", "ewma", "dust", ("line-1",), T0, T0 + timedelta(days=1), ("nope",)))


def test_evaluate_against_truth_with_baselines(database_url: str, line: dict[str, Any]) -> None:
    with connect(database_url) as conn:
        record = store_models.find(conn, ref="line1-pca")
        assert record is not None
        end = line["test_start"] + timedelta(seconds=60.0 * N_TEST)
        result = assess(conn, record, start=line["test_start"], end=end)
    m, none, every = (result.metrics[k] for k in ("detector", "no_alarm", "all_alarm"))
    assert (m.events, m.events_detected) == (1, 1)
    assert m.point_precision > 0.8 and m.mar < 0.2 and m.median_delay_s == 0.0
    assert none.event_recall == 0.0 and every.far == 1.0
    assert result.summary()["no_alarm"]["flagged_points"] == 0


def test_active_model_alerts_in_scorer_with_contributions(database_url: str, line: dict[str, Any]) -> None:
    with connect(database_url, autocommit=True) as conn:
        record = store_models.find(conn, ref="line1-pca")
        assert record is not None
        store_models.set_active(conn, model_id=record.model_id, active=True)
        scorer = Scorer(settings=ScorerSettings(), database_url=database_url, rules=())
        assert scorer.run_once(conn) == 0  # history before the activation is not scored
        live_start = datetime.now(UTC) + timedelta(seconds=5)
        data.write(conn, data.process_values(line["device"], line["test"], TAGS, live_start))
        # rows 12, 54 and 89 are normal rows beyond the 1 % limits (single-row crossings); the fault starts at 120
        assert scorer.run_once(conn) == 4
        assert scorer.run_once(conn) == 0
        (alert,) = store_alerts.list_alerts(conn, device_id=line["device"])
        assert alert.type == "model:line1-pca" and alert.occurrences == 4
        assert alert.first_time == live_start + timedelta(minutes=12)
        assert alert.details["window"]["start"] == (live_start + timedelta(minutes=FAULT[0])).isoformat()
        assert alert.value is not None and alert.threshold == 1.0 and alert.value > 1.0
        contrib = alert.details["contributions"]
        spe = np.array(contrib["spe"])
        assert alert.details["columns"][int(np.argmax(spe))] == "valve"
        store_models.set_active(conn, model_id=record.model_id, active=False)
        assert Scorer(settings=ScorerSettings(), database_url=database_url, rules=()).run_once(conn) == 0


def test_process_monitor_is_the_default_for_a_process_line_and_alerts_in_the_scorer(
    database_url: str, line: dict[str, Any], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", T0.isoformat(), "--end", line["test_start"].isoformat()]
    assert cli.main(["models", "train", "--name", "line1-monitor", "--devices", "line-1", *window]) == 0
    assert "line1-monitor@1 (process_monitor) on 400 rows" in capsys.readouterr().out
    with connect(database_url, autocommit=True) as conn:
        record = store_models.find(conn, ref="line1-monitor")
        assert record is not None and record.detector == "process_monitor"
        store_models.set_active(conn, model_id=record.model_id, active=True)
        scorer = Scorer(settings=ScorerSettings(), database_url=database_url, rules=())
        scorer.run_once(conn)
        live_start = datetime.now(UTC) + timedelta(hours=1)
        data.write(conn, data.process_values(line["device"], line["test"], TAGS, live_start))
        scorer.run_once(conn)
        alerts = [
            a for a in store_alerts.list_alerts(conn, device_id=line["device"]) if a.type == "model:line1-monitor"
        ]
        store_models.set_active(conn, model_id=record.model_id, active=False)
    (alert,) = alerts
    assert alert.first_time >= live_start - timedelta(hours=1)  # scored live, after the activation
    assert alert.value is not None and alert.threshold is not None and alert.value > alert.threshold
    # the fitted model flags the valve fault (rows 120-160), and few rows before it
    order = [TAGS.index(c) for c in record.columns]  # the model's columns are the stored tags, sorted
    flags = load_model(record).predict(line["test"][:, order])
    assert flags[FAULT[0] : FAULT[1]].mean() > 0.9 and flags[: FAULT[0]].mean() < 0.1
    assert cli.main(["models", "train", "--name", "x", "--devices", "line-1", "--kind", "dust", *window]) == 1
    assert "no complete normal rows" in capsys.readouterr().err  # stream_monitor on pm10: line-1 has none


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("KIPSENSE_DATABASE_URL", database_url)
    monkeypatch.setenv("KIPSENSE_STACK_ROOT", str(tmp_path / "no-stack"))
    return tmp_path


def test_cli_train_evaluate_activate_list_export(
    cli_env: Path, line: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    end = line["test_start"] + timedelta(seconds=60.0 * N_TEST)
    window = ["--start", T0.isoformat(), "--end", line["test_start"].isoformat()]
    assert (
        cli.main(
            [
                "models",
                "train",
                "--name",
                "cli-pca",
                "--detector",
                "pca",
                "--devices",
                "line-1",
                "--param",
                "n_components=2",
                *window,
            ]
        )
        == 0
    )
    assert "cli-pca@1 (pca) on 400 rows" in capsys.readouterr().out
    plots = cli_env / "plots"
    assert (
        cli.main(
            [
                "models",
                "evaluate",
                "cli-pca",
                "--start",
                line["test_start"].isoformat(),
                "--end",
                end.isoformat(),
                "--plots",
                str(plots),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["detector"]["events_detected"] == 1 and summary["all_alarm"]["event_recall"] == 1.0
    (png,) = summary["plots"]
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["models", "activate", "cli-pca"]) == 0
    assert cli.main(["models", "list", "--active", "--json"]) == 0
    out_lines = capsys.readouterr().out.split("\n", 1)  # "model N (...) activated", then the JSON list
    listed = json.loads(out_lines[1])
    assert [m["name"] for m in listed] == ["cli-pca"]
    assert cli.main(["models", "deactivate", "cli-pca"]) == 0
    assert cli.main(["models", "evaluate", "missing", *window]) == 1
    out = cli_env / "line.parquet"
    assert cli.main(["models", "export", "--devices", "line-1", "--out", str(out), *window]) == 0
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    table = pq.read_table(out)
    assert table.num_rows == N_TRAIN and table.column_names == ["device_id", "time", *sorted(TAGS)]
    npz = cli_env / "line.npz"
    assert cli.main(["models", "export", "--devices", "line-1", "--columns", "flow", "--out", str(npz), *window]) == 0
    with np.load(npz) as f:
        assert f["values"].shape == (N_TRAIN, 1) and f["time"][0] == np.datetime64(T0.replace(tzinfo=None), "us")
    assert cli.main(["models", "export", "--devices", "line-1", "--out", str(cli_env / "x.csv"), *window]) == 1


def test_api_researcher_loop(database_url: str, line: dict[str, Any], mqtt_settings: MqttSettings) -> None:
    with connect(database_url) as conn:
        _, researcher = apikeys.create(conn, name="r", role="researcher")
        _, operator = apikeys.create(conn, name="o", role="operator")
        conn.commit()
    app = create_app(settings=ApiSettings(), database_url=database_url, mqtt=mqtt_settings)
    body = {
        "name": "api-pca",
        "detector": "pca",
        "kind": "process",
        "devices": ["line-1"],
        "start": T0.isoformat(),
        "end": line["test_start"].isoformat(),
        "params": {"n_components": 2},
    }
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {researcher}"}
        assert client.post("/models", json=body, headers={"Authorization": f"Bearer {operator}"}).status_code == 403
        created = client.post("/models", json=body, headers=auth)
        assert created.status_code == 201, created.text
        model_id = created.json()["model_id"]
        end = line["test_start"] + timedelta(seconds=60.0 * N_TEST)
        ev = client.post(
            f"/models/{model_id}/evaluate",
            json={"start": line["test_start"].isoformat(), "end": end.isoformat()},
            headers=auth,
        )
        assert ev.status_code == 200 and set(ev.json()) >= {"detector", "no_alarm", "all_alarm"}
        assert client.post(f"/models/{model_id}/activate", headers=auth).json()["active"] is True
        listed = client.get("/models", params={"active": True}, headers=auth).json()["data"]
        assert [m["name"] for m in listed] == ["api-pca"]
        assert client.get(f"/models/{model_id}", headers=auth).json()["metrics"]["events"] == 1
        assert client.post(f"/models/{model_id}/deactivate", headers=auth).json()["active"] is False
        bad = client.post("/models", json={**body, "detector": "nope"}, headers=auth)
        assert bad.status_code == 422 and "unknown detector" in bad.json()["detail"]
        assert client.get("/models/999999", headers=auth).status_code == 404


def test_cli_trains_stream_monitor_by_default_and_the_scorer_runs_it(
    cli_env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    device = "line-2"  # its own device: the other tests write live rows for line-1
    train_x, test_x = _line(N_TRAIN, 1), _line(N_TEST, 2)
    test_x[FAULT[0] : FAULT[1], 4] += 3.0
    with connect(database_url, autocommit=True) as conn:
        store_devices.create(conn, device_id=device, kind=DeviceKind.PROCESS)
        data.write(conn, data.process_values(device, train_x, TAGS, T0))
    window = ["--start", T0.isoformat(), "--end", (T0 + timedelta(minutes=N_TRAIN)).isoformat()]
    argv = ["models", "train", "--name", "valve-monitor", "--devices", device, "--columns", "valve", *window]
    assert cli.main(argv) == 0
    assert "valve-monitor@1 (stream_monitor) on 400 rows" in capsys.readouterr().out
    with connect(database_url, autocommit=True) as conn:
        record = store_models.find(conn, ref="valve-monitor")
        assert record is not None and record.detector == "stream_monitor"
        assert "stream_state_" in record.state["fitted"]  # scoring continues from the training rows
        store_models.set_active(conn, model_id=record.model_id, active=True)
        scorer = Scorer(settings=ScorerSettings(), database_url=database_url, rules=())
        scorer.run_once(conn)  # history before the activation is not scored
        live_start = datetime.now(UTC) + timedelta(seconds=5)
        data.write(conn, data.process_values(device, test_x, TAGS, live_start))
        raised = scorer.run_once(conn)
        assert 1 <= raised <= 3  # one event, one alarm (a few at most), not one per faulty row
        (alert,) = store_alerts.list_alerts(conn, type="model:valve-monitor")
        onset = live_start + timedelta(minutes=FAULT[0])
        assert onset <= alert.first_time < onset + timedelta(minutes=10)
        store_models.set_active(conn, model_id=record.model_id, active=False)
