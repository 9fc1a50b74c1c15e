"""Talking to a real board: flash MicroPython (esptool), upload the build and
write config.json (mpremote). The serial port is checked first, so a missing
board is one clear error line instead of a tool's stack trace."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from meterhub.firmware.paths import FirmwareError, dist_dir, tool


def check_port(port: str) -> None:
    """Raise FirmwareError unless `port` is a serial port that can be opened."""
    if port.startswith("/") and not Path(port).exists():
        raise FirmwareError(
            f"no board at {port}: the port does not exist "
            "(is the USB cable plugged in? try `ls /dev/ttyUSB* /dev/ttyACM*`)"
        )
    try:
        import serial  # type: ignore[import-untyped]  # pyserial, comes with esptool
    except ImportError:
        return
    try:
        serial.Serial(port).close()
    except (serial.SerialException, OSError) as exc:
        raise FirmwareError(f"cannot open {port}: {exc}") from exc


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise FirmwareError(f"{what} failed (exit {proc.returncode}); see the output above")


def flash(
    port: str,
    image: Path,
    baud: int = 460800,
    offset: str = "0x0",
    erase: bool = True,
    progress: Callable[[str], None] = print,
) -> None:
    """Erase the chip and write a MicroPython image (ESP8266: offset 0x0; ESP32: 0x1000)."""
    if not image.is_file():
        raise FirmwareError(f"image not found: {image} (download it from micropython.org)")
    check_port(port)
    esptool = tool("esptool")
    if erase:
        progress(f"erasing flash on {port} ...")
        _run([esptool, "--port", port, "erase-flash"], "esptool erase-flash")
    progress(f"writing {image.name} at {offset} ...")
    _run(
        [
            esptool,
            "--port",
            port,
            "--baud",
            str(baud),
            "write-flash",
            "--flash-size=detect",
            offset,
            str(image),
        ],
        "esptool write-flash",
    )


def upload(port: str, build: Path | None = None, progress: Callable[[str], None] = print) -> None:
    """Copy the build (boot.py, main.py, lib/, manifest.json) to the board, then reset it."""
    build = build or dist_dir()
    if not (build / "manifest.json").exists():
        raise FirmwareError(f"no build in {build}: run `meterhub firmware build` first")
    check_port(port)
    progress(f"copying {build} to the board on {port} ...")
    cmd = [
        tool("mpremote"),
        "connect",
        port,
        "fs",
        "cp",
        "-r",
        "lib",
        ":",
        "+",
        "fs",
        "cp",
        "boot.py",
        "main.py",
        "manifest.json",
        ":",
        "+",
        "reset",
    ]
    proc = subprocess.run(cmd, cwd=build, check=False)
    if proc.returncode != 0:
        raise FirmwareError(
            f"mpremote failed (exit {proc.returncode}); if the meter is running, "
            "hold FLASH (GPIO0) while pressing RESET and try again"
        )


def make_config(
    wifi_ssid: str,
    wifi_password: str,
    mqtt_host: str,
    mqtt_port: int = 1883,
    serial: str = "",
    interval: int = 10,
    mqtt_user: str = "",
    mqtt_password: str = "",
) -> dict[str, object]:
    """A config.json the firmware accepts (same rules as firmware/lib/config.py)."""
    if not wifi_ssid or not mqtt_host:
        raise FirmwareError("--wifi-ssid and --mqtt-host are required")
    if not 1 <= mqtt_port <= 65535:
        raise FirmwareError("--mqtt-port must be 1..65535")
    if not 1 <= interval <= 86400:
        raise FirmwareError("--interval must be 1..86400 seconds")
    texts = {
        "wifi_ssid": wifi_ssid,
        "wifi_password": wifi_password,
        "mqtt_host": mqtt_host,
        "serial_number": serial,
        "mqtt_user": mqtt_user,
        "mqtt_password": mqtt_password,
    }
    for key, value in texts.items():
        if len(value) > 64:
            raise FirmwareError(f"{key} is longer than 64 characters")
    return {**texts, "mqtt_port": mqtt_port, "reading_interval": interval}


CA_FILE = "ca.der"  # where configure puts the pinned CA on the board's flash


def ca_der(path: Path) -> bytes:
    """The CA certificate in `path` (PEM or DER) as DER, which the meter pins for mqtts
    (MicroPython's mbedTLS reads DER only); FirmwareError if it is not a CA certificate."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FirmwareError(f"--mqtt-ca: cannot read {path}: {exc.strerror}") from exc
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise FirmwareError(f"--mqtt-ca: {path} is not a certificate (PEM or DER)") from exc
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise FirmwareError(f"--mqtt-ca: {path} is not a CA certificate (no CA:TRUE)")
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def configure(
    port: str,
    cfg: dict[str, object],
    progress: Callable[[str], None] = print,
    files: dict[str, bytes] | None = None,
) -> None:
    """Write config.json (replacing the whole file) and `files` (e.g. the pinned CA)
    to the board, and reset it."""
    check_port(port)
    with tempfile.TemporaryDirectory() as tmp:
        copies: list[str] = []
        for name, data in {**(files or {}), "config.json": json.dumps(cfg).encode()}.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            copies += ["fs", "cp", str(path), f":{name}", "+"]
        progress(f"writing {', '.join([*(files or {}), 'config.json'])} to {port} ...")
        _run([tool("mpremote"), "connect", port, *copies, "reset"], "mpremote")
