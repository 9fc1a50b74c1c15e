"""`meterhub backup` / `meterhub restore` on both databases: a backup restored into a fresh
data dir (and a fresh database) holds the same rows, secret and firmware bundles; raw
reading retention keeps what the rollups need; file modes whatever the umask."""

from __future__ import annotations

import os
import stat
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from meterhub.cli.main import app
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.models import Base, Device, Reading, Rollup15m
from meterhub.ingest.messages import decode_message
from meterhub.services.retention import delete_old_readings
from meterhub.store import TelemetryStore
from tests.cli.test_cli import ENV_NAMES
from tests.conftest import PG_ADMIN_URL

TABLES = [t.name for t in Base.metadata.sorted_tables]


def run(env: dict[str, str], *args: str) -> Any:
    base: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    return CliRunner().invoke(app, list(args), env=base | env)


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same kind to restore into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'meterhub.db'}"
        return
    name = f"meterhub_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = {
            t: sorted(tuple(map(str, r)) for r in conn.execute(text(f'SELECT * FROM "{t}"')))
            for t in TABLES
        }
    engine.dispose()
    return rows


def test_backup_then_restore_into_a_fresh_data_dir(
    db_url: str, fresh_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"DATABASE_URL": db_url, "METERHUB_DATA_DIR": str(data)}
    assert run(env, "init-db").exit_code == 0
    assert run(env, "devices", "add", "BK-1").exit_code == 0
    engine = make_engine(db_url)
    TelemetryStore(engine).write(
        decode_message(
            "meter/BK-1/data", b'{"voltage":230,"current":1,"power":230,"energy":2}', time.time()
        )
    )
    engine.dispose()
    bundle = data / "ota" / "1.2.3" / "main.py"
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes(b"print('firmware')\n")
    secret = data / "session_secret"
    secret.write_text("s" * 48 + "\n")

    out = tmp_path / "backups" / "meterhub.tar.gz"
    made = run(env, "backup", str(out))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with tarfile.open(out) as archive:
        names = set(archive.getnames())
    assert {"manifest.json", "session_secret", "ota/1.2.3/main.py"} <= names

    fresh = tmp_path / "restored"
    fresh_env = {"DATABASE_URL": fresh_url, "METERHUB_DATA_DIR": str(fresh)}
    restored = run(fresh_env, "restore", str(out))
    assert restored.exit_code == 0, restored.output
    assert snapshot(fresh_url) == snapshot(db_url)
    assert (fresh / "session_secret").read_text() == secret.read_text()
    assert (fresh / "ota" / "1.2.3" / "main.py").read_bytes() == bundle.read_bytes()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "session_secret").stat().st_mode) == 0o600


def test_restore_refuses_junk_and_overwrites(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'd' / 'meterhub.db'}",
        "METERHUB_DATA_DIR": str(tmp_path / "d"),
    }
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    res = run(env, "restore", str(junk))
    assert res.exit_code != 0 and "not a meterhub backup" in res.stderr
    assert run(env, "init-db").exit_code == 0
    out = tmp_path / "b.tar.gz"
    assert run(env, "backup", str(out)).exit_code == 0
    res = run(env, "restore", str(out))
    assert res.exit_code != 0 and "--force" in res.stderr
    assert run(env, "restore", "--force", str(out)).exit_code == 0


def test_data_dir_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "loose"
    data.mkdir(mode=0o755)
    (data / "meterhub.log").write_text("old log\n")
    os.chmod(data / "meterhub.log", 0o644)
    old = os.umask(0o022)
    try:
        env = {"DATABASE_URL": f"sqlite:///{data / 'meterhub.db'}", "METERHUB_DATA_DIR": str(data)}
        assert run(env, "init-db").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_retention_keeps_what_rollups_need(db_url: str) -> None:
    engine = make_engine(db_url)
    from meterhub.db.migrate import upgrade

    upgrade(engine)
    with make_sessionmaker(engine)() as db:
        db.add(Device(serial_number="RT-1"))
        db.commit()
    store = TelemetryStore(engine)
    now = time.time()
    day = 86400
    for age_days, kwh in ((100, 1.0), (99, 2.0), (61, 3.0), (10, 4.0)):
        store.write(
            decode_message(
                "meter/RT-1/data",
                b'{"voltage":230,"current":1,"power":230,"energy":%.1f,"timestamp":%d}'
                % (kwh, int(now - age_days * day)),
                now,
            )
        )
    with engine.connect() as conn:
        before = conn.scalar(select(func.sum(Rollup15m.energy_wh)))
    result = delete_old_readings(engine, 60, now)
    with engine.connect() as conn:
        left = [r[0] for r in conn.execute(select(Reading.energy).order_by(Reading.ts))]
        after = conn.scalar(select(func.sum(Rollup15m.energy_wh)))
    # the two oldest go; the newest before the cut (61 days) stays for the next delta
    assert result.deleted == 2 and left == [3.0, 4.0]
    assert after == before
    engine.dispose()
