"""Readings of one device: chart series, latest, period summary, CSV export.

Every route resolves the device through `devices.get_visible_by_serial`, the one access
rule: a device the caller may not see is a 404, exactly like one that does not exist."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from meterhub.api.deps import Context, CurrentUser, DbSession
from meterhub.api.errors import responses
from meterhub.api.read_schemas import LatestOut, SeriesOut, SummaryOut
from meterhub.db.models import User
from meterhub.errors import InvalidInput, NotFound, Throttled
from meterhub.services import devices
from meterhub.telemetry import queries
from meterhub.timeparse import parse_instant, parse_range_bound, parse_tz

router = APIRouter(prefix="/api/readings", tags=["readings"])
DEFAULT_SPAN = timedelta(hours=24)
DEFAULT_SUMMARY_SPAN = {"day": 30, "week": 12 * 7, "month": 365, "year": 5 * 365}
MaxPoints = Annotated[int, Query(ge=10, le=20_000)]


def _instant(value: str | None, name: str, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", field=name) from None


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    now = datetime.now(UTC)
    stop = _instant(end, "to", now)
    begin = _instant(start, "from", stop - DEFAULT_SPAN)
    if stop <= begin:
        raise InvalidInput("'to' must be after 'from'", field="to")
    return int(begin.timestamp() * 1000), int(stop.timestamp() * 1000)


def user_zone(user: User, tz: str | None, fallback: str) -> Any:
    """The zone asked for, else the user's, else METERHUB_TZ."""
    try:
        return parse_tz(tz or user.timezone or fallback)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tz") from None


@router.get("/{serial}", response_model=SeriesOut)
def get_series(
    serial: str,
    user: CurrentUser,
    db: DbSession,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    max_points: MaxPoints = 2000,
) -> dict[str, Any]:
    """Readings in [from, to) (default: the last 24 h); raw when at most `max_points`,
    else time buckets with avg and `*_min`/`*_max`."""
    device = devices.get_visible_by_serial(db, user, serial)
    start_ms, end_ms = _range(start, end)
    result = queries.series(db.connection(), device.id, start_ms, end_ms, max_points)
    return {
        "serial": serial,
        "from": queries.iso(start_ms),
        "to": queries.iso(end_ms),
        "resolution": result.resolution,
        "points": result.points,
    }


@router.get("/{serial}/latest", response_model=LatestOut)
def get_latest(serial: str, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    """The newest reading (404 when the device has none yet)."""
    device = devices.get_visible_by_serial(db, user, serial)
    point = queries.latest(db.connection(), device.id)
    if point is None:
        raise NotFound(f"device {serial!r} has no readings yet")
    return {"serial": serial, "online": device.online, **point}


@router.get("/{serial}/summary", response_model=SummaryOut)
def get_summary(
    serial: str,
    user: CurrentUser,
    db: DbSession,
    ctx: Context,
    period: Literal["day", "week", "month", "year"] = "day",
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    tz: str | None = None,
) -> dict[str, Any]:
    """Energy per calendar period in the zone (`tz`, else yours, else METERHUB_TZ), with
    average and peak power, voltage extremes and coverage. `from`/`to` may be dates
    (YYYY-MM-DD, both days included) or instants."""
    device = devices.get_visible_by_serial(db, user, serial)
    zone = user_zone(user, tz, ctx.settings.METERHUB_TZ)
    now = datetime.now(UTC)
    try:
        stop = parse_range_bound(end, zone, is_end=True) if end else now
        begin = (
            parse_range_bound(start, zone, is_end=False)
            if start
            else stop - timedelta(days=DEFAULT_SUMMARY_SPAN[period])
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), field="from" if start else "to") from None
    if stop <= begin:
        raise InvalidInput("'to' must be after 'from'", field="to")
    try:
        total, buckets = queries.summary(db.connection(), device.id, begin, stop, period, zone, now)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="from") from None
    return {
        "serial": serial,
        "tz": str(zone),
        "period": period,
        "total_kwh": round(total, 3),
        "buckets": buckets,
    }


CSV_HEADER = [
    "timestamp_utc",
    "serial",
    "voltage_V",
    "current_A",
    "power_W",
    "energy_kWh",
    "frequency_Hz",
    "power_factor",
]


def csv_cell(value: object) -> object:
    """Neutralise spreadsheet formulas: text starting with = + - @ or a control character
    gets a leading apostrophe."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


class ExportSlots:
    """One running export per user in this process: an export holds a database
    connection for as long as the client reads, so a user cannot take the whole pool."""

    def __init__(self) -> None:
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    def take(self, user_id: int) -> None:
        with self._lock:
            if user_id in self._busy:
                raise Throttled("an export of yours is still running; wait for it", retry_after=5)
            self._busy.add(user_id)

    def give_back(self, user_id: int) -> None:
        with self._lock:
            self._busy.discard(user_id)


export_slots = ExportSlots()
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "CSV, one row per reading (a header row first)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{serial}/export",
    response_class=StreamingResponse,
    responses={**CSV_RESPONSE, **responses(401, 403, 404, 429)},
)
def export(
    serial: str,
    user: CurrentUser,
    db: DbSession,
    ctx: Context,
    format: Literal["csv"] = "csv",
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> StreamingResponse:
    """Raw readings in [from, to) as CSV, streamed (units in the header). At most
    EXPORT_MAX_DAYS (366) per export and one running export per user (429)."""
    device = devices.get_visible_by_serial(db, user, serial)
    start_ms, end_ms = _range(start, end)
    max_days = ctx.settings.EXPORT_MAX_DAYS
    if end_ms - start_ms > max_days * 86_400_000:
        raise InvalidInput(
            f"an export covers at most {max_days} days; split the range", field="from"
        )
    device_id, safe_serial, user_id = device.id, csv_cell(serial), user.id
    export_slots.take(user_id)

    def rows() -> Iterator[str]:
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_HEADER)
            with ctx.engine.connect() as conn:
                for n, row in enumerate(queries.export_rows(conn, device_id, start_ms, end_ms), 1):
                    writer.writerow([queries.iso(row[0]), safe_serial, *row[1:]])
                    if n % 1000 == 0:
                        yield buffer.getvalue()
                        buffer.seek(0)
                        buffer.truncate()
            yield buffer.getvalue()
        finally:
            export_slots.give_back(user_id)

    name = "".join(c for c in serial if c.isalnum() or c in "-_.")
    stamp = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y%m%d")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
        # Also when the client leaves before the first chunk (the generator never ran).
        background=BackgroundTask(export_slots.give_back, user_id),
    )
