"""`meterhub run` and `meterhub web`: start the parts in one process group and stop them
together on SIGTERM/Ctrl-C.

`run`: the embedded broker (its own process, when MQTT_BROKER_URL asks for it), ingest
(its own process, restarted if it dies), optional demo meters (a thread), and the web app
in this process. `web`: the web app alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from meterhub import logs
from meterhub.broker.errors import BrokerStartError
from meterhub.broker.url import BrokerTarget, resolve_broker
from meterhub.children import alerts_command, die_with_parent, ingest_command
from meterhub.config import Settings
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.migrate import upgrade
from meterhub.services import users
from meterhub.web.app import build_context, create_app

if TYPE_CHECKING:
    from meterhub.broker.embedded import EmbeddedBroker

log = logging.getLogger("meterhub")
INGEST_RESTART_MIN_S = 1.0
INGEST_RESTART_MAX_S = 30.0
DEMO_HISTORY_DAYS = 30
DEMO_HISTORY_INTERVAL_S = 60.0
DEMO_INTERVAL_S = 10.0
DEMO_SEED = 2026
DEMO_START_DELAY_S = 5.0


@dataclass
class Supervisor:
    """Keeps the ingest process running: restarts it with back-off if it exits."""

    argv: list[str]
    env: dict[str, str]
    name: str = "ingest"
    stopping: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        threading.Thread(target=self._watch, name=f"{self.name}-supervisor", daemon=True).start()

    def _watch(self) -> None:
        delay = INGEST_RESTART_MIN_S
        while not self.stopping.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(self.argv, env=self.env, preexec_fn=die_with_parent)
            code = self.process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = INGEST_RESTART_MIN_S
            log.error("%s exited with code %s; restarting in %.0f s", self.name, code, delay)
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, INGEST_RESTART_MAX_S)

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()


def _fail(message: str) -> NoReturn:
    """One clear line on stderr, exit code 1 (the server is not the command line here)."""
    sys.exit(f"error: {message}")


@contextlib.contextmanager
def _database(cfg: Settings) -> Iterator[Session]:
    """A committed-on-success session (migrated first: a cheap check when the command line
    migrated already, see `db.migrate`)."""
    engine = make_engine(cfg.database_url)
    try:
        upgrade(engine)
        with make_sessionmaker(engine)() as db:
            yield db
            db.commit()
    except SQLAlchemyError as exc:
        _fail(
            f"cannot use the database {cfg.database_url.split('@')[-1]}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    finally:
        engine.dispose()


def serve(
    cfg: Settings, *, host: str | None, port: int | None, ingest: bool, broker: bool, demo: int
) -> None:
    """Migrate, make sure an admin exists, start the parts, serve until stopped.

    The web app always gets a broker target for its live feed; only `run` (broker=True)
    starts the embedded broker when none answers."""
    logs.setup(cfg.LOG_LEVEL)
    with _database(cfg) as db:
        if users.ensure_default_admin(db):
            log.warning("created the default admin: admin / admin123 (change it at first login)")
    embedded: EmbeddedBroker | None = None
    supervisor = alerts = None
    demo_stop = threading.Event()
    try:
        target, embedded = _broker(cfg, start=broker)
        models = _demo_models(cfg, demo) if demo else []  # before ingest: one writer
        if ingest:
            supervisor = Supervisor(*ingest_command(_url(target), cfg.database_url, cfg.LOG_LEVEL))
            supervisor.start()
            argv, env = alerts_command(
                _url(target), cfg.database_url, cfg.LOG_LEVEL, cfg.SMTP_URL, cfg.SMTP_FROM
            )
            alerts = Supervisor(argv, env, name="alerts")
            alerts.start()
        if models:
            _run_demo_live(models, target, demo_stop)
        ctx = build_context(cfg)
        ctx.extras["broker_target"] = target
        parts = (demo_stop, supervisor, embedded)

        async def stop_parts(_app: object) -> None:
            # uvicorn re-raises SIGTERM once it has shut down, so code after
            # uvicorn.run() may never run: stop the children from the lifespan instead.
            _stop(*parts)
            if alerts is not None:
                alerts.stop()

        app = create_app(ctx=ctx, stop_hooks=[stop_parts])
        host = host or cfg.HOST
        port = port or cfg.PORT
        log.info("meterhub web on http://%s:%d", host, port)
        # Trusted proxies come from uvicorn's FORWARDED_ALLOW_IPS (default 127.0.0.1).
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            proxy_headers=True,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            ws_max_size=65536,
        )
    finally:
        if alerts is not None:
            alerts.stop()
        _stop(demo_stop, supervisor, embedded)


def _stop(
    demo_stop: threading.Event, supervisor: Supervisor | None, embedded: EmbeddedBroker | None
) -> None:
    """Stop demo meters, ingest and the embedded broker (idempotent)."""
    demo_stop.set()
    if supervisor is not None:
        supervisor.stop()
    if embedded is not None and embedded.running:
        embedded.stop()
        log.info("embedded broker stopped")


def _broker(cfg: Settings, start: bool) -> tuple[BrokerTarget, EmbeddedBroker | None]:
    """The broker to use, and the embedded one if `start` and none answers."""
    try:
        target, start_embedded = resolve_broker(cfg.MQTT_BROKER_URL, cfg.MQTT_PORT)
    except ValueError as exc:
        _fail(str(exc))
    if not start_embedded:
        log.info("using the MQTT broker at %s", target.display_url)
        return target, None
    if not start:
        log.warning(
            "no MQTT broker answers at %s yet; the live feed keeps trying", target.display_url
        )
        return target, None
    from meterhub.broker.embedded import start_embedded_broker

    try:
        # Persistent sessions: ingest's subscriptions survive a broker restart, so what
        # meters publish while ingest reconnects is queued for it.
        embedded = start_embedded_broker(
            cfg.MQTT_PORT,
            log_path=cfg.data_dir / "broker.log",
            persistence_path=cfg.data_dir / "broker-sessions.db",
        )
    except BrokerStartError as exc:
        _fail(str(exc))
    log.info("embedded MQTT broker (amqtt) on port %d", cfg.MQTT_PORT)
    return target, embedded


def _url(target: BrokerTarget) -> str:
    auth = ""
    if target.username:
        auth = (
            quote(target.username, safe="")
            + (f":{quote(target.password, safe='')}" if target.password else "")
            + "@"
        )
    return f"{'mqtts' if target.tls else 'mqtt'}://{auth}{target.host}:{target.port}"


def _demo_models(cfg: Settings, meters: int) -> list[Any]:
    """Register N demo meters and write their history if they have none; the models carry
    on from the stored energy and seq."""
    from sqlalchemy import func, select

    from meterhub.db.models import Device, Reading
    from meterhub.services import devices as device_service
    from meterhub.simulate import build_models, iter_model_history, make_serials
    from meterhub.telemetry.backfill import history_writer
    from meterhub.telemetry.store import TelemetryStore

    serials = make_serials(meters, DEMO_SEED)
    places = ["Kitchen", "Office", "Workshop", "Garage", "Heat pump", "Flat 2", "Studio"]
    energies: dict[str, float | None] = {}
    seqs: dict[str, int | None] = {}
    with _database(cfg) as db:
        for n, serial in enumerate(serials):
            device = db.scalar(select(Device).where(Device.serial_number == serial))
            if device is None:
                device = device_service.create(
                    db,
                    None,
                    serial,
                    name=f"Demo meter {n + 1}",
                    location=places[n % len(places)],
                    description="Simulated by meterhub --demo",
                )
            energies[serial] = device.last_energy
            seqs[serial] = db.scalar(
                select(func.max(Reading.seq)).where(Reading.device_id == device.id)
            )
    models = build_models(serials, "household", DEMO_SEED)
    fresh = [m for m in models if energies.get(m.serial) is None]
    for model in models:
        last_energy, last_seq = energies.get(model.serial), seqs.get(model.serial)
        if last_energy is not None:
            model.energy_kwh = last_energy
        if last_seq is not None:
            model.seq = last_seq
    if fresh:
        now = time.time()
        log.info("writing %d days of demo history for %d meters", DEMO_HISTORY_DAYS, len(fresh))
        ctx = build_context(cfg)
        write = history_writer(TelemetryStore(ctx.engine))
        for chunk in iter_model_history(
            fresh, now - DEMO_HISTORY_DAYS * 86400, now, DEMO_HISTORY_INTERVAL_S
        ):
            write(chunk)
        ctx.engine.dispose()
    return models


def _run_demo_live(models: list[Any], target: BrokerTarget, stop: threading.Event) -> None:
    """Run the demo models live in a thread, once ingest had time to subscribe (on a new
    embedded broker, a reading published before that would have no subscriber)."""
    from meterhub.simulate.runner import SimOptions, run_simulation

    def live() -> None:
        if stop.wait(DEMO_START_DELAY_S):
            return
        quiet = open(os.devnull, "w")  # noqa: SIM115 - the demo's progress line goes nowhere

        async def main() -> None:
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=lambda: (stop.wait(), loop.call_soon_threadsafe(done.set)), daemon=True
            ).start()
            await run_simulation(
                models,
                target,
                SimOptions(interval=DEMO_INTERVAL_S, seed=DEMO_SEED),
                stop=done,
                stream=quiet,
            )

        try:
            asyncio.run(main())
        except Exception:
            log.exception("demo meters stopped")
        finally:
            quiet.close()

    threading.Thread(target=live, name="demo-meters", daemon=True).start()
    log.info("demo: %d simulated meters publishing every %.0f s", len(models), DEMO_INTERVAL_S)
