"""Tasmota and ESPHome devices: which device a foreign topic id belongs to.

A reading or status from ``tele/<topic>/...`` (protocol ``tasmota``) or ``<prefix>/...``
(``esphome``) arrives with the topic id in place of a serial. It belongs to

1. the device whose ``protocol`` is that protocol and whose ``topic_id`` is that id
   (registered by an admin: any serial, e.g. the plug's label);
2. else the device whose serial *is* the id, when its protocol matches;
3. else nobody yet: a reading makes the id a pending device with that protocol and topic
   id (like an unknown meterhub serial), a status is ignored (``<x>/status`` is also used
   by other programs, e.g. Home Assistant's ``homeassistant/status``).

A reading whose id is the serial of a device speaking another protocol is rejected
``protocol_mismatch``; one whose id cannot be a serial (and no device has it as topic id)
is rejected ``bad_serial``. A Tasmota reading whose ``Time`` had no offset takes that
local time in the device's ``timezone`` when one is set (else it keeps the receive time).
Looked up per batch (not cached): an admin may change a
device's protocol or topic id at any time.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Invalid, Reason, Reject, short
from meterhub.protocol.rules import SERIAL_RULE, is_valid_serial
from meterhub.protocol.status import StatusUpdate
from meterhub.protocol.tasmota import local_time
from meterhub.store.tables import DEVICES

Origins = dict[str, tuple[str, str]]
"""serial -> (protocol, topic id) for devices a batch may create as pending."""


def resolve(
    conn: Connection,
    readings: list[tuple[str, Reading, str | None]],
    statuses: list[tuple[str, StatusUpdate]],
) -> tuple[list[Reading], list[StatusUpdate], list[Reject], Origins]:
    """The batch's foreign readings and statuses under their devices' serials, the rejects,
    and the protocol and topic id of each serial that is new (see the module doc)."""
    topics = {r.serial for _, r, _ in readings} | {s.device_id for _, s in statuses}
    if not topics:
        return [], [], [], {}
    by_topic: dict[tuple[str, str], str] = {}
    protocol_of: dict[str, str] = {}
    zone_of: dict[str, str] = {}
    for serial, topic_id, protocol, zone in conn.execute(
        select(
            DEVICES.c.serial_number, DEVICES.c.topic_id, DEVICES.c.protocol, DEVICES.c.timezone
        ).where(or_(DEVICES.c.topic_id.in_(topics), DEVICES.c.serial_number.in_(topics)))
    ):
        if topic_id is not None:
            by_topic[(protocol, topic_id)] = serial
        protocol_of[serial] = protocol
        if zone:
            zone_of[serial] = zone

    def owner(protocol: str, topic_id: str) -> str | None:
        serial = by_topic.get((protocol, topic_id))
        if serial is None and protocol_of.get(topic_id) == protocol:
            serial = topic_id
        return serial

    out: list[Reading] = []
    rejects: list[Reject] = []
    origins: Origins = {}
    for protocol, reading, local in readings:
        topic_id = reading.serial
        serial = owner(protocol, topic_id)
        if serial is None:
            other = protocol_of.get(topic_id)
            if other is not None:
                rejects.append(
                    _reject(
                        reading,
                        protocol,
                        "protocol_mismatch",
                        f"device {short(topic_id)} "
                        f"speaks {other}, not {protocol}; set its protocol to {protocol}",
                    )
                )
                continue
            if not is_valid_serial(topic_id):
                rejects.append(
                    _reject(
                        reading,
                        protocol,
                        "bad_serial",
                        f"topic id {short(topic_id)} is "
                        f"not a valid serial ({SERIAL_RULE}); register a device with it "
                        "as its topic id",
                    )
                )
                continue
            serial = topic_id
            origins[serial] = (protocol, topic_id)
        if serial != topic_id:
            reading = replace(reading, serial=serial)
        zone = zone_of.get(serial)
        if local is not None and zone is not None:
            try:
                ts, from_device = local_time(local, _zone(zone), reading.ts)
            except Invalid as exc:
                topic = _topic(protocol, topic_id)
                rejects.append(exc.reject(topic, repr(reading), reading.ts, serial=serial))
                continue
            reading = replace(reading, ts=ts, ts_from_device=from_device)
        out.append(reading)
    resolved = [
        replace(status, serial=serial)
        for protocol, status in statuses
        if (serial := owner(protocol, status.device_id)) is not None
    ]
    return out, resolved, rejects, origins


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # names are checked when an admin sets them


def _topic(protocol: str, topic_id: str) -> str:
    return f"tele/{topic_id}/SENSOR" if protocol == "tasmota" else f"{topic_id}/sensor/+/state"


def _reject(reading: Reading, protocol: str, reason: Reason, detail: str) -> Reject:
    return Reject(
        reason,
        detail,
        _topic(protocol, reading.serial),
        repr(reading)[:2048],
        reading.ts,
        serial=None,
    )
