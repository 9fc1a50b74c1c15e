"""Delivering queued notifications, with retries and back-off, each attempt logged.

:meth:`Notifier.step` claims the due pending deliveries (moving their next attempt
IN_FLIGHT_S ahead, so a crash mid-send retries later instead of losing them), sends them
on a small thread pool (one slow or dead receiver occupies one worker for at most one
timeout and never blocks the others, nor the evaluator, nor ingest) and records each
attempt: sent, or its error and the next try after RETRY_DELAYS_S; after the last delay
the delivery is `failed`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meterhub.alerts.channels import ChannelConfig, Outbound, send
from meterhub.db.models import AlertAttempt, AlertChannel, AlertDelivery
from meterhub.db.types import utcnow

log = logging.getLogger(__name__)

RETRY_DELAYS_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
"""Wait before the 2nd, 3rd, ... attempt; after the last one the delivery fails."""
IN_FLIGHT_S: float = 120.0
"""A claimed delivery is retried after this if the process died while sending it."""
WORKERS: int = 4
BATCH: int = 50
STEP_S: float = 1.0

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


class Notifier:
    """Sends what the evaluator queued."""

    def __init__(self, sessions: sessionmaker[Session], outbound: Outbound) -> None:
        self.sessions = sessions
        self.outbound = outbound
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="alert-send")

    def step(self) -> int:
        """Send every due delivery once; how many were attempted."""
        jobs = self._claim()
        if not jobs:
            return 0
        outcomes = list(self.pool.map(self._attempt, jobs))
        self._record(outcomes)
        return len(jobs)

    def _claim(self) -> list[tuple[int, ChannelConfig, dict[str, Any]]]:
        now = utcnow()
        with self.sessions() as db:
            rows = db.execute(
                select(AlertDelivery, AlertChannel)
                .join(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
                .where(AlertDelivery.status == PENDING, AlertDelivery.next_attempt_at <= now)
                .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
                .limit(BATCH)
            ).all()
            jobs = []
            for delivery, channel in rows:
                delivery.next_attempt_at = now + timedelta(seconds=IN_FLIGHT_S)
                config = ChannelConfig(channel.id, channel.kind, channel.target, channel.secret)
                jobs.append((delivery.id, config, dict(delivery.payload)))
            db.commit()
        return jobs

    def _attempt(self, job: tuple[int, ChannelConfig, dict[str, Any]]) -> tuple[int, str | None]:
        delivery_id, channel, body = job
        try:
            send(channel, body, self.outbound)
        except Exception as exc:  # every failure is data: logged, retried
            return delivery_id, f"{type(exc).__name__}: {exc}"[:512]
        return delivery_id, None

    def _record(self, outcomes: list[tuple[int, str | None]]) -> None:
        now = utcnow()
        with self.sessions() as db:
            for delivery_id, error in outcomes:
                delivery = db.get(AlertDelivery, delivery_id)
                if delivery is None:
                    continue  # its alert or channel was deleted meanwhile
                delivery.attempts += 1
                db.add(AlertAttempt(delivery_id=delivery_id, ts=now, ok=error is None, error=error))
                if error is None:
                    delivery.status, delivery.sent_at, delivery.last_error = SENT, now, None
                    continue
                delivery.last_error = error
                if delivery.attempts > len(RETRY_DELAYS_S):
                    delivery.status = FAILED
                    log.warning("alert delivery %d failed for good: %s", delivery_id, error)
                else:
                    wait = RETRY_DELAYS_S[delivery.attempts - 1]
                    delivery.next_attempt_at = now + timedelta(seconds=wait)
                    log.info(
                        "alert delivery %d failed (%s); retry in %.0f s", delivery_id, error, wait
                    )
            db.commit()

    def run(self, stop: threading.Event) -> None:
        """Step every STEP_S until `stop` is set."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("alert notifier step failed; retrying")
            stop.wait(STEP_S)

    def close(self) -> None:
        """Stop the worker threads (after the current sends)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
