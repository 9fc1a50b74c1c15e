"""The integrations process: Home Assistant discovery (when HA_DISCOVERY=1) and Emoncms
forwarding, each in its own thread, started by `meterhub run` beside ingest and restarted
by it if the process dies.

Both only read committed data and keep their progress where it survives a restart (the
broker's retained messages for HA, `emoncms_cursors` for Emoncms), so a restart costs
nothing but a re-announce and a short re-send window.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

from meterhub.broker.url import BrokerTarget, parse_broker_url, resolve_broker
from meterhub.config import Settings, load_settings
from meterhub.db.engine import make_engine
from meterhub.runtime import logs

log = logging.getLogger("meterhub.integrations")


def integrations_command(
    broker_url: str, database_url: str, log_level: str, ca_file: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the integrations process (URLs with passwords go
    in the environment, not in `ps` output)."""
    env = {
        **os.environ,
        "MQTT_BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": log_level,
    }
    if ca_file:
        env["MQTT_CA_FILE"] = ca_file
    return [sys.executable, "-m", "meterhub.integrations"], env


def public_url(cfg: Settings) -> str:
    """The dashboard's address for links from other systems (HA's "Visit device")."""
    if cfg.PUBLIC_URL:
        return cfg.PUBLIC_URL.rstrip("/")
    import socket

    return f"http://{socket.gethostname()}:{cfg.PORT}"


def _target(cfg: Settings) -> BrokerTarget:
    if "://" in cfg.MQTT_BROKER_URL:
        target = parse_broker_url(cfg.MQTT_BROKER_URL)
    else:
        target, _ = resolve_broker(cfg.MQTT_BROKER_URL, cfg.MQTT_PORT)
    return replace(target, ca_file=cfg.MQTT_CA_FILE)


def run(cfg: Settings, stop: threading.Event) -> None:
    """Run the enabled integrations until `stop` is set."""
    from meterhub.integrations.emoncms import EmoncmsForwarder

    engine = make_engine(cfg.database_url)
    jobs: list[tuple[str, Callable[[threading.Event], None]]] = [
        ("emoncms", EmoncmsForwarder(engine, cfg.session_secret()).run)
    ]
    if cfg.HA_DISCOVERY:
        from meterhub.integrations.ha_cost import CachedMonthCost
        from meterhub.integrations.ha_publisher import HaPublisher

        publisher = HaPublisher(
            engine,
            _target(cfg),
            prefix=cfg.HA_DISCOVERY_PREFIX,
            public_url=public_url(cfg),
            cost_source=CachedMonthCost(),  # the month's cost from the tariffs
        )
        jobs.append(("ha-discovery", publisher.run))
        log.info("Home Assistant discovery on, prefix %r", cfg.HA_DISCOVERY_PREFIX)
    threads = [threading.Thread(target=job, args=(stop,), name=name) for name, job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()


def main() -> None:
    """Entry point of `python -m meterhub.integrations`: run until SIGTERM/SIGINT."""
    cfg = load_settings()
    logs.setup(cfg.LOG_LEVEL)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(cfg, stop)
