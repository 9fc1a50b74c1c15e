"""`meterhub init-db`, `users add|list|passwd`, `devices add|list` on both databases; one-line
errors with a non-zero exit; `--help` everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from meterhub.cli.main import app
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.security.passwords import verify_password
from meterhub.services import users

ENV_NAMES = (
    "PORT",
    "HOST",
    "SESSION_SECRET",
    "MQTT_BROKER_URL",
    "MQTT_PORT",
    "DATABASE_URL",
    "METERHUB_DATA_DIR",
    "METERHUB_TZ",
    "LOG_LEVEL",
)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """cli(*args, env=..., input=...) -> click Result, on this test's database."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    base: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    base |= {"DATABASE_URL": db_url, "METERHUB_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), env=base | (env or {}), input=input)

    return run


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def assert_one_line_error(result: Any, *words: str) -> None:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_init_db_creates_the_default_admin_once(cli: Any, db: Any) -> None:
    first = cli("init-db")
    assert first.exit_code == 0, first.output
    assert "database ready" in first.stdout and "admin / admin123" in first.stdout
    admin = users.by_username(db, "admin")
    assert admin is not None and admin.must_change_password and admin.role == "admin"
    assert verify_password(admin.password_hash, "admin123")
    second = cli("init-db")
    assert second.exit_code == 0 and "created the default admin" not in second.stdout


def test_users_add_list_passwd(cli: Any, db: Any) -> None:
    res = cli(
        "users", "add", "alice", "--password", "alice-pass-1234", "--email", "alice@example.com"
    )
    assert res.exit_code == 0 and "created user alice" in res.stdout, res.output
    res = cli(
        "users",
        "add",
        "boss",
        "--password",
        "boss-pass-1234",
        "--role",
        "admin",
        "--must-change-password",
    )
    assert res.exit_code == 0, res.output
    listed = cli("users", "list")
    assert listed.exit_code == 0
    rows = {line.split()[1]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["alice"][2:4] == ["user", "active"] and rows["boss"][2] == "admin"
    assert "alice@example.com" in listed.stdout

    res = cli("users", "passwd", "alice", "--password", "alice-pass-2")
    assert res.exit_code == 0 and "password of alice changed" in res.stdout
    alice = users.by_username(db, "alice")
    assert alice is not None and verify_password(alice.password_hash, "alice-pass-2")

    prompted = cli("users", "add", "carol", input="carol-pass-1234\ncarol-pass-1234\n")
    assert prompted.exit_code == 0, prompted.output
    assert "carol-pass-1234" not in prompted.stdout  # hidden input


def test_user_errors_are_one_line(cli: Any) -> None:
    assert cli("users", "add", "alice", "--password", "alice-pass-1234").exit_code == 0
    assert_one_line_error(cli("users", "add", "alice", "--password", "other-pass-1234"), "taken")
    assert_one_line_error(cli("users", "add", "bob", "--password", "short"), "at least 12")
    assert_one_line_error(
        cli("users", "add", "bobbybobby12", "--password", "bobbybobby12"), "username"
    )
    assert_one_line_error(cli("users", "add", "bob", "--password", "password1234"), "common")
    assert_one_line_error(
        cli("users", "add", "bob", "--password", "bob-pass-1234", "--role", "king"), "role"
    )
    assert_one_line_error(cli("users", "passwd", "nobody", "--password", "long-enough"), "nobody")
    assert_one_line_error(cli("users", "passwd", "alice", "--password", "short"), "at least 12")


def test_devices_add_list(cli: Any, db: Any) -> None:
    cli("users", "add", "alice", "--password", "alice-pass-1234")
    res = cli("devices", "add", "PZEM-1", "--name", "Kitchen", "--assign", "alice")
    assert res.exit_code == 0 and "registered device PZEM-1" in res.stdout, res.output
    assert cli("devices", "add", "PZEM-2").exit_code == 0
    listed = cli("devices", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "SERIAL"]
    assert "PZEM-1" in lines[1] and "Kitchen" in lines[1] and "alice" in lines[1]
    assert "PZEM-2" in lines[2] and "never" in lines[2]


def test_device_errors_are_one_line_and_change_nothing(cli: Any) -> None:
    assert cli("devices", "add", "PZEM-1").exit_code == 0
    assert_one_line_error(cli("devices", "add", "PZEM-1"), "exists")
    assert_one_line_error(cli("devices", "add", "bad serial"), "serial_number")
    assert_one_line_error(cli("devices", "add", "PZEM-9", "--assign", "ghost"), "ghost")
    assert "PZEM-9" not in cli("devices", "list").stdout  # the failed command left nothing


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DATABASE_URL": "nosuchdb://somewhere"}, ("cannot open the database",)),
        (
            {"DATABASE_URL": "postgresql://meterhub:hunter2@127.0.0.1:1/x"},
            ("cannot open the database", "127.0.0.1:1/x"),
        ),
        ({"METERHUB_TZ": "Mars/Olympus"}, ("METERHUB_TZ", "IANA")),
        ({"SESSION_SECRET": "short"}, ("SESSION_SECRET",)),
        ({"PORT": "http"}, ("PORT",)),
    ],
)
def test_bad_settings_are_one_line(cli: Any, env: dict[str, str], words: tuple[str, ...]) -> None:
    for args in (("init-db",), ("users", "list"), ("devices", "list")):
        result = cli(*args, env=env)
        assert_one_line_error(result, *words)
        assert "hunter2" not in result.output  # never print the password of a URL


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in (getattr(group, "commands", None) or {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_command_has_help(cli: Any) -> None:
    commands = _commands(typer.main.get_command(app))
    names = {" ".join(c) for c in commands}
    assert {
        "init-db",
        "users add",
        "users list",
        "users passwd",
        "devices add",
        "devices list",
        "run",
        "web",
    } <= names
    for command in commands:
        result = cli(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output and "--help" in result.output, command
