"""`meterhub broker ...`: files for running Mosquitto with meterhub's accounts and ACL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from meterhub.cli.common import database, fail, settings

broker_app = typer.Typer(help="MQTT broker files (Mosquitto).", no_args_is_help=True)


@broker_app.command("mosquitto-config")
def mosquitto_config(
    out: Annotated[Path, typer.Option(help="Directory to write mosquitto.conf and its files.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Listener port.")] = 1883,
    bind: Annotated[
        str | None, typer.Option(help="Listener address (default: every interface).")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="dynsec: dynamic-security plugin, device client ids bound (restart to "
            "apply changes); files: password_file + acl_file (SIGHUP reloads them, client "
            "ids not bound).",
        ),
    ] = "dynsec",
    plugin: Annotated[
        str | None, typer.Option(help="Path of mosquitto_dynamic_security.so (dynsec).")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Account Mosquitto runs as when started by root (its `user` option; "
            "default mosquitto). The files are mode 0600: give them to that account."
        ),
    ] = None,
) -> None:
    """Write Mosquitto's config from the device registry, ready for `mosquitto -c`."""
    from meterhub.broker.credentials import service_password
    from meterhub.broker.mosquitto import Account, write_config
    from meterhub.services.device_credentials import accounts, without_credentials

    if fmt not in ("dynsec", "files"):
        fail(f"--format must be dynsec or files, not {fmt!r}")
    chosen: Literal["dynsec", "files"] = "dynsec" if fmt == "dynsec" else "files"
    cfg = settings()
    with database(cfg) as db:
        found = [Account(*row) for row in accounts(db)]
        missing = without_credentials(db)
    try:
        paths = write_config(
            out,
            found,
            service_password(cfg.data_dir),
            port=port,
            bind=bind,
            fmt=chosen,
            plugin=plugin,
            user=user,
        )
    except (ValueError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {', '.join(str(p) for p in paths)} ({len(found)} device accounts)")
    if missing:
        typer.echo(
            f"{len(missing)} device(s) have no MQTT account and will be refused: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; "
            "run `meterhub devices credentials SERIAL`, then write the files again"
        )
    typer.echo(
        f"start it with: mosquitto -c {out / 'mosquitto.conf'}; meterhub connects with "
        f"MQTT_BROKER_URL=mqtt://meterhub:<the password in {cfg.data_dir}/"
        "mqtt_service_password>@HOST:PORT (or `auto` on this machine)"
    )
