"""The app factory: one FastAPI app serving the API, the WebSocket, pages and assets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from meterhub import __version__
from meterhub.alerts.live import start_alert_feed, stop_alert_feed
from meterhub.api import errors
from meterhub.api.routes import (
    alerts,
    audit,
    auth,
    commands,
    cost,
    dashboard,
    device_credentials,
    devices,
    health,
    ingest_admin,
    integrations,
    metrics,
    ota,
    readings,
    second_factor,
    tariffs,
    tokens,
    users,
)
from meterhub.config import Settings, load_settings
from meterhub.context import AppContext
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.live import start_live, stop_live
from meterhub.live.ws import router as live_router
from meterhub.services import maintenance
from meterhub.web import docs, pages
from meterhub.web.guards import BodyLimit, ClientAddress, HostGuard, parse_hosts
from meterhub.web.headers import SecurityHeaders

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
Hook = Callable[[FastAPI], Awaitable[None]]
# Routes that enforce a larger, route-specific body limit themselves (firmware bundles).
BODY_CAP_EXEMPT = ("/api/ota/bundles",)


def build_context(settings: Settings) -> AppContext:
    """The engine, session factory and secret for `settings`."""
    engine = make_engine(settings.database_url)
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        secret=settings.session_secret(),
    )


def create_app(
    settings: Settings | None = None,
    ctx: AppContext | None = None,
    start_hooks: list[Hook] | None = None,
    stop_hooks: list[Hook] | None = None,
) -> FastAPI:
    """A meterhub app. Its lifespan runs the live feed (hub, access refresher, and an MQTT
    subscription when `ctx.broker_target` is set), then `start_hooks`."""
    ctx = ctx or build_context(settings or load_settings())

    starts: list[Hook] = [
        start_live,
        start_alert_feed,
        maintenance.start_daily,
        *(start_hooks or []),
    ]
    stops: list[Hook] = [stop_live, stop_alert_feed, maintenance.stop_daily, *(stop_hooks or [])]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in starts:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(stops):
                await hook(app)

    app = FastAPI(
        title="meterhub", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(ClientAddress)
    app.add_middleware(BodyLimit, limit=ctx.settings.MAX_BODY_BYTES, exempt=BODY_CAP_EXEMPT)
    app.add_middleware(SecurityHeaders)
    # Outermost: a request for a host we do not serve (DNS rebinding) gets nothing else.
    app.add_middleware(HostGuard, allowed=parse_hosts(ctx.settings.ALLOWED_HOSTS))
    for module in (
        health,
        auth,
        second_factor,
        tokens,
        users,
        devices,
        device_credentials,
        audit,
        readings,
        cost,
        tariffs,
        dashboard,
        ingest_admin,
        integrations,
        metrics,
        commands,
        ota,
        alerts,
    ):
        app.include_router(errors.document_errors(module.router))
    app.include_router(live_router)
    docs.mount(app)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, routers flattened; the access-matrix test
    walks this so that a new route without an access rule fails it."""
    table: list[tuple[str, str]] = []
    for route in app.routes:
        flattened = getattr(route, "effective_route_contexts", None)
        for leaf in flattened() if flattened else [route]:
            path = getattr(leaf, "path", None) or getattr(
                getattr(leaf, "original_route", None), "path", None
            )
            if path is None or path.startswith("/static"):
                continue
            methods = getattr(leaf, "methods", None) or {"WEBSOCKET"}
            table.extend((m, path) for m in sorted(methods) if m != "HEAD")
    return sorted(set(table))
