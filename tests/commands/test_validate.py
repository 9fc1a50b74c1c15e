"""The command rules, as a pure function: what is accepted, and what a 422 says."""

from __future__ import annotations

from typing import Any

import pytest

from meterhub.errors import InvalidInput
from meterhub.services.commands import validate


@pytest.mark.parametrize(
    ("cmd", "args", "expected"),
    [
        ("set_interval", {"seconds": 30}, {"seconds": 30}),
        ("set_interval", {"seconds": 1}, {"seconds": 1}),
        ("set_interval", {"seconds": 3600.0}, {"seconds": 3600}),
        ("reset_energy", None, {}),
        ("reboot", {}, {}),
        ("identify", None, {"seconds": 5, "count": 17}),
        ("identify", {"seconds": 3}, {"seconds": 3, "count": 10}),
        ("set_alarm_threshold", {"watts": 0}, {"watts": 0}),
        ("set_alarm_threshold", {"watts": 23000}, {"watts": 23000}),
        ("ota", {"version": "1.2.0"}, {"version": "1.2.0"}),
        (
            "ota",
            {"version": "1.2.0", "base_url": "http://10.0.0.2:3000/"},
            {"version": "1.2.0", "base_url": "http://10.0.0.2:3000"},
        ),
    ],
)
def test_accepted(cmd: str, args: Any, expected: dict[str, Any]) -> None:
    assert validate(cmd, args) == expected


@pytest.mark.parametrize(
    ("cmd", "args", "field", "words"),
    [
        ("format_disk", None, "cmd", "unknown command 'format_disk'; use one of: set_interval"),
        ("SET_INTERVAL", {"seconds": 5}, "cmd", "unknown command"),
        ("set_interval", None, "args.seconds", "set_interval needs args.seconds (1..3600)"),
        ("set_interval", {"seconds": 0}, "args.seconds", "between 1 and 3600, not 0"),
        ("set_interval", {"seconds": 3601}, "args.seconds", "between 1 and 3600"),
        ("set_interval", {"seconds": "30"}, "args.seconds", "must be a number"),
        ("set_interval", {"seconds": True}, "args.seconds", "must be a number"),
        ("set_interval", {"seconds": 2.5}, "args.seconds", "whole number"),
        ("set_interval", {"seconds": float("nan")}, "args.seconds", "must be a number"),
        ("set_interval", {"seconds": 5, "foo": 1}, "args.foo", "does not take foo"),
        ("reboot", {"now": True}, "args.now", "reboot does not take now (it takes no arguments)"),
        ("reset_energy", {"x": 1}, "args.x", "does not take x"),
        ("identify", {"seconds": 31}, "args.seconds", "between 1 and 30"),
        ("identify", {"count": 5}, "args.count", "does not take count"),
        ("set_alarm_threshold", {"watts": -1}, "args.watts", "between 0 and 23000"),
        ("set_alarm_threshold", {"watts": 23001}, "args.watts", "between 0 and 23000"),
        ("set_alarm_threshold", {}, "args.watts", "needs args.watts"),
        ("ota", {}, "args.version", "ota needs args.version"),
        ("ota", {"version": "../../etc"}, "args.version", "ota needs args.version"),
        ("ota", {"version": "1.0", "url": "http://x/m.json"}, "args.url", "does not take url"),
        ("ota", {"version": "1.0", "base_url": "https://x"}, "args.base_url", "plain http"),
        ("ota", {"version": "1.0", "base_url": "http://x/?a"}, "args.base_url", "http://"),
    ],
)
def test_refused_with_a_clear_message(cmd: str, args: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate(cmd, args)
    assert err.value.extra["field"] == field
    assert words in err.value.message
