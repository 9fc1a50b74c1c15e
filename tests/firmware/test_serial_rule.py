"""The firmware refuses the serial numbers the server would refuse: one rule, two places.

MicroPython's `re` has no {m,n}, so firmware/lib/config.py holds the rule as a
character class and a length; they must spell the server's regex exactly.
"""

from __future__ import annotations

import re

from meterhub.firmware.paths import firmware_dir
from meterhub.telemetry import payload


def _firmware_rule() -> str:
    text = (firmware_dir() / "lib" / "config.py").read_text()
    cls = re.search(r'^SERIAL_CLASS = "([^"]+)"$', text, re.M)
    top = re.search(r"^SERIAL_MAX = (\d+)$", text, re.M)
    assert cls and top, "SERIAL_CLASS / SERIAL_MAX not found in firmware/lib/config.py"
    return f"[{cls.group(1)}]{{1,{top.group(1)}}}"


def test_firmware_serial_rule_is_the_servers() -> None:
    assert _firmware_rule() == payload._SERIAL_RE.pattern


def test_the_rule_refuses_what_breaks_json_and_topics() -> None:
    rule = re.compile(_firmware_rule())
    for bad in ('a"b', "a\nb", "a/b", "a+b", "a#b", "", "x" * 65):
        assert rule.fullmatch(bad) is None, bad
    assert rule.fullmatch("PZEM-00A1B2") is not None
