"""The live simulation loop: sample every meter each interval and publish.

Meters are staggered evenly over the interval (meter i reads at
``start + k * interval + i * interval / N``), so the broker sees a steady
stream rather than bursts. Timestamps are simulated time, which runs
``speed`` times faster than real time. When publishing falls behind, the
loop catches up with the scheduled timestamps (nothing is skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from meterhub.broker.url import BrokerTarget
from meterhub.simulate.noise import mix64, string_key
from meterhub.simulate.outage import OutageState
from meterhub.simulate.progress import Progress
from meterhub.simulate.publisher import Publisher
from meterhub.simulate.source import ReadingSource

#: Longest sleep between scheduling rounds (keeps Ctrl-C and progress responsive).
MAX_SLEEP_S = 0.25
#: Readings produced in one round before yielding to the event loop.
MAX_BURST = 500


@dataclass(frozen=True)
class SimOptions:
    """How the simulation runs."""

    interval: float = 10.0
    speed: float = 1.0
    outages: float = 0.0
    duration: float | None = None
    seed: int = 0


@dataclass
class SimStats:
    """What a simulation run did."""

    meters: int = 0
    connections: int = 0
    readings: int = 0
    messages: int = 0
    batches: int = 0
    outages: int = 0
    dropped: int = 0


def online_status(model: ReadingSource, uptime_s: float, rng: random.Random) -> dict[str, Any]:
    """The retained JSON status a meter publishes when it comes online."""
    return {
        "state": "online",
        "firmware_version": model.firmware_version,
        "ip_address": model.ip_address,
        "rssi": -45 - int(rng.random() * 35),
        "uptime_s": int(uptime_s),
        "free_mem": 20000 + int(rng.random() * 20000),
    }


async def run_simulation(
    models: Sequence[ReadingSource],
    target: BrokerTarget,
    options: SimOptions,
    stop: asyncio.Event | None = None,
    stream: TextIO | None = None,
    start_ts: float | None = None,
    accounts: Mapping[str, tuple[str, str]] | None = None,
) -> SimStats:
    """Publish readings of ``models`` to ``target`` until ``stop`` is set or ``duration`` ends.

    ``accounts`` (serial -> MQTT user name, password) makes each meter log in with its
    own device account, as real meters do on a broker with meterhub's ACL.

    On the way out it flushes readings queued by outages, publishes a
    retained ``offline`` status for every meter and disconnects cleanly.
    Raises ConnectionError (one line) if the broker cannot be reached.
    """
    if not models:
        raise ValueError("at least one meter is needed")
    stop = stop or asyncio.Event()
    serials = [model.serial for model in models]
    publisher = Publisher(target, serials, accounts=accounts)
    await publisher.start()
    rng = random.Random(options.seed)
    outages = [
        OutageState(options.outages, random.Random(mix64(options.seed ^ string_key(s))))
        for s in serials
    ]
    for model in models:
        publisher.publish_status(model.serial, online_status(model, 5.0, rng))
    progress = Progress(stream or sys.stderr, len(models))
    stats = SimStats(meters=len(models), connections=publisher.connections)
    try:
        await _loop(models, publisher, outages, options, stop, progress, stats, start_ts)
    finally:
        for model, outage in zip(models, outages, strict=True):
            for message in outage.flush(model.serial):
                await publisher.publish_json(model.serial, message)
                stats.messages += 1
                stats.batches += 1
            publisher.publish_status(model.serial, "offline")
        await publisher.stop()
        stats.outages = sum(o.outages for o in outages)
        stats.dropped = sum(o.dropped for o in outages)
        progress.update(stats.readings, 0, publisher.in_flight, force=True)
        progress.close()
    return stats


async def _loop(
    models: Sequence[ReadingSource],
    publisher: Publisher,
    outages: list[OutageState],
    options: SimOptions,
    stop: asyncio.Event,
    progress: Progress,
    stats: SimStats,
    start_ts: float | None,
) -> None:
    count = len(models)
    step = options.interval / count
    sim_t0 = time.time() if start_ts is None else start_ts
    real_t0 = time.monotonic()
    k = 0
    while not stop.is_set():
        elapsed = time.monotonic() - real_t0
        if options.duration is not None and elapsed >= options.duration:
            return
        sim_now = sim_t0 + elapsed * options.speed
        burst = 0
        while sim_t0 + k * step <= sim_now and burst < MAX_BURST:
            index = k % count
            model = models[index]
            reading = model.sample(sim_t0 + k * step)
            stats.readings += 1
            for message in outages[index].handle(reading):
                await publisher.publish_json(model.serial, message)
                stats.messages += 1
                stats.batches += "readings" in message
            k += 1
            burst += 1
        queued = sum(len(o.queue) for o in outages)
        progress.update(stats.readings, queued, publisher.in_flight)
        next_due = real_t0 + k * step / options.speed
        wait = (
            0.0 if burst >= MAX_BURST else min(max(next_due - time.monotonic(), 0.0), MAX_SLEEP_S)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
