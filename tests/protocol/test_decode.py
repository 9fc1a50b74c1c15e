"""MQTT protocol v1 decoding: examples from the contract, edge cases, properties."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.protocol import readings as decoder
from meterhub.protocol.readings import Decoded, decode_data
from meterhub.protocol.rejects import REASONS, Invalid, Reject
from meterhub.protocol.rules import (
    FUTURE_TOLERANCE_S,
    MAX_BATCH_READINGS,
    MAX_PAYLOAD_BYTES,
    RANGES,
    RAW_KEEP_BYTES,
    is_valid_serial,
)
from meterhub.protocol.status import CommandAck, StatusUpdate, decode_ack, decode_status
from meterhub.protocol.topics import parse_topic

NOW = 1795773600.0  # 2026-11-27T10:00:00Z, the "received_at" of most examples
TOPIC = "meter/esp-01/data"
CPP_PAYLOAD = (
    b'{"serial_number":"PZEM-004T-001","device_id":"esp8266-01","voltage":229.8,'
    b'"current":0.452,"power":98.6,"energy":12.345,"timestamp":1764237600}'
)
V1_EXAMPLE = {
    "serial_number": "PZEM-1A2B3C",
    "seq": 1234,
    "timestamp": "2026-11-27T10:00:00Z",
    "voltage": 230.1,
    "current": 1.234,
    "power": 250.5,
    "energy": 123.456,
    "frequency": 50.0,
    "pf": 0.95,
    "alarm": False,
    "firmware_version": "1.0.0",
    "ip_address": "10.0.0.7",
}
BASE = {"voltage": 230.0, "current": 1.0, "power": 230.0, "energy": 1.5}


def dumps(obj: Any) -> bytes:
    """JSON text; the stdlib also writes integers beyond 64 bits, which devices may send."""
    return json.dumps(obj).encode()


def decode(obj: Any, received_at: float = NOW, topic: str = TOPIC) -> Decoded:
    return decode_data(topic, dumps(obj), received_at)


def only_reject(result: Decoded) -> Reject:
    assert result.readings == []
    assert len(result.rejects) == 1
    return result.rejects[0]


# ------------------------------------------------------------ original C++ firmware


def test_cpp_firmware_payload_is_accepted_unchanged() -> None:
    result = decode_data("meter/esp8266-01/data", CPP_PAYLOAD, 1764237603.0)
    assert result.rejects == []
    assert result.device_id == "esp8266-01"
    (reading,) = result.readings
    assert reading.serial == "PZEM-004T-001"
    assert reading.ts == 1764237600.0
    assert reading.ts_from_device is True
    assert reading.ts_ms == 1764237600000
    assert (reading.voltage, reading.current, reading.power, reading.energy) == (
        229.8,
        0.452,
        98.6,
        12.345,
    )
    assert reading.frequency is None and reading.pf is None and reading.seq is None


def test_cpp_millis_since_boot_uses_receive_time() -> None:
    raw = CPP_PAYLOAD.replace(b"1764237600", b"123456")
    (reading,) = decode_data("meter/esp8266-01/data", raw, NOW).readings
    assert reading.ts == NOW
    assert reading.ts_from_device is False


@pytest.mark.parametrize(
    "uptime_ms",
    [
        1_600_000_000,  # 18.5 days up: reads as a 2020 epoch, years before receipt
        2_500_000_000,  # 29 days up: reads as the year 2049, in the future
        4_294_967_295,  # just before millis() wraps after 49.7 days
    ],
)
def test_cpp_uptime_that_looks_like_epoch_uses_receive_time(uptime_ms: int) -> None:
    raw = CPP_PAYLOAD.replace(b"1764237600", str(uptime_ms).encode())
    result = decode_data("meter/esp8266-01/data", raw, NOW)
    assert result.rejects == []
    assert result.readings[0].ts == NOW
    assert result.readings[0].ts_from_device is False


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1764237600123, 1764237600.123),  # epoch milliseconds
        (1764237600.5, 1764237600.5),
        ("2025-11-27T10:00:00Z", 1764237600.0),
        ("2025-11-27T11:00:00+01:00", 1764237600.0),
    ],
)
def test_cpp_timestamp_forms(timestamp: object, expected: float) -> None:
    obj = orjson.loads(CPP_PAYLOAD)
    obj["timestamp"] = timestamp
    (reading,) = decode(obj, received_at=1764237610.0).readings
    assert reading.ts == pytest.approx(expected, abs=1e-6)
    assert reading.ts_from_device is True


def test_v1_iso_timestamp_in_the_past_is_backfill_even_in_legacy_payload() -> None:
    obj = orjson.loads(CPP_PAYLOAD)
    obj["timestamp"] = "2025-01-01T00:00:00Z"
    (reading,) = decode(obj).readings
    assert reading.ts == 1735689600.0
    assert reading.ts_from_device is True


# ------------------------------------------------------------------ v1 readings


def test_v1_example_from_the_contract() -> None:
    result = decode(V1_EXAMPLE, topic="meter/PZEM-1A2B3C/data")
    assert result.rejects == []
    (r,) = result.readings
    assert r.serial == "PZEM-1A2B3C"
    assert r.seq == 1234
    assert r.ts == NOW and r.ts_from_device
    assert (r.voltage, r.current, r.power, r.energy) == (230.1, 1.234, 250.5, 123.456)
    assert (r.frequency, r.pf, r.alarm) == (50.0, 0.95, False)
    assert (r.firmware_version, r.ip_address) == ("1.0.0", "10.0.0.7")


def test_serial_defaults_to_topic_id() -> None:
    (reading,) = decode(BASE, topic="meter/PZEM-77/data").readings
    assert reading.serial == "PZEM-77"
    assert reading.ts == NOW and not reading.ts_from_device


def test_integers_are_numbers_and_become_floats() -> None:
    (reading,) = decode({"voltage": 230, "current": 0, "power": 0, "energy": 0}).readings
    assert reading.voltage == 230.0 and type(reading.voltage) is float
    assert type(reading.energy) is float


@pytest.mark.parametrize("name", list(RANGES))
def test_range_bounds_are_inclusive(name: str) -> None:
    low, high, _unit = RANGES[name]
    for value in (low, high):
        result = decode({**BASE, name: value})
        assert result.rejects == [], result.rejects
        assert getattr(result.readings[0], name) == value


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        ("voltage", 300.0, "voltage 300.0 V out of range 80-260"),
        ("voltage", 79.9, "voltage 79.9 V out of range 80-260"),
        ("current", 100.5, "current 100.5 A out of range 0-100"),
        ("current", -0.001, "current -0.001 A out of range 0-100"),
        ("power", 23000.1, "power 23000.1 W out of range 0-23000"),
        ("energy", 10000, "energy 10000 kWh out of range 0-9999.999"),
        ("energy", -1.0, "energy -1.0 kWh out of range 0-9999.999"),
        ("frequency", 70.0, "frequency 70.0 Hz out of range 45-65"),
        ("pf", 1.01, "pf 1.01 out of range 0-1"),
        ("voltage", 1e308, "voltage 1e+308 V out of range 80-260"),
    ],
)
def test_out_of_range(name: str, value: float, detail: str) -> None:
    reject = only_reject(decode({**V1_EXAMPLE, name: value}))
    assert (reject.reason, reject.field, reject.detail) == ("out_of_range", name, detail)
    assert reject.serial == "PZEM-1A2B3C"
    assert reject.index is None
    assert reject.topic == TOPIC and reject.received_at == NOW


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("voltage", "230.1", "wrong_type"),
        ("voltage", True, "wrong_type"),
        ("voltage", [230.1], "wrong_type"),
        ("current", None, "missing_field"),
        ("frequency", "50", "wrong_type"),
        ("pf", False, "wrong_type"),
        ("alarm", 0, "wrong_type"),
        ("alarm", "false", "wrong_type"),
        ("seq", 1.0, "wrong_type"),
        ("seq", True, "wrong_type"),
        ("seq", -1, "out_of_range"),
        ("seq", 2**63, "out_of_range"),
        ("firmware_version", 1, "wrong_type"),
        ("ip_address", "x" * 65, "out_of_range"),
        ("timestamp", True, "wrong_type"),
        ("timestamp", {"s": 1}, "wrong_type"),
        ("timestamp", "2026-11-27T10:00:00", "bad_timestamp"),
        ("timestamp", "yesterday", "bad_timestamp"),
        ("timestamp", "1795773600", "bad_timestamp"),
        ("timestamp", "2026-11-27T10:00:00Z" * 3, "bad_timestamp"),
        ("serial_number", "", "bad_serial"),
        ("serial_number", 1234, "bad_serial"),
        ("serial_number", "a/b", "bad_serial"),
        ("serial_number", "a+b", "bad_serial"),
        ("serial_number", "a#", "bad_serial"),
        ("serial_number", "has space", "bad_serial"),
        ("serial_number", "x" * 65, "bad_serial"),
        ("serial_number", "Zähler", "bad_serial"),
    ],
)
def test_field_problems(name: str, value: object, reason: str) -> None:
    reject = only_reject(decode({**V1_EXAMPLE, name: value}))
    assert reject.reason == reason
    assert reject.field == name
    assert name in reject.detail


def test_missing_required_field() -> None:
    obj = dict(V1_EXAMPLE)
    del obj["energy"]
    reject = only_reject(decode(obj))
    assert (reject.reason, reject.field, reject.detail) == (
        "missing_field",
        "energy",
        "energy is missing",
    )


def test_wrong_type_detail_names_json_type() -> None:
    reject = only_reject(decode({**BASE, "voltage": "230.1"}))
    assert reject.detail == "voltage must be a number, got string '230.1'"


def test_serial_rule() -> None:
    assert is_valid_serial("PZEM-004T-001")
    assert is_valid_serial("A4:CF:12:34:56:78")
    assert is_valid_serial("meter_1.2")
    assert is_valid_serial("x" * 64)
    for bad in ("", "x" * 65, "a/b", "a+b", "a#", "a b", "a\x00", "é", "a?b", "a%20"):
        assert not is_valid_serial(bad), bad


def test_topic_id_that_is_not_a_serial_needs_serial_number() -> None:
    reject = only_reject(decode(BASE, topic="meter/bad id/data"))
    assert reject.reason == "bad_serial" and reject.serial is None
    (reading,) = decode({**BASE, "serial_number": "OK-1"}, topic="meter/bad id/data").readings
    assert reading.serial == "OK-1"


# ------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("timestamp", "ts", "from_device"),
    [
        (None, NOW, False),
        (NOW - 10, NOW - 10, True),
        (int(NOW) - 86400 * 365, NOW - 86400 * 365, True),  # backfill of a year
        ((NOW - 10) * 1000, NOW - 10, True),  # milliseconds
        ("2026-11-27T09:59:50Z", NOW - 10, True),
        ("2026-11-27T15:29:50+05:30", NOW - 10, True),
        ("2026-11-27T09:59:50.250Z", NOW - 9.75, True),
        (NOW + FUTURE_TOLERANCE_S, NOW + FUTURE_TOLERANCE_S, True),
        (0, NOW, False),
        (-5, NOW, False),
        (946684800, NOW, False),  # MicroPython's epoch: an unset clock
        ("1970-01-01T00:02:03Z", NOW, False),
        ("2019-12-31T23:59:59Z", NOW, False),
        ("2020-01-01T00:00:00Z", 1577836800.0, True),
    ],
)
def test_v1_timestamps(timestamp: object, ts: float, from_device: bool) -> None:
    obj = {**BASE} if timestamp is None else {**BASE, "timestamp": timestamp}
    result = decode(obj)
    assert result.rejects == []
    assert result.readings[0].ts == pytest.approx(ts, abs=1e-6)
    assert result.readings[0].ts_from_device is from_device


@pytest.mark.parametrize(
    "timestamp", [NOW + FUTURE_TOLERANCE_S + 1, "2026-11-28T10:00:00Z", (NOW + 3600) * 1000]
)
def test_future_timestamps_are_rejected(timestamp: object) -> None:
    reject = only_reject(decode({**BASE, "timestamp": timestamp}))
    assert (reject.reason, reject.field) == ("future_timestamp", "timestamp")
    assert "in the future" in reject.detail


def test_null_timestamp_means_receive_time() -> None:
    (reading,) = decode({**BASE, "timestamp": None}).readings
    assert reading.ts == NOW and not reading.ts_from_device


# ----------------------------------------------------------------------- batches


def test_batch_keeps_good_readings_and_rejects_bad_ones_by_index() -> None:
    items: list[Any] = [
        {**BASE, "seq": 1, "timestamp": NOW - 20},
        {**BASE, "seq": 2, "voltage": 300.0},
        "not an object",
        {**BASE, "seq": 4, "serial_number": "OTHER-1"},
        {**BASE, "seq": 5, "energy": "1.5"},
    ]
    result = decode({"serial_number": "PZEM-1", "firmware_version": "2.0", "readings": items})
    assert [r.seq for r in result.readings] == [1, 4]
    assert [r.serial for r in result.readings] == ["PZEM-1", "OTHER-1"]
    assert all(r.firmware_version == "2.0" for r in result.readings)
    assert result.readings[0].ts == NOW - 20
    assert [(j.index, j.reason, j.field) for j in result.rejects] == [
        (1, "out_of_range", "voltage"),
        (2, "not_an_object", None),
        (4, "wrong_type", "energy"),
    ]
    assert all(j.serial == "PZEM-1" for j in result.rejects if j.index != 2)
    # The raw kept for a bad item is that item, not the whole batch.
    assert orjson.loads(result.rejects[0].raw) == items[1]
    assert result.rejects[1].raw == '"not an object"'


def test_batch_item_without_serial_inherits_topic_id() -> None:
    result = decode({"readings": [BASE, BASE]}, topic="meter/PZEM-9/data")
    assert [r.serial for r in result.readings] == ["PZEM-9", "PZEM-9"]


def test_batch_of_a_backlog_keeps_order() -> None:
    items = [{**BASE, "seq": i, "timestamp": NOW - 3600 + 10 * i} for i in range(200)]
    raw = orjson.dumps({"serial_number": "PZEM-1", "readings": items})
    assert len(raw) < MAX_PAYLOAD_BYTES
    result = decode_data(TOPIC, raw, NOW)
    assert [r.seq for r in result.readings] == list(range(200))
    assert result.rejects == []


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"serial_number": "P", "readings": []}, "empty_batch"),
        ({"serial_number": "P", "readings": {"a": 1}}, "wrong_type"),
        ({"serial_number": "P", "readings": None}, "wrong_type"),
        ({"serial_number": "a/b", "readings": [BASE]}, "bad_serial"),
        ({"serial_number": "P", "ip_address": 7, "readings": [BASE]}, "wrong_type"),
        ({"readings": [{}] * (MAX_BATCH_READINGS + 1)}, "batch_too_large"),
    ],
)
def test_batch_message_problems(obj: object, reason: str) -> None:
    reject = only_reject(decode(obj))
    assert reject.reason == reason
    assert reject.index is None


def test_batch_at_the_limit_is_decoded() -> None:
    result = decode({"readings": [{}] * MAX_BATCH_READINGS})
    assert len(result.rejects) == MAX_BATCH_READINGS
    assert {j.reason for j in result.rejects} == {"missing_field"}


# ------------------------------------------------------------- message problems


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_payload"),
        (b"{", "malformed_json"),
        (b"online", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b'{"voltage": NaN}', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b"230.1", "not_an_object"),
        (b"null", "not_an_object"),
        (b'"text"', "not_an_object"),
    ],
)
def test_message_problems(raw: bytes, reason: str) -> None:
    reject = only_reject(decode_data(TOPIC, raw, NOW))
    assert reject.reason == reason
    assert reject.raw == raw.decode("utf-8", "replace")


def test_oversized_payload_is_rejected_without_parsing() -> None:
    raw = b"{" + b" " * MAX_PAYLOAD_BYTES + b"}"  # valid JSON, too big
    reject = only_reject(decode_data(TOPIC, raw, NOW))
    assert reject.reason == "oversized"
    assert str(len(raw)) in reject.detail
    assert len(reject.raw) == RAW_KEEP_BYTES
    assert decode_data(TOPIC, b"{}" + b" " * (MAX_PAYLOAD_BYTES - 2), NOW).rejects[0].reason == (
        "missing_field"
    )


def test_accepts_bytearray_and_memoryview() -> None:
    for raw in (bytearray(CPP_PAYLOAD), memoryview(CPP_PAYLOAD)):
        assert len(decode_data(TOPIC, raw, 1764237603.0).readings) == 1


@pytest.mark.parametrize(
    "topic",
    [
        "meter/x/status",
        "meter/x/control/ack",
        "meter//data",
        "meter/x",
        "foo/x/data",
        "meter/x/data/extra",
        "meter/+/data",
        "meter/#/data",
        "",
    ],
)
def test_bad_topic(topic: str) -> None:
    result = decode_data(topic, orjson.dumps(BASE), NOW)
    reject = only_reject(result)
    assert reject.reason == "bad_topic"
    assert reject.topic == topic


def test_parse_topic() -> None:
    assert parse_topic("meter/PZEM-1/data") == ("PZEM-1", "data")
    assert parse_topic("meter/PZEM-1/status") == ("PZEM-1", "status")
    assert parse_topic("meter/PZEM-1/control") == ("PZEM-1", "control")
    assert parse_topic("meter/PZEM-1/control/ack") == ("PZEM-1", "control/ack")
    for bad in ("meter/PZEM-1", "meter//data", "meters/x/data", "meter/x/ack", "meter/+/data"):
        with pytest.raises(ValueError, match="meter/<id>/data"):
            parse_topic(bad)


# ------------------------------------------------------------------------ status


@pytest.mark.parametrize(
    ("raw", "online"),
    [(b"online", True), (b"offline", False), (b"OFFLINE\n", False), (b'"online"', True)],
)
def test_status_plain(raw: bytes, online: bool) -> None:
    status = decode_status("meter/PZEM-1/status", raw, NOW)
    assert isinstance(status, StatusUpdate)
    assert (status.device_id, status.serial, status.online) == ("PZEM-1", "PZEM-1", online)
    assert status.received_at == NOW


def test_status_json() -> None:
    raw = orjson.dumps(
        {
            "state": "online",
            "firmware_version": "1.2.0",
            "ip_address": "10.0.0.7",
            "rssi": -67,
            "uptime_s": 3600,
            "free_mem": 21000,
            "queue_len": 3,
        }
    )
    status = decode_status("meter/PZEM-1/status", raw, NOW)
    assert isinstance(status, StatusUpdate)
    assert status.online and status.state == "online"
    assert (status.firmware_version, status.ip_address) == ("1.2.0", "10.0.0.7")
    assert (status.rssi, status.uptime_s, status.free_mem) == (-67.0, 3600.0, 21000)
    assert status.extra == {"queue_len": 3}


def test_status_json_tolerates_missing_and_odd_fields() -> None:
    status = decode_status("meter/PZEM-1/status", b'{"rssi": "strong", "free_mem": -1}', NOW)
    assert isinstance(status, StatusUpdate)
    assert status.online and status.rssi is None and status.free_mem is None
    assert status.extra == {"rssi": "strong", "free_mem": -1}
    offline = decode_status("meter/PZEM-1/status", b'{"state": "offline"}', NOW)
    assert isinstance(offline, StatusUpdate) and not offline.online
    flag = decode_status("meter/PZEM-1/status", b'{"online": false}', NOW)
    assert isinstance(flag, StatusUpdate) and not flag.online


def test_status_serial_number_overrides_topic_id() -> None:
    raw = b'{"state":"online","serial_number":"PZEM-9"}'
    status = decode_status("meter/esp-1/status", raw, NOW)
    assert isinstance(status, StatusUpdate) and status.serial == "PZEM-9"
    bad = decode_status("meter/esp-1/status", b'{"serial_number":"a/b"}', NOW)
    assert isinstance(bad, Reject) and bad.reason == "bad_serial"


@pytest.mark.parametrize(
    ("topic", "raw", "reason"),
    [
        ("meter/x/status", b"", "empty_payload"),
        ("meter/x/status", b"maybe", "malformed_json"),
        ("meter/x/status", b'"maybe"', "not_an_object"),
        ("meter/x/status", b"[1]", "not_an_object"),
        ("meter/x/data", b"online", "bad_topic"),
        ("meter/x/status", b" " * (MAX_PAYLOAD_BYTES + 1), "oversized"),
    ],
)
def test_status_problems(topic: str, raw: bytes, reason: str) -> None:
    reject = decode_status(topic, raw, NOW)
    assert isinstance(reject, Reject) and reject.reason == reason


# --------------------------------------------------------------------------- ack


def test_ack() -> None:
    ack = decode_ack(
        "meter/PZEM-1/control/ack",
        b'{"id":"6f1c2a4e-0000-4000-8000-000000000001","ok":true,"error":null}',
    )
    assert ack == CommandAck("PZEM-1", "6f1c2a4e-0000-4000-8000-000000000001", True, None)
    failed = decode_ack("meter/PZEM-1/control/ack", b'{"id":"c1","ok":false,"error":"busy"}')
    assert isinstance(failed, CommandAck) and not failed.ok and failed.error == "busy"


@pytest.mark.parametrize(
    ("topic", "raw", "reason", "field"),
    [
        ("meter/x/control/ack", b'{"ok":true}', "missing_field", "id"),
        ("meter/x/control/ack", b'{"id":"c1"}', "missing_field", "ok"),
        ("meter/x/control/ack", b'{"id":5,"ok":true}', "wrong_type", "id"),
        ("meter/x/control/ack", b'{"id":"","ok":true}', "wrong_type", "id"),
        ("meter/x/control/ack", b'{"id":"c1","ok":"yes"}', "wrong_type", "ok"),
        ("meter/x/control/ack", b'{"id":"c1","ok":false,"error":3}', "wrong_type", "error"),
        ("meter/x/control/ack", b"{", "malformed_json", None),
        ("meter/x/control", b'{"id":"c1","ok":true}', "bad_topic", None),
    ],
)
def test_ack_problems(topic: str, raw: bytes, reason: str, field: str | None) -> None:
    reject = decode_ack(topic, raw, NOW)
    assert isinstance(reject, Reject)
    assert (reject.reason, reject.field) == (reason, field)
    assert reject.received_at == NOW


# -------------------------------------------------------------------- properties

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    *RANGES,
    "serial_number",
    "device_id",
    "timestamp",
    "seq",
    "alarm",
    "firmware_version",
    "ip_address",
    "readings",
]
shaped_objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=len(KEYS))
topics = st.sampled_from(
    ["meter/PZEM-1/data", "meter/x y/data", "meter/a/status", "nope", "meter/a/control/ack"]
)


def check_invariants(result: Decoded, topic: str, items: int | None) -> None:
    for reject in result.rejects:
        assert reject.reason in REASONS
        assert reject.detail
        assert reject.topic == topic
        assert len(reject.raw.encode()) <= RAW_KEEP_BYTES * 3  # replacement chars widen
    for reading in result.readings:
        for name, (low, high, _unit) in RANGES.items():
            value = getattr(reading, name)
            assert value is None or (type(value) is float and low <= value <= high)
        assert math.isfinite(reading.ts)
        assert is_valid_serial(reading.serial)
    if items is not None and all(j.index is not None for j in result.rejects):
        assert len(result.readings) + len(result.rejects) == items


@given(topic=topics, raw=st.binary(max_size=300))
def test_never_raises_on_arbitrary_bytes(topic: str, raw: bytes) -> None:
    check_invariants(decode_data(topic, raw, NOW), topic, None)
    assert isinstance(decode_status(topic, raw, NOW), StatusUpdate | Reject)
    assert isinstance(decode_ack(topic, raw), CommandAck | Reject)


@given(topic=topics, value=json_values)
def test_never_raises_on_arbitrary_json(topic: str, value: object) -> None:
    raw = dumps(value)
    check_invariants(decode_data(topic, raw, NOW), topic, None)
    assert isinstance(decode_status(topic, raw, NOW), StatusUpdate | Reject)
    assert isinstance(decode_ack(topic, raw), CommandAck | Reject)


@given(obj=shaped_objects, received_at=st.floats(min_value=0, max_value=4e9))
def test_never_raises_on_reading_shaped_objects(obj: dict[str, Any], received_at: float) -> None:
    check_invariants(decode_data(TOPIC, dumps(obj), received_at), TOPIC, None)


@given(items=st.lists(shaped_objects | json_scalars, min_size=1, max_size=8))
def test_batch_accounts_for_every_item(items: list[Any]) -> None:
    result = decode({"serial_number": "PZEM-1", "readings": items})
    check_invariants(result, TOPIC, len(items))
    assert all(j.index is not None for j in result.rejects)
    assert sorted(j.index for j in result.rejects if j.index is not None) == [
        j.index for j in result.rejects
    ]


def in_range(name: str) -> st.SearchStrategy[float]:
    low, high, _unit = RANGES[name]
    return st.floats(min_value=low, max_value=high)


serials = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-",
    min_size=1,
    max_size=64,
)
valid_readings = st.fixed_dictionaries(
    {name: in_range(name) for name in ("voltage", "current", "power", "energy")},
    optional={
        "frequency": in_range("frequency"),
        "pf": in_range("pf"),
        "alarm": st.booleans(),
        "seq": st.integers(min_value=0, max_value=2**63 - 1),
        "serial_number": serials,
        "firmware_version": st.text(max_size=64).filter(bool),
        "ip_address": st.ip_addresses().map(str),
        "timestamp": st.integers(min_value=1577836800, max_value=int(NOW)),
    },
)


@given(obj=valid_readings)
def test_valid_readings_round_trip(obj: dict[str, Any]) -> None:
    result = decode(obj)
    assert result.rejects == []
    (reading,) = result.readings
    for name in (
        "voltage",
        "current",
        "power",
        "energy",
        "frequency",
        "pf",
        "alarm",
        "seq",
        "firmware_version",
        "ip_address",
    ):
        assert getattr(reading, name) == obj.get(name)
    assert reading.serial == obj.get("serial_number", "esp-01")
    assert reading.ts == obj.get("timestamp", NOW)
    assert reading.ts_from_device is ("timestamp" in obj)


@st.composite
def out_of_range(draw: st.DrawFn) -> tuple[str, float]:
    name = draw(st.sampled_from(list(RANGES)))
    low, high, _unit = RANGES[name]
    below = st.floats(max_value=low, exclude_max=True, allow_nan=False)
    above = st.floats(min_value=high, exclude_min=True, allow_nan=False)
    return name, draw(below | above | st.just(math.nan))


@given(obj=valid_readings, bad=out_of_range())
@settings(max_examples=200)
def test_out_of_range_is_always_rejected_with_its_field(
    obj: dict[str, Any], bad: tuple[str, float]
) -> None:
    name, value = bad
    if math.isfinite(value):
        reject = only_reject(decode({**obj, name: value}))
        assert (reject.reason, reject.field) == ("out_of_range", name)
        assert reject.detail.startswith(f"{name} ")
    else:  # NaN and infinities cannot travel in JSON: check the reading validator itself
        with pytest.raises(Invalid) as info:
            decoder._reading({**obj, name: value}, "S-1", "S-1", NOW, False, None, None)
        assert (info.value.reason, info.value.field_name) == ("out_of_range", name)


def test_untimed_batch_readings_are_all_kept_in_order() -> None:
    batch = {
        "serial_number": "PZEM-9",
        "readings": [
            {"seq": i, "voltage": 230.0, "current": 1.0, "power": 230.0, "energy": 1.0 + i / 1000}
            for i in range(3)
        ],
    }
    result = decode(batch)
    stamps = [r.ts_ms for r in result.readings]
    assert len(set(stamps)) == 3 and stamps == sorted(stamps)
    assert stamps[-1] == round(NOW * 1000)
    assert not any(r.ts_from_device for r in result.readings)
