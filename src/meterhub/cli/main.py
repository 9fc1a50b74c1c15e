"""`meterhub`: the command line (see `meterhub --help`)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from meterhub import __version__
from meterhub.cli import bench, operations, report, tools
from meterhub.cli.accounts import devices_app, users_app
from meterhub.cli.broker import broker_app
from meterhub.cli.common import database, fail, settings
from meterhub.cli.firmware import app as firmware_app
from meterhub.security.files import private_umask
from meterhub.services import users

app = typer.Typer(
    name="meterhub",
    help="meterhub: electricity meter management (MQTT ingest, API, dashboard, firmware).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(users_app, name="users")
app.add_typer(devices_app, name="devices")
app.add_typer(broker_app, name="broker")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"meterhub {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Configuration comes from the environment or a .env file (see the README)."""


@app.command("init-db")
def init_db() -> None:
    """Create or migrate the database and the default admin (admin / admin123)."""
    cfg = settings()
    with database(cfg) as db:
        created = users.ensure_default_admin(db)
    where = cfg.database_url.split("@")[-1]
    typer.echo(f"database ready: {where}")
    if created:
        typer.echo("created the default admin: admin / admin123 (change it at first login)")


@app.command("web")
def web(
    host: Annotated[str | None, typer.Option(help="Overrides HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PORT.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Web worker processes on one port; each has its own live feed (docs/scaling.md).",
        ),
    ] = 1,
) -> None:
    """Serve the API and dashboard only (no ingest, no broker)."""
    _become_server(host, port, *(["--workers", str(workers)] if workers > 1 else []))


@app.command("run")
def run(
    demo: Annotated[int, typer.Option(help="Add N simulated meters with 30 days of history.")] = 0,
    host: Annotated[str | None, typer.Option(help="Overrides HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PORT.")] = None,
) -> None:
    """Run everything in the foreground: broker (if needed), ingest and web."""
    _become_server(host, port, "--ingest", "--broker", "--demo", str(demo))


def _become_server(host: str | None, port: int | None, *extra: str) -> NoReturn:
    """Check the settings and migrate here, then become `python -m meterhub.web` (same
    pid): the server starts without the command line's modules and Alembic in memory."""
    with database(settings()):
        pass
    argv = [sys.executable, "-m", "meterhub.web", *extra]
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter, fixed arguments


@app.command("ingest")
def ingest(
    broker: Annotated[
        str | None,
        typer.Option(
            help="mqtt://[user:pass@]host:port; default: MQTT_BROKER_URL (auto/embedded mean "
            "localhost:MQTT_PORT)."
        ),
    ] = None,
    shared: Annotated[
        str | None,
        typer.Option(
            help="Be one of several workers of this shared-subscription group "
            "($share/GROUP/...); PostgreSQL only. Default: INGEST_SHARED_GROUP."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="This worker's name: client id meterhub-ingest-NAME (default: INGEST_NAME, "
            "else the host name)."
        ),
    ] = None,
) -> None:
    """Run the MQTT ingest alone: subscribe, validate, store (no web, no broker)."""
    from meterhub.broker.credentials import with_service_account
    from meterhub.broker.url import BrokerTarget, parse_broker_url, target_url
    from meterhub.ingest.shared import check_shared, worker_client_id
    from meterhub.runtime import logs
    from meterhub.runtime.children import ingest_command

    cfg = settings()
    logs.setup(cfg.LOG_LEVEL)
    url = broker or cfg.MQTT_BROKER_URL
    if url.strip().lower() in ("auto", "embedded"):
        # The local broker: log in with meterhub's own account.
        local = BrokerTarget("127.0.0.1", cfg.MQTT_PORT)
        url = target_url(with_service_account(local, cfg.data_dir))
    group = shared or cfg.INGEST_SHARED_GROUP or None
    name = name or cfg.INGEST_NAME
    try:
        parse_broker_url(url)
        if group:
            check_shared(group, cfg.database_url)
            worker_client_id(name)
    except ValueError as exc:
        fail(str(exc))
    with database(cfg):
        pass  # migrate before consuming
    # Become the slim ingest process: the CLI's imports would stay in memory otherwise.
    argv, env = ingest_command(
        url,
        cfg.database_url,
        cfg.LOG_LEVEL,
        cfg.MQTT_CA_FILE,
        cfg.METERHUB_LATE_WINDOW_DAYS,
        group,
        name,
    )
    os.execve(argv[0], argv, env)  # noqa: S606 - our own interpreter, fixed arguments


@app.command("integrations")
def integrations() -> None:
    """Run the integrations alone: Emoncms forwarding, Home Assistant discovery
    (HA_DISCOVERY=1). `meterhub run` starts them itself."""
    from meterhub.broker.url import parse_broker_url
    from meterhub.integrations.runner import integrations_command

    cfg = settings()
    url = cfg.MQTT_BROKER_URL
    if url.strip().lower() in ("auto", "embedded"):
        url = f"mqtt://127.0.0.1:{cfg.MQTT_PORT}"
    try:
        parse_broker_url(url)
    except ValueError as exc:
        fail(str(exc))
    with database(cfg):
        pass  # migrate before reading
    argv, env = integrations_command(url, cfg.database_url, cfg.LOG_LEVEL)
    os.execve(argv[0], argv, env)  # noqa: S606 - our own interpreter, fixed arguments


@app.command("alerts")
def alerts(
    broker: Annotated[
        str | None,
        typer.Option(
            help="mqtt://... for MQTT alert channels; default: MQTT_BROKER_URL (auto/embedded "
            "mean localhost:MQTT_PORT)."
        ),
    ] = None,
) -> None:
    """Run the alert evaluator and notifier alone (`run` starts them itself)."""
    from meterhub.broker.url import parse_broker_url
    from meterhub.runtime import logs
    from meterhub.runtime.children import alerts_command

    cfg = settings()
    logs.setup(cfg.LOG_LEVEL)
    url = broker or cfg.MQTT_BROKER_URL
    if url.strip().lower() in ("auto", "embedded"):
        url = f"mqtt://127.0.0.1:{cfg.MQTT_PORT}"
    try:
        parse_broker_url(url)
    except ValueError as exc:
        fail(str(exc))
    with database(cfg):
        pass  # migrate before evaluating
    argv, env = alerts_command(url, cfg.database_url, cfg.LOG_LEVEL, cfg.SMTP_URL, cfg.SMTP_FROM)
    os.execve(argv[0], argv, env)  # noqa: S606 - our own interpreter, fixed arguments


app.command("simulate")(tools.simulate)
app.command("export")(tools.export)
app.command("import")(tools.import_readings)
app.command("bench")(bench.bench)
app.command("report")(report.report)
app.command("backup")(operations.backup)
app.command("restore")(operations.restore)
app.command("maintenance")(operations.maintenance)
app.add_typer(firmware_app, name="firmware")


def main() -> None:
    """Entry point of the `meterhub` script."""
    private_umask()
    app()
