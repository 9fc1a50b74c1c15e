"""Tariffs: admins create, change and delete them; users read those of their devices."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meterhub.api.deps import AdminUser, Context, CurrentUser, DbSession
from meterhub.api.schemas import IdPath
from meterhub.api.tariff_schemas import TariffIn, TariffOut, errors
from meterhub.db.models import TariffRow
from meterhub.services import tariffs

router = APIRouter(prefix="/api/tariffs", tags=["tariffs"])


def _out(row: TariffRow, counts: dict[int, int]) -> TariffOut:
    return TariffOut.model_validate(
        {
            **row.definition,
            "id": row.id,
            "is_default": row.is_default,
            "devices": counts.get(row.id, 0),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


@router.get("", response_model=list[TariffOut])
def list_tariffs(user: CurrentUser, db: DbSession) -> list[TariffOut]:
    """Admins: every tariff; users: the tariffs that cost their devices."""
    counts = tariffs.device_counts(db)
    return [_out(row, counts) for row in tariffs.list_visible(db, user)]


@router.post("", response_model=TariffOut, status_code=201, responses=errors(409, 422))
def create_tariff(body: TariffIn, admin: AdminUser, db: DbSession, ctx: Context) -> TariffOut:
    """Create a tariff (see docs/tariffs.md for the document). `timezone` defaults to
    METERHUB_TZ; `is_default: true` makes it the tariff of devices without one."""
    row = tariffs.create(db, admin, body, body.is_default, ctx.settings.METERHUB_TZ)
    return _out(row, tariffs.device_counts(db))


@router.get("/{tariff_id}", response_model=TariffOut, responses=errors(404))
def get_tariff(tariff_id: IdPath, user: CurrentUser, db: DbSession) -> TariffOut:
    """One tariff (users: only one that costs a device of theirs, else 404)."""
    return _out(tariffs.get_visible(db, user, tariff_id), tariffs.device_counts(db))


@router.put("/{tariff_id}", response_model=TariffOut, responses=errors(404, 409, 422))
def replace_tariff(
    tariff_id: IdPath, body: TariffIn, admin: AdminUser, db: DbSession, ctx: Context
) -> TariffOut:
    """Replace the whole document: every cost and bill is recomputed with it (a corrected
    price re-costs history)."""
    row = tariffs.get_visible(db, admin, tariff_id)
    tariffs.replace(db, admin, row, body, body.is_default, ctx.settings.METERHUB_TZ)
    return _out(row, tariffs.device_counts(db))


@router.delete("/{tariff_id}", status_code=204, responses=errors(404, 409))
def delete_tariff(tariff_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    """Delete a tariff no device is assigned (409 otherwise)."""
    tariffs.delete(db, admin, tariffs.get_visible(db, admin, tariff_id))
    return Response(status_code=204)
