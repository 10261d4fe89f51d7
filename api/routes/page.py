"""The operator page at ``/`` and its vendored assets (no key needed: the page asks for one)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
def operator_page() -> FileResponse:
    """The live operator page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})
