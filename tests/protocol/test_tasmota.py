"""Tasmota SENSOR/LWT decoding: the ENERGY object becomes the same Reading a v1 message
with those values gives; arrays, missing or out-of-range values are rejected by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.protocol.readings import Reading, decode_data
from meterhub.protocol.rejects import Invalid, Reject
from meterhub.protocol.rules import RANGES
from meterhub.protocol.status import StatusUpdate
from meterhub.protocol.tasmota import decode_lwt, decode_sensor, local_time

NOW = 1_796_000_000.0  # 2026-11-30
TOPIC = "tele/plug-1/SENSOR"
ENERGY = {
    "TotalStartTime": "2026-11-14T18:39:40",
    "Total": 6.294,
    "Yesterday": 5.34,
    "Today": 0.954,
    "Period": 217,
    "Power": 2635,
    "ApparentPower": 2650,
    "ReactivePower": 282,
    "Factor": 0.99,
    "Frequency": 50,
    "Voltage": 227,
    "Current": 11.661,
}


def sensor(energy: Any = ENERGY, time: Any = "2026-11-30T09:00:00", **more: Any) -> bytes:
    return orjson.dumps({"Time": time, "ENERGY": energy, **more})


def decode(raw: bytes) -> Reading | Reject:
    got = decode_sensor(TOPIC, "plug-1", raw, NOW)
    return got if isinstance(got, Reject) else got[0]


def test_energy_object_is_a_reading_like_v1() -> None:
    got = decode(sensor())
    v1 = {"voltage": 227, "current": 11.661, "power": 2635, "energy": 6.294}
    want = decode_data("meter/plug-1/data", orjson.dumps(v1 | {"frequency": 50, "pf": 0.99}), NOW)
    assert want.readings and got == want.readings[0]
    assert isinstance(got, Reading) and (got.serial, got.ts, got.ts_from_device) == (
        "plug-1",
        NOW,
        False,
    )


def test_time_with_an_offset_is_the_device_time() -> None:
    an_hour_ago = datetime.fromtimestamp(NOW - 3600, timezone(timedelta(hours=1)))
    got = decode(sensor(time=an_hour_ago.isoformat()))
    assert isinstance(got, Reading) and (got.ts, got.ts_from_device) == (NOW - 3600, True)


def test_local_time_without_offset_uses_the_receive_time_and_is_handed_on() -> None:
    got = decode_sensor(TOPIC, "plug-1", sensor(time="2026-11-30T23:59:59"), NOW)
    assert not isinstance(got, Reject)
    reading, local = got
    assert (reading.ts, reading.ts_from_device, local) == (NOW, False, "2026-11-30T23:59:59")
    with_offset = decode_sensor(TOPIC, "plug-1", sensor(time="2026-11-29T01:00:00Z"), NOW)
    assert not isinstance(with_offset, Reject) and with_offset[1] is None


def test_local_time_in_the_device_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin, 2026-10-25 02:30 exists twice
    assert local_time("2026-07-01T12:00:00", berlin, NOW) == (
        datetime(2026, 7, 1, 10, tzinfo=UTC).timestamp(),
        True,
    )
    assert local_time("2026-10-25T02:30:00", berlin, NOW)[0] == (
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()  # the first (summer)
    )
    assert local_time("2019-06-01T00:00:00", berlin, NOW) == (NOW, False)  # unset clock
    for bad, reason in (("2099-01-01T00:00:00", "future_timestamp"), ("noon", "bad_timestamp")):
        with pytest.raises(Invalid) as caught:
            local_time(bad, berlin, NOW)
        assert caught.value.reason == reason


def test_frequency_and_factor_are_optional() -> None:
    energy = {k: v for k, v in ENERGY.items() if k not in ("Frequency", "Factor")}
    got = decode(sensor(energy))
    assert isinstance(got, Reading) and (got.frequency, got.pf) == (None, None)


def test_multiphase_arrays_are_rejected() -> None:
    got = decode(sensor(ENERGY | {"Voltage": [230, 231, 229], "Current": [1, 2, 3]}))
    assert isinstance(got, Reject) and got.reason == "tasmota_multiphase"
    assert "Current" in got.detail and "Voltage" in got.detail


def test_bad_messages_are_rejected_by_name() -> None:
    cases = {
        b"": "empty_payload",
        b"{nope": "malformed_json",
        b"[1]": "not_an_object",
        orjson.dumps({"Time": "x", "AM2301": {"Temperature": 20}}): "missing_field",
        sensor("text"): "wrong_type",
        sensor(ENERGY | {"Voltage": 400}): "out_of_range",
        sensor(ENERGY | {"Total": None}): "missing_field",
        sensor(ENERGY | {"Power": "12"}): "wrong_type",
        sensor(time="2099-01-01T00:00:00Z"): "future_timestamp",
        sensor(time="yesterday"): "bad_timestamp",
    }
    for raw, reason in cases.items():
        got = decode(raw)
        assert isinstance(got, Reject) and got.reason == reason, (raw, got)
    got = decode(sensor(ENERGY | {"Voltage": 400}))
    assert isinstance(got, Reject) and got.field == "ENERGY.Voltage" and "400" in got.detail


def test_lwt() -> None:
    online = decode_lwt("tele/plug-1/LWT", "plug-1", b"Online", NOW)
    offline = decode_lwt("tele/plug-1/LWT", "plug-1", b"Offline", NOW)
    assert isinstance(online, StatusUpdate) and (online.serial, online.online) == ("plug-1", True)
    assert isinstance(offline, StatusUpdate) and not offline.online
    bad = decode_lwt("tele/plug-1/LWT", "plug-1", b"maybe", NOW)
    assert isinstance(bad, Reject) and bad.reason == "wrong_type"


def in_range(name: str) -> st.SearchStrategy[float]:
    low, high, _ = RANGES[name]
    return st.floats(low, high, allow_nan=False)


@given(in_range("voltage"), in_range("current"), in_range("power"), in_range("energy"))
def test_any_in_range_values_equal_v1(v: float, i: float, p: float, e: float) -> None:
    got = decode(sensor({"Voltage": v, "Current": i, "Power": p, "Total": e}))
    v1 = decode_data(
        "meter/plug-1/data",
        orjson.dumps({"voltage": v, "current": i, "power": p, "energy": e}),
        NOW,
    )
    assert got == v1.readings[0]


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text(max_size=4)
        | st.lists(st.integers(0, 9)),
    )
)
def test_never_raises(energy: dict[str, Any]) -> None:
    assert isinstance(decode(sensor(energy)), Reading | Reject)
