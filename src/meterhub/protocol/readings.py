"""Decode MQTT protocol v1 messages into plain readings, status updates and command acks.

Protocol v1 (see docs/mqtt.md). Pure: topic and bytes in, plain data out. Nothing
here raises on bad input; every problem comes back as a
:class:`~meterhub.protocol.rejects.Reject`. Status messages and command acknowledgements
are in :mod:`meterhub.protocol.status`; the limits named here in :mod:`meterhub.protocol.rules`.

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

Device identity: ``serial_number`` when present, else the ``<id>`` of ``meter/<id>/data``;
every reading also carries its topic's ``<id>`` (``topic_id``), and the store accepts it
only for the device owning that topic id (see :mod:`meterhub.store.binding`).
A serial is 1-64 characters from ``A-Z a-z 0-9 . _ : -`` (safe in MQTT topics, URL paths
and file names); anything else is rejected ``bad_serial``. Unknown keys are ignored, so
devices may add fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from meterhub.protocol.fields import check_serial, known_serial, number, text, timestamp
from meterhub.protocol.rejects import (
    Invalid,
    Reject,
    describe,
    item_raw,
    load_object,
    msg_reject,
    short,
)
from meterhub.protocol.rules import (
    FUTURE_TOLERANCE_S,
    LEGACY_MAX_AGE_S,
    MAX_BATCH_READINGS,
    MAX_SEQ,
    MAX_TEXT_LEN,
    MS_THRESHOLD,
    RANGES,
    SERIAL_RULE,
    UNTIMED_SPACING_S,
    WALL_CLOCK_MIN_TS,
    is_valid_serial,
    raw_text,
    serial_memo,
)
from meterhub.protocol.topics import parse_topic, remember

__all__ = ["Decoded", "Reading", "decode_data"]


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
    topic_id: str | None = None
    """The ``<id>`` of the topic it came on: the store binds the reading to that topic's
    device (a ``serial`` that is not that device's is a ``serial_mismatch``). None only
    for readings made in-process, not received (benchmarks, tests): ``serial`` stands."""

    @property
    def ts_ms(self) -> int:
        """``ts`` as integer epoch milliseconds."""
        return round(self.ts * 1000.0)


@dataclass(slots=True)
class Decoded:
    """Result of :func:`decode_data`: the good readings and the individual rejects."""

    device_id: str | None
    """The ``<id>`` of the topic (None when the topic itself was bad)."""
    readings: list[Reading]
    rejects: list[Reject]


_data_topics: dict[str, tuple[str, str | None]] = {}
"""Data topic -> (its id, the id when it is a valid serial): a cache of a pure function."""
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
            reject = msg_reject("bad_topic", str(exc), topic, raw, received_at)
            return Decoded(None, [], [reject])
        if kind != "data":
            detail = f"decode_data got a {kind} topic; expected meter/<id>/data"
            reject = msg_reject("bad_topic", detail, topic, raw, received_at)
            return Decoded(device_id, [], [reject])
        known = (device_id, device_id if is_valid_serial(device_id) else None)
        remember(_data_topics, topic, known)
    device_id, base_serial = known
    obj = load_object(topic, raw, received_at)
    if isinstance(obj, Reject):
        return Decoded(device_id, [], [obj])
    if "readings" in obj:
        return _decode_batch(topic, raw, received_at, obj, device_id, base_serial)

    legacy = "device_id" in obj
    reading = _fast_reading(obj, base_serial, received_at, legacy, None, None, device_id)
    if reading is None:
        try:
            reading = _reading(obj, base_serial, device_id, received_at, legacy, None, None)
        except Invalid as exc:
            serial = known_serial(obj, base_serial)
            return Decoded(
                device_id, [], [exc.reject(topic, raw_text(raw), received_at, serial=serial)]
            )
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
            raise Invalid(
                "wrong_type", "readings", f"readings must be an array, got {describe(items)}"
            )
        if not items:
            raise Invalid("empty_batch", "readings", "readings is an empty array")
        if len(items) > MAX_BATCH_READINGS:
            raise Invalid(
                "batch_too_large",
                "readings",
                f"batch has {len(items)} readings, more than {MAX_BATCH_READINGS}",
            )
        env_serial = obj.get("serial_number")
        if env_serial is not None:
            base_serial = check_serial(env_serial)
        env_fw = text(obj.get("firmware_version"), "firmware_version")
        env_ip = text(obj.get("ip_address"), "ip_address")
    except Invalid as exc:
        reject = exc.reject(topic, raw_text(raw), received_at, serial=base_serial)
        return Decoded(device_id, [], [reject])

    readings: list[Reading] = []
    rejects: list[Reject] = []
    fast = _fast_reading
    for index, item in enumerate(items):
        reading = (
            fast(item, base_serial, received_at, False, env_fw, env_ip, device_id)
            if type(item) is dict
            else None
        )
        if reading is None:
            try:
                if type(item) is not dict:
                    raise Invalid(
                        "not_an_object",
                        None,
                        f"readings[{index}] must be an object, got {describe(item)}",
                    )
                reading = _reading(item, base_serial, device_id, received_at, False, env_fw, env_ip)
            except Invalid as exc:
                serial = known_serial(item, base_serial) if type(item) is dict else base_serial
                rejects.append(
                    exc.reject(topic, item_raw(item), received_at, index=index, serial=serial)
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
    topic_id: str,
    *,
    # RANGES bound as defaults: locals cost nothing per reading, a dict lookup would.
    # Never passed by callers.
    _v_lo: float = RANGES["voltage"][0],
    _v_hi: float = RANGES["voltage"][1],
    _c_lo: float = RANGES["current"][0],
    _c_hi: float = RANGES["current"][1],
    _p_lo: float = RANGES["power"][0],
    _p_hi: float = RANGES["power"][1],
    _e_lo: float = RANGES["energy"][0],
    _e_hi: float = RANGES["energy"][1],
    _f_lo: float = RANGES["frequency"][0],
    _f_hi: float = RANGES["frequency"][1],
    _pf_lo: float = RANGES["pf"][0],
    _pf_hi: float = RANGES["pf"][1],
) -> Reading | None:
    """What _reading returns for a well-formed reading; None for anything else.

    Takes the shapes the firmware sends: float measurements (ints go to _reading), a
    serial already seen valid, an ISO time or a number. None is never a verdict, only
    "ask _reading".
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
        and _v_lo <= voltage <= _v_hi
        and type(current) is float
        and _c_lo <= current <= _c_hi
        and type(power) is float
        and _p_lo <= power <= _p_hi
        and type(energy) is float
        and _e_lo <= energy <= _e_hi
        and (frequency is None or (type(frequency) is float and _f_lo <= frequency <= _f_hi))
        and (pf is None or (type(pf) is float and _pf_lo <= pf <= _pf_hi))
        and (alarm is None or alarm is True or alarm is False)
        and (seq is None or (type(seq) is int and 0 <= seq <= MAX_SEQ))
    ):
        return None
    serial = get("serial_number")
    if serial is None:
        if base_serial is None:
            return None
        serial = base_serial
    elif type(serial) is not str or serial_memo.get(serial) is not True:
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
    reading.topic_id = topic_id
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
    """Validate one reading object; raises Invalid on the first problem."""
    get = obj.get
    own_serial = get("serial_number")
    if own_serial is not None:
        serial = check_serial(own_serial)
    elif base_serial is not None:
        serial = base_serial
    else:
        raise Invalid(
            "bad_serial",
            "serial_number",
            f"no serial_number and topic id {short(device_id)} is not a valid "
            f"serial ({SERIAL_RULE})",
        )
    # number() converts ints, checks the range in RANGES, or raises.
    voltage = number(get("voltage"), "voltage", *RANGES["voltage"])
    current = number(get("current"), "current", *RANGES["current"])
    power = number(get("power"), "power", *RANGES["power"])
    energy = number(get("energy"), "energy", *RANGES["energy"])
    frequency = get("frequency")
    if frequency is not None:
        frequency = number(frequency, "frequency", *RANGES["frequency"])
    pf = get("pf")
    if pf is not None:
        pf = number(pf, "pf", *RANGES["pf"])
    alarm = get("alarm")
    if alarm is not None and type(alarm) is not bool:
        raise Invalid("wrong_type", "alarm", f"alarm must be true or false, got {describe(alarm)}")
    seq = get("seq")
    if seq is not None:
        if type(seq) is not int:
            raise Invalid("wrong_type", "seq", f"seq must be an integer, got {describe(seq)}")
        if not 0 <= seq <= MAX_SEQ:
            raise Invalid("out_of_range", "seq", f"seq {seq} out of range 0-{MAX_SEQ}")
    fw = get("firmware_version")
    fw = default_fw if fw is None else text(fw, "firmware_version")
    ip = get("ip_address")
    ip = default_ip if ip is None else text(ip, "ip_address")
    ts, from_device = timestamp(get("timestamp"), received_at, legacy)
    return Reading(
        serial,
        ts,
        from_device,
        voltage,
        current,
        power,
        energy,
        frequency,
        pf,
        alarm,
        seq,
        fw,
        ip,
        device_id,
    )
