"""The device registry. Users see their assigned devices; anything else is a 404."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from meterhub.api.deps import AdminUser, Context, CurrentUser, DbSession
from meterhub.api.read_schemas import DeviceEventOut
from meterhub.api.schemas import (
    AssignIn,
    DeviceCreateIn,
    DeviceOut,
    DeviceUpdateIn,
    IdPath,
    IdQuery,
)
from meterhub.db.models import Device
from meterhub.mqtt_publish import publish_once
from meterhub.services import activity, device_credentials, devices, users

router = APIRouter(prefix="/api/devices", tags=["devices"])


def _admin_device(db: DbSession, admin: AdminUser, device_id: int) -> Device:
    return devices.get_visible(db, admin, device_id)


@router.get("", response_model=list[DeviceOut])
def list_devices(
    user: CurrentUser, db: DbSession, status: Literal["active", "pending"] | None = None
) -> list[DeviceOut]:
    """Admins: all devices (`status=pending` for unknown serials that published); users:
    their assigned devices."""
    return [DeviceOut.of(d, user.is_admin) for d in devices.list_visible(db, user, status)]


@router.post("", response_model=DeviceOut, status_code=201)
def create_device(body: DeviceCreateIn, admin: AdminUser, db: DbSession) -> DeviceOut:
    device = devices.create(db, admin, **body.model_dump())
    return DeviceOut.of(device)


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: IdPath, user: CurrentUser, db: DbSession) -> DeviceOut:
    return DeviceOut.of(devices.get_visible(db, user, device_id), user.is_admin)


@router.get("/{device_id}/events", response_model=list[DeviceEventOut])
def device_events(
    device_id: IdPath,
    user: CurrentUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: IdQuery = None,
    kind: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
) -> list[dict[str, Any]]:
    """What happened to the device, newest first: pending, online/offline, seq gaps and
    restarts, counter resets, wraps, swaps and jumps."""
    device = devices.get_visible(db, user, device_id)
    return activity.device_events(db, device.id, limit, before_id, kind)


@router.put("/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: IdPath, body: DeviceUpdateIn, admin: AdminUser, db: DbSession
) -> DeviceOut:
    device = devices.update(
        db, admin, _admin_device(db, admin, device_id), body.model_dump(exclude_unset=True)
    )
    return DeviceOut.of(device)


@router.delete("/{device_id}", status_code=204)
def delete_device(device_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    """Delete the device and everything recorded for it."""
    devices.delete_device(db, admin, _admin_device(db, admin, device_id))
    return Response(status_code=204)


@router.post("/{device_id}/assign", response_model=DeviceOut)
def assign_device(device_id: IdPath, body: AssignIn, admin: AdminUser, db: DbSession) -> DeviceOut:
    device = _admin_device(db, admin, device_id)
    devices.assign(db, admin, device, users.get(db, body.user_id))
    return DeviceOut.of(device)


@router.delete("/{device_id}/assign/{user_id}", response_model=DeviceOut)
def unassign_device(
    device_id: IdPath, user_id: IdPath, admin: AdminUser, db: DbSession
) -> DeviceOut:
    device = _admin_device(db, admin, device_id)
    devices.unassign(db, admin, device, user_id)
    return DeviceOut.of(device)


@router.post("/{device_id}/approve", response_model=DeviceOut)
def approve_device(device_id: IdPath, admin: AdminUser, db: DbSession, ctx: Context) -> DeviceOut:
    """Approve a pending device: its kept readings become visible, and a meter that
    enrolled over MQTT receives its own account (see docs/security.md, "Device channel")."""
    device = devices.approve(db, admin, _admin_device(db, admin, device_id))
    # Device channel: hand an enrolled meter its credentials (no-op when it has some).
    device_credentials.deliver_to_enrolled(
        db,
        admin,
        device,
        ctx.broker_target,
        ctx.mqtt_publish or publish_once,
    )
    return DeviceOut.of(device)
