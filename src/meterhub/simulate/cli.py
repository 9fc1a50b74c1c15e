"""``meterhub simulate``: virtual meters publishing MQTT v1 readings.

``simulate_command`` is the plain entry point (returns an exit code, prints
errors as one line); the typer options live in ``meterhub.cli.tools.simulate``.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TextIO

from meterhub.broker.embedded import EmbeddedBroker, start_embedded_broker
from meterhub.broker.errors import BrokerStartError
from meterhub.broker.probe import connack_code
from meterhub.broker.url import BrokerTarget, resolve_broker
from meterhub.simulate.history import (
    DEFAULT_HISTORY_INTERVAL_S,
    build_models,
    iter_model_history,
    make_serials,
)
from meterhub.simulate.profiles import get_profile
from meterhub.simulate.replay import ReplayMeter, load_replay
from meterhub.simulate.runner import SimOptions, SimStats, run_simulation
from meterhub.simulate.source import ReadingSource

HistoryWriter = Callable[[list[dict[str, Any]]], None]
AccountIssuer = Callable[[list[str]], dict[str, tuple[str, str]]]
EXIT_USAGE = 2
NOT_AUTHORISED = 5  # CONNACK return code of a broker that refuses anonymous clients


class SimulateError(Exception):
    """A problem the user can fix; the message is one line."""


def simulate_command(
    meters: int = 5,
    interval: float = 10.0,
    broker: str | None = None,
    profile: str = "household",
    replay: str | None = None,
    speed: float = 1.0,
    outages: float = 0.0,
    backfill: float | None = None,
    *,
    seed: int = 0,
    duration: float | None = None,
    mqtt_port: int | None = None,
    backfill_interval: float = DEFAULT_HISTORY_INTERVAL_S,
    history_writer: HistoryWriter | None = None,
    stream: TextIO | None = None,
    device_accounts: bool | None = None,
    issue_accounts: AccountIssuer | None = None,
) -> int:
    """Run the simulator until Ctrl-C (or ``duration`` real seconds); return the exit code.

    ``broker`` defaults to ``MQTT_BROKER_URL`` (then ``auto``), ``mqtt_port``
    to ``MQTT_PORT`` (then 1883). ``--backfill DAYS`` needs ``history_writer``,
    a callable that stores one chunk of v1 reading dicts (the ingest writer).

    ``device_accounts`` makes each meter log in with its own account, made by
    ``issue_accounts`` (serials -> user name and password, from the local registry);
    None: only when the broker is local and refuses anonymous clients (meterhub's
    embedded broker does).
    """
    out = stream or sys.stderr
    try:
        _validate(meters, interval, speed, outages, backfill, profile)
        if backfill and history_writer is None:
            raise SimulateError(
                "--backfill needs the database writer, which this entry point was not given: "
                "use `meterhub simulate --backfill` from the meterhub CLI, "
                "or `meterhub run --demo N`"
            )
        models = _models(meters, profile, replay, seed)
        setting = broker or os.environ.get("MQTT_BROKER_URL", "auto")
        port = mqtt_port or int(os.environ.get("MQTT_PORT", "1883"))
        target, embedded = _broker(setting, port)
        try:
            if backfill and history_writer is not None:
                _backfill(models, backfill, backfill_interval, history_writer, out)
            accounts = _accounts(models, target, embedded, device_accounts, issue_accounts)
            options = SimOptions(interval, speed, outages, duration, seed)
            out.write(
                f"simulating {meters} meter(s) every {interval:g} s"
                f"{f' at {speed:g}x speed' if speed != 1 else ''} -> {target.display_url}"
                f" (Ctrl-C stops)\n"
            )
            stats = asyncio.run(_run(models, target, options, out, accounts))
        finally:
            if embedded is not None:
                embedded.stop()
    except (SimulateError, ValueError, BrokerStartError, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, SimulateError | ValueError) else 1
    out.write(
        f"stopped: {stats.readings:,} readings in {stats.messages:,} messages "
        f"({stats.batches:,} backlog batches, {stats.outages:,} outages)\n"
    )
    return 0


def _validate(
    meters: int, interval: float, speed: float, outages: float, backfill: float | None, profile: str
) -> None:
    if meters < 1:
        raise SimulateError(f"--meters must be at least 1, not {meters}")
    if not interval > 0 or not math.isfinite(interval):
        raise SimulateError(f"--interval must be a positive number of seconds, not {interval}")
    if not speed > 0 or not math.isfinite(speed):
        raise SimulateError(f"--speed must be positive, not {speed}")
    if not 0.0 <= outages <= 1.0:
        raise SimulateError(f"--outages is a probability per interval (0..1), not {outages}")
    if backfill is not None and backfill < 0:
        raise SimulateError(f"--backfill must be a number of days >= 0, not {backfill}")
    get_profile(profile)


def _models(meters: int, profile: str, replay: str | None, seed: int) -> list[ReadingSource]:
    serials = make_serials(meters, seed)
    if replay is None:
        return list(build_models(serials, profile, seed))
    data = load_replay(replay)
    if data.skipped:
        print(f"replay: skipped {data.skipped:,} rows with missing values", file=sys.stderr)
    # Different meters play different days of the recording.
    return [
        ReplayMeter(serial, data, offset_rows=index * 1440 + 397 * index, seed=seed)
        for index, serial in enumerate(serials)
    ]


def _broker(setting: str, port: int) -> tuple[BrokerTarget, EmbeddedBroker | None]:
    target, start = resolve_broker(setting, port)
    target = replace(target, ca_file=os.environ.get("MQTT_CA_FILE") or None)
    if not start:
        return target, None
    if setting.strip().lower() != "embedded":
        raise SimulateError(
            f"no MQTT broker answers on localhost:{port}: start `meterhub run` first, "
            f"or pass --broker embedded (a broker for this run) or --broker mqtt://host:port"
        )
    embedded = start_embedded_broker(port, host="127.0.0.1")
    print(
        f"started the embedded MQTT broker on 127.0.0.1:{port} (pid {embedded.pid})",
        file=sys.stderr,
    )
    return target, embedded


def _backfill(
    models: list[ReadingSource], days: float, interval: float, writer: HistoryWriter, out: TextIO
) -> None:
    end = time.time()
    start = math.floor((end - days * 86400.0) / interval) * interval
    total = 0
    began = time.monotonic()
    for chunk in iter_model_history(models, start, end, interval):
        writer(chunk)
        total += len(chunk)
    out.write(
        f"backfill: {total:,} readings over {days:g} day(s) in {time.monotonic() - began:.1f} s\n"
    )


def _accounts(
    models: list[ReadingSource],
    target: BrokerTarget,
    embedded: EmbeddedBroker | None,
    wanted: bool | None,
    issue: AccountIssuer | None,
) -> dict[str, tuple[str, str]] | None:
    if wanted is None:
        local = embedded is None and target.host in ("127.0.0.1", "localhost", "::1")
        wanted = local and connack_code(target.host, target.port) == NOT_AUTHORISED
    if not wanted:
        return None
    if issue is None:
        raise SimulateError(
            "per-device accounts need the database: use `meterhub simulate` from the "
            "meterhub CLI, or pass --broker mqtt://user:pass@host:port"
        )
    return issue([model.serial for model in models])


async def _run(
    models: list[ReadingSource],
    target: BrokerTarget,
    options: SimOptions,
    out: TextIO,
    accounts: dict[str, tuple[str, str]] | None = None,
) -> SimStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await run_simulation(models, target, options, stop, out, accounts=accounts)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
