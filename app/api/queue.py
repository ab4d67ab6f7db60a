"""Host actions. Every route here requires host authentication."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import HostDep
from app.api.deps import StationDep

router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["host"])


@router.post("/queue/skip")
def skip(station: StationDep) -> dict[str, str]:
    """Skip what is on air: the next item is heard within a second, after a short fade."""
    station.skip()
    return {"status": "skipping"}
