"""A cell's predicted end of life, the process drivers of cell outcomes, and pictures of cells as PNG."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from api.deps import Analyst, ConnDep, Researcher
from models.cells import drivers as drv
from models.cells import plots, service
from models.cells.features import FeatureError
from store import cell_features as store_cf
from store import cells as store_cells

router = APIRouter(tags=["cells"])
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
PathId = Annotated[str, Path(pattern=_ID)]
ModelRef = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_.@-]{0,70}$")]
_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}


class LifePredictionPublic(BaseModel):
    n_cycles: int
    predicted_life: float
    lower: float
    upper: float
    early: bool
    predicted_at: datetime


class CellLifePublic(BaseModel):
    cell_id: str
    model: str
    status: Literal["waiting", "predicted", "ended", "unavailable"]
    n_cycles: int
    cycles_seen: int
    predicted_life: float | None = None
    lower: float | None = None
    upper: float | None = None
    interval: float | None = None
    observed_life: int | None = None
    early: bool | None = None
    early_threshold: float | None = None
    features: dict[str, float] = {}
    detail: str | None = None
    history: list[LifePredictionPublic] = []


class DriverTagPublic(BaseModel):
    tag: str
    importance: float


class DriversPublic(BaseModel):
    outcome: str
    cells: int
    lots: int
    cv_r2: float
    tags: list[DriverTagPublic]
    features: list[dict[str, Any]]
    partial_dependence: dict[str, dict[str, list[float]]]


def _cell_or_404(conn: Any, cell_id: str) -> None:
    if store_cells.get_cell(conn, cell_id=cell_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cell {cell_id!r}")


@router.get("/cells/{cell_id}/life", response_model=CellLifePublic)
def cell_life(cell_id: PathId, conn: ConnDep, key: Analyst, model: ModelRef = None) -> CellLifePublic:
    """The cell's predicted end of life (90 % interval) from its first N cycles, recomputed from its data now."""
    _cell_or_404(conn, cell_id)
    record = service.latest_model(conn, model)
    if record is None or record.detector != "cell_life":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no cell-life model" + (f" {model!r}" if model else ""))
    try:
        result = service.predict_cell(conn, record, cell_id, save=False)
    except FeatureError as exc:
        raise HTTPException(422, str(exc)) from None
    history = [
        LifePredictionPublic(
            n_cycles=p.n_cycles,
            predicted_life=p.predicted_life,
            lower=p.lower,
            upper=p.upper,
            early=p.early,
            predicted_at=p.predicted_at,
        )
        for p in store_cf.predictions(conn, cell_id=cell_id, model_id=record.model_id)
    ]
    return CellLifePublic(**result, history=history)


def _cycles(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise HTTPException(422, "cycles look like 2,10,100") from None


@router.get("/cells/{cell_id}/plots/{kind}.png", response_class=Response, responses=_PNG)
def cell_plot(
    cell_id: PathId,
    kind: Literal["fade", "qv", "dqdv"],
    conn: ConnDep,
    key: Analyst,
    cycles: Annotated[str | None, Query(pattern=r"^[0-9,]{1,200}$")] = None,
) -> Response:
    """A picture of one cell: capacity fade, discharge curves Q(V) or incremental capacity dQ/dV."""
    _cell_or_404(conn, cell_id)
    chosen = _cycles(cycles)
    cs = service.load_cells(conn, cell_ids=[cell_id], max_cycle=max(chosen or [100]))
    cell = cs.cells.get(cell_id)
    if cell is None:
        raise HTTPException(422, f"cell {cell_id!r} has no cycles yet")
    try:
        if kind == "fade":
            png = plots.capacity_fade(cs.cells, cs.lots, nominal_ah=cs.nominal.get(cell_id))
        else:
            png = (plots.qv_curves if kind == "qv" else plots.dqdv)(cell, cycles=chosen)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(png, media_type="image/png")


@router.get("/cell-analysis/fade.png", response_class=Response, responses=_PNG)
def fade_plot(conn: ConnDep, key: Analyst, lot: Annotated[str | None, Query(pattern=_ID)] = None) -> Response:
    """Capacity fade of every cell (or one lot's), coloured by material lot."""
    ids = [c.cell_id for c in store_cells.list_cells(conn, lot_id=lot, limit=2000)]
    cs = service.load_cells(conn, cell_ids=ids, max_cycle=0)
    if not cs.cells:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no cells with cycles")
    return Response(
        plots.capacity_fade(cs.cells, cs.lots, nominal_ah=next(iter(cs.nominal.values()), None)),
        media_type="image/png",
    )


def _drivers(conn: Any, outcome: str, model: str) -> drv.DriverAnalysis:
    cs = service.load_cells(conn, max_cycle=0)
    ids, names, x, groups = service.driver_inputs(conn, cs)
    if not ids:
        raise HTTPException(422, "no cells with a lot made from registered process batches with tag data")
    try:
        return drv.analyse(x, service.cell_outcomes(cs, ids)[outcome], groups, names, outcome=outcome, model=model)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


Outcome = Annotated[Literal["initial_capacity", "fade_rate", "life"], Query()]
DriverModel = Annotated[Literal["forest", "linear"], Query()]


@router.get("/cell-analysis/drivers", response_model=DriversPublic)
def drivers(conn: ConnDep, key: Researcher, outcome: Outcome = "fade_rate", model: DriverModel = "forest") -> Any:
    """Process tags of the batches behind the cells, ranked by how much they drive a cell outcome."""
    return _drivers(conn, outcome, model).to_json()


@router.get("/cell-analysis/drivers.png", response_class=Response, responses=_PNG)
def drivers_plot(
    conn: ConnDep, key: Researcher, outcome: Outcome = "fade_rate", model: DriverModel = "forest"
) -> Response:
    """The driver ranking and partial dependence as a picture."""
    return Response(plots.drivers(_drivers(conn, outcome, model)), media_type="image/png")
