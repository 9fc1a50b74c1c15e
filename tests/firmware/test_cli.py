"""The firmware CLI: clear one-line errors without a board."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from meterhub.cli.firmware import app

runner = CliRunner()


def test_missing_port_is_one_clear_error(tmp_path: Path) -> None:
    image = tmp_path / "esp8266.bin"
    image.write_bytes(b"\0" * 16)
    for args in (
        ["flash", "--port", "/dev/ttyNOPE0", "--image", str(image)],
        ["upload", "--port", "/dev/ttyNOPE0"],
        [
            "configure",
            "--port",
            "/dev/ttyNOPE0",
            "--wifi-ssid",
            "a",
            "--wifi-password",
            "b",
            "--mqtt-host",
            "h",
        ],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, res.output
        assert "no board at /dev/ttyNOPE0" in res.output
        assert "Traceback" not in res.output


def test_bad_config_values_rejected_before_touching_the_board() -> None:
    res = runner.invoke(
        app,
        [
            "configure",
            "--port",
            "/dev/ttyNOPE0",
            "--wifi-ssid",
            "a",
            "--wifi-password",
            "b",
            "--mqtt-host",
            "h",
            "--interval",
            "0",
        ],
    )
    assert res.exit_code == 1
    assert "--interval" in res.output


def test_help_lists_commands() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("build", "flash", "upload", "configure", "test"):
        assert cmd in res.output
