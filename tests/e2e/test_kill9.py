"""Ingest killed with SIGKILL in the middle of a QoS 1 stream, then restarted: every
reading is stored exactly once, whether the receiver or its writer process is killed (the
receiver exits when its writer dies; the supervisor of `meterhub run` restarts it). The
persistent session keeps what arrives while ingest is dead; acknowledging only after the
commit makes the broker redeliver what was received but not committed; the primary key
turns redeliveries into no-ops."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from tests.support import Mosquitto, wait_for

from .conftest import (
    Ingest,
    Publisher,
    assert_rollups_match,
    contiguous,
    counter,
    seqs,
)

READINGS = 4000
RATE_PER_S = 1500  # the stream lasts ~2.7 s; the kill lands in it
KILL_AFTER_STORED = 800


@pytest.mark.parametrize("victim", ["receiver", "writer"])
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    mosquitto: Mosquitto, ingest: Ingest, ctx: Any, victim: str
) -> None:
    serial = f"KILL-{uuid.uuid4().hex[:8].upper()}"
    publisher = Publisher(mosquitto.port, serial, READINGS, RATE_PER_S)
    publisher.start()
    try:
        wait_for(
            lambda: len(seqs(ctx, serial)) >= KILL_AFTER_STORED,
            30,
            "ingest stored nothing",
            step=0.02,
        )
        stored_at_kill = len(seqs(ctx, serial))
        if victim == "receiver":
            ingest.kill()
        else:
            assert ingest.kill_writer() == 1
        killed_at = time.monotonic()
        assert publisher.is_alive(), "the stream ended before the kill; raise READINGS"
        time.sleep(0.5)
        ingest.start()
        publisher.join(30)
        wait_for(lambda: publisher.acked == READINGS, 10, "the broker did not take them all")
        wait_for(
            lambda: len(seqs(ctx, serial)) >= READINGS,
            40,
            f"only {len(seqs(ctx, serial))} of {READINGS} stored",
        )
        caught_up_s = time.monotonic() - killed_at
    finally:
        publisher.close()
    values = seqs(ctx, serial)
    assert len(values) == READINGS and contiguous(values)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT seq) FROM readings r JOIN "
                "devices d ON d.id = r.device_id WHERE d.serial_number = :s"
            ),
            {"s": serial},
        ).one()
    assert tuple(rows) == (READINGS, READINGS)
    assert_rollups_match(ctx, serial)
    redelivered = counter(ctx, "readings_duplicate")
    print(
        f"kill -9 of the {victim}: {READINGS} published, {stored_at_kill} stored when killed, "
        f"{len(values)} stored in the end, duplicates in the table 0, redeliveries "
        f"filtered {redelivered}, all in {caught_up_s:.1f} s after the kill"
    )
