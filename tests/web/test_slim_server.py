"""The server process stays slim: what it imports, how it migrates, how the live hub indexes
a connection that sees every device, and the allocator settings (bench memory measures the
sizes; these tests keep the mechanisms from regressing)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterhub.cli import main as cli_main
from meterhub.db import migrate
from meterhub.db.engine import make_engine
from meterhub.live import hub as hub_module
from meterhub.live.hub import LiveHub, reading_message
from tests.live.fakes import RecordingTransport

# What only some commands or requests need: never loaded by the server at start. (paho is
# in: the live feed's client is aiomqtt on paho; dnspython, which paho would pull in, not.)
NOT_IN_SERVER = (
    "alembic",
    "mako",
    "pygments",
    "dns",
    "prometheus_client",
    "psutil",
    "meterhub.cli.main",
    "meterhub.bench",
    "meterhub.simulate",
    "meterhub.firmware",
)


def python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_server_entry_leaves_out_what_it_does_not_need() -> None:
    loaded = python(
        "import sys, meterhub.web.__main__, meterhub.web.app; print(' '.join(sys.modules))"
    ).split()
    heavy = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in NOT_IN_SERVER)]
    assert heavy == []


def test_head_revision_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert migrate.head_revision() == script.get_current_head()


def test_a_current_database_is_not_migrated_with_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    assert not migrate.is_current(engine) and migrate.current_revisions(engine) is None
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()
    code = (
        "import sys; from meterhub.db.engine import make_engine; "
        "from meterhub.db.migrate import upgrade; "
        f"upgrade(make_engine({url!r})); print('alembic' in sys.modules)"
    )
    assert python(code) == "False"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["web", "--port", "3999"], ["--port", "3999"]),
        (["web", "--workers", "2"], ["--workers", "2"]),
        (
            ["run", "--demo", "2", "--host", "127.0.0.1"],
            ["--ingest", "--broker", "--demo", "2", "--host", "127.0.0.1"],
        ),
    ],
)
def test_web_and_run_migrate_then_become_the_server(
    args: list[str], extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> None:
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", execv)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    res = CliRunner().invoke(
        cli_main.app, args, env={"DATABASE_URL": url, "METERHUB_DATA_DIR": str(tmp_path)}
    )
    assert res.exit_code == 0, res.output
    assert calls == [[sys.executable, "-m", "meterhub.web", *extra]]
    engine = make_engine(url)
    assert migrate.is_current(engine)
    engine.dispose()


def test_allocator_settings_apply_unless_the_environment_sets_them() -> None:
    code = "from meterhub.runtime.allocator import tune_malloc; print(','.join(tune_malloc()))"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    if sys.platform.startswith("linux") and done.stdout.strip():  # glibc (musl: nothing)
        assert done.stdout.split() == ["arena_max,mmap_threshold"]
        assert python(code, MALLOC_ARENA_MAX="4") == "mmap_threshold"


# -- the live hub: a connection that sees more than INDEX_LIMIT serials ------------------
def reading(serial: str) -> dict[str, Any]:
    return reading_message(serial, 1795773600.0, {"power": 1.0})


def test_broad_connections_get_their_serials_and_no_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "INDEX_LIMIT", 2)

    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        wide, narrow = RecordingTransport(), RecordingTransport()
        admin = hub.register(
            wide,
            user_id=1,
            username="root",
            is_admin=True,
            session_id="s1",
            serials={"A", "B", "C"},
        )
        user = hub.register(
            narrow, user_id=2, username="u", is_admin=False, session_id="s2", serials={"A"}
        )
        assert hub._broad == {admin} and set(hub._viewers) == {"A"}
        assert (hub.viewers("A"), hub.viewers("C"), hub.viewers("Z")) == (2, 1, 0)
        assert hub.publish_reading("C", reading("C")) == 1
        assert hub.publish_reading("Z", reading("Z")) == 0
        assert hub.publish_reading("A", reading("A")) == 2
        await asyncio.sleep(0.05)
        assert [m["serial"] for m in wide.messages] == ["C", "A"]
        assert [m["serial"] for m in narrow.messages] == ["A"]
        # Fewer serials: indexed again, and an unsent reading it may no longer see is gone.
        hub.publish_reading("C", reading("C"))
        assert hub.set_serials(admin, {"A", "B"})
        assert hub._broad == set() and hub._viewers["B"] == {admin}
        assert ("reading", "C") not in admin.outbox and hub.viewers("C") == 0
        # More again: out of the index, into the broad set.
        assert hub.set_serials(admin, {"A", "B", "D"})
        assert hub._broad == {admin} and set(hub._viewers) == {"A"}
        user.request_close(4401, "gone")
        admin.request_close(4401, "gone")
        assert hub._broad == set() and hub._viewers == {}
        assert hub.publish_reading("A", reading("A")) == 0
        await hub.close_all()

    asyncio.run(asyncio.wait_for(body(), 10))
