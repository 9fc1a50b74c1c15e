"""The alert object: one shape for the API, the live feed and notification bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterhub.db.models import Alert


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_object(alert: Alert) -> dict[str, Any]:
    """`{"id","rule_id","serial","metric","severity","state","value","opened_at",
    "acknowledged_at","resolved_at","message"}` with ISO-8601 UTC times."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "device_id": alert.device_id,
        "serial": alert.serial,
        "metric": alert.metric,
        "severity": alert.severity,
        "state": alert.state,
        "value": alert.value,
        "opened_at": _iso(alert.opened_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_at": _iso(alert.resolved_at),
        "message": alert.message,
    }
