"""Fixtures shared by the whole suite: a database on SQLite *and* PostgreSQL, the app, and
API clients logged in as the roles we test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from meterhub.api.context import AppContext
from meterhub.config import Settings, load_settings
from meterhub.db.migrate import upgrade
from meterhub.db.models import Base
from meterhub.web.app import build_context, create_app

CI = os.environ.get("CI") == "true"

# Shared, noisy machines: a slow example is not a failure (speed is `meterhub bench`'s job).
hypothesis_settings.register_profile(
    "meterhub", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("meterhub")
PG_ADMIN_URL = os.environ.get("METERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ["sqlite", "postgresql"]


def require(ok: bool, reason: str) -> None:
    """Skip with `reason` when a service is missing; under CI=true that is a failure."""
    if not ok:
        if CI:
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """argon2id with tiny costs: the suite hashes hundreds of passwords. The production
    parameters are checked in tests/security/test_passwords.py."""
    from argon2 import PasswordHasher

    from meterhub.security import passwords

    original = passwords._hasher
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(original)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run (dropped at the end), migrated once."""
    if not port_open(5432):
        yield None
        return
    name = f"meterhub_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    from meterhub.db.engine import make_engine

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL, once per database kind; PostgreSQL tables start empty each test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meterhub.db'}"
    url = request.getfixturevalue("pg_database")
    require(url is not None, "PostgreSQL is not answering on 127.0.0.1:5432")
    from meterhub.db.engine import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return str(url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": db_url,
            "METERHUB_DATA_DIR": tmp_path / "data",
            "METERHUB_TZ": "Europe/Berlin",
            # TestClient's Host header; the default allowlist is tested in tests/api/test_limits.py
            "ALLOWED_HOSTS": "testserver",
        }
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = build_context(settings)
    upgrade(context.engine)
    yield context
    context.engine.dispose()


@pytest.fixture
def app(ctx: AppContext) -> Any:
    return create_app(ctx=ctx)


class Api:
    """A TestClient that logs in and sends the CSRF header like the dashboard does."""

    def __init__(self, app: Any) -> None:
        # No lifespan here: several clients share one app, and the live feed it starts
        # belongs to one event loop (tests of the live feed run the app under uvicorn).
        self.client = TestClient(app, base_url="http://testserver")

    def login(self, username: str, password: str) -> dict[str, Any]:
        res = self.client.post("/api/auth/login", json={"username": username, "password": password})
        assert res.status_code == 200, res.text
        self.client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        body: dict[str, Any] = res.json()
        return body

    def close(self) -> None:
        self.client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


ADMIN_PASSWORD = "admin-pass-1234"


@pytest.fixture
def make_api(app: Any) -> Iterator[Any]:
    made: list[Api] = []

    def make() -> Api:
        api = Api(app)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def admin_api(ctx: AppContext, make_api: Any) -> Api:
    """Logged in as an admin whose password needs no change."""
    from meterhub.services import users

    with ctx.sessions() as db:
        users.create(db, None, "root", ADMIN_PASSWORD, role="admin")
        db.commit()
    api: Api = make_api()
    api.login("root", ADMIN_PASSWORD)
    return api


@pytest.fixture
def make_user(admin_api: Api, make_api: Any) -> Any:
    """make_user(name, devices=[ids]) -> an Api logged in as that new user."""

    def make(name: str, device_ids: tuple[int, ...] = (), role: str = "user") -> Api:
        res = admin_api.post(
            "/api/users",
            json={
                "username": name,
                "password": f"{name}-pass-1234",
                "role": role,
                "must_change_password": False,
            },
        )
        assert res.status_code == 201, res.text
        for device_id in device_ids:
            res2 = admin_api.post(
                f"/api/devices/{device_id}/assign", json={"user_id": res.json()["id"]}
            )
            assert res2.status_code == 200, res2.text
        api: Api = make_api()
        api.user = res.json()
        api.login(name, f"{name}-pass-1234")
        return api

    return make
