"""Fixtures for broker tests: free ports and an embedded broker."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from meterhub.broker.embedded import EmbeddedBroker, start_embedded_broker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on (right now)."""
    return _free_port()


@pytest.fixture(scope="module")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """An embedded amqtt broker on a free port of 127.0.0.1, for the module."""
    broker = start_embedded_broker(_free_port(), host="127.0.0.1")
    yield broker
    broker.stop()
