"""A device's MQTT account: issue or rotate (the password is shown once), and revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.schemas import IdPath
from meterhub.services import device_credentials, devices

router = APIRouter(prefix="/api/devices", tags=["devices"])


class CredentialsOut(BaseModel):
    """The device's MQTT user name and password; the password is not stored and cannot
    be shown again."""

    username: str
    password: str


@router.post("/{device_id}/credentials", response_model=CredentialsOut)
def issue_credentials(
    device_id: IdPath, admin: AdminUser, db: DbSession, response: Response
) -> CredentialsOut:
    """Give the device a new MQTT password (a new call rotates it: the old one stops
    working within seconds on the embedded broker). Shown once: put it into the meter."""
    device = devices.get_visible(db, admin, device_id)
    creds = device_credentials.issue(db, admin, device)
    response.headers["Cache-Control"] = "no-store"
    return CredentialsOut(username=creds.username, password=creds.password)


@router.delete("/{device_id}/credentials", status_code=204)
def revoke_credentials(device_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    """Remove the device's MQTT account: the broker refuses it from now on."""
    device_credentials.revoke(db, admin, devices.get_visible(db, admin, device_id))
    return Response(status_code=204)
