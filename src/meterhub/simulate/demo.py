"""``meterhub run --demo N``: N simulated meters with a month of history, then live.

The history goes straight through the ingest code path (the same decoder, store and
rollups) without MQTT; the live part publishes over MQTT like a real meter.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Final

from sqlalchemy import Engine, func, select

from meterhub.broker.url import BrokerTarget
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.models import Device, Reading
from meterhub.ingest.backfill import history_writer
from meterhub.services import device_credentials
from meterhub.services import devices as device_service
from meterhub.simulate.history import build_models, iter_model_history, make_serials
from meterhub.simulate.model import MeterModel
from meterhub.simulate.runner import SimOptions, run_simulation
from meterhub.store import TelemetryStore

log = logging.getLogger(__name__)

DEMO_HISTORY_DAYS: Final = 30
DEMO_HISTORY_INTERVAL_S: Final = 60.0
DEMO_INTERVAL_S: Final = 10.0
"""How often each demo meter publishes once live."""
DEMO_SEED: Final = 2026
DEMO_START_DELAY_S: Final = 5.0
"""Time given to ingest to subscribe before the first live reading (on a new embedded
broker a reading published before that would have no subscriber)."""
_PLACES: Final = ("Kitchen", "Office", "Workshop", "Garage", "Heat pump", "Flat 2", "Studio")


Accounts = dict[str, tuple[str, str]]
"""serial -> (MQTT user name, password) of each demo meter."""


def prepare_demo(database_url: str, meters: int) -> tuple[list[MeterModel], Accounts]:
    """Register N demo meters and write their history if they have none; the models carry
    on from the stored energy and seq. Each demo meter gets a fresh MQTT account (its
    password lives only in this process) and logs in with it like a real meter. Call it
    before ingest starts (one writer at a time).
    """
    engine = make_engine(database_url)
    try:
        return _prepare(engine, meters)
    finally:
        engine.dispose()


def _prepare(engine: Engine, meters: int) -> tuple[list[MeterModel], Accounts]:
    serials = make_serials(meters, DEMO_SEED)
    accounts: Accounts = {}
    energies: dict[str, float | None] = {}
    seqs: dict[str, int | None] = {}
    with make_sessionmaker(engine).begin() as db:
        for n, serial in enumerate(serials):
            device = db.scalar(select(Device).where(Device.serial_number == serial))
            if device is None:
                device = device_service.create(
                    db,
                    None,
                    serial,
                    name=f"Demo meter {n + 1}",
                    location=_PLACES[n % len(_PLACES)],
                    description="Simulated by meterhub --demo",
                )
            issued = device_credentials.issue(db, None, device)
            accounts[serial] = (issued.username, issued.password)
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
        write = history_writer(TelemetryStore(engine))
        for chunk in iter_model_history(
            fresh, now - DEMO_HISTORY_DAYS * 86400, now, DEMO_HISTORY_INTERVAL_S
        ):
            write(chunk)
    return models, accounts


def start_demo(
    models: list[MeterModel], accounts: Accounts, target: BrokerTarget, stop: threading.Event
) -> None:
    """Run the demo models live in a thread (after DEMO_START_DELAY_S) until ``stop``."""

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
                accounts=accounts,
            )

        try:
            asyncio.run(main())
        except Exception:
            log.exception("demo meters stopped")
        finally:
            quiet.close()

    threading.Thread(target=live, name="demo-meters", daemon=True).start()
    log.info("demo: %d simulated meters publishing every %.0f s", len(models), DEMO_INTERVAL_S)
