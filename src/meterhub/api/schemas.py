"""Request and response shapes (docs/api.md). Fields may be added, never renamed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from meterhub.db.models import Device, User

Role = Literal["admin", "user"]
ShortText = Annotated[str, Field(max_length=128)]
# Ids are 32-bit on both databases; a larger number is a 422, not a driver overflow (500).
MAX_ID = 2**31 - 1
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, text is stripped and free of NUL
    characters (PostgreSQL cannot store them: a 500 instead of a 422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _zone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: e.g. name too long
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
        ) from None
    return value


def _not_null(value: object) -> object:
    """Optional in an update means "leave it"; an explicit null for a required column is
    a mistake we answer with 422 (not a database error)."""
    if value is None:
        raise ValueError("must not be null; leave the field out to keep its value")
    return value


class LoginIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    totp_code: Annotated[str, Field(min_length=6, max_length=32)] | None = Field(
        None, description="The 6-digit code of your authenticator app, or a recovery code"
    )


class PasswordChangeIn(Strict):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Annotated[str, Field(min_length=1, max_length=256)]
    keep_tokens: bool = Field(
        False, description="Keep your API tokens working (by default a change revokes them)"
    )


class ReauthIn(Strict):
    password: Annotated[str, Field(min_length=1, max_length=256)]
    totp_code: Annotated[str, Field(min_length=6, max_length=32)] | None = None


class ReauthOut(BaseModel):
    authenticated_at: datetime


class TotpSetupOut(BaseModel):
    secret: str = Field(description="The base32 secret, to type into an app by hand")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code (an SVG document)")


class TotpConfirmIn(Strict):
    code: Annotated[str, Field(min_length=6, max_length=8)]


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class UserOut(BaseModel):
    id: int
    username: str
    email: str | None
    full_name: str | None
    role: Role
    disabled: bool
    must_change_password: bool
    timezone: str | None
    created_at: datetime
    totp_enabled: bool = False

    @classmethod
    def of(cls, user: User) -> UserOut:
        out = cls.model_validate(user, from_attributes=True)
        out.totp_enabled = user.totp_secret is not None and user.totp_recovery is not None
        return out


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class ProfileIn(Strict):
    email: EmailStr | None = None
    full_name: ShortText | None = None
    timezone: str | None = None

    _tz = field_validator("timezone")(_zone)


class UserCreateIn(Strict):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    email: EmailStr | None = None
    full_name: ShortText | None = None
    role: Role = "user"
    disabled: bool = False
    must_change_password: bool = True
    timezone: str | None = None

    _tz = field_validator("timezone")(_zone)


class UserUpdateIn(Strict):
    email: EmailStr | None = None
    full_name: ShortText | None = None
    role: Role | None = None
    disabled: bool | None = None
    must_change_password: bool | None = None
    timezone: str | None = None
    password: Annotated[str, Field(min_length=1, max_length=256)] | None = None

    _tz = field_validator("timezone")(_zone)
    _required = field_validator(
        "role", "disabled", "must_change_password", "password", mode="before"
    )(_not_null)


class AssignedUser(BaseModel):
    id: int
    username: str


DeviceProtocol = Literal["meterhub", "tasmota", "esphome"]


class DeviceOut(BaseModel):
    id: int
    serial_number: str
    name: str | None
    location: str | None
    description: str | None
    status: Literal["active", "pending"]
    online: bool
    last_seen: datetime | None
    firmware_version: str | None
    ip_address: str | None
    rssi: int | None
    free_mem: int | None
    uptime_s: int | None
    reading_interval_s: int
    topic_id: str | None = Field(
        description="The <id> in the device's topics when it is not its serial: "
        "meter/<id>/..., Tasmota's tele/<topic>/..., ESPHome's <prefix>/...; set by an "
        "admin (never learned from messages); commands are sent there."
    )
    protocol: DeviceProtocol = Field(
        description="What the device speaks (meterhub, tasmota, esphome), and so which "
        "topics its MQTT account may use"
    )
    timezone: str | None = Field(
        description="The device clock's zone, for times it sends without an offset "
        "(Tasmota); none: those readings get the receive time"
    )
    tariff_id: int | None = Field(
        default=None, description="The device's tariff; null: the install's default tariff."
    )
    assigned_users: list[AssignedUser]

    @classmethod
    def of(cls, device: Device, show_users: bool = True) -> DeviceOut:
        data = {k: getattr(device, k) for k in cls.model_fields if k != "assigned_users"}
        users = (
            [AssignedUser(id=u.id, username=u.username) for u in device.users] if show_users else []
        )
        return cls(**data, assigned_users=users)


class DeviceCreateIn(Strict):
    serial_number: Annotated[str, Field(min_length=1, max_length=64)]
    name: ShortText | None = None
    location: ShortText | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    protocol: DeviceProtocol = "meterhub"
    topic_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    timezone: str | None = None

    _tz = field_validator("timezone")(_zone)


class DeviceUpdateIn(Strict):
    serial_number: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    name: ShortText | None = None
    location: ShortText | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    tariff_id: IdField | None = Field(
        default=None, description="A tariff id; null: use the install's default tariff."
    )
    protocol: DeviceProtocol | None = None
    topic_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None,
        description="The <id> of the device's topics when it is not its serial (the "
        "serial rule; unique; 409 on a clash); null: its serial.",
    )
    timezone: str | None = None

    _tz = field_validator("timezone")(_zone)
    _required = field_validator("serial_number", "protocol", mode="before")(_not_null)


class AssignIn(Strict):
    user_id: IdField


class TokenCreateIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    scope: Literal["read", "write", "admin"] = Field(
        "read", description="read: GET only; write: also changes; admin: admin routes too"
    )
    expires_days: Annotated[int, Field(ge=1, le=365)] = Field(
        90, description="Days until the token stops working (every token expires)"
    )


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scope: Literal["read", "write", "admin"]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str


class AuditOut(BaseModel):
    id: int
    ts: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, object] | None
    client_ip: str | None
