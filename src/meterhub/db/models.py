"""The schema. Readings are written with Core bulk inserts (see meterhub.ingest.writer), the rest
through the ORM. Times of readings are integer epoch milliseconds (UTC): compact, fast to
index, and the same on both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from meterhub.db.types import BigId, JsonDoc, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLE_ADMIN = "admin"
ROLE_USER = "user"
DEVICE_ACTIVE = "active"
DEVICE_PENDING = "pending"
PROTOCOLS = ("meterhub", "tasmota", "esphome")
"""What a device speaks: meterhub's protocol v1 (meter/<id>/...), Tasmota's tele/<topic>/...
or ESPHome's <prefix>/sensor/.../state; for the last two, topic_id is that <topic>/<prefix>."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_USER)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Second factor (TOTP, RFC 6238): the base32 secret, and argon2 hashes of the unused
    # one-time recovery codes. Both null when the user has no second factor.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_recovery: Mapped[list[str] | None] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    devices: Mapped[list[Device]] = relationship(
        secondary="device_assignments", back_populates="users", order_by="Device.serial_number"
    )

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


class UserSession(Base):
    """A login. The cookie holds a random token; only its keyed hash is stored here."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    # When the user last proved who they are (password, and second factor if enrolled):
    # sensitive actions (new tokens, role changes) want this to be recent.
    authenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for scripts; shown once, stored as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scope: Mapped[str] = mapped_column(String(8), default="admin", server_default="admin")


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    topic_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The <id> in the device's topics (`meter/<id>/...`) when it is not the serial:
    set by an admin (never learned from messages); commands go there."""
    protocol: Mapped[str] = mapped_column(String(16), default="meterhub", server_default="meterhub")
    """One of PROTOCOLS; also which topics its MQTT account may use."""
    timezone: Mapped[str | None] = mapped_column(String(64))
    """The device's own clock zone (IANA name), for times it sends without an offset
    (Tasmota's local `Time`); None: such times are replaced by the receive time."""
    name: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DEVICE_ACTIVE, index=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    firmware_version: Mapped[str | None] = mapped_column(String(32))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    rssi: Mapped[int | None] = mapped_column(Integer)
    free_mem: Mapped[int | None] = mapped_column(Integer)
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)
    reading_interval_s: Mapped[int] = mapped_column(Integer, default=10)
    last_power: Mapped[float | None] = mapped_column(Float)
    last_energy: Mapped[float | None] = mapped_column(Float)
    # Tariffs and cost: the device's tariff (None: the install's default tariff)
    tariff_id: Mapped[int | None] = mapped_column(
        ForeignKey("tariffs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The device channel (migration 0008): its MQTT account (protocol above picks its ACL).
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(160))
    """PBKDF2-SHA512 (`$7$...`) of its MQTT password; None: it has no account yet."""
    mqtt_credentials_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    command_secret: Mapped[str | None] = mapped_column(String(64))
    """HMAC key of the meter's signed commands (`meterhub firmware configure` sets it on
    the meter and here); never sent over MQTT. None: commands go unsigned (older meters)."""

    users: Mapped[list[User]] = relationship(
        secondary="device_assignments", back_populates="devices", order_by="User.username"
    )


class DeviceAssignment(Base):
    __tablename__ = "device_assignments"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reading(Base):
    """One measurement. (device_id, ts) is the primary key: a redelivered reading is a no-op."""

    __tablename__ = "readings"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch ms, UTC
    voltage: Mapped[float] = mapped_column(Float)
    current: Mapped[float] = mapped_column(Float)
    power: Mapped[float] = mapped_column(Float)
    energy: Mapped[float] = mapped_column(Float)
    frequency: Mapped[float | None] = mapped_column(Float)
    pf: Mapped[float | None] = mapped_column(Float)
    alarm: Mapped[bool | None] = mapped_column(Boolean)
    seq: Mapped[int | None] = mapped_column(BigInteger)


class DeviceEvent(Base):
    """Something that happened to a device: online/offline, seq gap, counter reset, ..."""

    __tablename__ = "device_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)

    __table_args__ = (Index("ix_device_events_device_ts", "device_id", "ts"),)


class AuditEntry(Base):
    """Who did what, when: every admin action and every login."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    client_ip: Mapped[str | None] = mapped_column(String(64))


class _RollupColumns:
    """The aggregates of one device over one UTC bucket (see the rollup tables)."""

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch s, UTC
    count: Mapped[int] = mapped_column(Integer)
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    voltage_min: Mapped[float] = mapped_column(Float)
    voltage_max: Mapped[float] = mapped_column(Float)
    voltage_sum: Mapped[float] = mapped_column(Float)
    current_sum: Mapped[float] = mapped_column(Float)
    current_max: Mapped[float] = mapped_column(Float)
    power_sum: Mapped[float] = mapped_column(Float)
    power_min: Mapped[float] = mapped_column(Float)
    power_max: Mapped[float] = mapped_column(Float)
    pf_sum: Mapped[float] = mapped_column(Float)
    pf_count: Mapped[int] = mapped_column(Integer)
    frequency_sum: Mapped[float] = mapped_column(Float)
    frequency_count: Mapped[int] = mapped_column(Integer)


class Rollup15m(_RollupColumns, Base):
    """Per device and 15-minute UTC bucket: what the summaries and long charts read.

    Every IANA zone's offset is a whole number of quarter-hours, so local days, weeks,
    months and years are unions of these buckets. `energy_wh` is the consumption whose
    later reading falls in the bucket (counter deltas; resets and wraps handled)."""

    __tablename__ = "rollups_15m"


class _CoarseRollup(_RollupColumns):
    """The hourly and daily rollups: the 15-minute aggregates summed, plus `slots`, how
    many 15-minute buckets hold data (for coverage)."""

    slots: Mapped[int] = mapped_column(Integer)


class Rollup1h(_CoarseRollup, Base):
    """Hourly UTC rollup (sums of the 15-minute one): long charts and summaries."""

    __tablename__ = "rollups_1h"


class Rollup1d(_CoarseRollup, Base):
    """Daily UTC rollup: month and year figures over many devices."""

    __tablename__ = "rollups_1d"


class IngestReject(Base):
    """A dead letter: a message or reading ingest refused, with the reason (bounded table)."""

    __tablename__ = "ingest_rejects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(String(256))
    serial: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)


class DeviceCommand(Base):
    """A command sent to a device over MQTT, and what became of it."""

    __tablename__ = "device_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    cmd: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(String(512))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IngestCounter(Base):
    """Running totals of ingest (stored, duplicates, rejects by reason, ...) for /metrics;
    updated in the same transaction as the data they count."""

    __tablename__ = "ingest_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# -- Integrations: Emoncms forwarding ------------------------------------------------------


class EmoncmsTarget(Base):
    """An Emoncms server readings are forwarded to: for every active device (`device_id`
    NULL) or for one device. The write API key is stored encrypted (see
    integrations.secrets) and never returned by the API."""

    __tablename__ = "emoncms_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(512))
    api_key_enc: Mapped[str] = mapped_column(Text)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(512))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forwarded: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EmoncmsCursor(Base):
    """How far a target has received a device's readings: the newest reading time (epoch
    ms) Emoncms acknowledged. Moved only after a successful answer, in its own commit, so
    a crash or an Emoncms outage re-sends rather than loses."""

    __tablename__ = "emoncms_cursors"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("emoncms_targets.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    last_ts: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- Tariffs and cost ----------------------------------------------------------------------


class TariffRow(Base):
    """A tariff: `definition` is the validated tariff document (meterhub.tariffs.model);
    name and currency are copied out for listing. At most one row has `is_default`: the
    tariff of every device without its own."""

    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- Hardening: login throttling shared by every web worker -------------------------------


class LoginAttempt(Base):
    """One login attempt against a throttle key (an account, a client address or IPv6 /64).

    A row is written *before* the password is checked and deleted when the login succeeds,
    so concurrent attempts count each other (nothing passes before the counter moves), and
    several web workers share one count."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(96))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_login_attempts_key_ts", "key", "ts"),)


# --- Alerts: rules, channels, alerts and their notifications (see meterhub.alerts) --------

ALERT_ACTIVE = "active"
ALERT_ACKNOWLEDGED = "acknowledged"
ALERT_RESOLVED = "resolved"


class AlertChannel(Base):
    """Where an owner's alerts are sent: a webhook, an e-mail address, ntfy or MQTT.

    `secret` (the webhook's HMAC key) is stored to sign with, and never returned."""

    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))  # URL, address or topic
    secret: Mapped[str | None] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRule(Base):
    """A condition on one device (or every device the owner may see) and its channels."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(32))
    op: Mapped[str] = mapped_column(String(1))
    threshold: Mapped[float] = mapped_column(Float)
    clear_threshold: Mapped[float | None] = mapped_column(Float)
    for_s: Mapped[int] = mapped_column(Integer, default=0)
    severity: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tz: Mapped[str] = mapped_column(String(64), default="UTC")  # local day of energy_day_kwh
    channel_ids: Mapped[list[int]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Alert(Base):
    """One alert of a rule on a device: active -> acknowledged -> resolved.

    `open_key` is "<rule>:<device>" while the alert is not resolved and NULL after: its
    unique index allows one open alert per (rule, device) on both databases (NULLs never
    collide), so a restarted evaluator cannot open the same alert twice."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=ALERT_ACTIVE, index=True)
    value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(512))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    open_key: Mapped[str | None] = mapped_column(String(48), unique=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    """Set on every change: the web process's live feed follows it."""

    __table_args__ = (Index("ix_alerts_device_opened", "device_id", "opened_at"),)


class AlertDelivery(Base):
    """One notification (an alert's opening or resolution) to one channel, retried with
    back-off until sent or out of attempts."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertAttempt(Base):
    """Each try of a delivery, kept so that users can see why a channel fails."""

    __tablename__ = "alert_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True
    )
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(512))


class AlertCursor(Base):
    """How far the evaluator got: per device, the newest reading evaluated (epoch ms), and
    (device_id 0) the newest counter event. Persisted so a restart loses nothing."""

    __tablename__ = "alert_cursors"

    device_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger)
