"""Response and request bodies, named by role (``AlertPublic``, ``AlertsPublic``, ``AlertAction``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.inputs import Instant, RequestBody


class FromStore(BaseModel):
    """A body read from the store's dataclasses by attribute (``model_validate(row)``), without copying them."""

    model_config = ConfigDict(from_attributes=True)


class HealthPublic(BaseModel):
    status: str
    database: bool
    broker: bool


class DeviceHealthPublic(BaseModel):
    last_time: datetime | None
    rate_per_min: float = Field(description="readings per minute over the last ten minutes")
    battery: float | None
    rssi: float | None
    lat: float | None = Field(description="latest position (the fixed one when the readings carry none)")
    lon: float | None
    pm10: float | None
    pm25: float | None


class DevicePublic(BaseModel):
    device_id: str
    kind: str
    site_id: str
    name: str | None
    lat: float | None
    lon: float | None
    mobile: bool
    expected_interval_s: float
    firmware: str | None
    status: str
    last_seen: datetime | None
    last_received: datetime | None
    health: DeviceHealthPublic | None = Field(default=None, description="from the latest readings (dust sensors)")


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class AlertPublic(FromStore):
    alert_id: int
    device_id: str
    site_id: str
    type: str
    severity: str
    status: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]
    occurrences: int
    first_time: datetime
    last_time: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    assignee: str | None
    escalation_level: int
    escalated_at: datetime | None
    incident_id: int | None


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    next_cursor: int | None = Field(description="pass as `cursor` to get the next page; null on the last page")


class AlertEventPublic(FromStore):
    event_id: int
    at: datetime
    kind: str
    actor: str
    comment: str | None
    data: dict[str, Any]


class AlertDetailPublic(AlertPublic):
    events: list[AlertEventPublic]


class AlertAction(RequestBody):
    comment: str | None = Field(default=None, max_length=2000)


class AlertComment(RequestBody):
    text: str = Field(min_length=1, max_length=2000)


class AlertAssign(RequestBody):
    assignee: str | None = Field(default=None, max_length=200)


class BucketPublic(FromStore):
    time: datetime
    mean: float | None
    min: float | None
    max: float | None
    count: int


class ReadingsPublic(BaseModel):
    device_id: str
    metric: str
    bucket_s: int
    start: datetime
    end: datetime
    data: list[BucketPublic]


class TrackPointPublic(FromStore):
    time: datetime
    lat: float
    lon: float
    pm10: float | None


class TrackPublic(BaseModel):
    device_id: str
    bucket_s: int
    start: datetime
    end: datetime
    data: list[TrackPointPublic]


class IncidentPublic(FromStore):
    incident_id: int
    site_id: str
    status: str
    first_time: datetime
    last_time: datetime
    alert_count: int
    device_ids: list[str]
    wind_dir: float | None = Field(description="mean direction the wind came from, degrees (0 = north)")
    wind_speed: float | None
    likely_source: str | None = Field(description="the park source closest to the upwind bearing")
    source_bearing: float | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class IncidentsPublic(BaseModel):
    data: list[IncidentPublic]
    next_cursor: int | None


class IncidentDetailPublic(IncidentPublic):
    alerts: list[AlertPublic]


class CyclePublic(BaseModel):
    cycle_index: int
    n_samples: int
    charge_capacity: float | None
    discharge_capacity: float | None
    coulombic_efficiency: float | None
    energy_efficiency: float | None
    internal_resistance: float | None
    pulse_resistance: float | None
    max_temperature: float | None
    max_dtdt: float | None = Field(description="largest heating rate, °C per minute")
    complete: bool = Field(description="false for the last cycle of the range, which may still be running")


class CyclesPublic(BaseModel):
    device_id: str
    start: datetime
    end: datetime
    samples: int
    truncated: bool = Field(description="the range held more samples than one request reads")
    data: list[CyclePublic]


class PointPublic(BaseModel):
    name: str
    kind: str
    lat: float
    lon: float
    x: float = Field(description="metres east of the park origin")
    y: float = Field(description="metres north of the park origin")


class AreaPublic(BaseModel):
    x: float
    y: float
    rx: float
    ry: float


class WindPublic(BaseModel):
    dir_from: float
    speed: float
    samples: int
    since: datetime


class ParkPublic(BaseModel):
    origin_lat: float
    origin_lon: float
    fence: AreaPublic
    residential: list[AreaPublic]
    sources: list[PointPublic]
    wind: WindPublic | None = Field(description="vector-mean wind of the met stations over the last ten minutes")
    pm10_limit: float


# --- cells and their lineage --------------------------------------------------------------------------------

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
_TEXT = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL


class BatchCreate(RequestBody):
    batch_id: str = Field(pattern=_ID)
    device_id: str = Field(pattern=_ID, description="the process line device the batch ran on")
    start_time: Instant
    end_time: Instant
    product: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    notes: str = Field(default="", max_length=2000, pattern=_TEXT)


class BatchPublic(FromStore):
    batch_id: str
    device_id: str
    start_time: Instant
    end_time: Instant
    product: str | None
    notes: str
    lot_ids: list[str] = Field(description="lots made from this batch")


class TagSummaryPublic(FromStore):
    tag: str
    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


class BatchDetail(BatchPublic):
    tags: list[TagSummaryPublic] = Field(description="each process tag of the device over the batch window")


class BatchesPublic(BaseModel):
    data: list[BatchPublic]


class LotCreate(RequestBody):
    lot_id: str = Field(pattern=_ID)
    material: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    maker: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    produced_at: Instant | None = None
    batch_ids: list[Annotated[str, Field(pattern=_ID)]] = Field(
        default_factory=list, max_length=1000, description="batches the lot was made from"
    )
    notes: str = Field(default="", max_length=2000, pattern=_TEXT)


class LotPublic(FromStore):
    lot_id: str
    material: str | None
    maker: str | None
    produced_at: Instant | None
    notes: str
    batch_ids: list[str]


class LotsPublic(BaseModel):
    data: list[LotPublic]


class CellCreate(RequestBody):
    cell_id: str = Field(pattern=_ID)
    chemistry: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    format: str | None = Field(default=None, max_length=100, pattern=_TEXT, description="18650, 21700, pouch, coin ...")
    nominal_capacity_ah: float | None = Field(default=None, gt=0)
    maker: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    formation_date: date | None = None
    lot_id: str | None = Field(default=None, pattern=_ID)
    notes: str = Field(default="", max_length=2000, pattern=_TEXT)


class CellUpdate(RequestBody):
    """Fields to change; those left out stay as they are."""

    chemistry: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    format: str | None = Field(default=None, max_length=100, pattern=_TEXT)
    nominal_capacity_ah: float | None = Field(default=None, gt=0)
    maker: str | None = Field(default=None, max_length=200, pattern=_TEXT)
    formation_date: date | None = None
    lot_id: str | None = Field(default=None, pattern=_ID)
    notes: str | None = Field(default=None, max_length=2000, pattern=_TEXT)


class CellTestCreate(RequestBody):
    device_id: str = Field(pattern=_ID, description="the cycler channel the cell runs on")
    start_time: Instant
    end_time: Instant | None = Field(default=None, description="leave out while the test runs")


class CellPublic(FromStore):
    cell_id: str
    chemistry: str | None
    format: str | None
    nominal_capacity_ah: float | None
    maker: str | None
    formation_date: date | None
    lot_id: str | None
    notes: str


class CellsPublic(BaseModel):
    data: list[CellPublic]


class CellTestPublic(FromStore):
    test_id: int
    device_id: str = Field(description="the cycler channel")
    start_time: datetime
    end_time: datetime | None = Field(description="null while the test runs")
    source: str = Field(description="live or import")
    file_name: str | None
    file_sha256: str | None
    file_format: str | None
    n_samples: int | None
    n_cycles: int


class CellDetail(CellPublic):
    lot: LotPublic | None
    batches: list[BatchPublic] = Field(description="the process batches the cell's lot was made from")
    tests: list[CellTestPublic]


class CellCyclePublic(BaseModel):
    test_id: int
    cycle_index: int
    start_time: datetime
    end_time: datetime
    test_time_start_s: float | None
    test_time_end_s: float | None
    n_samples: int
    charge_capacity_ah: float | None
    discharge_capacity_ah: float | None
    charge_energy_wh: float | None
    discharge_energy_wh: float | None
    coulombic_efficiency: float | None
    energy_efficiency: float | None
    internal_resistance_ohm: float | None = Field(description="median of the resistances the cycler reported")
    max_temperature_c: float | None
    min_voltage_v: float | None
    max_voltage_v: float | None


class CellCyclesPublic(BaseModel):
    cell_id: str
    cycles: list[CellCyclePublic]
