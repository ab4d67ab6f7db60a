"""Named dependencies for the routers."""

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.station import Station


def _station(request: Request) -> Station:
    return request.state.station  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.state.settings  # type: ignore[no-any-return]


StationDep = Annotated[Station, Depends(_station)]
SettingsDep = Annotated[Settings, Depends(_settings)]
