"""Decode MQTT protocol v1 messages into plain readings, status updates and command acks.

Contract: DESIGN.md "MQTT protocol v1". Pure: topic and bytes in, plain data out. Nothing
here raises on bad input; every problem comes back as a :class:`Reject` carrying a
machine-readable ``reason`` (one of :data:`REASONS`), a human ``detail`` naming the field
and value, and the raw payload cut to :data:`RAW_KEEP_BYTES` for the dead-letter table.

Units: ``ts`` and ``received_at`` are float epoch seconds, UTC (``Reading.ts_ms`` gives
integer milliseconds for a writer that stores those). Volts, amperes, watts, kWh (the
meter's cumulative counter), hertz, power factor 0..1.

Device timestamps (the ``timestamp`` key), decided in this order:

* absent or null: ``received_at`` is used and ``ts_from_device`` is False;
* a number >= 1e11 is epoch milliseconds (1e11 seconds would be the year 5138), any other
  number is epoch seconds; a string is ISO-8601 and must carry ``Z`` or an offset;
* a time before 2020-01-01T00:00:00Z is not a wall-clock time (an unset clock, MicroPython's
  2000 epoch, milliseconds since boot): ``received_at`` is used, ``ts_from_device`` False;
* more than :data:`FUTURE_TOLERANCE_S` (5 min) after ``received_at``: rejected
  ``future_timestamp``; any past time is accepted (a backlog flush);
* the original C++ firmware's payload (recognised by its ``device_id`` key) may send
  ``millis()`` since boot, which looks like epoch seconds after 18 days of uptime and wraps
  after 49.7. A *numeric* timestamp in such a payload is used only when it lies within
  [received_at - 7 days, received_at + 5 min]; otherwise it is taken for an uptime
  counter and ``received_at`` is used (that firmware has no backlog to flush).

Device identity: ``serial_number`` when present, else the ``<id>`` of ``meter/<id>/data``.
A serial is 1-64 characters from ``A-Z a-z 0-9 . _ : -`` (safe in MQTT topics, URL paths
and file names); anything else is rejected ``bad_serial``. Unknown keys are ignored, so
devices may add fields.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeVar, get_args

import orjson

__all__ = [
    "FUTURE_TOLERANCE_S",
    "MAX_BATCH_READINGS",
    "MAX_PAYLOAD_BYTES",
    "RANGES",
    "RAW_KEEP_BYTES",
    "REASONS",
    "WALL_CLOCK_MIN_TS",
    "CommandAck",
    "Decoded",
    "Reading",
    "Reason",
    "Reject",
    "StatusUpdate",
    "TopicKind",
    "decode_ack",
    "decode_data",
    "decode_status",
    "is_valid_serial",
    "parse_topic",
]

MAX_PAYLOAD_BYTES: Final = 65536
"""Payloads longer than this are rejected ``oversized`` without being parsed."""
MAX_BATCH_READINGS: Final = 1000
"""A batch with more readings than this is rejected as a whole (``batch_too_large``)."""
RAW_KEEP_BYTES: Final = 2048
"""How much of a rejected payload is kept (decoded as UTF-8 with errors replaced)."""
FUTURE_TOLERANCE_S: Final = 300.0
"""A device time later than ``received_at`` plus this is rejected ``future_timestamp``."""
WALL_CLOCK_MIN_TS: Final = 1577836800.0
"""2020-01-01T00:00:00Z: device times before this are not wall-clock times."""
MS_THRESHOLD: Final = 1e11
"""Numeric timestamps at or above this are epoch milliseconds."""
LEGACY_MAX_AGE_S: Final = 7 * 86400.0
"""Oldest numeric timestamp believed from the C++ firmware (it has no backlog)."""
MAX_SERIAL_LEN: Final = 64
MAX_TEXT_LEN: Final = 64
"""Longest firmware_version / ip_address / command id / status state."""
UNTIMED_SPACING_S: Final = 0.001
"""Spacing given to batch readings that carry no device time (see _spread_untimed)."""
MAX_FIRMWARE_LEN: Final = 32
"""Longest firmware_version kept on the device row."""
MAX_SEQ: Final = 2**63 - 1
"""``seq`` must fit a signed 64-bit column."""

Reason = Literal[
    "oversized",
    "empty_payload",
    "malformed_json",
    "not_an_object",
    "bad_topic",
    "bad_serial",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_timestamp",
    "future_timestamp",
    "empty_batch",
    "batch_too_large",
    "too_many_pending",
    "unstorable",
]
REASONS: Final[tuple[str, ...]] = get_args(Reason)
"""Every reject reason code, for metrics labels and the admin page."""

TopicKind = Literal["data", "status", "control", "control/ack"]

RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "voltage": (80.0, 260.0, "V"),
    "current": (0.0, 100.0, "A"),
    "power": (0.0, 23000.0, "W"),
    "energy": (0.0, 9999.999, "kWh"),
    "frequency": (45.0, 65.0, "Hz"),
    "pf": (0.0, 1.0, ""),
}
"""PZEM-004T v3 (100 A model) measuring ranges, inclusive: field -> (low, high, unit)."""

_T = TypeVar("_T")
_KINDS: Final[dict[str, TopicKind]] = {"data": "data", "status": "status", "control": "control"}
_SERIAL_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SERIAL_RULE: Final = "1-64 characters from A-Z a-z 0-9 . _ : -"


@dataclass(slots=True)
class Reading:
    """One accepted meter reading. Treat as immutable (not frozen only for speed)."""

    serial: str
    ts: float
    """Epoch seconds, UTC: the device's time, or ``received_at`` (see ``ts_from_device``)."""
    ts_from_device: bool
    voltage: float
    current: float
    power: float
    energy: float
    """Cumulative counter, kWh (see :mod:`meterhub.telemetry.energy`)."""
    frequency: float | None = None
    pf: float | None = None
    alarm: bool | None = None
    seq: int | None = None
    firmware_version: str | None = None
    ip_address: str | None = None

    @property
    def ts_ms(self) -> int:
        """``ts`` as integer epoch milliseconds."""
        return round(self.ts * 1000.0)


@dataclass(slots=True)
class Reject:
    """A message or a reading that was not accepted, ready for the dead-letter table."""

    reason: Reason
    detail: str
    topic: str
    raw: str
    """The payload (or, for one reading of a batch, that reading) cut to RAW_KEEP_BYTES."""
    received_at: float | None
    index: int | None = None
    """Position in a batch's ``readings``; None for a whole message or a single reading."""
    field: str | None = None
    """The offending key, when one is to blame."""
    serial: str | None = None
    """The device's serial when it was known and valid."""


@dataclass(slots=True)
class Decoded:
    """Result of :func:`decode_data`: the good readings and the individual rejects."""

    device_id: str | None
    """The ``<id>`` of the topic (None when the topic itself was bad)."""
    readings: list[Reading]
    rejects: list[Reject]


@dataclass(slots=True)
class StatusUpdate:
    """A device's status message (``meter/<id>/status``).

    Known keys with an unexpected type are not fatal: the attribute stays None and the
    value is kept in ``extra`` under its key, as are unknown keys.
    """

    device_id: str
    serial: str | None
    """``serial_number`` from a JSON status, else the topic id when it is a valid serial."""
    online: bool
    state: str
    received_at: float
    firmware_version: str | None = None
    ip_address: str | None = None
    rssi: float | None = None
    uptime_s: float | None = None
    free_mem: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CommandAck:
    """A device's answer to a control command (``meter/<id>/control/ack``)."""

    device_id: str
    command_id: str
    ok: bool
    error: str | None
    extra: dict[str, Any] = field(default_factory=dict)


class _Invalid(Exception):
    """Internal: one validation failure, turned into a Reject by the caller."""

    def __init__(self, reason: Reason, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.field_name = field_name
        self.detail = detail


def parse_topic(topic: str) -> tuple[str, TopicKind]:
    """Split ``meter/<id>/data|status|control|control/ack`` into ``(id, kind)``.

    Raises ValueError naming the accepted forms for anything else (including an empty id
    or one holding an MQTT wildcard).
    """
    parsed = _topic_memo.get(topic)
    if parsed is None:
        parsed = _split_topic(topic)
        _remember(_topic_memo, topic, parsed)
    return parsed


def _split_topic(topic: str) -> tuple[str, TopicKind]:
    """parse_topic without the memo."""
    parts = topic.split("/")
    n = len(parts)
    if n >= 3 and parts[0] == "meter":
        device_id = parts[1]
        if device_id and "+" not in device_id and "#" not in device_id:
            if n == 3:
                kind = _KINDS.get(parts[2])
                if kind is not None:
                    return device_id, kind
            elif n == 4 and parts[2] == "control" and parts[3] == "ack":
                return device_id, "control/ack"
    raise ValueError(
        f"topic {_short(topic)} is not meter/<id>/data, meter/<id>/status, "
        "meter/<id>/control or meter/<id>/control/ack"
    )


def _remember(memo: dict[str, _T], topic: str, value: _T) -> None:
    """Keep a topic's parse in a bounded memo: a few MB at most, emptied when full."""
    if len(topic) <= 128:
        if len(memo) >= _TOPIC_MEMO_MAX:
            memo.clear()
        memo[topic] = value


def is_valid_serial(value: str) -> bool:
    """True when ``value`` is an acceptable device serial (1-64 of ``A-Za-z0-9._:-``)."""
    if len(value) > MAX_SERIAL_LEN:
        return False
    ok = _serial_memo.get(value)
    if ok is None:
        ok = _SERIAL_RE.fullmatch(value) is not None
        if len(_serial_memo) >= _SERIAL_MEMO_MAX:
            _serial_memo.clear()  # bounded; any caller may refill it
        _serial_memo[value] = ok
    return ok


_SERIAL_MEMO_MAX: Final = 65536
_serial_memo: dict[str, bool] = {}  # caches of pure functions: no state leaks out
_TOPIC_MEMO_MAX: Final = 65536
_topic_memo: dict[str, tuple[str, TopicKind]] = {}
_data_topics: dict[str, tuple[str, str | None]] = {}
"""Data topic -> (its id, the id when it is a valid serial)."""
_fromisoformat: Final = datetime.fromisoformat  # bound once: the fast path runs per reading
_isfinite: Final = math.isfinite
_new_object: Final = object.__new__


# ---------------------------------------------------------------------------- data
#
# Two paths decide a reading. _fast_reading takes the common well-formed case in one
# pass of cheap checks and gives up (None) at the first thing it does not expect; then
# _reading, the precise path, decides and explains. So a reject, its reason and its
# detail only ever come from _reading. The property tests check that the two agree.


def decode_data(topic: str, raw: bytes | bytearray | memoryview, received_at: float) -> Decoded:
    """Decode a ``meter/<id>/data`` message: a v1 reading, a v1 batch or a C++ payload.

    A batch keeps its good readings and rejects bad ones individually (``index`` set).
    Message-level problems (topic, size, JSON, shape, batch size, the batch's serial) give
    one reject and no readings. Never raises on any input.
    """
    known = _data_topics.get(topic)
    if known is None:
        try:
            device_id, kind = parse_topic(topic)
        except ValueError as exc:
            reject = _msg_reject("bad_topic", str(exc), topic, raw, received_at)
            return Decoded(None, [], [reject])
        if kind != "data":
            detail = f"decode_data got a {kind} topic; expected meter/<id>/data"
            reject = _msg_reject("bad_topic", detail, topic, raw, received_at)
            return Decoded(device_id, [], [reject])
        known = (device_id, device_id if is_valid_serial(device_id) else None)
        _remember(_data_topics, topic, known)
    device_id, base_serial = known
    obj = _load_object(topic, raw, received_at)
    if isinstance(obj, Reject):
        return Decoded(device_id, [], [obj])
    if "readings" in obj:
        return _decode_batch(topic, raw, received_at, obj, device_id, base_serial)

    legacy = "device_id" in obj
    reading = _fast_reading(obj, base_serial, received_at, legacy, None, None)
    if reading is None:
        try:
            reading = _reading(obj, base_serial, device_id, received_at, legacy, None, None)
        except _Invalid as exc:
            reject = Reject(
                exc.reason,
                exc.detail,
                topic,
                _raw_text(raw),
                received_at,
                None,
                exc.field_name,
                _known_serial(obj, base_serial),
            )
            return Decoded(device_id, [], [reject])
    return Decoded(device_id, [reading], [])


def _decode_batch(
    topic: str,
    raw: bytes | bytearray | memoryview,
    received_at: float,
    obj: dict[str, Any],
    device_id: str,
    base_serial: str | None,
) -> Decoded:
    """The ``{"readings": [...]}`` form of decode_data."""
    items = obj["readings"]
    try:
        if type(items) is not list:
            raise _Invalid(
                "wrong_type", "readings", f"readings must be an array, got {_describe(items)}"
            )
        if not items:
            raise _Invalid("empty_batch", "readings", "readings is an empty array")
        if len(items) > MAX_BATCH_READINGS:
            raise _Invalid(
                "batch_too_large",
                "readings",
                f"batch has {len(items)} readings, more than {MAX_BATCH_READINGS}",
            )
        env_serial = obj.get("serial_number")
        if env_serial is not None:
            base_serial = _check_serial(env_serial)
        env_fw = _text(obj.get("firmware_version"), "firmware_version")
        env_ip = _text(obj.get("ip_address"), "ip_address")
    except _Invalid as exc:
        reject = Reject(
            exc.reason,
            exc.detail,
            topic,
            _raw_text(raw),
            received_at,
            None,
            exc.field_name,
            base_serial,
        )
        return Decoded(device_id, [], [reject])

    readings: list[Reading] = []
    rejects: list[Reject] = []
    fast = _fast_reading
    for index, item in enumerate(items):
        reading = (
            fast(item, base_serial, received_at, False, env_fw, env_ip)
            if type(item) is dict
            else None
        )
        if reading is None:
            try:
                if type(item) is not dict:
                    raise _Invalid(
                        "not_an_object",
                        None,
                        f"readings[{index}] must be an object, got {_describe(item)}",
                    )
                reading = _reading(item, base_serial, device_id, received_at, False, env_fw, env_ip)
            except _Invalid as exc:
                serial = _known_serial(item, base_serial) if type(item) is dict else base_serial
                rejects.append(
                    Reject(
                        exc.reason,
                        exc.detail,
                        topic,
                        _item_raw(item),
                        received_at,
                        index,
                        exc.field_name,
                        serial,
                    )
                )
                continue
        readings.append(reading)
    _spread_untimed(readings)
    return Decoded(device_id, readings, rejects)


def _fast_reading(
    obj: dict[str, Any],
    base_serial: str | None,
    received_at: float,
    legacy: bool,
    default_fw: str | None,
    default_ip: str | None,
) -> Reading | None:
    """What _reading returns for a well-formed reading; None for anything else.

    Takes the shapes the firmware sends: float measurements (ints go to _reading), a
    serial already seen valid, an ISO time or a number. None is never a verdict, only
    "ask _reading". The ranges are RANGES written out (a global lookup per field costs).
    """
    try:
        voltage = obj["voltage"]
        current = obj["current"]
        power = obj["power"]
        energy = obj["energy"]
    except KeyError:
        return None
    get = obj.get
    frequency = get("frequency")
    pf = get("pf")
    alarm = get("alarm")
    seq = get("seq")
    if not (
        type(voltage) is float
        and 80.0 <= voltage <= 260.0
        and type(current) is float
        and 0.0 <= current <= 100.0
        and type(power) is float
        and 0.0 <= power <= 23000.0
        and type(energy) is float
        and 0.0 <= energy <= 9999.999
        and (frequency is None or (type(frequency) is float and 45.0 <= frequency <= 65.0))
        and (pf is None or (type(pf) is float and 0.0 <= pf <= 1.0))
        and (alarm is None or alarm is True or alarm is False)
        and (seq is None or (type(seq) is int and 0 <= seq <= MAX_SEQ))
    ):
        return None
    serial = get("serial_number")
    if serial is None:
        if base_serial is None:
            return None
        serial = base_serial
    elif type(serial) is not str or _serial_memo.get(serial) is not True:
        return None
    fw = get("firmware_version")
    if fw is None:
        fw = default_fw
    elif type(fw) is str and len(fw) <= MAX_TEXT_LEN:
        fw = fw or None
    else:
        return None
    ip = get("ip_address")
    if ip is None:
        ip = default_ip
    elif type(ip) is str and len(ip) <= MAX_TEXT_LEN:
        ip = ip or None
    else:
        return None

    stamp = get("timestamp")
    ts = received_at
    from_device = False
    if stamp is not None:
        kind = type(stamp)
        try:
            if kind is str:
                if len(stamp) > 40:
                    return None
                parsed = _fromisoformat(stamp)
                if parsed.tzinfo is None:
                    return None
                device_ts = parsed.timestamp()
                clock = True
            elif kind is float or kind is int:
                device_ts = float(stamp)
                if not _isfinite(device_ts):
                    return None
                if device_ts >= MS_THRESHOLD:
                    device_ts /= 1000.0
                # The C++ firmware's uptime counter is no clock (see the module doc).
                clock = not legacy or (
                    received_at - LEGACY_MAX_AGE_S <= device_ts <= received_at + FUTURE_TOLERANCE_S
                )
            else:
                return None
        except (ValueError, OverflowError, OSError):
            return None
        if clock and device_ts >= WALL_CLOCK_MIN_TS:
            if device_ts > received_at + FUTURE_TOLERANCE_S:
                return None
            ts = device_ts
            from_device = True

    # Filling the slots here costs half of Reading(...): in CPython 3.11 a class call with a
    # Python __init__ is not inlined. Reading has no __post_init__; the tests compare the
    # two paths field by field.
    reading: Reading = _new_object(Reading)
    reading.serial = serial
    reading.ts = ts
    reading.ts_from_device = from_device
    reading.voltage = voltage
    reading.current = current
    reading.power = power
    reading.energy = energy
    reading.frequency = frequency
    reading.pf = pf
    reading.alarm = alarm
    reading.seq = seq
    reading.firmware_version = fw
    reading.ip_address = ip
    return reading


def _spread_untimed(readings: list[Reading]) -> None:
    """Batch readings without a device time all got ``received_at``; one stored row per
    (device, time) would keep just one of them. Space them 1 ms apart, in batch order and
    ending at ``received_at``, so every one is kept (their energy counter stays exact)."""
    untimed = [r for r in readings if not r.ts_from_device]
    if len(untimed) > 1:
        last = len(untimed) - 1
        for k, reading in enumerate(untimed):
            reading.ts -= (last - k) * UNTIMED_SPACING_S


def _reading(
    obj: dict[str, Any],
    base_serial: str | None,
    device_id: str,
    received_at: float,
    legacy: bool,
    default_fw: str | None,
    default_ip: str | None,
) -> Reading:
    """Validate one reading object; raises _Invalid on the first problem."""
    get = obj.get
    own_serial = get("serial_number")
    if own_serial is not None:
        serial = _check_serial(own_serial)
    elif base_serial is not None:
        serial = base_serial
    else:
        raise _Invalid(
            "bad_serial",
            "serial_number",
            f"no serial_number and topic id {_short(device_id)} is not a valid "
            f"serial ({_SERIAL_RULE})",
        )
    # Floats in range pass inline (the common case); _number converts ints or raises.
    voltage = get("voltage")
    if type(voltage) is not float or not 80.0 <= voltage <= 260.0:
        voltage = _number(voltage, "voltage", 80.0, 260.0, "V")
    current = get("current")
    if type(current) is not float or not 0.0 <= current <= 100.0:
        current = _number(current, "current", 0.0, 100.0, "A")
    power = get("power")
    if type(power) is not float or not 0.0 <= power <= 23000.0:
        power = _number(power, "power", 0.0, 23000.0, "W")
    energy = get("energy")
    if type(energy) is not float or not 0.0 <= energy <= 9999.999:
        energy = _number(energy, "energy", 0.0, 9999.999, "kWh")
    frequency = get("frequency")
    if frequency is not None and (type(frequency) is not float or not 45.0 <= frequency <= 65.0):
        frequency = _number(frequency, "frequency", 45.0, 65.0, "Hz")
    pf = get("pf")
    if pf is not None and (type(pf) is not float or not 0.0 <= pf <= 1.0):
        pf = _number(pf, "pf", 0.0, 1.0, "")
    alarm = get("alarm")
    if alarm is not None and type(alarm) is not bool:
        raise _Invalid(
            "wrong_type", "alarm", f"alarm must be true or false, got {_describe(alarm)}"
        )
    seq = get("seq")
    if seq is not None:
        if type(seq) is not int:
            raise _Invalid("wrong_type", "seq", f"seq must be an integer, got {_describe(seq)}")
        if not 0 <= seq <= MAX_SEQ:
            raise _Invalid("out_of_range", "seq", f"seq {seq} out of range 0-{MAX_SEQ}")
    fw = get("firmware_version")
    fw = default_fw if fw is None else _text(fw, "firmware_version")
    ip = get("ip_address")
    ip = default_ip if ip is None else _text(ip, "ip_address")
    ts, from_device = _timestamp(get("timestamp"), received_at, legacy)
    return Reading(
        serial, ts, from_device, voltage, current, power, energy, frequency, pf, alarm, seq, fw, ip
    )


def _number(value: Any, name: str, low: float, high: float, unit: str) -> float:
    """A finite JSON number within [low, high] (bool and numeric strings are refused)."""
    kind = type(value)
    if kind is float or kind is int:
        if low <= value <= high:  # also refuses NaN and infinities
            return float(value)
        unit_part = f" {unit}" if unit else ""
        raise _Invalid(
            "out_of_range", name, f"{name} {value!r}{unit_part} out of range {low:.10g}-{high:.10g}"
        )
    if value is None:
        raise _Invalid("missing_field", name, f"{name} is missing")
    raise _Invalid("wrong_type", name, f"{name} must be a number, got {_describe(value)}")


def _text(value: Any, name: str) -> str | None:
    """An optional short string (empty string counts as absent)."""
    if value is None:
        return None
    if type(value) is not str:
        raise _Invalid("wrong_type", name, f"{name} must be a string, got {_describe(value)}")
    if len(value) > MAX_TEXT_LEN:
        raise _Invalid(
            "out_of_range", name, f"{name} is {len(value)} characters, more than {MAX_TEXT_LEN}"
        )
    return value or None


def _check_serial(value: Any) -> str:
    """A present serial_number that must satisfy the serial rule."""
    if type(value) is not str:
        raise _Invalid(
            "bad_serial", "serial_number", f"serial_number must be a string, got {_describe(value)}"
        )
    if not is_valid_serial(value):
        raise _Invalid(
            "bad_serial",
            "serial_number",
            f"serial_number {_short(value)} is not valid ({_SERIAL_RULE})",
        )
    return value


def _known_serial(obj: dict[str, Any], base_serial: str | None) -> str | None:
    """The serial a rejected reading belongs to, when it is known and valid."""
    own = obj.get("serial_number")
    if own is None:
        return base_serial
    return own if type(own) is str and is_valid_serial(own) else None


def _timestamp(value: Any, received_at: float, legacy: bool) -> tuple[float, bool]:
    """The reading's time as (epoch seconds, came from the device); see the module doc."""
    if value is None:
        return received_at, False
    kind = type(value)
    if kind is int or kind is float:
        if not math.isfinite(value):
            raise _Invalid("bad_timestamp", "timestamp", f"timestamp {value!r} is not finite")
        ts = float(value)
        if ts >= MS_THRESHOLD:
            ts /= 1000.0
        if legacy and not (
            received_at - LEGACY_MAX_AGE_S <= ts <= received_at + FUTURE_TOLERANCE_S
        ):
            return received_at, False
    elif kind is str:
        ts = _iso_seconds(value)
    else:
        raise _Invalid(
            "wrong_type",
            "timestamp",
            f"timestamp must be ISO-8601 or epoch seconds, got {_describe(value)}",
        )
    if ts < WALL_CLOCK_MIN_TS:
        return received_at, False
    if ts > received_at + FUTURE_TOLERANCE_S:
        ahead = ts - received_at
        raise _Invalid(
            "future_timestamp",
            "timestamp",
            f"timestamp {_short(value)} is {ahead:.0f} s after receipt "
            f"(more than {FUTURE_TOLERANCE_S:.0f} s in the future)",
        )
    return ts, True


def _iso_seconds(value: str) -> float:
    """Epoch seconds of an ISO-8601 string that carries an offset or Z."""
    if len(value) > 40:
        raise _Invalid(
            "bad_timestamp", "timestamp", f"timestamp {_short(value)} is not an ISO-8601 time"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(
            "bad_timestamp",
            "timestamp",
            f"timestamp {_short(value)} is not ISO-8601 or epoch seconds",
        ) from None
    if parsed.tzinfo is None:
        raise _Invalid(
            "bad_timestamp", "timestamp", f"timestamp {_short(value)} has no offset; add Z (UTC)"
        )
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        raise _Invalid(
            "bad_timestamp", "timestamp", f"timestamp {_short(value)} is out of range"
        ) from None


# -------------------------------------------------------------------- status / ack

_STATUS_KNOWN: Final = frozenset(
    {
        "state",
        "online",
        "serial_number",
        "firmware_version",
        "ip_address",
        "rssi",
        "uptime_s",
        "free_mem",
    }
)


def decode_status(
    topic: str, raw: bytes | bytearray | memoryview, received_at: float
) -> StatusUpdate | Reject:
    """Decode ``meter/<id>/status``: ``online`` / ``offline`` or a JSON object.

    In JSON, a missing ``state`` means online (a device that publishes is up) unless a
    boolean ``online`` key says otherwise; any state other than ``offline`` is online.
    An empty payload (a cleared retained message) is rejected ``empty_payload``.
    """
    try:
        device_id, kind = parse_topic(topic)
    except ValueError as exc:
        return _msg_reject("bad_topic", str(exc), topic, raw, received_at)
    if kind != "status":
        detail = f"decode_status got a {kind} topic; expected meter/<id>/status"
        return _msg_reject("bad_topic", detail, topic, raw, received_at)
    topic_serial = device_id if is_valid_serial(device_id) else None
    if len(raw) <= 16:
        word = bytes(raw).strip().lower()
        if word == b"online" or word == b"offline":
            return StatusUpdate(
                device_id, topic_serial, word == b"online", word.decode(), received_at
            )
    obj: Any = _load_object(topic, raw, received_at, allow_string=True)
    if isinstance(obj, Reject):
        return obj
    if type(obj) is str:
        word_s = obj.strip().lower()
        if word_s in ("online", "offline"):
            return StatusUpdate(device_id, topic_serial, word_s == "online", word_s, received_at)
        return _msg_reject(
            "not_an_object",
            f"status must be online, offline or a JSON object, got {_short(obj)}",
            topic,
            raw,
            received_at,
        )

    extra = {k: v for k, v in obj.items() if k not in _STATUS_KNOWN}
    serial = topic_serial
    if obj.get("serial_number") is not None:
        try:
            serial = _check_serial(obj["serial_number"])
        except _Invalid as exc:
            return Reject(
                exc.reason,
                exc.detail,
                topic,
                _raw_text(raw),
                received_at,
                None,
                exc.field_name,
                None,
            )

    state_value = obj.get("state")
    online_flag = obj.get("online")
    if type(state_value) is str and 0 < len(state_value) <= MAX_TEXT_LEN:
        state = state_value.lower()
    else:
        if state_value is not None:
            extra["state"] = state_value
        state = "offline" if online_flag is False else "online"
    if online_flag is not None and type(online_flag) is not bool:
        extra["online"] = online_flag

    def pick(key: str, ok: bool) -> Any:
        value = obj.get(key)
        if value is None or ok:
            return value
        extra[key] = value
        return None

    fw = obj.get("firmware_version")
    ip = obj.get("ip_address")
    rssi = obj.get("rssi")
    uptime = obj.get("uptime_s")
    free_mem = obj.get("free_mem")
    return StatusUpdate(
        device_id,
        serial,
        state != "offline",
        state,
        received_at,
        # Values outside what the devices table holds stay in `extra`, never in a column.
        pick("firmware_version", type(fw) is str and len(fw) <= MAX_FIRMWARE_LEN),
        pick("ip_address", type(ip) is str and len(ip) <= MAX_TEXT_LEN),
        _as_float(pick("rssi", _is_number(rssi) and -200 <= rssi <= 50)),
        _as_float(pick("uptime_s", _is_number(uptime) and 0 <= uptime < 2**53)),
        pick("free_mem", type(free_mem) is int and 0 <= free_mem < 2**31),
        extra,
    )


def decode_ack(
    topic: str, raw: bytes | bytearray | memoryview, received_at: float | None = None
) -> CommandAck | Reject:
    """Decode ``meter/<id>/control/ack``: ``{"id": "<uuid>", "ok": true, "error": null}``.

    ``id`` (1-64 chars) and ``ok`` (bool) are required; ``error`` is null or a string
    (cut to 500 characters); other keys land in ``extra``.
    """
    try:
        device_id, kind = parse_topic(topic)
    except ValueError as exc:
        return _msg_reject("bad_topic", str(exc), topic, raw, received_at)
    if kind != "control/ack":
        detail = f"decode_ack got a {kind} topic; expected meter/<id>/control/ack"
        return _msg_reject("bad_topic", detail, topic, raw, received_at)
    obj = _load_object(topic, raw, received_at)
    if isinstance(obj, Reject):
        return obj
    try:
        command_id = obj.get("id")
        if command_id is None:
            raise _Invalid("missing_field", "id", "id is missing")
        if type(command_id) is not str or not 0 < len(command_id) <= MAX_TEXT_LEN:
            raise _Invalid(
                "wrong_type",
                "id",
                f"id must be a 1-{MAX_TEXT_LEN} character string, got {_describe(command_id)}",
            )
        ok = obj.get("ok")
        if ok is None:
            raise _Invalid("missing_field", "ok", "ok is missing")
        if type(ok) is not bool:
            raise _Invalid("wrong_type", "ok", f"ok must be true or false, got {_describe(ok)}")
        error = obj.get("error")
        if error is not None and type(error) is not str:
            raise _Invalid(
                "wrong_type", "error", f"error must be a string or null, got {_describe(error)}"
            )
    except _Invalid as exc:
        return Reject(
            exc.reason, exc.detail, topic, _raw_text(raw), received_at, None, exc.field_name, None
        )
    extra = {k: v for k, v in obj.items() if k not in ("id", "ok", "error")}
    return CommandAck(device_id, command_id, ok, error[:500] if error else None, extra)


# ------------------------------------------------------------------------- helpers


def _load_object(
    topic: str,
    raw: bytes | bytearray | memoryview,
    received_at: float | None,
    allow_string: bool = False,
) -> Any:
    """Size-check and parse; a dict (or str if allowed) on success, else a Reject."""
    size = len(raw)
    if size > MAX_PAYLOAD_BYTES:
        return _msg_reject(
            "oversized",
            f"payload is {size} bytes, more than {MAX_PAYLOAD_BYTES}",
            topic,
            raw,
            received_at,
        )
    if size == 0:
        return _msg_reject("empty_payload", "payload is empty", topic, raw, received_at)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _msg_reject(
            "malformed_json", f"not valid JSON: {str(exc)[:200]}", topic, raw, received_at
        )
    if type(obj) is dict or (allow_string and type(obj) is str):
        return obj
    return _msg_reject(
        "not_an_object",
        f"payload must be a JSON object, got {_describe(obj)}",
        topic,
        raw,
        received_at,
    )


def _msg_reject(
    reason: Reason,
    detail: str,
    topic: str,
    raw: bytes | bytearray | memoryview,
    received_at: float | None,
) -> Reject:
    """A reject for a whole message."""
    return Reject(reason, detail, topic, _raw_text(raw), received_at)


def _raw_text(raw: bytes | bytearray | memoryview) -> str:
    """The first RAW_KEEP_BYTES of a payload as text (bad UTF-8 replaced)."""
    return bytes(raw[:RAW_KEEP_BYTES]).decode("utf-8", "replace")


def _item_raw(item: Any) -> str:
    """One batch item re-serialised, cut like a payload."""
    try:
        return _raw_text(orjson.dumps(item))
    except TypeError:  # not reachable for orjson-parsed input; stay total anyway
        return repr(item)[:RAW_KEEP_BYTES]


def _is_number(value: Any) -> bool:
    kind = type(value)
    return (kind is int or kind is float) and math.isfinite(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _describe(value: Any) -> str:
    """JSON type name and a short rendering, e.g. ``string '230.1'``."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return f"string {_short(value)}"
    if kind is int or kind is float:
        return f"number {_short(value)}"
    if kind is list:
        return "array"
    if kind is dict:
        return "object"
    return kind.__name__


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
