"""deploy/: the compose deployment's structure (always), its env generator, and
`docker compose config` when docker's compose plugin is installed."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import MOSQUITTO, free_port, port_open, require, wait_for


@pytest.fixture
def mosquitto_bin() -> str:
    require(os.path.exists(MOSQUITTO), f"{MOSQUITTO} is not installed")
    return MOSQUITTO


DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SECRETS = ("POSTGRES_PASSWORD", "MQTT_SERVICE_PASSWORD", "SESSION_SECRET")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def option(command: list[str], name: str) -> str:
    assert command.count(name) == 1, command
    return command[command.index(name) + 1]


def test_compose_has_the_services_of_a_scaled_deployment() -> None:
    services = compose()["services"]
    assert {"postgres", "init", "mosquitto", "ingest-a", "ingest-b", "web", "caddy"} <= set(
        services
    )
    assert services["caddy"]["profiles"] == ["proxy"]  # optional
    assert option(services["web"]["command"], "--workers") == "2"
    for name in ("ingest-a", "ingest-b", "web", "mosquitto"):
        assert services[name]["depends_on"]["init"] == {
            "condition": "service_completed_successfully"
        }, name


def test_ingest_workers_share_one_group_under_distinct_names() -> None:
    services = compose()["services"]
    commands = [s.get("command") or [""] for s in services.values()]
    ingest = [c for c in commands if c[0] == "ingest"]
    assert len(ingest) >= 2
    assert len({option(c, "--shared") for c in ingest}) == 1
    names = [option(c, "--name") for c in ingest]
    assert len(set(names)) == len(names)
    for service in services.values():  # PostgreSQL for everything meterhub runs
        url = service.get("environment", {}).get("DATABASE_URL")
        assert url is None or url.startswith("postgresql://meterhub:"), url


def test_no_literal_secret_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    for key, value in re.findall(r"^\s*([A-Z_]*(?:PASSWORD|SECRET)[A-Z_]*):\s*(.+)$", text, re.M):
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value.strip()), (key, value)
    # Credentials inside URLs come from the same variables.
    for user_info in re.findall(r"://([^@/\s]+)@", text):
        assert re.fullmatch(r"meterhub:\$\{[A-Z_]+:\?[^}]+\}", user_info), user_info
    assert not re.search(r"[0-9a-f]{32}|[A-Za-z0-9_-]{40}", text)


def test_mosquitto_reads_the_config_init_writes_and_is_new_enough() -> None:
    services = compose()["services"]
    mosquitto, init = services["mosquitto"], services["init"]
    version = tuple(int(p) for p in mosquitto["image"].split(":")[1].split("."))
    assert version >= (2, 0, 13)  # $share fixes of 2.0.12 and 2.0.13
    volume, mount = mosquitto["volumes"][0].split(":")
    assert f"{volume}:{mount}" in init["volumes"]
    assert option(mosquitto["command"], "-c") == f"{mount}/mosquitto.conf"
    script = (DEPLOY / "docker" / "init.sh").read_text()
    assert f'broker_dir="${{BROKER_DIR:-{mount}}}"' in script
    assert 'mosquitto-config --out "$broker_dir" --format files' in script


def test_init_writes_a_broker_config_that_admits_meterhub_with_the_env_password(
    mosquitto_bin: str, tmp_path: Path
) -> None:
    """deploy/docker/init.sh as compose runs it (here on SQLite and a temporary broker
    directory): the generated Mosquitto accepts meterhub's account with the password from
    .env and refuses a wrong one."""
    password = secrets.token_hex(32)
    broker_dir = tmp_path / "broker"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "METERHUB_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
        "MQTT_SERVICE_PASSWORD": password,
        "BROKER_DIR": str(broker_dir),
    }
    (tmp_path / "data").mkdir()
    done = subprocess.run(
        ["sh", str(DEPLOY / "docker" / "init.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if os.geteuid() == 0:  # as root it hands the files to the broker image's account
        assert (broker_dir / "passwords").stat().st_uid == 1883
        os.chown(broker_dir, 0, 0)
        for child in broker_dir.iterdir():
            os.chown(child, 0, 0)
    assert done.returncode == 0, done.stdout + done.stderr
    conf = (broker_dir / "mosquitto.conf").read_text()
    assert "max_queued_messages 100000" in conf and "allow_anonymous false" in conf
    # This machine's own Mosquitto holds 1883, and a test may not switch users.
    port = free_port()
    conf = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    conf = re.sub(r"^user mosquitto$", "user root" if os.geteuid() == 0 else "", conf, flags=re.M)
    (broker_dir / "mosquitto.conf").write_text(conf)
    broker = subprocess.Popen(
        [mosquitto_bin, "-c", str(broker_dir / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open(port), 10, "the generated Mosquitto did not start")
        assert mqtt_connect(port, "meterhub", password) == 0
        assert mqtt_connect(port, "meterhub", "wrong-" + password) != 0
    finally:
        broker.terminate()
        broker.wait(10)


def mqtt_connect(port: int, user: str, password: str) -> int:
    """The CONNACK reason code for `user` (0: accepted)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(user, password)
    codes: list[int] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_for(lambda: bool(codes), 10, "no CONNACK")
    finally:
        client.loop_stop()
        client.disconnect()
    return codes[0]


def run_make_env(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(target / "make-env.sh"), *args], capture_output=True, text=True, check=False
    )


def generated_env(tmp_path: Path) -> Path:
    shutil.copy(DEPLOY / "make-env.sh", tmp_path / "make-env.sh")
    done = run_make_env(tmp_path, "meters.example.org")
    assert done.returncode == 0, done.stderr
    return tmp_path / ".env"


def test_make_env_writes_fresh_private_secrets_once(tmp_path: Path) -> None:
    env = generated_env(tmp_path)
    assert env.stat().st_mode & 0o077 == 0
    values = dict(
        line.split("=", 1) for line in env.read_text().splitlines() if line and line[0] != "#"
    )
    assert values["METERHUB_HOSTNAME"] == "meters.example.org"
    secrets = [values[k] for k in SECRETS]
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in secrets)
    assert len(set(secrets)) == len(secrets)
    (tmp_path / "again").mkdir()
    assert generated_env(tmp_path / "again").read_text() != env.read_text()
    refused = run_make_env(tmp_path)
    assert refused.returncode == 1 and "exists" in refused.stderr


def docker_compose() -> list[str] | None:
    # Compose v2 only: the file uses v2's top-level `name` (v1, Debian's docker-compose
    # 1.29, rejects it)
    for argv in (["docker", "compose"],):
        if shutil.which(argv[0]) is None:
            continue
        done = subprocess.run([*argv, "version"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return argv
    return None


def test_docker_compose_config_accepts_the_file_with_a_generated_env(tmp_path: Path) -> None:
    argv = docker_compose()
    if argv is None:  # an optional tool, not a service CI provides: skip even under CI=true
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = generated_env(tmp_path)
    done = subprocess.run(
        [*argv, "-f", str(COMPOSE), "--env-file", str(env), "--profile", "proxy", "config"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in SECRETS},
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert set(rendered["services"]) >= {"ingest-a", "ingest-b", "web", "caddy"}
    # Without the env file compose refuses: nothing falls back to a built-in secret.
    bare = subprocess.run(
        [*argv, "-f", str(COMPOSE), "--env-file", os.devnull, "config"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in SECRETS},
    )
    assert bare.returncode != 0 and "make-env.sh" in bare.stderr
