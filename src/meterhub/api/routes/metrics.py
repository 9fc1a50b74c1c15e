"""`/metrics` in the Prometheus text format (Prometheus scrapes it with an API token:
`authorization: {credentials: mh_...}` in its scrape config). Everyone gets per-device
gauges for the devices they may see; admins also get the ingest and live-feed figures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Response

from meterhub.api.deps import Context, CurrentUser, DbSession
from meterhub.integrations.prometheus import DeviceCollector, device_figures
from meterhub.protocol.rejects import REASONS
from meterhub.services import dashboard

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
def metrics(user: CurrentUser, db: DbSession, ctx: Context) -> Response:
    """Per-device gauges of the caller's devices; for admins also ingest counters, device
    counts and live-feed figures."""
    # prometheus_client on first scrape: a server nobody scrapes does not carry it.
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeviceCollector(device_figures(db, user)))
    if not user.is_admin:
        return Response(generate_latest(registry), media_type=TEXT_CONTENT_TYPE)
    counts = dashboard.device_counts(db)
    hub = ctx.live_hub
    live = hub.stats() if hub is not None else {}
    registry.register(_Snapshot(dashboard.ingest_counters(db), counts, live))
    return Response(generate_latest(registry), media_type=TEXT_CONTENT_TYPE)
