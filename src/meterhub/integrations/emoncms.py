"""Forward stored readings to Emoncms: `input/post` for a single new reading, `input/bulk`
when several are waiting (normal batching, or back-fill after Emoncms was down).

Nothing is lost: the readings table is the outbox. Each (target, device) has a cursor, the
newest reading time Emoncms acknowledged, stored in `emoncms_cursors` and moved only after
Emoncms answered `ok`. If Emoncms is down, the cursor stays, the target backs off, and the
next successful pass sends everything since in bulk requests of up to BATCH readings.

Delivery is at least once. With several ingest workers on PostgreSQL, two readings of
one device can commit out of time order (a worker holding ts=100 commits after another
committed ts=110): each pass therefore also re-reads the REREAD_WINDOW_MS before the
cursor and sends what it has not sent yet (kept in memory, per cursor). After a restart
that memory is empty, so the window is sent once more; Emoncms stores a value per input
and time, so a repeated reading writes the same value to the same time slot.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from meterhub.db.dialect import insert_ignore
from meterhub.db.models import EmoncmsCursor, EmoncmsTarget
from meterhub.db.types import utcnow
from meterhub.integrations.secrets import SecretUnreadable, decrypt
from meterhub.integrations.source import StoredReading, active_devices, readings_after

log = logging.getLogger("meterhub.integrations.emoncms")
POLL_S = 5.0
BATCH = 500
REREAD_WINDOW_MS = 120_000
HTTP_TIMEOUT_S = 10.0
BACKOFF_MIN_S = 5.0
BACKOFF_MAX_S = 300.0
_NODE_UNSAFE = re.compile(r"[^\w\s.-]")


class EmoncmsError(Exception):
    """Emoncms did not accept a request; the text says why."""


def node_name(serial: str) -> str:
    """The Emoncms node of a device: its serial with the characters Emoncms drops removed."""
    return _NODE_UNSAFE.sub("", serial) or "meterhub"


def inputs(reading: StoredReading) -> dict[str, float]:
    """The Emoncms inputs of one reading (energy is the meter's counter, kWh)."""
    values = {
        "power": reading.power,
        "voltage": reading.voltage,
        "current": reading.current,
        "energy_kwh": reading.energy,
    }
    if reading.frequency is not None:
        values["frequency"] = reading.frequency
    if reading.pf is not None:
        values["pf"] = reading.pf
    return values


def post_form(node: str, reading: StoredReading) -> dict[str, str]:
    """The form of an `input/post` request for one reading."""
    return {
        "node": node,
        "time": str(reading.ts_ms // 1000),
        "fulljson": json.dumps(inputs(reading), separators=(",", ":")),
    }


def bulk_form(node: str, readings: Sequence[StoredReading]) -> dict[str, str]:
    """The form of an `input/bulk` request: `time` is the first reading's second and each
    row `[offset, node, {name: value}, ...]` (named inputs, like `input/post`)."""
    base = readings[0].ts_ms // 1000
    rows = [
        [r.ts_ms // 1000 - base, node, *({k: v} for k, v in inputs(r).items())] for r in readings
    ]
    return {"time": str(base), "data": json.dumps(rows, separators=(",", ":"))}


def _accepted(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    body = response.text.strip()
    if body == "ok":
        return True
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("success") is True


@dataclass(frozen=True)
class _Target:
    id: int
    name: str
    base_url: str
    api_key: str
    device_id: int | None
    created_ms: int


class EmoncmsForwarder:
    """Sends every stored reading of the targets' devices to their Emoncms servers."""

    def __init__(self, engine: Engine, secret: str, http: httpx.Client | None = None) -> None:
        self.engine, self.secret = engine, secret
        self.http = http or httpx.Client(timeout=HTTP_TIMEOUT_S)
        self._sent: dict[tuple[int, int], set[int]] = {}  # cursor -> ts sent in its window
        self._retry_at: dict[int, float] = {}  # target -> monotonic time of the next try
        self._backoff: dict[int, float] = {}

    def run(self, stop: threading.Event) -> None:
        """Forward every POLL_S until `stop`."""
        while not stop.is_set():
            try:
                self.forward_once()
            except SQLAlchemyError as exc:
                log.error("Emoncms forwarding cannot read the database: %s", exc)
            stop.wait(POLL_S)
        self.http.close()

    def forward_once(self) -> int:
        """One pass over every enabled target not backing off; the readings sent."""
        sent = 0
        for target in self._targets():
            if self._retry_at.get(target.id, 0.0) > time.monotonic():
                continue
            try:
                sent += self._forward_target(target)
            except EmoncmsError as exc:
                self._failed(target, str(exc))
            else:
                self._backoff.pop(target.id, None)
                self._retry_at.pop(target.id, None)
        return sent

    def _targets(self) -> list[_Target]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    EmoncmsTarget.id,
                    EmoncmsTarget.name,
                    EmoncmsTarget.base_url,
                    EmoncmsTarget.api_key_enc,
                    EmoncmsTarget.device_id,
                    EmoncmsTarget.created_at,
                ).where(EmoncmsTarget.enabled.is_(True))
            ).all()
            targets = []
            for t in rows:
                try:
                    key = decrypt(self.secret, t.api_key_enc)
                except SecretUnreadable as exc:
                    conn.execute(
                        update(EmoncmsTarget)
                        .where(EmoncmsTarget.id == t.id)
                        .values(last_error=str(exc), last_error_at=utcnow())
                    )
                    continue
                targets.append(
                    _Target(
                        t.id,
                        t.name,
                        t.base_url.rstrip("/"),
                        key,
                        t.device_id,
                        int(t.created_at.timestamp() * 1000),
                    )
                )
        return targets

    def _forward_target(self, target: _Target) -> int:
        with self.engine.connect() as conn:
            devices = [
                d
                for d in active_devices(conn)
                if target.device_id is None or d.id == target.device_id
            ]
        sent = 0
        for device in devices:
            more = True
            while more:
                n, more = self._forward_device(target, device.id, device.serial)
                sent += n
        return sent

    def _forward_device(self, target: _Target, device_id: int, serial: str) -> tuple[int, bool]:
        """Send what is waiting of one device (at most a batch plus late readings);
        returns (readings sent, whether a full batch suggests more are waiting)."""
        key = (target.id, device_id)
        with self.engine.connect() as conn:
            cursor = conn.scalar(
                select(EmoncmsCursor.last_ts).where(
                    EmoncmsCursor.target_id == target.id, EmoncmsCursor.device_id == device_id
                )
            )
            start = target.created_ms if cursor is None else int(cursor)
            sent_before = self._sent.setdefault(key, set())
            late: list[StoredReading] = []
            if cursor is not None:  # a new target starts at its creation: nothing is late
                window = readings_after(conn, device_id, start - REREAD_WINDOW_MS, BATCH * 4)
                late = [r for r in window if r.ts_ms <= start and r.ts_ms not in sent_before]
            fresh = readings_after(conn, device_id, start, BATCH)
        batch = sorted(late + fresh, key=lambda r: r.ts_ms)
        if not batch:
            return 0, False
        node = node_name(serial)
        if len(batch) == 1:
            self._request(target, "input/post", post_form(node, batch[0]))
        else:
            self._request(target, "input/bulk", bulk_form(node, batch))
        newest = max(start, batch[-1].ts_ms)
        self._advance(target.id, device_id, newest, len(batch), cursor is None)
        sent_before.update(r.ts_ms for r in batch)
        self._sent[key] = {ts for ts in sent_before if ts > newest - REREAD_WINDOW_MS}
        return len(batch), len(fresh) == BATCH

    def _request(self, target: _Target, path: str, form: dict[str, str]) -> None:
        url = f"{target.base_url}/{path}"
        try:
            response = self.http.post(
                url, data=form, headers={"Authorization": f"Bearer {target.api_key}"}
            )
        except httpx.HTTPError as exc:
            raise EmoncmsError(f"{url} unreachable: {type(exc).__name__}: {exc}") from None
        if not _accepted(response):
            text = response.text.strip().replace(target.api_key, "***")[:200]
            raise EmoncmsError(f"{url} answered {response.status_code}: {text!r}")

    def _advance(self, target_id: int, device_id: int, ts: int, count: int, new: bool) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            if new:
                insert_ignore(
                    conn,
                    EmoncmsCursor.__table__,  # type: ignore[arg-type]
                    ("target_id", "device_id", "last_ts", "updated_at"),
                    [(target_id, device_id, ts, now)],
                )
            conn.execute(
                update(EmoncmsCursor)
                .where(
                    EmoncmsCursor.target_id == target_id,
                    EmoncmsCursor.device_id == device_id,
                    EmoncmsCursor.last_ts < ts,
                )
                .values(last_ts=ts, updated_at=now)
            )
            conn.execute(
                update(EmoncmsTarget)
                .where(EmoncmsTarget.id == target_id)
                .values(
                    last_success_at=now,
                    last_error=None,
                    forwarded=EmoncmsTarget.forwarded + count,
                )
            )

    def _failed(self, target: _Target, message: str) -> None:
        delay = min(self._backoff.get(target.id, BACKOFF_MIN_S / 2) * 2, BACKOFF_MAX_S)
        self._backoff[target.id] = delay
        self._retry_at[target.id] = time.monotonic() + delay
        log.warning("Emoncms target %s: %s; retrying in %.0f s", target.name, message, delay)
        with self.engine.begin() as conn:
            conn.execute(
                update(EmoncmsTarget)
                .where(EmoncmsTarget.id == target.id)
                .values(last_error=message[:512], last_error_at=utcnow())
            )
