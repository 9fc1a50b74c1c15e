"""`meterhub ingest --shared GROUP` takes PostgreSQL: with SQLite it refuses in one line,
before migrating anything; a bad group or name is refused the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def ingest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/meterhub.db",
        "METERHUB_DATA_DIR": str(tmp_path),
    }
    env.pop("INGEST_SHARED_GROUP", None)
    return subprocess.run(
        [sys.executable, "-m", "meterhub", "ingest", "--broker", "mqtt://127.0.0.1:1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shared", "g1"], "ingest --shared needs PostgreSQL"),
        (["--shared", "a/b"], "must be 1-64 characters without / + #"),
    ],
)
def test_shared_ingest_refuses_in_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = ingest(tmp_path, *args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert not (tmp_path / "meterhub.db").exists()  # refused before migrating
