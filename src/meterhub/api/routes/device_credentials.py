"""A device's MQTT account: issue or rotate (the password is shown once), and revoke; and
its command secret (the key of signed commands): set a new one, shown once."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.schemas import IdPath
from meterhub.services import audit, device_credentials, devices
from meterhub.services.command_signing import new_secret

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


class CommandSecretOut(BaseModel):
    """The device's new command secret: shown once (the server keeps it to sign commands,
    but never shows it again)."""

    serial_number: str
    command_secret: str = Field(description="64 hex characters; the meter's config key")
    config_key: str = Field(
        "command_secret", description="Where the meter expects it: config.json's key"
    )


@router.post("/{device_id}/command-secret", response_model=CommandSecretOut)
def rotate_command_secret(
    device_id: IdPath, admin: AdminUser, db: DbSession, response: Response
) -> CommandSecretOut:
    """Give the device a new random command secret (a new call rotates it). Commands are
    signed with it from now on, so the meter refuses them until the same secret is in its
    config (`command_secret` in config.json, or `meterhub firmware configure
    --command-secret`). Shown once."""
    device = devices.get_visible(db, admin, device_id)
    device.command_secret = new_secret()
    audit.record(
        db,
        admin,
        "device.command_secret",
        "device",
        device.id,
        {"serial": device.serial_number},
    )
    db.flush()
    response.headers["Cache-Control"] = "no-store"
    return CommandSecretOut(
        serial_number=device.serial_number, command_secret=device.command_secret
    )
