"""Cells, the material lots they were made from and the process batches behind the lots; per-cycle summaries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import Analyst, ConnDep, Researcher
from api.schemas import (
    BatchCreate,
    BatchDetail,
    BatchesPublic,
    BatchPublic,
    CellCreate,
    CellCyclePublic,
    CellCyclesPublic,
    CellDetail,
    CellPublic,
    CellsPublic,
    CellTestCreate,
    CellTestPublic,
    CellUpdate,
    LotCreate,
    LotPublic,
    LotsPublic,
    TagSummaryPublic,
)
from store import cells as store_cells

router = APIRouter(tags=["cells"])
Limit = Annotated[int, Query(ge=1, le=10_000)]
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
PathId = Annotated[str, Path(pattern=_ID)]
QueryId = Annotated[str | None, Query(pattern=_ID)]
QueryText = Annotated[str | None, Query(pattern=r"^[^\x00]*$", max_length=200)]


def _refused(exc: store_cells.RegistryError) -> HTTPException:
    """409 for a taken id, 422 for an unknown reference or an invalid value in the body."""
    if isinstance(exc, store_cells.ExistsError):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(422, str(exc))


@router.get("/cells", response_model=CellsPublic)
def list_cells(
    conn: ConnDep, key: Analyst, lot_id: QueryId = None, chemistry: QueryText = None, limit: Limit = 1000
) -> CellsPublic:
    """Registered cells by id, optionally of one lot or chemistry."""
    rows = store_cells.list_cells(conn, lot_id=lot_id, chemistry=chemistry, limit=limit)
    return CellsPublic(data=[CellPublic.model_validate(c) for c in rows])


@router.post("/cells", response_model=CellPublic, status_code=status.HTTP_201_CREATED)
def register_cell(body: CellCreate, conn: ConnDep, key: Researcher) -> CellPublic:
    """Register a cell (409 if the id is taken, 422 for an unknown lot)."""
    try:
        cell = store_cells.register_cell(conn, **body.model_dump())
    except store_cells.RegistryError as exc:
        raise _refused(exc) from None
    return CellPublic.model_validate(cell)


@router.get("/cells/{cell_id}", response_model=CellDetail)
def get_cell(cell_id: PathId, conn: ConnDep, key: Analyst) -> CellDetail:
    """A cell with its lot, the process batches behind the lot, and its tests."""
    got = store_cells.lineage(conn, cell_id=cell_id)
    if got is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cell {cell_id!r}")
    return CellDetail(
        **CellPublic.model_validate(got.cell).model_dump(),
        lot=LotPublic.model_validate(got.lot) if got.lot else None,
        batches=[BatchPublic.model_validate(b) for b in got.batches],
        tests=[CellTestPublic.model_validate(t) for t in got.tests],
    )


@router.patch("/cells/{cell_id}", response_model=CellPublic)
def update_cell(cell_id: PathId, body: CellUpdate, conn: ConnDep, key: Researcher) -> CellPublic:
    """Change a cell's chemistry, format, capacity, maker, formation date, lot or notes."""
    try:
        cell = store_cells.update_cell(conn, cell_id=cell_id, changes=body.model_dump(exclude_unset=True))
    except store_cells.RegistryError as exc:
        raise _refused(exc) from None
    if cell is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cell {cell_id!r}")
    return CellPublic.model_validate(cell)


@router.post("/cells/{cell_id}/tests", response_model=CellTestPublic, status_code=status.HTTP_201_CREATED)
def add_test(cell_id: PathId, body: CellTestCreate, conn: ConnDep, key: Researcher) -> CellTestPublic:
    """Record that the cell runs (or ran) on a cycler channel from ``start_time``: a live test."""
    if store_cells.get_cell(conn, cell_id=cell_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cell {cell_id!r}")
    if body.end_time is not None and body.end_time < body.start_time:
        raise HTTPException(422, "a test must end after it starts")
    try:
        test_id = store_cells.add_test(
            conn, cell_id=cell_id, device_id=body.device_id, start_time=body.start_time, end_time=body.end_time
        )
        if body.end_time is not None:
            store_cells.rebuild_cycles(conn, test_id=test_id)
    except store_cells.RegistryError as exc:
        raise _refused(exc) from None
    test = store_cells.get_test(conn, test_id=test_id)
    assert test is not None  # noqa: S101 - inserted just above
    return CellTestPublic.model_validate(test)


@router.get("/cells/{cell_id}/cycles", response_model=CellCyclesPublic)
def cell_cycles(cell_id: PathId, conn: ConnDep, key: Analyst) -> CellCyclesPublic:
    """Per-cycle capacities, energies, efficiencies, resistance and temperature of every test of a cell."""
    if store_cells.get_cell(conn, cell_id=cell_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cell {cell_id!r}")
    rows = store_cells.cycles(conn, cell_id=cell_id)
    return CellCyclesPublic(cell_id=cell_id, cycles=[CellCyclePublic.model_validate(r) for r in rows])


@router.get("/lots", response_model=LotsPublic)
def list_lots(conn: ConnDep, key: Analyst, batch_id: QueryId = None, limit: Limit = 1000) -> LotsPublic:
    """Material lots by id, optionally only those made from one batch."""
    return LotsPublic(
        data=[LotPublic.model_validate(x) for x in store_cells.list_lots(conn, batch_id=batch_id, limit=limit)]
    )


@router.post("/lots", response_model=LotPublic, status_code=status.HTTP_201_CREATED)
def register_lot(body: LotCreate, conn: ConnDep, key: Researcher) -> LotPublic:
    """Register a material lot and the process batches it was made from."""
    try:
        lot = store_cells.register_lot(conn, **body.model_dump())
    except store_cells.RegistryError as exc:
        raise _refused(exc) from None
    return LotPublic.model_validate(lot)


@router.get("/lots/{lot_id}", response_model=LotPublic)
def get_lot(lot_id: PathId, conn: ConnDep, key: Analyst) -> LotPublic:
    """One material lot with its batches."""
    lot = store_cells.get_lot(conn, lot_id=lot_id)
    if lot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lot {lot_id!r}")
    return LotPublic.model_validate(lot)


@router.get("/batches", response_model=BatchesPublic)
def list_batches(
    conn: ConnDep, key: Analyst, device_id: QueryId = None, lot_id: QueryId = None, limit: Limit = 1000
) -> BatchesPublic:
    """Process batches, newest first, optionally of one process line device or one lot."""
    rows = store_cells.list_batches(conn, device_id=device_id, lot_id=lot_id, limit=limit)
    return BatchesPublic(data=[BatchPublic.model_validate(b) for b in rows])


@router.post("/batches", response_model=BatchPublic, status_code=status.HTTP_201_CREATED)
def register_batch(body: BatchCreate, conn: ConnDep, key: Researcher) -> BatchPublic:
    """Register a process batch: a time window of a process line device."""
    try:
        batch = store_cells.register_batch(conn, **body.model_dump())
    except store_cells.RegistryError as exc:
        raise _refused(exc) from None
    return BatchPublic.model_validate(batch)


@router.get("/batches/{batch_id}", response_model=BatchDetail)
def get_batch(batch_id: PathId, conn: ConnDep, key: Analyst) -> BatchDetail:
    """One batch with each process tag of its device summarised over the batch window."""
    batch = store_cells.get_batch(conn, batch_id=batch_id)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch {batch_id!r}")
    tags = [TagSummaryPublic.model_validate(t) for t in store_cells.batch_tags(conn, batch_id=batch_id)]
    return BatchDetail(**BatchPublic.model_validate(batch).model_dump(), tags=tags)
