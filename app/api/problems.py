"""What went wrong on the station and how it healed: the faults it lives with, for hosts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.auth import HostDep
from app.api.deps import StationDep

router = APIRouter(prefix="/api/station", dependencies=[HostDep], tags=["station"])


class ProblemOut(BaseModel):
    id: int
    key: str = Field(description="what failed: database, scheduler, encoder, decoder, playout, "
                     "disk:media, track:<id>, speech:<article id>, ...")  # fmt: skip
    what: str = Field(description="what went wrong, and what the station does about it")
    cause: str = Field(description="the error, as the failing part gave it")
    since: datetime
    last_seen: datetime
    count: int = Field(description="how many times it was met while open (retries included)")
    cleared_at: datetime | None = Field(description="when it was over; null while it lasts")
    cleared: str = Field(description="how it was over")


class ProblemsOut(BaseModel):
    open: int = Field(description="problems not yet over")
    items: list[ProblemOut] = Field(description="newest first; the last 100 at most")


@router.get("/problems")
def problems(station: StationDep) -> ProblemsOut:
    """Faults the station met since it started (each logged once, with its cause), open
    or cleared, newest first."""
    items = [ProblemOut.model_validate(p, from_attributes=True)
             for p in station.problems.snapshot()]  # fmt: skip
    return ProblemsOut(open=sum(p.cleared_at is None for p in items), items=items)
