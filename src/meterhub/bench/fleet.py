"""A database with users and devices made through the services layer (like an admin would),
with cheap argon2 parameters so that fifty users take milliseconds, not seconds. The cheap
parameters live in each hash, so the server verifies logins cheaply too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert

from meterhub.config import load_settings
from meterhub.db.engine import make_engine
from meterhub.db.migrate import upgrade
from meterhub.db.models import DEVICE_ACTIVE, Device
from meterhub.services import devices as device_service
from meterhub.services import users as user_service
from meterhub.web.app import build_context

PASSWORD_SUFFIX = "-bench-pass-1"  # noqa: S105 - throwaway users of a benchmark database


@dataclass
class Fleet:
    db_path: Path
    users: dict[str, list[str]] = field(default_factory=dict)  # name -> serials it sees
    admin: str = "benchadmin"

    @staticmethod
    def password(name: str) -> str:
        return name + PASSWORD_SUFFIX


@contextlib.contextmanager
def cheap_hashing() -> Iterator[None]:
    from argon2 import PasswordHasher

    from meterhub.security import passwords

    original = passwords._hasher
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        yield
    finally:
        passwords.use_hasher(original)


def make_fleet(db_path: Path, serials: list[str], users: int, per_user: int) -> Fleet:
    """Migrate, add an admin, `serials` as active devices and `users` users, user i seeing
    `per_user` devices starting at i * per_user (wrapping)."""
    ctx = build_context(
        load_settings(
            {
                "DATABASE_URL": f"sqlite:///{db_path}",
                "METERHUB_DATA_DIR": db_path.parent,
                "SESSION_SECRET": "bench-" + "x" * 40,
            }
        )
    )
    fleet = Fleet(db_path)
    try:
        upgrade(ctx.engine)
        with cheap_hashing(), ctx.sessions() as db:
            user_service.create(db, None, fleet.admin, Fleet.password(fleet.admin), role="admin")
            made = [device_service.create(db, None, s, name=f"Bench {s}") for s in serials]
            for n in range(users):
                name = f"benchuser{n:03d}"
                user = user_service.create(db, None, name, Fleet.password(name))
                mine = [made[(n * per_user + k) % len(made)] for k in range(per_user)]
                for device in mine:
                    device_service.assign(db, None, device, user)
                fleet.users[name] = [d.serial_number for d in mine]
            db.commit()
    finally:
        ctx.engine.dispose()
    return fleet


def register_devices(db_path: Path, serials: list[str]) -> None:
    """Migrate and register `serials` as active devices in one bulk insert (meters that
    report are normally registered: ingest refuses unknown serials past a small number
    of pending ones)."""
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        upgrade(engine)
        if serials:
            with engine.begin() as conn:
                conn.execute(
                    insert(Device),
                    [
                        {"serial_number": s, "status": DEVICE_ACTIVE, "name": f"Bench {s}"}
                        for s in serials
                    ],
                )
    finally:
        engine.dispose()
