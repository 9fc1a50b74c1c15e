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


def _configure_args(*extra: str) -> list[str]:
    return [
        "configure",
        "--port",
        "/dev/ttyNOPE0",
        "--wifi-ssid",
        "a",
        "--wifi-password",
        "b",
        "--mqtt-host",
        "h",
        *extra,
    ]


def test_mqtt_ca_is_checked_before_touching_the_board(tmp_path: Path) -> None:
    from meterhub.broker.tls import ensure_tls

    files = ensure_tls(tmp_path / "data", ["localhost"])
    not_pem = tmp_path / "junk.pem"
    not_pem.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    for path, words in (
        (tmp_path / "missing.crt", "cannot read"),
        (not_pem, "is not a certificate"),
        (files.server_cert, "is not a CA certificate"),  # the broker's own, not its CA
    ):
        res = runner.invoke(app, _configure_args("--mqtt-ca", str(path)))
        assert res.exit_code == 1, res.output
        assert words in res.output, res.output
        assert "no board" not in res.output  # refused before looking for the board
    res = runner.invoke(app, _configure_args("--mqtt-ca", str(files.ca_cert)))
    assert res.exit_code == 1 and "no board at /dev/ttyNOPE0" in res.output, res.output


def test_ca_is_pinned_as_der(tmp_path: Path) -> None:
    from cryptography import x509

    from meterhub.broker.tls import ensure_tls
    from meterhub.firmware.device import ca_der

    files = ensure_tls(tmp_path / "data", ["localhost"])
    der = ca_der(files.ca_cert)
    assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(
        files.ca_cert.read_bytes()
    )
    (tmp_path / "ca.der").write_bytes(der)
    assert ca_der(tmp_path / "ca.der") == der
