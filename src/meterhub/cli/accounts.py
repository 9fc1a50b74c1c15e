"""`meterhub users ...` and `meterhub devices ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from meterhub.cli.common import database, echo_table, fail, settings
from meterhub.services import devices, users

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
devices_app = typer.Typer(help="Manage the device registry.", no_args_is_help=True)


def _password(value: str | None) -> str:
    if value:
        return value
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@users_app.command("add")
def users_add(
    username: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    role: Annotated[str, typer.Option(help="admin or user")] = "user",
    email: str | None = None,
    full_name: str | None = None,
    must_change_password: Annotated[
        bool, typer.Option(help="Force a change at first login.")
    ] = False,
) -> None:
    """Create a user."""
    with database(settings()) as db:
        user = users.create(
            db,
            None,
            username,
            _password(password),
            role=role,
            email=email,
            full_name=full_name,
            must_change_password=must_change_password,
        )
        typer.echo(f"created {user.role} {user.username} (id {user.id})")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    with database(settings()) as db:
        rows = [
            [str(u.id), u.username, u.role, "disabled" if u.disabled else "active", u.email or ""]
            for u in users.list_all(db)
        ]
    echo_table(rows, ["ID", "USERNAME", "ROLE", "STATE", "EMAIL"])


@users_app.command("passwd")
def users_passwd(
    username: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    must_change_password: Annotated[
        bool, typer.Option(help="Force a change at next login.")
    ] = False,
) -> None:
    """Set a user's password (ends their sessions)."""
    with database(settings()) as db:
        user = users.by_username(db, username)
        if user is None:
            fail(f"no user named {username!r}; see `meterhub users list`")
        users.set_password(db, user, _password(password))
        user.must_change_password = must_change_password
        typer.echo(f"password of {user.username} changed")


@devices_app.command("add")
def devices_add(
    serial: str,
    name: str | None = None,
    location: str | None = None,
    description: str | None = None,
    assign: Annotated[list[str] | None, typer.Option(help="Username to assign.")] = None,
) -> None:
    """Register a device by its serial number."""
    with database(settings()) as db:
        device = devices.create(
            db, None, serial, name=name, location=location, description=description
        )
        for username in assign or []:
            user = users.by_username(db, username)
            if user is None:
                fail(f"no user named {username!r}")
            devices.assign(db, None, device, user)
        typer.echo(f"registered device {device.serial_number} (id {device.id})")


@devices_app.command("list")
def devices_list() -> None:
    """List devices."""
    with database(settings()) as db:
        from sqlalchemy import select

        from meterhub.db.models import Device

        rows = [
            [
                str(d.id),
                d.serial_number,
                d.name or "",
                d.status,
                "online" if d.online else "offline",
                d.last_seen.isoformat(timespec="seconds") if d.last_seen else "never",
                ",".join(u.username for u in d.users),
            ]
            for d in db.scalars(select(Device).order_by(Device.serial_number))
        ]
    echo_table(rows, ["ID", "SERIAL", "NAME", "STATUS", "STATE", "LAST SEEN", "USERS"])


@devices_app.command("credentials")
def devices_credentials(
    serial: str,
    revoke: Annotated[bool, typer.Option(help="Remove the account instead.")] = False,
) -> None:
    """Issue (or rotate) a device's MQTT account and print it once; --revoke removes it."""
    from meterhub.services import device_credentials

    with database(settings()) as db:
        device = devices.by_serial(db, serial)
        if device is None:
            fail(f"no device with serial {serial!r}; see `meterhub devices list`")
        if revoke:
            device_credentials.revoke(db, None, device)
            typer.echo(f"MQTT account of {serial} revoked")
            return
        creds = device_credentials.issue(db, None, device)
    typer.echo(f"username: {creds.username}")
    typer.echo(f"password: {creds.password}")
    typer.echo(f"client id: meter-{creds.username}  (shown once; a new call rotates the password)")
