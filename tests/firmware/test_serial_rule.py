"""The firmware refuses the serial numbers the server would refuse: one rule, two places.

MicroPython's `re` has no {m,n}, so firmware/lib/config.py holds the rule as a
character class and a length; together they must accept exactly what the server's
regex accepts.
"""

from __future__ import annotations

import re

from meterhub.firmware.paths import firmware_dir
from meterhub.protocol.rules import SERIAL_PATTERN


def _firmware_rule() -> str:
    text = (firmware_dir() / "lib" / "config.py").read_text()
    cls = re.search(r'^SERIAL_CLASS = "([^"]+)"$', text, re.M)
    top = re.search(r"^SERIAL_MAX = (\d+)$", text, re.M)
    assert cls and top, "SERIAL_CLASS / SERIAL_MAX not found in firmware/lib/config.py"
    return f"[{cls.group(1)}]{{1,{top.group(1)}}}"


def test_firmware_serial_rule_is_the_servers() -> None:
    firmware, server = re.compile(_firmware_rule()), re.compile(SERIAL_PATTERN)
    for code in range(256):
        char = chr(code)
        assert bool(firmware.fullmatch(char)) == bool(server.fullmatch(char)), repr(char)
    for length in (0, 1, 63, 64, 65):
        value = "a" * length
        assert bool(firmware.fullmatch(value)) == bool(server.fullmatch(value)), length


def test_the_rule_refuses_what_breaks_json_and_topics() -> None:
    rule = re.compile(_firmware_rule())
    for bad in ('a"b', "a\nb", "a/b", "a+b", "a#b", "", "x" * 65):
        assert rule.fullmatch(bad) is None, bad
    assert rule.fullmatch("PZEM-00A1B2") is not None
