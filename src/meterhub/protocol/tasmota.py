"""Tasmota energy telemetry: ``tele/<topic>/SENSOR`` and ``tele/<topic>/LWT``. Pure.

A SENSOR message carries an ``ENERGY`` object (Tasmota's energy driver, e.g. a PZEM-004T
board or a smart plug)::

    {"Time":"2026-12-04T18:37:10","ENERGY":{"Total":6.294,"Power":2635,"Voltage":227,
     "Current":11.661,"Factor":0.99,"Frequency":50,...}}

It becomes one :class:`~meterhub.protocol.readings.Reading` whose ``serial`` is the
Tasmota ``<topic>`` (the store resolves it to the device registered with that topic id):

* ``Voltage`` V, ``Current`` A, ``Power`` W and ``Total`` kWh (Tasmota's own cumulative
  counter, the reading's ``energy``) are required; ``Frequency`` Hz and ``Factor`` are
  kept when present. Every value must lie in the same :data:`RANGES` as protocol v1.
* Multi-phase devices send arrays (``"Voltage":[230,231,229]``): the message is rejected
  ``tasmota_multiphase`` (meterhub stores single-phase meters; one phase of three would
  be a wrong total).
* ``Time`` with an offset (Tasmota ``SetOption52 1``) is the reading's time, checked like
  a v1 timestamp. Without an offset it is the device's local time: the decoder does not
  know the device's zone, so the reading gets the receive time (``ts_from_device``
  False) and :func:`decode_sensor` also returns the local text; the store, which knows
  the device's ``timezone`` setting, replaces the time with :func:`local_time` when one
  is set.
* A SENSOR message without ``ENERGY`` (other sensors only) is rejected ``missing_field``.

LWT: ``Online`` / ``Offline`` (Tasmota's retained birth and last-will messages).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from meterhub.protocol.fields import iso_seconds, number, timestamp
from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Invalid, Reject, describe, load_object, msg_reject, short
from meterhub.protocol.rules import RANGES, raw_text
from meterhub.protocol.status import StatusUpdate

__all__ = ["decode_lwt", "decode_sensor", "local_time"]

_REQUIRED: Final = (("Voltage", "voltage"), ("Current", "current"), ("Power", "power"))
_OPTIONAL: Final = (("Frequency", "frequency"), ("Factor", "pf"))


def decode_sensor(
    topic: str, topic_id: str, raw: bytes | bytearray, received_at: float
) -> tuple[Reading, str | None] | Reject:
    """Decode ``tele/<topic_id>/SENSOR``: a reading (serial = ``topic_id``) with its
    ``Time`` when that had no offset (local time, see the module doc), or a reject."""
    obj = load_object(topic, raw, received_at)
    if isinstance(obj, Reject):
        return obj
    try:
        reading = _reading(obj, topic_id, received_at)
    except Invalid as exc:
        return exc.reject(topic, raw_text(raw), received_at)
    time = obj.get("Time")
    return reading, time if type(time) is str and not reading.ts_from_device else None


def local_time(value: str, zone: ZoneInfo, received_at: float) -> tuple[float, bool]:
    """A local ``Time`` in the device's zone as (epoch seconds, from the device), checked
    like a v1 timestamp (before 2020: the receive time; too far ahead: Invalid). In the
    hour a DST change repeats, the first (summer) time is taken."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("bad_timestamp", "Time", f"Time {short(value)} is not ISO-8601") from None
    return timestamp(parsed.replace(tzinfo=zone).timestamp(), received_at, legacy=False)


def _reading(obj: dict[str, Any], topic_id: str, received_at: float) -> Reading:
    energy = obj.get("ENERGY")
    if type(energy) is not dict:
        if energy is None:
            raise Invalid("missing_field", "ENERGY", "no ENERGY object (not an energy sensor)")
        raise Invalid("wrong_type", "ENERGY", f"ENERGY must be an object, got {describe(energy)}")
    phased = [k for k, v in energy.items() if type(v) is list]
    if phased:
        raise Invalid(
            "tasmota_multiphase",
            phased[0],
            f"multi-phase values ({', '.join(sorted(phased))}): meterhub stores "
            "single-phase meters only",
        )
    values = {
        name: number(energy.get(key), f"ENERGY.{key}", *RANGES[name]) for key, name in _REQUIRED
    }
    values["energy"] = number(energy.get("Total"), "ENERGY.Total", *RANGES["energy"])
    extra = {
        name: number(energy[key], f"ENERGY.{key}", *RANGES[name])
        for key, name in _OPTIONAL
        if energy.get(key) is not None
    }
    ts, from_device = _time(obj.get("Time"), received_at)
    return Reading(
        serial=topic_id,
        ts=ts,
        ts_from_device=from_device,
        voltage=values["voltage"],
        current=values["current"],
        power=values["power"],
        energy=values["energy"],
        frequency=extra.get("frequency"),
        pf=extra.get("pf"),
        topic_id=topic_id,
    )


def _time(value: Any, received_at: float) -> tuple[float, bool]:
    """``Time`` when it names its offset; the receive time when it is local time."""
    if type(value) is not str:
        return received_at, False
    try:
        iso_seconds(value)
    except Invalid as exc:
        if "no offset" in exc.detail:
            return received_at, False  # device-local time in an unknown zone
        raise Invalid("bad_timestamp", "Time", f"Time {short(value)} is not ISO-8601") from None
    return timestamp(value, received_at, legacy=False)


def decode_lwt(
    topic: str, topic_id: str, raw: bytes | bytearray, received_at: float
) -> StatusUpdate | Reject:
    """Decode ``tele/<topic_id>/LWT``: ``Online`` or ``Offline`` (any case)."""
    text = bytes(raw).decode("utf-8", "replace").strip()
    state = text.lower()
    if state not in ("online", "offline"):
        return msg_reject(
            "wrong_type",
            f"LWT must be Online or Offline, got {short(text)}",
            topic,
            raw,
            received_at,
        )
    return StatusUpdate(
        device_id=topic_id,
        serial=topic_id,
        online=state == "online",
        state=state,
        received_at=received_at,
    )
