"""Relay outputs (app/stream/relay.py): how each push to an Icecast server is doing."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.auth import HostDep
from app.api.deps import StationDep

router = APIRouter(prefix="/api", dependencies=[HostDep], tags=["station"])


class RelayOut(BaseModel):
    name: str
    target: str = Field(description="the Icecast server and mount, without the password")
    mount: str = Field(description="the station's mount it pushes")
    connected: bool
    since: datetime = Field(description="when it connected, or when it lost its connection")
    bytes_sent: int = Field(description="audio bytes sent to Icecast, all connections told")
    reconnects: int = Field(description="times it connected again after losing a connection")
    last_error: str | None = Field(description="why the latest connection or title update "
                                   "failed (it keeps trying); null: none yet")  # fmt: skip
    last_error_at: datetime | None


class RelaysOut(BaseModel):
    items: list[RelayOut] = Field(description="in the order of RADIO_RELAYS")


@router.get("/relays")
def relays(station: StationDep) -> RelaysOut:
    """Each relay output (RADIO_RELAYS) and how its push to Icecast is doing."""
    return RelaysOut(items=[RelayOut(**status) for status in station.relays.status()])
