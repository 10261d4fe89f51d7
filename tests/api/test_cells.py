"""``/cells``, ``/lots``, ``/batches`` against the real database: registration, lineage, cycles of an imported
file (the same as ``kipsense cells cycles``), roles and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cellfiles.reader import read
from kipsense.cellimport import import_file
from kipsense.records import DeviceKind, ProcessValue
from store import devices as store_devices
from store.db import connect
from tests.api.conftest import Keys
from tests.cellfiles.conftest import samples_dir
from tests.models import scoring_data as data

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def imported(database_url: str) -> Path:
    d = samples_dir()
    if d is None:
        pytest.fail("the real cycler files (shared/data/cycler-samples) were not found; set KIPSENSE_CYCLER_SAMPLES")
    path = d / "neware_uio.csv"
    with connect(database_url, autocommit=True) as conn:
        store_devices.create(conn, device_id="api-line", kind=DeviceKind.PROCESS)
        data.write(
            conn, [ProcessValue("api-line", data.T0, "temp_c", 61.0), ProcessValue("api-line", data.T0, "ph", 11.2)]
        )
        result = import_file(conn, path, cell_id="api-cell")
    assert result.status == "imported"
    return path


def test_lineage_registered_over_the_api(client: TestClient, keys: Keys, imported: Path) -> None:
    r = keys.headers("researcher")
    start, end = data.T0.isoformat(), data.T0.replace(hour=data.T0.hour + 1).isoformat()
    body = {"batch_id": "B-api", "device_id": "api-line", "start_time": start, "end_time": end, "product": "pCAM"}
    assert client.post("/batches", json=body, headers=r).status_code == 201
    assert client.post("/batches", json=body, headers=r).status_code == 409
    lot = client.post("/lots", json={"lot_id": "L-api", "material": "NMC811", "batch_ids": ["B-api"]}, headers=r)
    assert lot.status_code == 201 and lot.json()["batch_ids"] == ["B-api"]
    cell = {"cell_id": "C-api", "chemistry": "NMC811/Gr", "format": "pouch", "nominal_capacity_ah": 1.2,
            "formation_date": "2026-03-02", "lot_id": "L-api"}  # fmt: skip
    assert client.post("/cells", json=cell, headers=r).status_code == 201

    got = client.get("/cells/C-api", headers=keys.headers("operator"))
    assert got.status_code == 200
    detail = got.json()
    assert detail["lot"]["lot_id"] == "L-api" and [b["batch_id"] for b in detail["batches"]] == ["B-api"]
    batch = client.get("/batches/B-api", headers=r).json()
    assert {t["tag"]: t["mean"] for t in batch["tags"]} == {"ph": 11.2, "temp_c": 61.0}
    assert [c["cell_id"] for c in client.get("/cells", params={"lot_id": "L-api"}, headers=r).json()["data"]] == [
        "C-api"
    ]
    assert [x["lot_id"] for x in client.get("/lots", params={"batch_id": "B-api"}, headers=r).json()["data"]] == [
        "L-api"
    ]
    assert client.get("/batches", params={"lot_id": "L-api"}, headers=r).json()["data"][0]["batch_id"] == "B-api"


def test_refusals(client: TestClient, keys: Keys, imported: Path) -> None:
    r = keys.headers("researcher")
    assert client.post("/cells", json={"cell_id": "C-x", "lot_id": "L-none"}, headers=r).status_code == 422
    assert client.post("/cells", json={"cell_id": "bad id!"}, headers=r).status_code == 422
    assert client.post("/cells", json={"cell_id": "C-y", "notes": "a\x00b"}, headers=r).status_code == 422
    bad = {"batch_id": "B-x", "device_id": "api-line", "start_time": data.T0.isoformat(),
           "end_time": data.T0.isoformat()}  # fmt: skip
    assert client.post("/batches", json=bad, headers=r).status_code == 422
    assert client.get("/cells/none", headers=r).status_code == 404
    assert client.get("/cells/none/cycles", headers=r).status_code == 404
    assert client.get("/lots/none", headers=r).status_code == 404
    assert client.get("/batches/none", headers=r).status_code == 404
    # registration is a researcher's; the field role sees no cells
    assert client.post("/cells", json={"cell_id": "C-z"}, headers=keys.headers("operator")).status_code == 403
    assert client.get("/cells", headers=keys.headers("field")).status_code == 403
    assert client.get("/cells/api-cell/cycles", headers=keys.headers(None)).status_code == 401


@pytest.mark.parametrize("role", ["operator", "researcher", "admin"])
def test_cycles_of_an_imported_file(client: TestClient, keys: Keys, imported: Path, role: str) -> None:
    got = client.get("/cells/api-cell/cycles", headers=keys.headers(role))
    assert got.status_code == 200
    body = got.json()
    s = read(imported)
    assert body["cell_id"] == "api-cell" and len(body["cycles"]) == s.n_cycles
    for cyc in body["cycles"]:
        sel = s.cycle_index == cyc["cycle_index"]
        assert cyc["charge_capacity_ah"] == pytest.approx(float(s.charge_capacity[sel].max()), abs=1e-9)
        assert cyc["discharge_capacity_ah"] == pytest.approx(float(s.discharge_capacity[sel].max()), abs=1e-9)
        assert cyc["n_samples"] == int(sel.sum())
    tests = client.get("/cells/api-cell", headers=keys.headers(role)).json()["tests"]
    assert tests[0]["source"] == "import" and tests[0]["file_name"] == "neware_uio.csv"
    assert tests[0]["n_cycles"] == s.n_cycles


def test_an_imported_cell_is_described_and_a_live_test_added(
    client: TestClient, keys: Keys, imported: Path, database_url: str
) -> None:
    r = keys.headers("researcher")
    got = client.patch("/cells/api-cell", json={"chemistry": "LCO/Gr", "nominal_capacity_ah": 0.01, "notes": None},
                       headers=r)  # fmt: skip
    assert got.status_code == 200 and got.json()["chemistry"] == "LCO/Gr" and got.json()["notes"] == ""
    assert got.json()["nominal_capacity_ah"] == 0.01 and got.json()["maker"] is None
    assert client.patch("/cells/api-cell", json={"lot_id": "L-none"}, headers=r).status_code == 422
    assert client.patch("/cells/none", json={"maker": "x"}, headers=r).status_code == 404
    assert client.patch("/cells/api-cell", json={"maker": "x"}, headers=keys.headers("operator")).status_code == 403

    with connect(database_url, autocommit=True) as conn:
        store_devices.create(conn, device_id="api-ch", kind=DeviceKind.CYCLER)
        data.write(conn, data.cycler_samples("api-ch", n=200))
    body = {"device_id": "api-ch", "start_time": data.T0.isoformat()}
    created = client.post("/cells/C-live/tests", json=body, headers=r)
    assert created.status_code == 404  # no such cell yet
    assert client.post("/cells", json={"cell_id": "C-live"}, headers=r).status_code == 201
    created = client.post("/cells/C-live/tests", json=body, headers=r)
    assert created.status_code == 201 and created.json()["source"] == "live" and created.json()["end_time"] is None
    cycles = client.get("/cells/C-live/cycles", headers=r).json()["cycles"]  # a running test: from its samples
    assert len(cycles) >= 2 and all(c["n_samples"] > 0 for c in cycles)
    assert sum(c["n_samples"] for c in cycles) == 200
    wrong = client.post("/cells/C-live/tests", json={**body, "device_id": "api-line"}, headers=r)
    assert wrong.status_code == 422 and "not a cycler" in wrong.json()["detail"]
