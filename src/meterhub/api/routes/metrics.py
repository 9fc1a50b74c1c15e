"""`/metrics` in the Prometheus text format (admins; Prometheus scrapes it with an API
token: `authorization: {credentials: mh_...}` in its scrape config)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from sqlalchemy import func, select

from meterhub.api.deps import AdminUser, Context, DbSession
from meterhub.db.models import Device
from meterhub.telemetry import queries
from meterhub.telemetry.payload import REASONS

if TYPE_CHECKING:
    from prometheus_client.core import Metric

router = APIRouter(tags=["metrics"])
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot:
    """A one-shot collector over figures read for this scrape."""

    def __init__(
        self, counters: dict[str, int], devices: dict[tuple[str, bool], int], live: dict[str, int]
    ) -> None:
        self.counters, self.devices, self.live = counters, devices, live

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        c = self.counters
        for name, key, doc in (
            ("meterhub_ingest_readings_stored", "readings_stored", "Readings stored."),
            (
                "meterhub_ingest_readings_duplicate",
                "readings_duplicate",
                "Redelivered readings recognised and not stored again.",
            ),
            (
                "meterhub_ingest_readings_late",
                "readings_late",
                "Readings older than the device's newest (backlog flushes).",
            ),
            ("meterhub_ingest_batches", "batches", "Write transactions."),
            ("meterhub_ingest_device_events", "device_events", "Device events recorded."),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], c.get(key, 0))
            yield family
        rejects = CounterMetricFamily(
            "meterhub_ingest_rejects", "Messages or readings refused, by reason.", labels=["reason"]
        )
        for reason in REASONS:
            rejects.add_metric([reason], c.get(f"rejects_{reason}", 0))
        yield rejects
        devices = GaugeMetricFamily(
            "meterhub_devices", "Devices by status and state.", labels=["status", "online"]
        )
        for (status, online), count in sorted(self.devices.items()):
            devices.add_metric([status, "true" if online else "false"], count)
        yield devices
        for key, value in sorted(self.live.items()):
            gauge = GaugeMetricFamily(f"meterhub_live_{key}", f"Live feed: {key}.")
            gauge.add_metric([], value)
            yield gauge


@router.get(
    "/metrics",
    # The errors stay JSON, so no response_class: it would document them as text too.
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(admin: AdminUser, db: DbSession, ctx: Context) -> Response:
    """Ingest counters, device counts and live-feed figures."""
    # prometheus_client on first scrape: a server nobody scrapes does not carry it.
    from prometheus_client import CollectorRegistry, generate_latest

    conn = db.connection()
    counts = {
        (status, bool(online)): int(n)
        for status, online, n in conn.execute(
            select(Device.status, Device.online, func.count()).group_by(
                Device.status, Device.online
            )
        )
    }
    hub: Any = ctx.extras.get("live_hub")
    live = hub.stats() if hub is not None and hasattr(hub, "stats") else {}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(queries.counters(conn), counts, live))
    return Response(generate_latest(registry), media_type=TEXT_CONTENT_TYPE)
