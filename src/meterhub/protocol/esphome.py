"""ESPHome ``pzemac`` sensors over MQTT: one quantity per message, assembled into readings.

ESPHome publishes each sensor on ``<prefix>/sensor/<object_id>/state`` as a plain number
(``<object_id>`` is the snake_case of the sensor's ``name``) and its availability on
``<prefix>/status`` (``online`` / ``offline``). The ``<prefix>`` is the device's topic id.

Quantities, by ``<object_id>``: the name itself or its last words after an underscore
(``voltage``, ``pzem_voltage`` and ``kitchen_pzem_voltage`` are all voltage):

=================  ============  ====================================
object_id ends in  quantity      unit (as pzemac publishes it)
=================  ============  ====================================
``voltage``        voltage       V
``current``        current       A
``power``          power         W
``energy``         energy        **Wh** (stored as kWh: divided by 1000)
``frequency``      frequency     Hz
``power_factor``   pf            0..1
=================  ============  ====================================

Any other ``<object_id>`` is rejected ``unknown_field``; a value that is not a number or
outside the v1 :data:`RANGES` is rejected like a v1 field, and is not part of a reading.

Assembly (:class:`Rounds`): pzemac publishes all its sensors one after the other at each
update, so the values of one update form a *round*. A round starts with the first value
after the previous round ended; its reading's time is that value's receive time. A round
becomes a reading

* at once, when it holds all six quantities; or
* when a value arrives for a quantity the round already holds, or more than
  :data:`ROUND_WINDOW_S` after the round started (the next update began): the round is
  then emitted if it holds at least voltage, current, power and energy (frequency and
  power factor are optional), else rejected ``incomplete_reading``; the new value
  starts the next round.

So a device configured with only the four required sensors gets its readings one update
late; configure all six for immediate readings. At most :data:`MAX_ROUNDS` devices are
held (the oldest round is dropped, rejected ``incomplete_reading``, beyond that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Reason, Reject, msg_reject, short
from meterhub.protocol.rules import RANGES, raw_text
from meterhub.protocol.status import StatusUpdate

__all__ = ["MAX_ROUNDS", "QUANTITIES", "ROUND_WINDOW_S", "Rounds", "decode_status", "quantity"]

QUANTITIES: Final = (
    ("power_factor", "pf"),  # before "power": the longer name wins
    ("voltage", "voltage"),
    ("current", "current"),
    ("power", "power"),
    ("energy", "energy"),
    ("frequency", "frequency"),
)
"""``<object_id>`` ending -> Reading field."""
REQUIRED: Final = frozenset({"voltage", "current", "power", "energy"})
ALL: Final = frozenset(name for _, name in QUANTITIES)
ROUND_WINDOW_S: Final = 2.0
"""A value later than this after a round's first one starts a new round."""
MAX_ROUNDS: Final = 10_000
"""Devices whose round is held at once (bounded memory)."""


def quantity(object_id: str) -> str | None:
    """The Reading field an ESPHome ``<object_id>`` names, or None."""
    for suffix, name in QUANTITIES:
        if object_id == suffix or object_id.endswith("_" + suffix):
            return name
    return None


@dataclass(slots=True)
class _Round:
    started: float
    values: dict[str, float] = field(default_factory=dict)
    topic: str = ""


class Rounds:
    """The open round of each ESPHome device (by prefix); see the module doc.

    Pure apart from its own memory: values in, readings and rejects out.
    """

    def __init__(self, max_rounds: int = MAX_ROUNDS) -> None:
        self._open: dict[str, _Round] = {}
        self.max_rounds = max_rounds

    def add(
        self, topic: str, prefix: str, object_id: str, raw: bytes | bytearray, received_at: float
    ) -> tuple[list[Reading], list[Reject]]:
        """One state message: the readings it completes and the rejects it causes."""
        name = quantity(object_id)
        if name is None:
            detail = f"sensor {short(object_id)} is none of " + ", ".join(s for s, _ in QUANTITIES)
            return [], [msg_reject("unknown_field", detail, topic, raw, received_at)]
        value = _value(bytes(raw), name)
        if isinstance(value, tuple):
            reject = msg_reject(*value, topic, raw, received_at)
            reject.field = name
            return [], [reject]
        readings: list[Reading] = []
        rejects: list[Reject] = []
        current = self._open.get(prefix)
        if current is not None and (
            name in current.values or received_at - current.started > ROUND_WINDOW_S
        ):
            self._close(prefix, readings, rejects)
            current = None
        if current is None:
            if len(self._open) >= self.max_rounds:
                self._close(next(iter(self._open)), readings, rejects)
            current = self._open[prefix] = _Round(received_at, topic=topic)
        current.values[name] = value
        if current.values.keys() >= ALL:
            self._close(prefix, readings, rejects)
        return readings, rejects

    def _close(self, prefix: str, readings: list[Reading], rejects: list[Reject]) -> None:
        done = self._open.pop(prefix)
        values = done.values
        missing = REQUIRED - values.keys()
        if missing:
            rejects.append(
                Reject(
                    "incomplete_reading",
                    f"update from {short(prefix)} lacks {', '.join(sorted(missing))}",
                    done.topic,
                    raw_text(repr(values).encode()),
                    done.started,
                    serial=prefix,
                )
            )
            return
        readings.append(
            Reading(
                serial=prefix,
                ts=done.started,
                ts_from_device=False,
                voltage=values["voltage"],
                current=values["current"],
                power=values["power"],
                energy=values["energy"],
                frequency=values.get("frequency"),
                pf=values.get("pf"),
                topic_id=prefix,
            )
        )


def _value(raw: bytes, name: str) -> float | tuple[Reason, str]:
    """The state as a number in meterhub's unit, or why not (reason, detail)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # ESPHome sends "nan" while the sensor has no value
        return "wrong_type", f"{name} state must be a number, got {short(text)}"
    if name == "energy":
        value /= 1000.0  # pzemac publishes Wh
    low, high, unit = RANGES[name]
    if not low <= value <= high:
        return "out_of_range", f"{name} {value:.10g} {unit} out of range {low:.10g}-{high:.10g}"
    return value


def decode_status(
    topic: str, prefix: str, raw: bytes | bytearray, received_at: float
) -> StatusUpdate | Reject:
    """``<prefix>/status``: ``online`` or ``offline``."""
    state = bytes(raw).decode("utf-8", "replace").strip().lower()
    if state not in ("online", "offline"):
        detail = f"status must be online or offline, got {short(state)}"
        return msg_reject("wrong_type", detail, topic, raw, received_at)
    return StatusUpdate(
        device_id=prefix,
        serial=prefix,
        online=state == "online",
        state=state,
        received_at=received_at,
    )
