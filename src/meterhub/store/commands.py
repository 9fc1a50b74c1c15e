"""Command acknowledgements: a device's answer settles its pending command."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from meterhub.db.types import utcnow
from meterhub.protocol.status import CommandAck
from meterhub.store.tables import COMMANDS, DEVICES


def write_acks(conn: Connection, acks: list[CommandAck]) -> None:
    """Mark each acknowledged pending command acked or failed (a second answer is ignored).

    ``ack.device_id`` is the serial of the device owning the ack's topic id by now."""
    for ack in acks:
        conn.execute(
            update(COMMANDS)
            .where(
                COMMANDS.c.id == ack.command_id,
                COMMANDS.c.status == "pending",
                COMMANDS.c.device_id.in_(  # bound to the topic's device (store.binding)
                    select(DEVICES.c.id).where(DEVICES.c.serial_number == ack.device_id)
                ),
            )
            .values(status="acked" if ack.ok else "failed", error=ack.error, answered_at=utcnow())
        )
