"""TLS for every MQTT client of meterhub (ingest's reader, the live feed, commands, the
simulator): the system's trust store, plus ``MQTT_CA_FILE`` for a private CA."""

from __future__ import annotations

import ssl


def client_tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context: system CAs, and those in ``ca_file`` (PEM) when given.

    Raises OSError/ssl.SSLError naming the file when it cannot be read."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
