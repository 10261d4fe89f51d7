"""Model registry: list, train, evaluate, activate and deactivate detector models (researcher role)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import ConnDep, require
from api.inputs import Instant, RequestBody
from models.assessment import assess
from models.training import TrainingError, TrainSpec, train
from store import models as store_models
from store.apikeys import ApiKey
from store.models import ModelRecord

router = APIRouter(prefix="/models", tags=["models"])
Researcher = Annotated[ApiKey, Depends(require("researcher"))]


class ModelPublic(BaseModel):
    model_id: int
    name: str
    version: int
    detector: str
    kind: str
    params: dict[str, Any]
    columns: list[str]
    devices: list[str]
    train_start: datetime
    train_end: datetime
    n_samples: int
    fingerprint: str
    versions: dict[str, Any]
    metrics: dict[str, Any]
    severity: str
    active: bool
    created_by: str
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, r: ModelRecord) -> ModelPublic:
        return cls(**{k: getattr(r, k) for k in cls.model_fields})


class ModelsPublic(BaseModel):
    data: list[ModelPublic]


class ModelTrain(RequestBody):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    detector: str
    kind: Literal["dust", "met", "cycler", "process"]
    devices: list[str] = Field(min_length=1)
    start: Instant
    end: Instant
    columns: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    exclude_truth: bool = True
    severity: Literal["info", "warning", "major", "critical"] = "warning"


class ModelEvaluate(RequestBody):
    start: Instant
    end: Instant
    devices: list[str] | None = None
    kinds: list[str] | None = None
    tolerance_s: float = Field(default=0.0, ge=0)


def _actor(key: ApiKey) -> str:
    return f"{key.name}#{key.key_id}"


def _get(conn: ConnDep, model_id: int) -> ModelRecord:
    record = store_models.get(conn, model_id=model_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {model_id}")
    return record


@router.get("", response_model=ModelsPublic)
def list_models(conn: ConnDep, key: Researcher, active: bool | None = None) -> ModelsPublic:
    """Registered models, newest first."""
    return ModelsPublic(data=[ModelPublic.of(r) for r in store_models.list_models(conn, active=active)])


@router.post("", response_model=ModelPublic, status_code=status.HTTP_201_CREATED)
def train_model(body: ModelTrain, conn: ConnDep, key: Researcher) -> ModelPublic:
    """Fit a detector on stored normal history and register it (inactive)."""
    spec = TrainSpec(
        name=body.name,
        detector=body.detector,
        kind=body.kind,
        devices=tuple(body.devices),
        start=body.start,
        end=body.end,
        columns=tuple(body.columns),
        params=body.params,
        exclude_truth=body.exclude_truth,
        severity=body.severity,
    )
    try:
        record = train(conn, spec, created_by=_actor(key))
    except TrainingError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return ModelPublic.of(record)


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(model_id: int, conn: ConnDep, key: Researcher) -> ModelPublic:
    """One model with its metadata and latest evaluation."""
    return ModelPublic.of(_get(conn, model_id))


@router.post("/{model_id}/evaluate")
def evaluate_model(model_id: int, body: ModelEvaluate, conn: ConnDep, key: Researcher) -> dict[str, Any]:
    """Evaluate a model against the ground truth, beside the no-alarm and all-alarm baselines."""
    record = _get(conn, model_id)
    try:
        result = assess(
            conn,
            record,
            start=body.start,
            end=body.end,
            devices=body.devices,
            kinds=body.kinds,
            tolerance_s=body.tolerance_s,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    summary = {**result.summary(), "window": [body.start.isoformat(), body.end.isoformat()]}
    store_models.set_metrics(conn, model_id=model_id, metrics=summary)
    return summary


@router.post("/{model_id}/activate", response_model=ModelPublic)
def activate_model(model_id: int, conn: ConnDep, key: Researcher) -> ModelPublic:
    """Run the model in the streaming scorer from now on."""
    _get(conn, model_id)
    record = store_models.set_active(conn, model_id=model_id, active=True)
    return ModelPublic.of(_get(conn, model_id) if record is None else record)


@router.post("/{model_id}/deactivate", response_model=ModelPublic)
def deactivate_model(model_id: int, conn: ConnDep, key: Researcher) -> ModelPublic:
    """Stop scoring with the model."""
    _get(conn, model_id)
    record = store_models.set_active(conn, model_id=model_id, active=False)
    return ModelPublic.of(_get(conn, model_id) if record is None else record)
