"""Ingest's hand-off from the MQTT receiver to its writer process.

One Python process cannot both receive MQTT messages as fast as the broker sends them and
decode and store them: both need a core and they would share one interpreter lock. So the
receiver only collects the raw messages into chunks (up to CHUNK_MAX, or whatever arrived
within CHUNK_WAIT_S of the first) and sends them over a socket pair to its writer child
(`python -m meterhub.ingest.writer_main`), which decodes and stores them and sends each
chunk's id back once the transaction holding the chunk's last message has committed. Only
then does the receiver acknowledge the chunk's messages to the broker: if the writer dies,
nothing it had not committed was acknowledged, and the broker redelivers it.

Messages handed over but not committed are bounded (MAX_UNCOMMITTED): beyond that the
receiver stops reading from the broker (`full`), which holds the rest.

Chunks travel pickled: the socket pair is private to the two processes (an inherited file
descriptor, nothing listens), so the only peer is our own writer.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from meterhub.runtime.children import die_with_parent

log = logging.getLogger(__name__)

CHUNK_MAX = 500  # messages per chunk
CHUNK_WAIT_S = 0.02  # how long a chunk waits for more messages after its first
MAX_UNCOMMITTED = 5_000  # messages handed over and not yet committed (2.5 full transactions)
STOP_TIMEOUT_S = 15.0

Message = tuple[str, bytes, float]  # topic, payload, received at (epoch s)
AckKey = tuple[int, int] | None  # (connection, packet id); None: nothing to acknowledge
Incoming = tuple[str, bytes, AckKey]  # topic, payload, what acknowledges it


class WriterProcess:
    """The receiver's side of the hand-off: `put` messages, get `on_committed(keys)` called
    (from a background thread) with the keys of the messages that are stored."""

    def __init__(self, database_url: str, on_committed: Callable[[list[AckKey]], None]) -> None:
        self.database_url = database_url
        self.on_committed = on_committed
        self.failed = threading.Event()  # the writer process is gone
        self.committed = 0  # messages stored (and handed to on_committed)
        self._cond = threading.Condition(threading.Lock())
        self._messages: list[Message] = []
        self._keys: list[AckKey] = []
        self._uncommitted = 0
        self._in_chunks: dict[int, list[AckKey]] = {}
        self._next_chunk = 0
        self._closing = False
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the writer process and the threads that talk to it."""
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "meterhub.ingest.writer_main", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            preexec_fn=die_with_parent,
            env={**os.environ, "DATABASE_URL": self.database_url},
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        for target, name in (
            (self._send_chunks, "handoff-send"),
            (self._read_commits, "handoff-commits"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def pid(self) -> int | None:
        """The writer process's id (None before `start`)."""
        return self._process.pid if self._process is not None else None

    @property
    def uncommitted(self) -> int:
        return self._uncommitted

    @property
    def full(self) -> bool:
        """MAX_UNCOMMITTED or more are in the writer's hands: stop taking messages."""
        return self._uncommitted >= MAX_UNCOMMITTED

    def put_many(self, incoming: list[Incoming]) -> bool:
        """Hand over messages (received now); False if the writer is gone or stopping
        (none is taken: leave them unacknowledged). Never blocks: the caller watches
        `full`."""
        now = time.time()
        with self._cond:
            if self.failed.is_set() or self._closing:
                return False
            messages = self._messages
            was_empty = not messages
            messages.extend([(topic, payload, now) for topic, payload, _ in incoming])
            self._keys.extend([key for _, _, key in incoming])
            self._uncommitted += len(incoming)
            if was_empty or len(messages) >= CHUNK_MAX:
                self._cond.notify_all()
        return True

    def drain(self, timeout: float) -> bool:
        """Wait until everything handed over is committed (or the writer is gone)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._uncommitted == 0 or self.failed.is_set(), timeout
            )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Send what is pending, let the writer finish its batch and exit."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("the writer process did not stop in %.0f s; killing it", timeout)
                process.kill()
                process.wait()

    # -- background threads ----------------------------------------------------------------
    def _send_chunks(self) -> None:
        assert self._conn is not None
        while True:
            with self._cond:
                while not self._messages and not self._closing:
                    self._cond.wait()
                if len(self._messages) < CHUNK_MAX and not self._closing:
                    self._cond.wait(CHUNK_WAIT_S)  # let a few more join this chunk
                messages, self._messages = self._messages[:CHUNK_MAX], self._messages[CHUNK_MAX:]
                keys, self._keys = self._keys[:CHUNK_MAX], self._keys[CHUNK_MAX:]
                closing = self._closing and not self._messages
            try:
                if messages:
                    chunk = self._next_chunk
                    self._next_chunk += 1
                    self._in_chunks[chunk] = keys
                    self._conn.send_bytes(pickle.dumps((chunk, messages), pickle.HIGHEST_PROTOCOL))
                if closing:
                    self._conn.send_bytes(pickle.dumps(None))
                    return
            except OSError as exc:
                self._gone(f"sending to it failed: {exc}")
                return

    def _read_commits(self) -> None:
        assert self._conn is not None
        while True:
            try:
                chunk = int.from_bytes(self._conn.recv_bytes(), "little")
            except (EOFError, OSError):
                if not self._closing:
                    self._gone("it exited")
                return
            keys = self._in_chunks.pop(chunk)
            try:
                self.on_committed(keys)
            except Exception:
                log.exception("acknowledging committed messages failed")
            with self._cond:
                self._uncommitted -= len(keys)
                self.committed += len(keys)
                self._cond.notify_all()

    def _gone(self, why: str) -> None:
        code = self._process.poll() if self._process is not None else None
        log.error(
            "the ingest writer process is gone (%s; exit code %s): nothing it had not "
            "committed was acknowledged, the broker will redeliver it",
            why,
            code,
        )
        with self._cond:
            self.failed.set()
            self._cond.notify_all()
