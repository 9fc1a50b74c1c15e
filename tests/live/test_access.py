"""The live access rule, on SQLite and PostgreSQL: the bulk refresh agrees with the
HTTP API's rule (services.devices.list_visible) and closes what must be closed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from meterhub.context import AppContext
from meterhub.db.models import DEVICE_PENDING, Device, User, UserSession
from meterhub.db.types import utcnow
from meterhub.errors import NotAuthenticated
from meterhub.live.access import AccessRefresher, grant_for_cookie, load_grants
from meterhub.live.hub import LiveHub
from meterhub.security.sessions import SESSION_IDLE
from meterhub.security.tokens import keyed_hash
from meterhub.services import devices, users
from tests.live.fakes import RecordingTransport


def seed(ctx: AppContext) -> dict[str, Any]:
    """Devices A, B (active), P (pending); alice: A and P; bob: B; carol: none; root."""
    made: dict[str, Any] = {}
    with ctx.sessions() as db:
        for serial in ("A", "B", "P"):
            made[serial] = devices.create(db, None, serial)
        made["P"].status = DEVICE_PENDING
        for name, role in (
            ("alice", "user"),
            ("bob", "user"),
            ("carol", "user"),
            ("root", "admin"),
        ):
            made[name] = users.create(db, None, name, f"{name}-pass-1234", role=role)
        devices.assign(db, None, made["A"], made["alice"])
        devices.assign(db, None, made["P"], made["alice"])
        devices.assign(db, None, made["B"], made["bob"])
        db.commit()
        ids = {k: v.id for k, v in made.items()}
    cookies = {}

    class Conn:  # what open_session needs from a request
        client = None
        headers: dict[str, str] = {}

    from meterhub.security.sessions import open_session

    with ctx.sessions() as db:
        for name in ("alice", "bob", "carol", "root"):
            user = db.get(User, ids[name])
            assert user is not None
            cookies[name], _csrf = open_session(db, user, ctx.secret, Conn())  # type: ignore[arg-type]
        db.commit()
    return {"ids": ids, "cookies": cookies}


def sid(ctx: AppContext, cookie: str) -> str:
    return keyed_hash(ctx.secret, cookie)


def test_bulk_grants_match_the_api_rule(ctx: AppContext) -> None:
    s = seed(ctx)
    grants = load_grants(ctx.sessions, [sid(ctx, c) for c in s["cookies"].values()])
    for name, cookie in s["cookies"].items():
        single = grant_for_cookie(ctx.sessions, cookie, ctx.secret)
        with ctx.sessions() as db:
            user = db.get(User, s["ids"][name])
            assert user is not None
            rule = {d.serial_number for d in devices.list_visible(db, user)}
        assert single.serials == rule == grants[sid(ctx, cookie)].serials, name
    assert grants[sid(ctx, s["cookies"]["alice"])].serials == {"A"}  # P is pending
    assert grants[sid(ctx, s["cookies"]["root"])].serials == {"A", "B", "P"}
    assert grants[sid(ctx, s["cookies"]["carol"])].serials == frozenset()


def test_ended_disabled_expired_and_idle_sessions_have_no_grant(ctx: AppContext) -> None:
    s = seed(ctx)
    ids, cookies = s["ids"], s["cookies"]
    with ctx.sessions() as db:
        db.execute(delete(UserSession).where(UserSession.id == sid(ctx, cookies["alice"])))
        db.execute(update(User).where(User.id == ids["bob"]).values(disabled=True))
        db.execute(
            update(UserSession)
            .where(UserSession.id == sid(ctx, cookies["carol"]))
            .values(last_seen_at=utcnow() - SESSION_IDLE - timedelta(seconds=1))
        )
        db.execute(
            update(UserSession)
            .where(UserSession.id == sid(ctx, cookies["root"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()
    assert load_grants(ctx.sessions, [sid(ctx, c) for c in cookies.values()]) == {}
    for cookie in cookies.values():
        with pytest.raises(NotAuthenticated):
            grant_for_cookie(ctx.sessions, cookie, ctx.secret)


def test_refresher_closes_ended_sessions_and_moves_devices(ctx: AppContext) -> None:
    s = seed(ctx)
    ids, cookies = s["ids"], s["cookies"]

    async def body() -> dict[str, RecordingTransport]:
        hub = LiveHub(flush_interval=0.01)
        transports: dict[str, RecordingTransport] = {}
        conns = {}
        for name in ("alice", "bob", "carol"):
            grant = grant_for_cookie(ctx.sessions, cookies[name], ctx.secret)
            transports[name] = RecordingTransport()
            conns[name] = hub.register(
                transports[name],
                user_id=grant.user_id,
                username=name,
                is_admin=grant.is_admin,
                session_id=grant.session_id,
                serials=grant.serials,
            )
        with ctx.sessions() as db:
            users.end_sessions(db, ids["alice"])  # what logout/password change do
            user = users.get(db, ids["bob"])
            user.must_change_password = True
            carol = users.get(db, ids["carol"])
            device = db.get(Device, ids["B"])
            assert device is not None
            devices.assign(db, None, device, carol)
            devices.update(db, None, device, {"topic_id": "ROOM-B"})  # an admin's topic id
            db.commit()
        refresher = AccessRefresher(hub, ctx.sessions, interval=0.01)
        await refresher.refresh_once()
        await asyncio.sleep(0.05)
        assert hub.topic_owners == {"ROOM-B": "B"}  # the live feed binds its messages to B
        assert refresher.closed == 2
        assert conns["carol"].serials == {"B"} and hub.viewers("B") == 1  # bob's is closed
        await hub.close_all()
        return transports

    transports = asyncio.run(body())
    assert transports["alice"].closed == (4401, "session ended; log in again")
    assert transports["bob"].closed == (4403, "password change required")
    assert transports["carol"].closed == (1001, "server shutting down")
