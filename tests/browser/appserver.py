"""The real app under uvicorn in a thread, on a free port with its own SQLite file, plus demo
data: what the browser tests and scripts/screenshots.py drive."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from meterhub.config import load_settings
from meterhub.context import AppContext
from meterhub.db.migrate import upgrade
from meterhub.db.models import Device
from meterhub.services import devices as device_service
from meterhub.services import users as user_service
from meterhub.web.app import build_context, create_app, route_table
from tests.support import free_port


def _ensure_routers(app: FastAPI) -> None:
    """Include the dashboard and /ws routers when app.py does not (yet) do so itself."""
    served = {path for _, path in route_table(app)}
    if "/login" not in served:
        from meterhub.web import pages

        app.include_router(pages.router)
        # the /static mount must stay last: move it behind the page routes
        mounts = [r for r in app.router.routes if getattr(r, "path", "") == "/static"]
        for mount in mounts:
            app.router.routes.remove(mount)
            app.router.routes.append(mount)
    if "/ws" not in served:
        from meterhub.live import ws

        app.include_router(ws.router)


class AppServer:
    """Start with `start()`, stop with `stop()`; `url` is the base URL."""

    def __init__(self, data_dir: Path, tz: str = "Europe/Berlin") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = load_settings(
            {
                "DATABASE_URL": f"sqlite:///{data_dir / 'meterhub.db'}",
                "METERHUB_DATA_DIR": data_dir,
                "METERHUB_TZ": tz,
            }
        )
        self.ctx: AppContext = build_context(self.settings)
        upgrade(self.ctx.engine)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def build_app(self) -> FastAPI:
        from meterhub.live.lifespan import start_live, stop_live
        from meterhub.web import app as app_module

        async def remember_loop(app: FastAPI) -> None:
            self.loop = asyncio.get_running_loop()

        # create_app runs the live feed itself now; older trees needed it as a hook
        builtin_live = hasattr(app_module, "start_live")
        app = create_app(
            ctx=self.ctx,
            start_hooks=[remember_loop] if builtin_live else [start_live, remember_loop],
            stop_hooks=[] if builtin_live else [stop_live],
        )
        _ensure_routers(app)
        return app

    def start(self) -> AppServer:
        config = uvicorn.Config(
            self.build_app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_ping_interval=None,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="browser-app", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.ctx.engine.dispose()

    # ---- data ------------------------------------------------------------------------
    def add_user(
        self, name: str, password: str, role: str = "user", must_change: bool = False, **fields: Any
    ) -> int:
        with self.ctx.sessions() as db:
            user = user_service.create(
                db, None, name, password, role=role, must_change_password=must_change, **fields
            )
            db.commit()
            return user.id

    def add_device(
        self,
        serial: str,
        name: str | None = None,
        location: str | None = None,
        users: Iterable[int] = (),
    ) -> int:
        with self.ctx.sessions() as db:
            device = device_service.create(db, None, serial, name=name, location=location)
            for user_id in users:
                device_service.assign(db, None, device, user_service.get(db, user_id))
            db.commit()
            return device.id

    def set_online(self, serial: str, online: bool) -> None:
        with self.ctx.sessions() as db:
            device = device_service.by_serial(db, serial)
            assert isinstance(device, Device)
            device.online = online
            db.commit()

    def write_history(
        self,
        serials: list[str],
        days: float,
        interval_s: float = 300.0,
        profile: str = "household",
        seed: int = 7,
        end_ts: float | None = None,
    ) -> None:
        """Simulated readings for `serials` over the `days` before now, through the
        ingest store (rollups included)."""
        from meterhub.ingest.backfill import history_writer
        from meterhub.simulate import build_models, iter_model_history
        from meterhub.store import TelemetryStore

        end = time.time() if end_ts is None else end_ts
        models = build_models(serials, profile, seed)
        write = history_writer(TelemetryStore(self.ctx.engine))
        for chunk in iter_model_history(models, end - days * 86400, end, interval_s):
            write(chunk)

    # ---- live ------------------------------------------------------------------------
    def _hub(self) -> Any:
        hub = self.ctx.live_hub
        assert hub is not None, "the live hub is not running"
        return hub

    def publish_reading(self, serial: str, ts: float | None = None, **values: float) -> None:
        """Push a reading to /ws viewers as the MQTT feed would."""
        from meterhub.live.hub import reading_message

        hub = self._hub()
        message = reading_message(serial, time.time() if ts is None else ts, values)
        assert self.loop is not None
        self.loop.call_soon_threadsafe(hub.publish_reading, serial, message)

    def publish_status(self, serial: str, online: bool) -> None:
        hub = self._hub()
        assert self.loop is not None
        self.loop.call_soon_threadsafe(hub.publish_status, serial, online)
