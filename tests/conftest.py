"""Fixtures shared by the whole suite: a database on SQLite *and* PostgreSQL, the app, and
API clients logged in as the roles we test."""

from __future__ import annotations

import os
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

from meterhub.config import Settings, load_settings
from meterhub.context import AppContext
from meterhub.db.migrate import upgrade
from meterhub.db.models import Base
from meterhub.web.app import build_context, create_app
from tests.support import CI, port_open, require

__all__ = ["CI", "require"]  # older tests import these from here; tests/support.py is home

# Shared, noisy machines: a slow example is not a failure (speed is `meterhub bench`'s job).
hypothesis_settings.register_profile(
    "meterhub", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("meterhub")
PG_ADMIN_URL = os.environ.get("METERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ["sqlite", "postgresql"]


# -- markers, applied from what a test uses ------------------------------------------------
# The fast lane, `pytest -m "not (mosquitto or postgres or browser or slow)"`, needs no
# service. A test gets a marker from the fixtures it uses (directly or through other
# fixtures), its parameters, or where it lives, so nobody has to remember to add one.
MOSQUITTO_FIXTURES = {
    "mosquitto",  # the private broker (tests/support.py) or the local one (tests/commands)
    "private_broker",  # tests/live/test_feed.py
    "publisher",  # tests/live: publishes to the local Mosquitto
}
POSTGRES_FIXTURES = {"pg_database"}
SLOW_PATHS = (  # files, or file::test (every parameter of it)
    "tests/bench/test_bench_smoke.py",  # every `meterhub bench` case, at a tiny size
    "tests/e2e/",  # whole pipeline in processes: kill -9, outages, OTA rollouts
    "tests/firmware/test_micropython_suite.py",  # the firmware suite under MicroPython
    "tests/firmware/test_e2e_broker.py",  # virtual meters through broker outages
    "tests/api/test_schemathesis.py",  # the API fuzzer: every operation, three roles
    "tests/web/test_slim_server.py",  # fresh interpreters importing the server entry
    "tests/broker/test_run_device_channel.py",  # `meterhub run` with its embedded broker
    "tests/simulate/test_sim_firmware_stop.py",  # simulated firmware processes and SIGTERM
    "tests/cli/test_bench_extra.py",  # a fresh interpreter without psutil
    # exhaustive properties (the decoder's fast path against the precise one, thousands
    # of examples), every zone transition 2000-2030, ingest restarted under load, `--help`
    # of every command in a subprocess, the docs' citation scanners over the tree
    "tests/protocol/test_fast_path.py::test_fast_path_returns_what_the_precise_path_returns",
    "tests/protocol/test_fast_path.py::test_decoding_is_the_same_without_the_fast_path",
    "tests/telemetry/test_periods.py::test_every_zone_boundary_2000_2030_is_on_a_quarter_hour",
    "tests/ingest/test_receiver.py::test_readings_published_while_ingest_is_down_arrive",
    "tests/cli/test_cli.py::test_every_command_has_help",
    "tests/test_docs.py::test_the_scanners_find_citations",
)


def markers_for(item: pytest.Item, rootdir: Path) -> set[str]:
    """The service/slow markers `item` needs, from its fixtures, parameters and path."""
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    params: dict[str, Any] = callspec.params if callspec is not None else {}
    path = item.path.resolve().relative_to(rootdir).as_posix()
    marks: set[str] = set()
    if fixtures & MOSQUITTO_FIXTURES or params.get("broker") == "mosquitto":
        marks.add("mosquitto")
    if fixtures & POSTGRES_FIXTURES or params.get("db_url") == "postgresql":
        marks.add("postgres")
    if path.startswith("tests/browser/"):
        marks.add("browser")
    if path.startswith(SLOW_PATHS) or f"{path}::{item.name.split('[')[0]}".startswith(SLOW_PATHS):
        marks.add("slow")
    return marks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rootdir = Path(config.rootpath).resolve()
    for item in items:
        for name in markers_for(item, rootdir) - {m.name for m in item.iter_markers()}:
            item.add_marker(name)


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
    admin_url = make_url(PG_ADMIN_URL)
    if not port_open(admin_url.port or 5432, admin_url.host or "127.0.0.1"):
        yield None
        return
    name = f"meterhub_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    from meterhub.db.engine import make_engine

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A migrated, empty SQLite database (its bytes): migrating takes longer than most tests,
    so it is done once and each test gets a copy (PostgreSQL: once, then TRUNCATE)."""
    from meterhub.db.engine import make_engine

    path = tmp_path_factory.mktemp("sqlite-template") / "meterhub.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path.read_bytes()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL, once per database kind, migrated and with empty tables."""
    if request.param == "sqlite":
        path = tmp_path / "meterhub.db"
        # owner-only, as meterhub creates it (the file holds password hashes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(request.getfixturevalue("sqlite_template"))
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    shown = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
    require(url is not None, f"PostgreSQL is not answering at {shown}")
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
