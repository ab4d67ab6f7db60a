"""create_app(settings): the FastAPI app, whose lifespan puts the station on air."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.bootstrap import prepare_hosts
from app.accounts.ratelimit import FailureWindow, LoginThrottle
from app.api import live as live_api
from app.api import router
from app.api.errors import (
    CONCURRENT_CHANGES,
    changed_meanwhile,
    document_errors,
    validation_failed,
)
from app.api.limits import BODY_LIMIT, refuse_declared_oversize
from app.api.observe import LATENCY_KEY, STATUSES_KEY
from app.api.requests import REQUEST_ATTEMPTS_PER_MINUTE
from app.config import Settings
from app.db import make_engine, make_sessions, upgrade_in_child
from app.headers import security_headers
from app.live.icecast import IcecastIngest
from app.metrics import Histogram, Labels, RequestMetrics
from app.news import ratings
from app.statelock import StateLock
from app.station import Station
from app.stream.http import (
    HUB_STATE_KEY,
    LIVE_STATE_KEY,
    MOUNTS_STATE_KEY,
    SHIFT_STATE_KEY,
    STOPPING_STATE_KEY,
)

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, lock: StateLock | None = None) -> FastAPI:
    """The app. Its lifespan takes the state folder's lock before it touches the database,
    unless the caller holds it already (`lock`: `radio serve` takes it first to fail early)."""
    settings = settings or Settings()
    latency = Histogram("radio_http_request_duration_seconds",
                        "Time from a request's arrival to its response's start, by method and "
                        "route template.", ["method", "route"])  # fmt: skip
    statuses: dict[Labels, int] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await asyncio.to_thread(upgrade_in_child, settings.sqlalchemy_url)
        engine = make_engine(settings.sqlalchemy_url)
        sessions = make_sessions(engine)
        await asyncio.to_thread(prepare_hosts, sessions, settings.setup_admin.get_secret_value())
        station = Station(settings, sessions)
        await station.start()
        # What start-up loaded (modules, routes, the ORM's mappings) lives as long as the
        # station: out of the collector's full passes, which would otherwise walk it all
        # (~100 ms of CPU each) every so often after requests that make many rows.
        gc.freeze()
        login_throttle = LoginThrottle()  # sign-ins and live sources' credentials alike
        source_authenticate = live_api.source_authenticator(sessions, login_throttle)
        try:
            yield {
                "settings": settings,
                "station": station,
                "login_throttle": login_throttle,
                "source_authenticate": source_authenticate,
                LIVE_STATE_KEY: IcecastIngest(station.live, source_authenticate),
                "new_ratings": FailureWindow(ratings.NEW_PER_ADDRESS, ratings.NEW_WINDOW_SECONDS),
                # Listeners' song requests (app/api/requests.py), per client network.
                "request_searches": FailureWindow(settings.request_searches_per_minute, 60),
                "request_attempts": FailureWindow(REQUEST_ATTEMPTS_PER_MINUTE, 60),
                HUB_STATE_KEY: station.hub,
                MOUNTS_STATE_KEY: {p.encode(): m.hub for p, m in station.mounts.items()},
                SHIFT_STATE_KEY: station.timeshift,
                STOPPING_STATE_KEY: station.now_playing.close,
                LATENCY_KEY: latency,
                STATUSES_KEY: statuses,
            }
        finally:
            await station.stop()
            engine.dispose()

    @asynccontextmanager
    async def one_station_per_state(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        held = lock or StateLock.acquire(settings.state_dir, settings.sqlalchemy_url)
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            if lock is None:
                held.release()

    # /docs is the station's own page (app.api.docs); FastAPI's would load from a CDN.
    app = StationApp(title=settings.station_name, lifespan=one_station_per_state,
                     docs_url=None, redoc_url=None,
                     max_body_size=BODY_LIMIT,
                     dependencies=[Depends(refuse_declared_oversize)])  # fmt: skip
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["Icy-MetaData", "Range"],
        expose_headers=["icy-metaint", "icy-name", "icy-br"],
    )
    # Outermost of the added ones (SecurityHeaders wraps the whole stack: StationApp).
    app.add_middleware(RequestMetrics, latency=latency, statuses=statuses)
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, validation_failed)
    for race in CONCURRENT_CHANGES:
        app.add_exception_handler(race, changed_meanwhile)
    document_errors(app)
    return app


class StationApp(FastAPI):
    """FastAPI with SecurityHeaders around its whole middleware stack: the answers the
    framework gives before a route runs (a body over the app's limit, a server error) carry
    the security headers too, not only the routes' own."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


class SecurityHeaders:
    """Puts app.headers' security headers on every HTTP response, replacing any a route set:
    the policy is decided there and nowhere else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in security_headers(path, headers.get("content-type", "")).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
