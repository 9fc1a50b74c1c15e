"""`./start-all.sh` and `./stop-all.sh` as a new user runs them: on a copy of the tree,
which gets its own fresh .venv (pip's cache keeps this to about a minute)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]
LEAKY = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "DATABASE_URL",
    "SESSION_SECRET",
    "HOST",
    "MQTT_BROKER_URL",
    "METERHUB_TZ",
    "LOG_LEVEL",
)


def copy_tree(dest: Path) -> None:
    """What a clone has: tracked files plus untracked, non-ignored ones (work in progress)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path / "meterhub"
    copy_tree(root)
    venv_bin = str(REPO / ".venv" / "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in LEAKY and not k.startswith(("METERHUB_", "PIP_REQUIRE"))
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env |= {
        "PORT": str(free_port()),
        "MQTT_PORT": str(free_port()),
        "METERHUB_DEMO": "0",
        "METERHUB_DATA_DIR": str(root / "data"),
    }
    yield root, env
    pidfile = root / "data" / "meterhub.pid"
    if pidfile.exists():  # the test failed half-way: stop what it started, by its pid
        pid = int(pidfile.read_text())
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


def run(
    root: Path, script: str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"./{script}"], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_start_all_then_stop_all_on_a_fresh_copy(tree: tuple[Path, dict[str, str]]) -> None:
    root, env = tree
    port = env["PORT"]
    assert not (root / ".venv").exists()

    started = run(root, "start-all.sh", env, timeout=600)
    out = started.stdout + started.stderr
    log = root / "data" / "meterhub.log"
    assert started.returncode == 0, out + (log.read_text()[-3000:] if log.exists() else "")
    assert (root / ".venv" / "bin" / "meterhub").exists()  # its own venv, not ours
    assert f"http://localhost:{port}" in started.stdout
    assert "admin / admin123" in started.stdout
    assert log.exists()

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as res:
        assert res.status == 200

    pid = int((root / "data" / "meterhub.pid").read_text())
    assert alive(pid)
    again = run(root, "start-all.sh", env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert int((root / "data" / "meterhub.pid").read_text()) == pid

    stopped = run(root, "stop-all.sh", env, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)
    assert not (root / "data" / "meterhub.pid").exists()
    again = run(root, "stop-all.sh", env, timeout=60)
    assert again.returncode == 0 and "not running" in again.stdout
