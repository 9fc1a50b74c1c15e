"""`meterhub run` and `meterhub web`: start the parts in one process group and stop them
together on SIGTERM/Ctrl-C.

Supervision only: `run` starts the embedded broker (its own process, when
MQTT_BROKER_URL asks for it), ingest (its own process, restarted if it dies), optional
demo meters (:mod:`meterhub.simulate.demo`, a thread), and the web app in this process.
`web`: the web app alone.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NoReturn

import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from meterhub.broker.credentials import resolve_service_broker, service_password_file
from meterhub.broker.errors import BrokerStartError
from meterhub.broker.url import BrokerTarget, target_url
from meterhub.config import Settings
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.migrate import upgrade
from meterhub.integrations.runner import integrations_command
from meterhub.runtime import logs
from meterhub.runtime.children import alerts_command, die_with_parent, ingest_command
from meterhub.services import users
from meterhub.web.app import build_context, create_app

if TYPE_CHECKING:
    from meterhub.broker.embedded import EmbeddedBroker
    from meterhub.simulate.model import MeterModel

log = logging.getLogger("meterhub")
INGEST_RESTART_MIN_S = 1.0
INGEST_RESTART_MAX_S = 30.0


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


# How uvicorn serves, with one process or several. Trusted proxies come from uvicorn's
# FORWARDED_ALLOW_IPS (default 127.0.0.1).
UVICORN_OPTIONS: dict[str, object] = {
    "log_config": None,
    "proxy_headers": True,
    "ws_ping_interval": 20,
    "ws_ping_timeout": 20,
    "ws_max_size": 65536,
}


def serve(
    cfg: Settings,
    *,
    host: str | None,
    port: int | None,
    ingest: bool,
    broker: bool,
    demo: int,
    workers: int = 1,
) -> None:
    """Migrate, make sure an admin exists, start the parts, serve until stopped.

    The web app always gets a broker target for its live feed; only `run` (broker=True)
    starts the embedded broker when none answers. `workers` > 1 (web only): that many
    uvicorn worker processes, see :mod:`meterhub.web.workers`."""
    logs.setup(cfg.LOG_LEVEL)
    if workers > 1 and (ingest or broker or demo):
        _fail("--workers is for `meterhub web`; `meterhub run` serves from one process")
    if ingest and cfg.INGEST_SHARED_GROUP:
        from meterhub.ingest.shared import check_shared

        try:
            check_shared(cfg.INGEST_SHARED_GROUP, cfg.database_url)
        except ValueError as exc:
            _fail(str(exc))
    with _database(cfg) as db:
        if users.ensure_default_admin(db):
            log.warning("created the default admin: admin / admin123 (change it at first login)")
    if workers > 1:
        _serve_workers(cfg, host or cfg.HOST, port or cfg.PORT, workers)
        return
    embedded: EmbeddedBroker | None = None
    supervisor = integrations = alerts = None
    demo_stop = threading.Event()
    try:
        target, embedded = _broker(cfg, start=broker)
        models, accounts = _demo_models(cfg, demo) if demo else ([], {})  # before ingest
        if ingest:
            command = ingest_command(
                target_url(target),
                cfg.database_url,
                cfg.LOG_LEVEL,
                cfg.MQTT_CA_FILE,
                cfg.METERHUB_LATE_WINDOW_DAYS,
                cfg.INGEST_SHARED_GROUP,
                cfg.INGEST_NAME,
            )
            supervisor = Supervisor(*command)
            supervisor.start()
            integrations = Supervisor(
                *integrations_command(
                    target_url(target), cfg.database_url, cfg.LOG_LEVEL, cfg.MQTT_CA_FILE
                ),
                "integrations",
            )
            integrations.start()
            argv, env = alerts_command(
                target_url(target),
                cfg.database_url,
                cfg.LOG_LEVEL,
                cfg.SMTP_URL,
                cfg.SMTP_FROM,
                cfg.MQTT_CA_FILE,
            )
            alerts = Supervisor(argv, env, name="alerts")
            alerts.start()
        if models:
            from meterhub.simulate.demo import start_demo

            start_demo(models, accounts, target, demo_stop)
        ctx = build_context(cfg)
        ctx.broker_target = target
        parts = (demo_stop, supervisor, embedded, integrations, alerts)

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
        uvicorn.run(app, host=host, port=port, **UVICORN_OPTIONS)  # type: ignore[arg-type]
    finally:
        _stop(demo_stop, supervisor, embedded, integrations, alerts)


def _serve_workers(cfg: Settings, host: str, port: int, workers: int) -> None:
    """`workers` uvicorn processes on one socket, each building its app with
    :func:`meterhub.web.workers.worker_app`. The session secret is made here first, so
    that the workers do not race to generate different ones."""
    from meterhub.web.workers import WORKER_APP

    cfg.session_secret()
    _broker(cfg, start=False)  # one clear line for a bad MQTT_BROKER_URL, and the log
    if cfg.database_url.startswith("sqlite"):
        # Web writes are small (sessions, login attempts, settings): SQLite's WAL and busy
        # timeout serialise them; readers do not wait. PostgreSQL scales further.
        log.info("%d web workers share the SQLite database (WAL)", workers)
    log.info("meterhub web on http://%s:%d with %d workers", host, port, workers)
    uvicorn.run(
        WORKER_APP,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )


def _stop(
    demo_stop: threading.Event,
    supervisor: Supervisor | None,
    embedded: EmbeddedBroker | None,
    integrations: Supervisor | None = None,
    alerts: Supervisor | None = None,
) -> None:
    """Stop demo meters, alerts, integrations, ingest and the embedded broker
    (idempotent)."""
    demo_stop.set()
    for child in (alerts, integrations):
        if child is not None:
            child.stop()
    if supervisor is not None:
        supervisor.stop()
    if embedded is not None and embedded.running:
        embedded.stop()
        log.info("embedded broker stopped")


def _broker(cfg: Settings, start: bool) -> tuple[BrokerTarget, EmbeddedBroker | None]:
    """The broker to use, and the embedded one if `start` and none answers."""
    try:
        target, start_embedded = resolve_service_broker(
            cfg.MQTT_BROKER_URL, cfg.MQTT_PORT, cfg.data_dir
        )
    except ValueError as exc:
        _fail(str(exc))
    target = replace(target, ca_file=cfg.MQTT_CA_FILE)
    if not start_embedded:
        log.info("using the MQTT broker at %s", target.display_url)
        return target, None
    if not start:
        log.warning(
            "no MQTT broker answers at %s yet; the live feed keeps trying", target.display_url
        )
        return target, None
    from meterhub.broker.embedded import BrokerAccess, TlsListener, start_embedded_broker

    _warn_devices_without_credentials(cfg)
    tls = None
    if cfg.MQTT_TLS_PORT:
        from meterhub.broker.tls import default_names, ensure_tls

        files = ensure_tls(cfg.data_dir, default_names(cfg.MQTT_TLS_NAMES.split(",")))
        tls = TlsListener(cfg.MQTT_TLS_PORT, files.server_cert, files.server_key)
        log.info("MQTT over TLS on port %d; devices trust %s", cfg.MQTT_TLS_PORT, files.ca_cert)
    try:
        # Persistent sessions: ingest's subscriptions survive a broker restart, so what
        # meters publish while ingest reconnects is queued for it.
        embedded = start_embedded_broker(
            cfg.MQTT_PORT,
            host=cfg.MQTT_BIND,
            log_path=cfg.data_dir / "broker.log",
            persistence_path=cfg.data_dir / "broker-sessions.db",
            access=BrokerAccess(
                cfg.database_url, service_password_file(cfg.data_dir), cfg.MQTT_ENROLMENT
            ),
            tls=tls,
        )
    except BrokerStartError as exc:
        _fail(str(exc))
    log.info(
        "embedded MQTT broker (amqtt) on %s:%d; devices log in with their own accounts",
        cfg.MQTT_BIND,
        cfg.MQTT_PORT,
    )
    return target, embedded


def _warn_devices_without_credentials(cfg: Settings) -> None:
    """Say which registered devices the broker will refuse (an install from before
    device accounts): one line, with the command that fixes it."""
    from meterhub.services.device_credentials import without_credentials

    with _database(cfg) as db:
        missing = without_credentials(db)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        )
        log.warning(
            "%d device(s) have no MQTT account, so the broker refuses them: %s; "
            "issue one with `meterhub devices credentials SERIAL` (or the dashboard)",
            len(missing),
            shown,
        )


def _demo_models(cfg: Settings, meters: int) -> tuple[list[MeterModel], dict[str, tuple[str, str]]]:
    """The demo meters (registered, with history) and their MQTT accounts, or a clear exit
    if the database fails."""
    from meterhub.simulate.demo import prepare_demo  # only with --demo: keeps `web` slim

    try:
        return prepare_demo(cfg.database_url, meters)
    except SQLAlchemyError as exc:
        _fail(
            f"cannot use the database {cfg.database_url.split('@')[-1]}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
