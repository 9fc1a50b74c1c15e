"""Fixtures for simulator tests: the broker tests' free port and embedded broker."""

from tests.broker.conftest import embedded_broker, free_port_fixture

__all__ = ["embedded_broker", "free_port_fixture"]
