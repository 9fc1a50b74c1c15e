"""Shared fixtures for the firmware tests: a private Mosquitto we can stop and restart
(`mosquitto`, from tests/support.py)."""

from __future__ import annotations

from tests.support import mosquitto as mosquitto  # the fixture, for the tests here
