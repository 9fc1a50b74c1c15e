"""What one transaction is given (:class:`Batch`) and what it did (:class:`WriteResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Reject
from meterhub.protocol.status import CommandAck, StatusUpdate


@dataclass(slots=True)
class Batch:
    """Work for one transaction."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    acks: list[CommandAck] = field(default_factory=list)
    sweep: bool = False  # also mark silent devices offline
    foreign_readings: list[tuple[str, Reading, str | None]] = field(default_factory=list)
    """(protocol, reading, local time) from Tasmota/ESPHome topics: ``serial`` holds the
    topic id, the store resolves it to the device with that protocol and topic id; a
    local time (Tasmota's ``Time`` without offset) replaces ``ts`` if the device has a
    zone."""
    foreign_statuses: list[tuple[str, StatusUpdate]] = field(default_factory=list)
    """(protocol, status) from Tasmota LWT / ESPHome status topics, resolved likewise."""


@dataclass(slots=True)
class WriteResult:
    """What one batch did (counted into /metrics)."""

    stored: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    events: int = 0
    new_devices: list[str] = field(default_factory=list)
