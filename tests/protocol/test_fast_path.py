"""The decoder's two paths agree: `_fast_reading` (the common well-formed case) either
gives up or returns exactly what `_reading` (the precise path) returns, and a whole
decode is the same with the fast path switched off."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.protocol import readings as decoder
from meterhub.protocol.readings import Decoded, Reading, decode_data
from meterhub.protocol.rejects import Invalid
from meterhub.protocol.rules import (
    FUTURE_TOLERANCE_S,
    LEGACY_MAX_AGE_S,
    RANGES,
    WALL_CLOCK_MIN_TS,
    is_valid_serial,
)

NOW = 1795773600.0  # 2026-11-27T10:00:00Z
TOPIC = "meter/PZEM-T/data"

odd_values = st.sampled_from([None, True, False, "", "230.1", [], {}, [1.0], {"v": 1}])


def in_range(name: str) -> st.SearchStrategy[float]:
    low, high, _unit = RANGES[name]
    return st.floats(min_value=low, max_value=high) | st.sampled_from([low, high])


def broken_numbers(name: str) -> st.SearchStrategy[Any]:
    """Just past a bound, an int (in range or not), a float anywhere, a wrong type."""
    low, high, _unit = RANGES[name]
    return st.one_of(
        st.sampled_from([math.nextafter(low, -math.inf), math.nextafter(high, math.inf)]),
        st.integers(min_value=int(low) - 2, max_value=int(high) + 2),
        st.floats(allow_nan=False, allow_infinity=False),
        odd_values,
    )


def iso(ts: float, form: str) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    if form == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "z_us":
        return moment.isoformat().replace("+00:00", "Z")
    if form == "z_ms":
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if form == "offset":
        return moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    if form == "offset_41":  # valid, and past the 40 characters the decoder looks at
        zone = timezone(timedelta(hours=-3, seconds=1, microseconds=1))
        return moment.replace(microsecond=1).astimezone(zone).isoformat()
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    return moment.isoformat() + "x" * 20  # too long / not ISO


@st.composite
def timestamps(draw: st.DrawFn, received_at: float) -> Any:
    """Device times around every line the decoder draws: 2020, receipt + 5 min, the C++
    firmware's 7-day window, milliseconds; as ISO text of several forms or numbers."""
    anchor = draw(
        st.sampled_from(
            [
                received_at,
                received_at + FUTURE_TOLERANCE_S,
                received_at - LEGACY_MAX_AGE_S,
                WALL_CLOCK_MIN_TS,
            ]
        )
    )
    edge = st.sampled_from([0.0, -1.0, 1.0, -0.001, 0.001, -1e-6, 1e-6])
    moment = anchor + draw(edge | edge | st.floats(-1e6, 1e6))
    kind = draw(st.sampled_from(["iso", "iso", "seconds", "int", "ms", "small", "odd"]))
    if kind == "iso":
        forms = ["z", "z_us", "z_us", "z_ms", "offset", "offset_41", "naive", "long"]
        form = draw(st.sampled_from(forms))
        return iso(moment, form)
    if kind == "seconds":
        return moment
    if kind == "int":
        return int(moment)
    if kind == "ms":
        return round(moment * 1000)
    if kind == "small":  # millis() since boot
        return draw(st.integers(min_value=0, max_value=2**32))
    return draw(odd_values | st.text(max_size=30))


SERIALS = ["PZEM-1A2B3C", "PZEM-T"]
for _serial in SERIALS:  # the fast path trusts serials seen before, as ingest's are
    is_valid_serial(_serial)
texts = st.sampled_from(["1.0.0", "10.0.0.7", "x" * 64])
broken_texts = st.sampled_from(["", "x" * 65, 5, None])
broken_serials = st.sampled_from(["bad serial", "", "S" * 65, 42, "NEVER-SEEN-1"])
OPTIONAL = ["serial_number", "alarm", "seq", "firmware_version", "ip_address", "timestamp"]


@st.composite
def reading_objects(draw: st.DrawFn, received_at: float) -> dict[str, Any]:
    """A well-formed reading (any of the optional keys), then up to two things broken."""
    obj: dict[str, Any] = {name: draw(in_range(name)) for name in RANGES}
    good: dict[str, st.SearchStrategy[Any]] = {
        "serial_number": st.sampled_from(SERIALS),
        "alarm": st.booleans(),
        "seq": st.integers(min_value=0, max_value=2**63 - 1),
        "firmware_version": texts,
        "ip_address": texts,
        "timestamp": timestamps(received_at),
    }
    for key in draw(st.lists(st.sampled_from(OPTIONAL), unique=True)):
        obj[key] = draw(good[key])
    for name in ("frequency", "pf"):
        if draw(st.booleans()):
            del obj[name]
    broken: dict[str, st.SearchStrategy[Any]] = {
        **{name: broken_numbers(name) for name in RANGES},
        "serial_number": broken_serials,
        "alarm": odd_values | st.integers(0, 1),
        "seq": st.sampled_from([-1, 2**63, 1.0, True, "1"]),
        "firmware_version": broken_texts,
        "ip_address": broken_texts,
    }
    for key in draw(st.lists(st.sampled_from([*broken, "missing"]), max_size=2)):
        if key == "missing":
            del obj[draw(st.sampled_from(sorted(obj)))]
        else:
            obj[key] = draw(broken[key])
    if draw(st.integers(0, 3)) == 0:
        obj["device_id"] = "esp8266-01"
    # What a payload can carry: the values orjson gives back (no NaN, ints up to 64 bits).
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(obj))
    return loaded


def typed_fields(reading: Reading) -> list[tuple[type, Any]]:
    """Field values with their types: 1 == 1.0 == True must not pass for equal."""
    return [(type(v), v) for v in dataclasses.astuple(reading)]


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], float]:
    received_at = draw(st.sampled_from([NOW, WALL_CLOCK_MIN_TS + 60.0]) | st.floats(0, 4e9))
    return draw(reading_objects(received_at)), received_at


@given(
    case=cases(),
    legacy=st.booleans(),
    base_serial=st.sampled_from(["PZEM-T", None]),
    default_fw=st.sampled_from([None, "2.0.0"]),
    default_ip=st.sampled_from([None, "10.0.0.9"]),
)
@settings(max_examples=1000)
def test_fast_path_returns_what_the_precise_path_returns(
    case: tuple[dict[str, Any], float],
    legacy: bool,
    base_serial: str | None,
    default_fw: str | None,
    default_ip: str | None,
) -> None:
    obj, received_at = case
    args = (base_serial, received_at, legacy, default_fw, default_ip)
    fast = decoder._fast_reading(obj, *args, "dev")
    try:
        precise = decoder._reading(obj, base_serial, "dev", received_at, *args[2:])
    except Invalid:
        assert fast is None
        return
    if fast is not None:
        assert typed_fields(fast) == typed_fields(precise)


def decode_without_fast_path(topic: str, raw: bytes, received_at: float) -> Decoded:
    with mock.patch.object(decoder, "_fast_reading", lambda *_args: None):
        return decode_data(topic, raw, received_at)


@given(case=cases(), batch=st.booleans(), more=st.lists(reading_objects(NOW), max_size=4))
@settings(max_examples=300)
def test_decoding_is_the_same_without_the_fast_path(
    case: tuple[dict[str, Any], float], batch: bool, more: list[dict[str, Any]]
) -> None:
    obj, received_at = case
    if batch:
        message: dict[str, Any] = {"serial_number": "PZEM-B", "readings": [obj, *more, 7]}
    else:
        message = obj
    raw = orjson.dumps(message)
    for topic in (TOPIC, "meter/not a serial/data"):
        fast = decode_data(topic, raw, received_at)
        precise = decode_without_fast_path(topic, raw, received_at)
        assert fast.device_id == precise.device_id
        assert fast.rejects == precise.rejects
        assert [typed_fields(r) for r in fast.readings] == [
            typed_fields(r) for r in precise.readings
        ]


FIRMWARE_SHAPES = [
    # v1 live reading (MicroPython firmware), seconds and microseconds ISO forms
    b'{"serial_number":"PZEM-T","firmware_version":"1.0.0","ip_address":"10.0.0.7","seq":9,'
    b'"timestamp":"2026-11-27T09:59:50Z","voltage":230.1,"current":1.234,"power":250.5,'
    b'"energy":123.456,"frequency":50.0,"pf":0.95,"alarm":false}',
    b'{"seq":9,"timestamp":"2026-11-27T09:59:50.123456Z","voltage":230.1,"current":0.0,'
    b'"power":0.0,"energy":0.0,"frequency":50.0,"pf":1.0,"alarm":true}',
    # the original C++ firmware: epoch seconds, and millis() since boot
    b'{"serial_number":"PZEM-004T-001","device_id":"esp8266-01","voltage":229.8,'
    b'"current":0.452,"power":98.6,"energy":12.345,"timestamp":1795773590}',
    b'{"serial_number":"PZEM-004T-001","device_id":"esp8266-01","voltage":229.8,'
    b'"current":0.452,"power":98.6,"energy":12.345,"timestamp":123456789}',
]


def test_what_the_firmware_sends_takes_the_fast_path() -> None:
    for raw in FIRMWARE_SHAPES:
        decode_data(TOPIC, raw, NOW)  # the serial is seen once, as ingest sees it
        obj = orjson.loads(raw)
        fast = decoder._fast_reading(obj, "PZEM-T", NOW, "device_id" in obj, None, None, "PZEM-T")
        assert fast is not None, raw
        precise = decoder._reading(obj, "PZEM-T", "PZEM-T", NOW, "device_id" in obj, None, None)
        assert typed_fields(fast) == typed_fields(precise)
