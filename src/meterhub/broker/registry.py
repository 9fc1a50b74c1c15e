"""The embedded broker's view of the device registry: who may connect, as what.

Runs in the broker process, synchronously (the guard calls it in a worker thread). Every
CONNECT reads the registry, so a new, rotated or revoked account counts from the next
connection; `current_hashes` lets the guard drop connected devices whose account changed.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import and_, or_, select

from meterhub.broker.acl import (
    ENROL_USER,
    ID_RE,
    SERVICE_RULES,
    SERVICE_USER,
    Identity,
    client_id_allowed,
    device_rules,
    enrol_rules,
    enrol_serial,
)
from meterhub.broker.passwords import verify_password
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.models import Device

log = logging.getLogger("meterhub.broker")
PROBE_CLIENT_PREFIX = "meterhub-probe-"  # meterhub.broker.probe: expected to be refused
REFUSAL_LOG_INTERVAL_S = 600.0  # one log line per client id and reason per ten minutes


class Registry:
    """Authenticates CONNECTs against the device registry and the service password."""

    def __init__(self, database_url: str, service_password: str, *, enrolment: bool) -> None:
        """`service_password` is the `meterhub` account's (from the data dir)."""
        self._engine = make_engine(database_url, pool_size=2, max_overflow=2)
        self._sessions = make_sessionmaker(self._engine)
        self._service_password = service_password
        self.enrolment = enrolment
        self._logged: dict[tuple[str, str], float] = {}

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def authenticate(
        self, username: str | None, password: str | None, client_id: str
    ) -> Identity | None:
        """The identity of a CONNECT, or None (refused; the reason is logged)."""
        identity = self._identify(username or "", password or "", client_id)
        if identity is not None and not client_id_allowed(identity, client_id):
            self._refuse(client_id, f"account {identity.username!r} may not use this client id")
            return None
        return identity

    def _identify(self, username: str, password: str, client_id: str) -> Identity | None:
        if not username:
            if not client_id.startswith(PROBE_CLIENT_PREFIX):  # "is a broker there?" probes
                self._refuse(client_id, "no user name (anonymous clients are refused)")
            return None
        if username == SERVICE_USER:
            if hmac.compare_digest(password.encode(), self._service_password.encode()):
                return Identity("service", SERVICE_USER, SERVICE_RULES)
            self._refuse(client_id, "wrong password for the meterhub service account")
            return None
        if username == ENROL_USER:
            return self._enrol(client_id)
        if not ID_RE.match(username):
            self._refuse(client_id, f"unknown account {username[:64]!r}")
            return None
        with self._sessions() as db:
            row = db.execute(
                select(
                    Device.serial_number,
                    Device.topic_id,
                    Device.protocol,
                    Device.mqtt_password_hash,
                )
                .where(
                    or_(
                        Device.topic_id == username,
                        and_(Device.serial_number == username, Device.topic_id.is_(None)),
                    )
                )
                .limit(1)
            ).first()
        if row is None:
            self._refuse(client_id, f"unknown account {username!r}")
            return None
        if row.mqtt_password_hash is None:
            self._refuse(
                client_id,
                f"device {row.serial_number} has no MQTT account yet: "
                f"run `meterhub devices credentials {row.serial_number}`",
            )
            return None
        if not verify_password(password, row.mqtt_password_hash):
            self._refuse(client_id, f"wrong password for device {username!r}")
            return None
        return Identity(
            "device",
            username,
            device_rules(username, row.protocol),
            account_state(row.mqtt_password_hash, row.protocol),
        )

    def _enrol(self, client_id: str) -> Identity | None:
        serial = enrol_serial(client_id)
        if not self.enrolment:
            self._refuse(client_id, "enrolment is off (MQTT_ENROLMENT=0)")
            return None
        if serial is None:
            self._refuse(client_id, "an enrolling meter connects with client id enrol-<serial>")
            return None
        from meterhub.services.device_credentials import enrol

        with self._sessions() as db:
            device = enrol(db, serial)
            db.commit()
        if device is None:
            self._refuse(client_id, "too many devices wait for approval")
            return None
        log.info("meter %s enrols (pending until an admin approves it)", serial)
        return Identity("enrol", ENROL_USER, enrol_rules(serial))

    def current_states(self, usernames: Iterable[str]) -> dict[str, str | None]:
        """Each device account's state now (`account_state`; None: revoked or gone)."""
        wanted = sorted(set(usernames))
        found: dict[str, str | None] = dict.fromkeys(wanted)
        if not wanted:
            return found
        with self._sessions() as db:
            for chunk in (wanted[i : i + 500] for i in range(0, len(wanted), 500)):
                rows = db.execute(
                    select(
                        Device.serial_number,
                        Device.topic_id,
                        Device.mqtt_password_hash,
                        Device.protocol,
                    ).where(or_(Device.topic_id.in_(chunk), Device.serial_number.in_(chunk)))
                )
                for serial, topic_id, stored, protocol in rows:
                    name = topic_id or serial
                    if name in found:
                        found[name] = account_state(stored, protocol)
        return found

    def _refuse(self, client_id: str, reason: str) -> None:
        now = time.monotonic()
        key = (client_id, reason)
        if now - self._logged.get(key, -REFUSAL_LOG_INTERVAL_S) >= REFUSAL_LOG_INTERVAL_S:
            if len(self._logged) > 10_000:
                self._logged.clear()
            self._logged[key] = now
            log.warning("refused MQTT client %r: %s", client_id[:80], reason)


def account_state(password_hash: str | None, protocol: str) -> str | None:
    """What a connected device's rights depend on; None when it has no account."""
    return None if password_hash is None else f"{protocol}:{password_hash}"


def read_service_password(path: Path) -> str:
    """The service account's password from its file (written by the parent process)."""
    return path.read_text().strip()
