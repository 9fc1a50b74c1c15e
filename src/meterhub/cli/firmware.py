"""`meterhub firmware ...`: build, flash, upload, configure and test the MicroPython firmware."""

from __future__ import annotations

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


@app.command()
def build(
    out: Annotated[Path | None, typer.Option(help="Output folder (default dist/firmware)")] = None,
    march: Annotated[
        str | None, typer.Option(help="mpy-cross -march (default: portable bytecode)")
    ] = None,
) -> None:
    """Precompile the firmware (+ umqtt, microdot) to .mpy with a sha256 manifest."""
    from meterhub.firmware.build import build as do_build

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
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port")] = 1883,
    serial: Annotated[str, typer.Option(help="Serial number (default PZEM-<MAC6>)")] = "",
    interval: Annotated[int, typer.Option(help="Seconds between readings")] = 10,
    mqtt_user: Annotated[str, typer.Option(help="MQTT user")] = "",
    mqtt_password: Annotated[str, typer.Option(help="MQTT password")] = "",
) -> None:
    """Write config.json (Wi-Fi, MQTT, serial, interval) to the board."""
    from meterhub.firmware.device import configure as do_configure
    from meterhub.firmware.device import make_config

    try:
        cfg = make_config(
            wifi_ssid,
            wifi_password,
            mqtt_host,
            mqtt_port,
            serial,
            interval,
            mqtt_user,
            mqtt_password,
        )
        do_configure(port, cfg, progress=_say)
    except FirmwareError as exc:
        raise _fail(exc) from exc
    _say("configured; the meter restarts and joins " + wifi_ssid)


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
def heap(
    broker: Annotated[
        str, typer.Option(help="host:port of a running MQTT broker")
    ] = "127.0.0.1:1883",
) -> None:
    """Measure the smallest MicroPython heap on which the main loop runs (.mpy build)."""
    from meterhub.firmware.heap import smallest_heap

    try:
        _say("bisecting heap size (each probe runs a virtual meter for a few seconds) ...")
        n = smallest_heap(broker)
    except (FirmwareError, RuntimeError) as exc:
        raise _fail(exc) from exc
    _say(f"smallest working heap: {n} bytes (Unix port, 64-bit objects)")
