"""The database side of ingest: one call writes one batch in one transaction.

:class:`TelemetryStore` only orchestrates; each concern has its module, in the order a
transaction touches them: :mod:`~meterhub.store.binding` (each message to its topic's
device), :mod:`~meterhub.store.devices` (state, pending devices),
:mod:`~meterhub.store.readings` (inserts, late readings) and
:mod:`~meterhub.store.rollups`, :mod:`~meterhub.store.presence` (statuses, the offline
sweep), :mod:`~meterhub.store.deadletters`, :mod:`~meterhub.store.commands` (acks) and
:mod:`~meterhub.store.counters`; with other writers, :mod:`~meterhub.store.shared`.
Only the writer thread calls it; the per-device state it caches is applied after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert

from meterhub.store import counters, deadletters, foreign, presence, shared
from meterhub.store.batch import Batch, WriteResult
from meterhub.store.binding import TopicOwners, bind
from meterhub.store.commands import write_acks
from meterhub.store.devices import DeviceStates
from meterhub.store.readings import write_readings
from meterhub.store.tables import EVENTS


class TelemetryStore:
    """Writes batches; caches device state across batches (see :class:`DeviceStates`)."""

    def __init__(self, engine: Engine, shared: bool = False) -> None:
        self.engine = engine
        self.shared = shared  # other writers too: lock devices, read their state (`shared`)
        self.states = DeviceStates()
        self.owners = TopicOwners()

    def write(self, batch: Batch) -> WriteResult:
        """Store `batch` in one transaction; the cached state is dropped if it fails."""
        try:
            return self._write(batch)
        except BaseException:
            self.forget()  # cached states may hold this failed batch's changes
            raise

    def forget(self) -> None:
        """Drop cached state (after a failed transaction whose effects are unknown)."""
        self.states.forget()
        self.owners.forget()

    def _write(self, batch: Batch) -> WriteResult:
        result = WriteResult()
        events: list[dict[str, Any]] = []
        rejects = list(batch.rejects)
        readings = batch.readings
        with self.engine.begin() as conn:
            if batch.sweep:
                self.owners.forget()  # topic ids an admin changed or removed
            readings, statuses, acks, mismatched = bind(
                conn, self.owners, readings, batch.statuses, batch.acks
            )
            rejects += mismatched
            origins: foreign.Origins = {}
            if batch.foreign_readings or batch.foreign_statuses:
                more, more_statuses, more_rejects, origins = foreign.resolve(
                    conn, batch.foreign_readings, batch.foreign_statuses
                )
                readings, statuses = readings + more, statuses + more_statuses
                rejects += more_rejects
            serials = {r.serial for r in readings} | {s.serial for s in statuses if s.serial}
            staged, refused = self.states.stage(conn, serials, result, events, origins)
            if self.shared:
                shared.lock_and_refresh(conn, staged)
            if refused:
                rejects += deadletters.refused(refused, readings, statuses)
                readings = [r for r in readings if r.serial not in refused]
                statuses = [s for s in statuses if s.serial not in refused]
            write_readings(conn, readings, staged, result, events)
            presence.write_statuses(conn, statuses, staged, events)
            if batch.sweep:
                presence.sweep_silent(conn, events, self.states.cache)
            if events:
                conn.execute(insert(EVENTS), events)
            deadletters.write_rejects(conn, rejects)
            write_acks(conn, acks)
            result.rejected = len(rejects)
            result.events = len(events)
            counters.count(conn, batch, result, rejects)
        self.states.commit(staged)
        return result
