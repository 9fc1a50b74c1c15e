"""Identity binding: a message belongs to its topic's device.

``meter/<id>/...`` is the device whose ``topic_id`` an admin set to ``<id>``, else the
device whose serial is ``<id>`` (a new one becomes pending with that serial). A payload
``serial_number`` that is neither that device's serial nor the ``<id>`` itself is a dead
letter ``serial_mismatch``: one meter cannot write into, move or acknowledge for another.
Topic ids are never learned from payloads. The topic-id map is cached; a topic id not
seen before is looked up at once (an admin just set it), the whole map is reloaded with
every offline sweep (changed or removed topic ids)."""

from __future__ import annotations

import time
from operator import attrgetter
from typing import Final, cast

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Reason, Reject
from meterhub.protocol.rules import is_valid_serial, raw_text
from meterhub.protocol.status import CommandAck, StatusUpdate
from meterhub.store.tables import DEVICES

_TOPIC_ID: Final = attrgetter("topic_id")


class TopicOwners:
    """Topic ids an admin set (topic id -> serial), cached across batches."""

    def __init__(self) -> None:
        self._aliases: dict[str, str] | None = None
        self._known: set[str] = set()  # topic ids looked up and found to be no alias

    def forget(self) -> None:
        """Reload everything on next use (a failed transaction, or the periodic sweep)."""
        self._aliases = None
        self._known.clear()

    def aliases(self, conn: Connection, topic_ids: set[str]) -> dict[str, str]:
        """The map, sure to be current for the topic ids in ``topic_ids`` not seen yet."""
        if self._aliases is None:
            self._aliases = {
                topic_id: serial
                for serial, topic_id in conn.execute(
                    select(DEVICES.c.serial_number, DEVICES.c.topic_id).where(
                        DEVICES.c.topic_id.is_not(None),
                        DEVICES.c.protocol == "meterhub",  # Tasmota/ESPHome: store/foreign.py
                    )
                )
            }
            self._known.clear()
        unseen = [t for t in topic_ids if t not in self._aliases and t not in self._known]
        if unseen:
            for serial, topic_id in conn.execute(
                select(DEVICES.c.serial_number, DEVICES.c.topic_id).where(
                    DEVICES.c.topic_id.in_(unseen), DEVICES.c.protocol == "meterhub"
                )
            ):
                self._aliases[topic_id] = serial
            self._known.update(t for t in unseen if t not in self._aliases)
        return self._aliases


def bind(
    conn: Connection,
    owners: TopicOwners,
    readings: list[Reading],
    statuses: list[StatusUpdate],
    acks: list[CommandAck],
) -> tuple[list[Reading], list[StatusUpdate], list[CommandAck], list[Reject]]:
    """Give every reading, status and ack its topic's device's serial; what names another
    serial (``serial_mismatch``) or comes from a topic id that is no serial and no
    device's topic id (``bad_topic``) becomes a dead letter instead."""
    found: set[str | None] = set(map(_TOPIC_ID, readings))
    found.discard(None)
    topic_ids = cast("set[str]", found)
    topic_ids.update(s.device_id for s in statuses)
    topic_ids.update(a.device_id for a in acks)
    aliases = owners.aliases(conn, topic_ids)
    rejects: list[Reject] = []
    now = time.time()
    kept: list[Reading] = []
    keep = kept.append
    for reading in readings:
        topic_id = reading.topic_id
        serial = reading.serial
        if (serial == topic_id and topic_id not in aliases) or topic_id is None:
            keep(reading)  # the usual case: one compare (None: not received, see Reading)
            continue
        owner = aliases.get(topic_id, topic_id)
        if serial == owner or (serial == topic_id and is_valid_serial(owner)):
            reading.serial = owner
            keep(reading)
        else:
            rejects.append(_reject(topic_id, "data", serial, owner, reading, now))
    if len(kept) == len(readings):
        kept = readings
    bound: list[StatusUpdate] = []
    for status in statuses:
        topic_id = status.device_id
        owner = aliases.get(topic_id, topic_id)
        claimed = status.serial
        if claimed == owner or (claimed == topic_id and is_valid_serial(owner)):
            if claimed != owner:
                status.serial = owner
            bound.append(status)
        else:
            rejects.append(_reject(topic_id, "status", claimed, owner, status, status.received_at))
    answered: list[CommandAck] = []
    for ack in acks:
        owner = aliases.get(ack.device_id, ack.device_id)
        if owner != ack.device_id:
            ack.device_id = owner  # the ack settles only this device's commands
        answered.append(ack)
    return kept, bound, answered, rejects


def _reject(
    topic_id: str,
    kind: str,
    serial: str | None,
    owner: str,
    what: Reading | StatusUpdate,
    received_at: float,
) -> Reject:
    reason: Reason
    if is_valid_serial(owner):
        reason = "serial_mismatch"
        detail = (
            f"serial_number {serial!r} is not the serial of the device on meter/{topic_id}/ "
            f"({owner!r}); a device publishes only on its own topics"
        )
    else:
        reason = "bad_topic"
        detail = (
            f"topic id {topic_id[:64]!r} is no valid serial and no device's topic id "
            "(an admin sets topic ids)"
        )
    return Reject(
        reason=reason,
        detail=detail,
        topic=f"meter/{topic_id}/{kind}",
        raw=raw_text(orjson.dumps(what)),
        received_at=received_at,
        serial=serial,
    )
