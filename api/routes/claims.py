"""Claim codes: a field lead makes a short-lived single-use code (and a printable QR code); the device or a
technician's phone exchanges it once, within its window, for the device's broker credentials.

Redemption needs no API key: the code is the secret. Failed redemptions are counted per client address and
refused with 429 past a limit, so codes cannot be guessed at speed. Serve the API over HTTPS (deploy/README-tls.md):
the answer carries a password.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import ConnDep, require, site_scope
from api.inputs import RequestBody
from api.routes.field import CredentialsPublic, MqttDep, check_site, credentials_public, id_not_available
from kipsense import provisioning
from kipsense.provisioning import ProvisioningError
from kipsense.records import DeviceKind
from store import claims as store_claims
from store import devices as store_devices
from store.apikeys import ApiKey
from store.claims import Claim, ClaimState
from store.devices import DeviceExistsError

router = APIRouter(prefix="/claims", tags=["claims"])
FieldKey = Annotated[ApiKey, Depends(require("field"))]

#: Failed redemptions a client may make per window before it is refused for a while.
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=10)


class ClaimCreate(RequestBody):
    """The device the code is for: registered now if new, else it gets a fresh credential on redemption."""

    device_id: str = Field(max_length=200)
    kind: DeviceKind = DeviceKind.DUST
    site_id: str = "park"
    valid_for_s: int = Field(default=900, ge=60, le=7 * 86_400, description="the code's window in seconds")
    name: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    mobile: bool = False
    expected_interval_s: float = Field(default=10.0, gt=0, le=86_400)
    firmware: str | None = Field(default=None, max_length=100)


class ClaimPublic(BaseModel):
    claim_id: int
    device_id: str
    site_id: str
    code_hint: str = Field(description="last characters of the code, to tell printed labels apart")
    created_by: str
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None


class ClaimCreated(ClaimPublic):
    code: str = Field(description="shown once; only its hash is stored")
    redeem_url: str
    qr_svg_url: str
    qr_png_url: str


class ClaimsPublic(BaseModel):
    data: list[ClaimPublic]


def _public(c: Claim) -> ClaimPublic:
    return ClaimPublic(
        claim_id=c.claim_id,
        device_id=c.device_id,
        site_id=c.site_id,
        code_hint=c.code_hint,
        created_by=c.created_by,
        created_at=c.created_at,
        expires_at=c.expires_at,
        redeemed_at=c.redeemed_at,
    )


def _redeem_url(request: Request, code: str) -> str:
    return str(request.url_for("redeem_claim", code=code))


@router.post("", response_model=ClaimCreated, status_code=status.HTTP_201_CREATED)
def create_claim(body: ClaimCreate, request: Request, conn: ConnDep, key: FieldKey) -> ClaimCreated:
    """Make a single-use claim code for a device of one of the key's sites."""
    check_site(key, body.site_id)
    existing = store_devices.get(conn, device_id=body.device_id)
    scope = site_scope(key)
    if existing is not None and scope is not None and existing.site_id not in scope:
        # the same answer as creating a device with a taken id: nothing about which site has it
        raise id_not_available(body.device_id)
    spec = body.model_dump(exclude={"valid_for_s"})
    try:
        claim, code = provisioning.create_claim(
            conn, created_by=f"key:{key.key_id}:{key.name}", valid_for=timedelta(seconds=body.valid_for_s), **spec
        )
    except DeviceExistsError:
        conn.rollback()
        raise id_not_available(body.device_id) from None
    except ProvisioningError as exc:
        conn.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    qr = str(request.url_for("claim_qr", code=code))
    return ClaimCreated(
        **_public(claim).model_dump(),
        code=code,
        redeem_url=_redeem_url(request, code),
        qr_svg_url=qr + "?format=svg",
        qr_png_url=qr + "?format=png",
    )


@router.get("", response_model=ClaimsPublic)
def list_claims(conn: ConnDep, key: FieldKey) -> ClaimsPublic:
    """Recent claims of the key's sites (codes are never shown again)."""
    return ClaimsPublic(data=[_public(c) for c in store_claims.list_claims(conn, sites=site_scope(key))])


@router.get(
    "/{code}/qr",
    name="claim_qr",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
def claim_qr(
    code: str, request: Request, conn: ConnDep, key: FieldKey, format: Literal["svg", "png"] = "svg"
) -> Response:
    """A printable QR code of an open claim's redeem address."""
    claim = store_claims.find(conn, code=code)
    scope = site_scope(key)
    if claim is None or (scope is not None and claim.site_id not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such claim code")
    if claim.redeemed_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this claim code has already been used")
    qr = segno.make(_redeem_url(request, store_claims.normalise(code)), error="m")
    buf = io.BytesIO()
    if format == "png":
        qr.save(buf, kind="png", scale=8, border=4)
        return Response(buf.getvalue(), media_type="image/png")
    qr.save(buf, kind="svg", scale=8, border=4, title=f"Claim {claim.device_id} …{claim.code_hint}")
    return Response(buf.getvalue(), media_type="image/svg+xml")


_REFUSALS = {
    ClaimState.UNKNOWN: (status.HTTP_404_NOT_FOUND, "unknown claim code"),
    ClaimState.USED: (status.HTTP_409_CONFLICT, "this claim code has already been used; ask for a new one"),
    ClaimState.EXPIRED: (status.HTTP_410_GONE, "this claim code has expired; ask for a new one"),
}


@router.post("/{code}/redeem", name="redeem_claim", response_model=CredentialsPublic)
def redeem_claim(code: str, request: Request, conn: ConnDep, mqtt: MqttDep) -> CredentialsPublic:
    """Exchange a claim code, once and within its window, for the device's credentials (no API key)."""
    client = request.client.host if request.client else "unknown"
    if store_claims.recent_failures(conn, client=client, within=FAILURE_WINDOW) >= MAX_FAILURES:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed claim attempts; try again later",
            headers={"Retry-After": str(int(FAILURE_WINDOW.total_seconds()))},
        )
    if len(code) > 40:
        state, creds = ClaimState.UNKNOWN, None
        store_claims.record_attempt(conn, client=client, ok=False)
        conn.commit()
    else:
        state, creds = provisioning.redeem_claim(conn, mqtt, code=code, client=client)
    if creds is None:
        http_status, detail = _REFUSALS.get(state, _REFUSALS[ClaimState.UNKNOWN])
        raise HTTPException(http_status, detail)
    return credentials_public(creds)
