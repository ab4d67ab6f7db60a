"""create_app(settings): the FastAPI app, whose lifespan puts the station on air."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.accounts.bootstrap import prepare_hosts
from app.accounts.ratelimit import FailureWindow, LoginThrottle
from app.api import router
from app.api.limits import BODY_LIMIT, refuse_declared_oversize
from app.config import Settings
from app.db import make_engine, make_sessions, upgrade_in_child
from app.news import ratings
from app.statelock import StateLock
from app.station import Station
from app.stream.http import HUB_STATE_KEY

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, lock: StateLock | None = None) -> FastAPI:
    """The app. Its lifespan takes the state folder's lock before it touches the database,
    unless the caller holds it already (`lock`: `radio serve` takes it first to fail early)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await asyncio.to_thread(upgrade_in_child, settings.sqlalchemy_url)
        engine = make_engine(settings.sqlalchemy_url)
        sessions = make_sessions(engine)
        await asyncio.to_thread(prepare_hosts, sessions, settings.setup_admin.get_secret_value())
        station = Station(settings, sessions)
        await station.start()
        try:
            yield {
                "settings": settings,
                "station": station,
                "login_throttle": LoginThrottle(),
                "new_ratings": FailureWindow(ratings.NEW_PER_ADDRESS, ratings.NEW_WINDOW_SECONDS),
                HUB_STATE_KEY: station.hub,
            }
        finally:
            await station.stop()
            engine.dispose()

    @asynccontextmanager
    async def one_station_per_state(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        held = lock or StateLock.acquire(settings.state_dir)
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            if lock is None:
                held.release()

    app = FastAPI(title=settings.station_name, lifespan=one_station_per_state,
                  max_body_size=BODY_LIMIT,
                  dependencies=[Depends(refuse_declared_oversize)])  # fmt: skip
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["Icy-MetaData", "Range"],
        expose_headers=["icy-metaint", "icy-name", "icy-br"],
    )
    app.include_router(router)
    return app
