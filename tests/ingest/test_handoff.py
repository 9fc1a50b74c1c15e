"""The receiver's hand-off to the writer process, with a real writer child: every message
handed over is stored, and its key comes back exactly once, after the commit; a writer
that dies is noticed and nothing more is taken."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import psutil
from sqlalchemy import text

from meterhub.ingest import handoff
from meterhub.ingest.handoff import AckKey, WriterProcess

T0 = int(time.time()) // 10 * 10 - 86_400  # a day ago: inside the late window


def payload(serial: str, seq: int) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "seq": seq,
            "timestamp": T0 + seq * 10,
            "voltage": 230.0,
            "current": 1.0,
            "power": 230.0,
            "energy": 1 + seq / 1000,
        }
    )


def stored(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM readings")).scalar() or 0)


def test_every_key_comes_back_once_after_its_commit(ctx: Any) -> None:
    committed: list[AckKey] = []
    seen_in_db: list[int] = []
    lock = threading.Lock()

    def on_committed(keys: list[AckKey]) -> None:
        with lock:
            committed.extend(keys)
        seen_in_db.append(stored(ctx))  # the rows are visible when the keys come back

    writer = WriterProcess(ctx.settings.database_url, on_committed)
    writer.start()
    try:
        total = 2 * handoff.CHUNK_MAX + 123
        for n in range(total):
            assert writer.put_many([(f"meter/HO-{n % 7}/data", payload(f"HO-{n % 7}", n), (1, n))])
        assert writer.put_many([("meter/HO-0/status", b"", None)])  # a QoS 0 message: no key
        assert writer.drain(30)
    finally:
        writer.stop()
    assert sorted(k[1] for k in committed if k is not None) == list(range(total))
    assert committed.count(None) == 1
    assert stored(ctx) == total
    assert writer.committed == total + 1 and writer.uncommitted == 0
    assert seen_in_db[-1] == total and seen_in_db == sorted(seen_in_db)


def test_a_dead_writer_is_noticed_and_nothing_more_is_taken(ctx: Any) -> None:
    writer = WriterProcess(ctx.settings.database_url, lambda keys: None)
    writer.start()
    try:
        assert writer.put_many([("meter/HO-1/data", payload("HO-1", 1), (1, 1))])
        assert writer.drain(30)
        assert writer.pid is not None
        psutil.Process(writer.pid).kill()
        deadline = time.monotonic() + 10
        while not writer.failed.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.failed.is_set()
        assert not writer.put_many([("meter/HO-1/data", payload("HO-1", 2), (1, 2))])
    finally:
        writer.stop()


def test_a_decoder_failure_becomes_a_dead_letter_not_a_crash(ctx: Any, monkeypatch: Any) -> None:
    """A bug in the decoder must not stop the writer (the message would be redelivered and
    stop it again): that message is kept as an `unstorable` dead letter, the rest stored."""
    import pickle
    import socket
    from multiprocessing.connection import Connection

    from meterhub.ingest import writer_main
    from meterhub.ingest.writer import Writer
    from meterhub.store import TelemetryStore

    real = writer_main.decode_message

    def flaky(
        topic: str,
        raw: bytes,
        received_at: float,
        window_s: float | None = None,
        rounds: Any = None,
    ) -> Any:
        if b'"seq":1,' in raw:
            raise KeyError("boom")
        return real(topic, raw, received_at, window_s, rounds)

    monkeypatch.setattr(writer_main, "decode_message", flaky)
    ours, theirs = socket.socketpair()
    receiver, child = Connection(ours.detach()), Connection(theirs.detach())
    writer = Writer(TelemetryStore(ctx.engine))
    writer.start()
    serving = threading.Thread(target=writer_main.serve, args=(child, writer))
    serving.start()
    receiver.send_bytes(
        pickle.dumps((7, [("meter/HO-9/data", payload("HO-9", n), time.time()) for n in (1, 2)]))
    )
    assert receiver.poll(30) and int.from_bytes(receiver.recv_bytes(), "little") == 7
    receiver.send_bytes(pickle.dumps(None))
    serving.join(30)
    writer.stop()
    with ctx.engine.connect() as conn:
        dead = conn.execute(text("SELECT reason, detail FROM ingest_rejects")).all()
    assert stored(ctx) == 1
    assert [(r.reason, r.detail) for r in dead] == [
        ("unstorable", "decoder error: KeyError: 'boom'")
    ]
