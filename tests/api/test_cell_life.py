"""Cell life and process-driver routes on the real database: prediction with interval, pictures, drivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.cells import service
from simulators.cells_fleet import CellFleet, FleetConfig
from simulators.cells_fleet_store import load
from store import alerts as store_alerts
from store.db import Conn, connect
from tests.api.conftest import Keys

pytestmark = pytest.mark.stack
CFG = FleetConfig(n_batches=8, cells_per_lot=3, seed=4, lam_rate=4e-4, max_cycles=800, batch_hours=2.0)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Conn]:
    fleet = CellFleet.simulate(CFG)
    with connect(database_url) as c:
        load(c, fleet, detail_cycles=40)
        cs = service.load_cells(c, max_cycle=40)
        model, report = service.train_and_evaluate(cs, feature_set="discharge", n_cycles=40, ref_cycle=10)
        service.register_model(c, model, report, name="life-test")
        c.commit()
        yield c


def test_life_of_a_cell(client: TestClient, keys: Keys, conn: Conn) -> None:
    r = client.get("/cells/fc-0003/life", headers=keys.headers("operator"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ended" and body["model"] == "life-test@1" and body["n_cycles"] == 40
    assert body["lower"] <= body["predicted_life"] <= body["upper"]
    assert body["observed_life"] <= body["cycles_seen"]
    assert set(body["features"]) == set(service.load_model(service.latest_model(conn)).features)  # type: ignore[arg-type]
    assert client.get("/cells/nope/life", headers=keys.headers("operator")).status_code == 404
    assert client.get("/cells/fc-0003/life?model=missing", headers=keys.headers("operator")).status_code == 404
    assert client.get("/cells/fc-0003/life", headers=keys.headers("field")).status_code == 403
    assert client.get("/cells/fc-0003/life").status_code == 401


def test_a_cell_still_running_gets_a_prediction_and_an_early_one_alerts_once(conn: Conn) -> None:
    record = service.latest_model(conn)
    assert record is not None
    model = service.load_model(record)
    cs = service.load_cells(conn, max_cycle=40)
    early = [c for c in cs.cells if service.predict_cell(conn, record, c, save=False, cs=cs)["early"]]
    assert early, "the fleet has short-lived lots"
    cid = early[0]
    # the same cell as a running test that has seen only its first 60 cycles
    cells = {cid: cs.cells[cid].upto(60)}
    live = service.CellSet(cells, cs.nominal, cs.lots)
    out = service.predict_cell(conn, record, cid, cs=live)
    assert out["status"] == "predicted" and out["early"] and out["alert"]
    assert out["predicted_life"] >= 61 and out["early_threshold"] == pytest.approx(0.8 * model.train_mean_life)
    again = service.predict_cell(conn, record, cid, cs=live)
    assert "alert" not in again  # replaying the same data raises nothing new
    alerts = store_alerts.list_alerts(conn, type=f"cell_life:{cid}")
    assert len(alerts) == 1 and alerts[0].occurrences == 1 and alerts[0].details["cell_id"] == cid
    waiting = service.predict_cell(
        conn, record, cid, cs=service.CellSet({cid: cs.cells[cid].upto(20)}, cs.nominal, cs.lots)
    )
    assert waiting["status"] == "waiting"
    conn.commit()


@pytest.mark.parametrize("kind", ["fade", "qv", "dqdv"])
def test_pictures_of_a_cell(client: TestClient, keys: Keys, conn: Conn, kind: str) -> None:
    r = client.get(f"/cells/fc-0001/plots/{kind}.png?cycles=2,10,40", headers=keys.headers("researcher"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.content.startswith(PNG)


def test_bad_picture_requests(client: TestClient, keys: Keys, conn: Conn) -> None:
    h = keys.headers("researcher")
    assert client.get("/cells/fc-0001/plots/qv.png?cycles=5000", headers=h).status_code == 422
    assert client.get("/cells/fc-0001/plots/pie.png", headers=h).status_code == 422
    assert client.get("/cell-analysis/fade.png", headers=h).content.startswith(PNG)


def test_drivers(client: TestClient, keys: Keys, conn: Conn) -> None:
    r = client.get("/cell-analysis/drivers?outcome=initial_capacity", headers=keys.headers("researcher"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "initial_capacity" and body["lots"] == CFG.n_batches and body["tags"]
    assert client.get("/cell-analysis/drivers", headers=keys.headers("operator")).status_code == 403
    png = client.get("/cell-analysis/drivers.png?model=linear", headers=keys.headers("researcher"))
    assert png.status_code == 200 and png.content.startswith(PNG)
