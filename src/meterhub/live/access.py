"""Who may watch what over the live feed, checked at connect time and re-checked often.

At connect, :func:`grant_for_cookie` uses the HTTP API's session check and access rule
(``session_principal``; ``services.devices.visible_serials``, serials only). While
sockets stay open, :class:`AccessRefresher` re-checks every REFRESH_INTERVAL_S, in a worker
thread and with two queries per round whatever the number of connections
(:func:`load_grants`): an ended session (logout, password change, disabled or deleted
user) closes its sockets with 4401, a forced password change with 4403, and assignment
changes reach the index.

:func:`load_grants` restates the access rule of ``services.devices.visible_query`` (admins:
every device, pending included; users: assigned active devices) in bulk form;
``tests/live/test_access.py`` checks the two agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meterhub.db.models import (
    DEVICE_ACTIVE,
    ROLE_ADMIN,
    Device,
    DeviceAssignment,
    User,
    UserSession,
)
from meterhub.db.types import utcnow
from meterhub.live.hub import LiveHub
from meterhub.security.sessions import SESSION_IDLE, session_principal
from meterhub.services.devices import visible_serials

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S: float = 2.0
"""How often open sockets have their session and devices re-checked."""
CLOSE_UNAUTHENTICATED: int = 4401
CLOSE_FORBIDDEN: int = 4403
_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True, slots=True)
class Grant:
    """What one live session may do."""

    user_id: int
    username: str
    is_admin: bool
    must_change_password: bool
    session_id: str
    serials: frozenset[str]


def grant_for_cookie(sessions: sessionmaker[Session], raw_cookie: str, secret: str) -> Grant:
    """The grant of a session cookie (blocking: run it in a thread).

    Raises NotAuthenticated like the HTTP API does for an unknown or ended session.
    """
    with sessions() as db:
        principal = session_principal(db, raw_cookie, secret)
        user = principal.user
        assert principal.session is not None
        grant = Grant(
            user_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            must_change_password=user.must_change_password,
            session_id=principal.session.id,
            serials=frozenset(visible_serials(db, user)),
        )
        db.commit()  # session_principal may have touched last_seen_at
        return grant


def load_grants(sessions: sessionmaker[Session], session_ids: Iterable[str]) -> dict[str, Grant]:
    """Current grants of these sessions, in two queries; an ended session is absent.

    Blocking: run it in a thread.
    """
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    now = utcnow()
    with sessions() as db:
        rows: list[Any] = []
        for start in range(0, len(ids), _CHUNK):
            rows += db.execute(
                select(
                    UserSession.id,
                    UserSession.expires_at,
                    UserSession.last_seen_at,
                    User.id,
                    User.username,
                    User.role,
                    User.disabled,
                    User.must_change_password,
                )
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.id.in_(ids[start : start + _CHUNK]))
            ).all()
        live = [r for r in rows if r[1] > now and r[2] + SESSION_IDLE > now and not r[6]]
        user_ids = sorted({r[3] for r in live if r[5] != ROLE_ADMIN})
        any_admin = any(r[5] == ROLE_ADMIN for r in live)
        all_serials: set[str] = set()
        by_user: dict[int, set[str]] = {uid: set() for uid in user_ids}
        if any_admin:
            all_serials = set(db.scalars(select(Device.serial_number)))
        for start in range(0, len(user_ids), _CHUNK):
            chunk = user_ids[start : start + _CHUNK]
            for user_id, serial in db.execute(
                select(DeviceAssignment.user_id, Device.serial_number)
                .join(Device, Device.id == DeviceAssignment.device_id)
                .where(DeviceAssignment.user_id.in_(chunk), Device.status == DEVICE_ACTIVE)
            ):
                by_user[user_id].add(serial)
        db.rollback()
    grants: dict[str, Grant] = {}
    for sid, _exp, _seen, uid, name, role, _disabled, must_change in live:
        admin = role == ROLE_ADMIN
        grants[sid] = Grant(
            uid,
            name,
            admin,
            bool(must_change),
            sid,
            frozenset(all_serials if admin else by_user[uid]),
        )
    return grants


def load_topic_owners(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Admin-set topic ids -> their devices' serials."""
    with sessions() as db:
        rows = db.execute(
            select(Device.serial_number, Device.topic_id).where(Device.topic_id.is_not(None))
        )
        return {topic_id: serial for serial, topic_id in rows if topic_id is not None}


class AccessRefresher:
    """Periodically re-checks the sessions and devices of the hub's connections."""

    def __init__(
        self, hub: LiveHub, sessions: sessionmaker[Session], interval: float | None = None
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.interval = REFRESH_INTERVAL_S if interval is None else interval
        self.rounds = 0
        self.closed = 0
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="live-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh_once()
                if self._failing:
                    log.info("live: access refresh works again")
                self._failing = False
            except Exception as exc:  # keep sockets; retry next round; log once per outage
                if not self._failing:
                    log.warning(
                        "live: access refresh failed (will retry every %.1f s): %s",
                        self.interval,
                        exc,
                    )
                self._failing = True

    async def refresh_once(self) -> None:
        """One round: close sockets whose session ended; update the others' devices."""
        conns = [c for c in self.hub.connections() if c.closing is None]
        if not conns:
            return
        self.hub.topic_owners = await asyncio.to_thread(load_topic_owners, self.sessions)
        grants = await asyncio.to_thread(load_grants, self.sessions, {c.session_id for c in conns})
        self.rounds += 1
        for conn in conns:
            grant = grants.get(conn.session_id)
            if grant is None:
                self.closed += 1
                self.hub.close_connection(
                    conn, CLOSE_UNAUTHENTICATED, "session ended; log in again"
                )
            elif grant.must_change_password:
                self.closed += 1
                self.hub.close_connection(conn, CLOSE_FORBIDDEN, "password change required")
            else:
                conn.is_admin = grant.is_admin
                self.hub.set_serials(conn, grant.serials)
