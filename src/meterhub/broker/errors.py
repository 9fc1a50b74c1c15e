"""Errors raised while choosing or starting an MQTT broker."""

from __future__ import annotations


class BrokerStartError(RuntimeError):
    """The embedded broker could not start; the message is one line naming the fix."""


def port_in_use_message(port: int) -> str:
    """Return the one-line explanation shown when the MQTT port is taken."""
    return (
        f"MQTT port {port} is already in use: stop the program using it, "
        f"set MQTT_PORT to a free port, or set MQTT_BROKER_URL=mqtt://host:port "
        f"to use that broker"
    )
