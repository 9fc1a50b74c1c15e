"""Fixtures for broker tests: free ports and an embedded broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meterhub.broker.embedded import EmbeddedBroker, start_embedded_broker
from tests.support import free_port


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A TCP port nothing listens on (right now)."""
    return free_port()


@pytest.fixture(scope="module")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """An embedded amqtt broker on a free port of 127.0.0.1, for the module."""
    broker = start_embedded_broker(free_port(), host="127.0.0.1")
    yield broker
    broker.stop()
