"""`meterhub firmware ...`: build, flash, upload, configure and test the MicroPython firmware."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from meterhub.firmware.paths import FirmwareError

app = typer.Typer(
    help="MicroPython firmware for the PZEM-004T meter: build, flash, upload, configure, test.",
    no_args_is_help=True,
)

PortOpt = Annotated[str, typer.Option("--port", "-p", help="Serial port, e.g. /dev/ttyUSB0")]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _say(msg: str) -> None:
    typer.echo(msg)


SrcOpt = Annotated[
    str | None,
    typer.Option(
        "--src",
        help="MicroPython source tree: a directory or .tar.gz (default: $MICROPYTHON_SRC)",
    ),
]


@app.command()
def build(
    out: Annotated[Path | None, typer.Option(help="Output folder (default dist/firmware)")] = None,
    march: Annotated[
        str | None, typer.Option(help="mpy-cross -march (default: portable bytecode)")
    ] = None,
    frozen: Annotated[
        bool,
        typer.Option("--frozen", help="Build a MicroPython image with the firmware frozen in"),
    ] = False,
    board: Annotated[str, typer.Option(help="With --frozen: esp8266 or esp32")] = "esp8266",
    src: SrcOpt = None,
) -> None:
    """Precompile the firmware (+ umqtt, microdot) to .mpy with a sha256 manifest, or with
    --frozen build a flashable image with it frozen in (needs the board's toolchain)."""
    from meterhub.firmware.build import build as do_build

    if frozen:
        from meterhub.firmware.frozen import board_image

        try:
            image = board_image(board, src, progress=_say)
        except FirmwareError as exc:
            raise _fail(exc) from exc
        _say(
            f"built {image}: flash it with `meterhub firmware flash --image {image}`, "
            "then upload only boot.py, main.py and config"
        )
        return
    try:
        _say("compiling firmware with mpy-cross ...")
        res = do_build(out, march, progress=_say)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    _say(
        f"built {res.version}: {len(res.files) + 1} files, {res.total_bytes} bytes "
        f"(sources {res.source_bytes} bytes) in {res.out}"
    )


@app.command()
def flash(
    port: PortOpt,
    image: Annotated[Path, typer.Option("--image", help="MicroPython .bin from micropython.org")],
    baud: Annotated[int, typer.Option(help="Write speed")] = 460800,
    offset: Annotated[
        str, typer.Option(help="Flash offset: 0x0 for ESP8266, 0x1000 for ESP32")
    ] = "0x0",
) -> None:
    """Erase the board and write a MicroPython image (esptool)."""
    from meterhub.firmware.device import flash as do_flash

    try:
        do_flash(port, image, baud, offset, progress=_say)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    _say("done: now run `meterhub firmware upload --port " + port + "`")


@app.command()
def upload(
    port: PortOpt,
    no_build: Annotated[bool, typer.Option("--no-build", help="Upload the existing build")] = False,
) -> None:
    """Copy the firmware build to the board (mpremote) and reset it."""
    from meterhub.firmware.build import build as do_build
    from meterhub.firmware.device import check_port
    from meterhub.firmware.device import upload as do_upload

    try:
        check_port(port)
        if not no_build:
            _say("building ...")
            do_build(progress=lambda _: None)
        do_upload(port, progress=_say)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    _say("uploaded; the meter restarts (no Wi-Fi yet? join its PZEM_Meter_xxxxxx network)")


@app.command()
def configure(
    port: PortOpt,
    wifi_ssid: Annotated[str, typer.Option(help="Wi-Fi network name")],
    wifi_password: Annotated[str, typer.Option(help="Wi-Fi password")],
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker host")],
    mqtt_port: Annotated[
        int | None, typer.Option(help="MQTT broker port (default 1883, 8883 with --mqtt-ca)")
    ] = None,
    serial: Annotated[str, typer.Option(help="Serial number (default PZEM-<MAC6>)")] = "",
    interval: Annotated[int, typer.Option(help="Seconds between readings")] = 10,
    mqtt_user: Annotated[str, typer.Option(help="MQTT user")] = "",
    mqtt_password: Annotated[str, typer.Option(help="MQTT password")] = "",
    command_secret: Annotated[
        str,
        typer.Option(help="Key of signed commands (default: a new random one)"),
    ] = "",
    portal_password: Annotated[
        str,
        typer.Option(help="WPA2 password of the setup portal (default: a new random one)"),
    ] = "",
    mqtt_ca: Annotated[
        Path | None,
        typer.Option(
            help="CA certificate (PEM or DER, e.g. <data dir>/mqtt-tls/ca.crt): connect with "
            "mqtts and accept only a broker certificate it signed (ESP32; see docs/firmware.md)"
        ),
    ] = None,
) -> None:
    """Write config.json (Wi-Fi, MQTT, serial, interval, command secret) to the board; the
    command secret is also stored on the server for that serial when it is registered."""
    from meterhub.firmware.device import CA_FILE, ca_der, make_config
    from meterhub.firmware.device import configure as do_configure
    from meterhub.services.command_signing import new_secret

    secret = command_secret or new_secret()

    try:
        cfg = make_config(
            wifi_ssid,
            wifi_password,
            mqtt_host,
            mqtt_port or (8883 if mqtt_ca else 1883),
            serial,
            interval,
            mqtt_user,
            mqtt_password,
        )
        portal_pw = portal_password or secrets.token_urlsafe(9)
        if len(portal_pw) < 8:
            raise FirmwareError("--portal-password needs at least 8 characters (WPA2)")
        cfg["command_secret"] = secret
        cfg["portal_password"] = portal_pw
        files = {}
        if mqtt_ca is not None:
            files[CA_FILE] = ca_der(mqtt_ca)
            cfg.update(mqtt_tls=True, mqtt_ca=CA_FILE)
        do_configure(port, cfg, progress=_say, files=files)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    _say("configured; the meter restarts and joins " + wifi_ssid)
    _say(f"setup portal (Wi-Fi PZEM_Meter_<MAC6>) password: {portal_pw}")
    _say(_store_secret(serial, secret))


def _store_secret(serial: str, secret: str) -> str:
    """Keep the command secret on the server (devices.command_secret); a line saying how."""
    if not serial:
        return (
            f"command secret: {secret} (no --serial given: set it on the server for "
            "this meter's serial, or commands to it stay unsigned and the meter refuses them)"
        )
    from meterhub.cli.common import database, settings
    from meterhub.services import devices

    try:
        with database(settings()) as db:
            device = devices.by_serial(db, serial)
            if device is None:
                return (
                    f"command secret: {secret} (device {serial} is not registered yet: run "
                    "configure again with --command-secret once it is)"
                )
            device.command_secret = secret
            db.commit()
    except typer.Exit:  # no database here: the board is configured all the same
        return (
            f"command secret: {secret} (not stored: the database cannot be reached from "
            "here; run configure with --command-secret where it can)"
        )
    return f"command secret stored on the server for {serial} (never sent over MQTT)"


@app.command()
def test(
    filters: Annotated[
        list[str] | None, typer.Argument(help="Only tests whose name contains")
    ] = None,
    heapsize: Annotated[str | None, typer.Option(help="micropython -X heapsize, e.g. 512K")] = None,
) -> None:
    """Run the firmware test suite in MicroPython (prints `N passed, M failed`)."""
    from meterhub.firmware.runner import run_suite

    try:
        proc = run_suite(filters or (), heapsize)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(proc.returncode)


@app.command()
def unix32(src: SrcOpt = None) -> None:
    """Build (or find cached) the 32-bit Unix MicroPython with the firmware frozen in."""
    from meterhub.firmware.frozen import unix32_binary

    try:
        _say(str(unix32_binary(src, progress=lambda m: typer.echo(m, err=True))))
    except FirmwareError as exc:
        raise _fail(exc) from exc


@app.command()
def heap(
    broker: Annotated[
        str, typer.Option(help="host:port of a running MQTT broker")
    ] = "127.0.0.1:1883",
    frozen: Annotated[
        bool,
        typer.Option(
            "--frozen",
            help="Every scenario on the 32-bit build (ESP8266 object sizes), frozen and .mpy",
        ),
    ] = False,
    src: SrcOpt = None,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only these scenarios (repeatable)")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Runs in a row a heap size must pass")] = 1,
    mpy: Annotated[bool, typer.Option(help="Also measure the plain .mpy build")] = True,
) -> None:
    """Measure the smallest MicroPython heap the firmware needs (bisects -X heapsize)."""
    if frozen:
        _heap_table(broker, src, scenario, repeat, mpy)
        return
    from meterhub.firmware.heap import smallest_heap

    try:
        _say("bisecting heap size (each probe runs a virtual meter for a few seconds) ...")
        n = smallest_heap(broker)
    except (FirmwareError, RuntimeError) as exc:
        raise _fail(exc) from exc
    _say(f"smallest working heap: {n} bytes (Unix port, 64-bit objects)")


def _heap_table(
    broker: str, src: str | None, names: list[str] | None, repeat: int, mpy: bool
) -> None:
    from meterhub.firmware import heap as h
    from meterhub.firmware.frozen import unix32_binary

    try:
        binary = unix32_binary(src, progress=_say)
        _say(f"bisecting -X heapsize per scenario on {binary} ({repeat} run(s) per size) ...")
        rows = h.table(binary, broker, names, mpy, repeat, progress=_say)
    except FirmwareError as exc:
        raise _fail(exc) from exc

    def kb(n: int | None) -> str:
        return "fails at 128 KB" if n is None else f"{n / 1024:.1f} KB"

    _say(f"\n| scenario | frozen | plain .mpy | vs {h.BUDGET // 1024} KB budget |")
    _say("|---|---|---|---|")
    for sc, f, m in rows:
        verdict = "fits" if f is not None and f <= h.BUDGET else "over"
        _say(f"| {sc.label} | {kb(f)} | {kb(m) if mpy else '-'} | {verdict} |")
    if any(f is None or f > h.BUDGET for _, f, _ in rows):
        raise typer.Exit(1)
