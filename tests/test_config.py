"""Settings: exactly the documented variables, the generated session secret, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from meterhub.config import SECRET_FILE_NAME, Settings, load_settings

DOCUMENTED = {
    "PORT",
    "HOST",
    "INGEST_SHARED_GROUP",
    "INGEST_NAME",
    "SESSION_SECRET",
    "MQTT_BROKER_URL",
    "MQTT_PORT",
    "MQTT_CA_FILE",
    "MQTT_BIND",
    "MQTT_ENROLMENT",
    "MQTT_TLS_PORT",
    "MQTT_TLS_NAMES",
    "DATABASE_URL",
    "METERHUB_DATA_DIR",
    "METERHUB_TZ",
    "LOG_LEVEL",
    "HA_DISCOVERY",
    "HA_DISCOVERY_PREFIX",
    "PUBLIC_URL",
    "SESSION_IDLE_HOURS",
    "SESSION_MAX_DAYS",
    "ALLOWED_HOSTS",
    "REQUIRE_ADMIN_2FA",
    "EXPORT_MAX_DAYS",
    "WS_PER_SESSION",
    "MAX_BODY_BYTES",
    "RETENTION_RAW_DAYS",
    "AUDIT_MAX_ROWS",
    "SMTP_URL",
    "SMTP_FROM",
    "METERHUB_LATE_WINDOW_DAYS",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable or .env file of the machine running the tests leaks in."""
    for name in DOCUMENTED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_exactly_the_documented_variables() -> None:
    assert set(Settings.model_fields) == DOCUMENTED


def test_every_setting_is_in_the_readme_and_operations_tables() -> None:
    root = Path(__file__).resolve().parents[1]
    for doc in (root / "README.md", root / "docs" / "operations.md"):
        text = doc.read_text()
        assert all(f"| `{name}` |" in text for name in DOCUMENTED), doc


def test_device_channel_defaults() -> None:
    s = load_settings()
    assert (s.MQTT_BIND, s.MQTT_ENROLMENT, s.MQTT_TLS_PORT) == ("127.0.0.1", True, None)


def test_defaults(tmp_path: Path) -> None:
    s = load_settings()
    assert (s.PORT, s.HOST, s.MQTT_BROKER_URL, s.MQTT_PORT, s.LOG_LEVEL) == (
        3000,
        "0.0.0.0",
        "auto",
        1883,
        "INFO",
    )
    assert s.data_dir == (tmp_path / "data").resolve()
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'meterhub.db'}"
    assert s.log_file == s.data_dir / "meterhub.log"
    assert (s.SESSION_IDLE_HOURS, s.SESSION_MAX_DAYS, s.RETENTION_RAW_DAYS) == (12, 7, None)
    assert (s.ALLOWED_HOSTS, s.REQUIRE_ADMIN_2FA, s.AUDIT_MAX_ROWS) == (None, False, 100_000)


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PORT=8081\nMETERHUB_TZ=Europe/Berlin\nLOG_LEVEL=debug\nSOMETHING_ELSE=ignored\n"
    )
    s = load_settings()
    assert (s.PORT, s.METERHUB_TZ, s.LOG_LEVEL) == (8081, "Europe/Berlin", "DEBUG")
    monkeypatch.setenv("PORT", "9090")  # the environment wins over .env
    assert load_settings().PORT == 9090
    assert load_settings({"PORT": 7000}).PORT == 7000  # and overrides win over both


def test_session_secret_generated_once_with_mode_0600(tmp_path: Path) -> None:
    s = load_settings({"METERHUB_DATA_DIR": tmp_path / "d"})
    secret = s.session_secret()
    path = tmp_path / "d" / SECRET_FILE_NAME
    assert len(secret) >= 32 and path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_settings({"METERHUB_DATA_DIR": tmp_path / "d"}).session_secret()
    assert again == secret  # the same on the next start: sessions survive a restart
    other = load_settings({"METERHUB_DATA_DIR": tmp_path / "other"}).session_secret()
    assert other != secret  # never a constant
    assert not list((tmp_path / "d").glob("*.tmp"))


def test_loose_secret_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE_NAME
    path.write_text("k" * 40 + "\n")
    path.chmod(0o644)
    assert load_settings({"METERHUB_DATA_DIR": tmp_path}).session_secret() == "k" * 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_short_stored_secret_is_replaced(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("short\n")
    secret = load_settings({"METERHUB_DATA_DIR": tmp_path}).session_secret()
    assert secret != "short" and len(secret) >= 32


def test_explicit_session_secret(tmp_path: Path) -> None:
    s = load_settings({"SESSION_SECRET": "s" * 32, "METERHUB_DATA_DIR": tmp_path})
    assert s.session_secret() == "s" * 32
    assert not (tmp_path / SECRET_FILE_NAME).exists()


@pytest.mark.parametrize("value", ["short", "x" * 31, ""])
def test_short_session_secret_rejected(value: str) -> None:
    with pytest.raises(ValidationError, match="SESSION_SECRET must be at least 32"):
        load_settings({"SESSION_SECRET": value})


@pytest.mark.parametrize("zone", ["Mars/Olympus", "UTC+2", "../../etc/passwd", "x" * 300, ""])
def test_bad_time_zone_is_a_clear_error(zone: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_settings({"METERHUB_TZ": zone})
    message = str(info.value)
    assert "METERHUB_TZ" in message and "IANA name" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "http"),
        ("MQTT_PORT", "-1"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        load_settings()


def test_home_assistant_discovery_settings() -> None:
    s = load_settings()
    assert (s.HA_DISCOVERY, s.HA_DISCOVERY_PREFIX, s.PUBLIC_URL) == (False, "homeassistant", None)
    s = load_settings({"HA_DISCOVERY": "1", "HA_DISCOVERY_PREFIX": "ha/main"})
    assert (s.HA_DISCOVERY, s.HA_DISCOVERY_PREFIX) == (True, "ha/main")
    for bad in ("", "home assistant", "ha/#", "ha/+/x", "/ha", "ha/"):
        with pytest.raises(ValidationError, match="HA_DISCOVERY_PREFIX"):
            load_settings({"HA_DISCOVERY_PREFIX": bad})


def test_smtp_url_must_be_smtp_or_smtps() -> None:
    assert load_settings({"SMTP_URL": "smtps://u:p@mail.example:465"}).SMTP_URL == (
        "smtps://u:p@mail.example:465"
    )
    assert load_settings({"SMTP_URL": ""}).SMTP_URL is None
    with pytest.raises(ValueError, match="SMTP_URL must be smtp://"):
        load_settings({"SMTP_URL": "http://mail.example"})
