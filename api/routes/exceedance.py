"""EU exceedance accounting of the dust network per calendar year, as JSON or CSV."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel

from api.deps import ConnDep, require
from kipsense import exceedance
from store.apikeys import ApiKey

router = APIRouter(prefix="/exceedance", tags=["exceedance"])

Analyst = Annotated[ApiKey, Depends(require("operator", "researcher"))]


class ExceedancePublic(BaseModel):
    year: int
    limit_set: str
    metric: str
    limit: float
    allowed_days: int | None
    device_id: str
    site_id: str
    valid_days: int
    data_capture: float
    exceedance_days: int
    max_daily_mean: float | None
    min_data_capture: float
    verdict: Literal["complies", "exceeds", "insufficient data", "no allowance"]
    #: True/False only with a verdict; None for "insufficient data" and "no allowance".
    complies: bool | None


class ExceedancesPublic(BaseModel):
    data: list[ExceedancePublic]
    count: int


@router.get("", response_model=ExceedancesPublic, responses={200: {"content": {"text/csv": {}}}})
def report(
    conn: ConnDep,
    key: Analyst,
    year: Annotated[int, Query(ge=1970, le=9998)],
    limits: Annotated[str, Query(description="limit set: current (2008/50/EC) or 2030 ((EU) 2024/2881)")] = "current",
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of the calendar days")] = "UTC",
    format: Literal["json", "csv"] = "json",
) -> ExceedancesPublic | Response:
    """Valid days and daily-limit exceedance days per fixed dust station for one calendar year."""
    try:
        rows = exceedance.report(conn, year=year, limit_set=limits, tz=tz)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if format == "csv":
        return Response(
            exceedance.to_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="exceedance-{year}-{limits}.csv"'},
        )
    return ExceedancesPublic(data=[ExceedancePublic(**asdict(r)) for r in rows], count=len(rows))
