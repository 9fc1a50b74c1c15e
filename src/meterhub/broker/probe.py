"""Ask a TCP endpoint whether an MQTT broker answers there.

A bare TCP connect is not enough (any program may hold the port), so the
probe sends a real MQTT 3.1.1 CONNECT (built by :mod:`meterhub.mqtt_wire`, the codec
ingest reads with) and waits for a CONNACK. A refusing
CONNACK (bad credentials, say) still proves that a broker answers.
"""

from __future__ import annotations

import os
import socket

from meterhub import mqtt_wire

#: Seconds to wait for the TCP connect and for the CONNACK.
PROBE_TIMEOUT_S = 0.5


def connack_code(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> int | None:
    """Return the CONNACK return code from ``host:port``, or None if no broker answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(
                mqtt_wire.connect_packet(
                    f"meterhub-probe-{os.getpid()}", keepalive=5, clean_session=True
                )
            )
            reply = _recv_exact(sock, 4)
            if reply is None or reply[0] != mqtt_wire.CONNACK << 4 or reply[1] != 2:
                return None
            if reply[3] == 0:
                sock.sendall(mqtt_wire.DISCONNECT_PACKET)
            return reply[3]
    except OSError:
        return None


def mqtt_answers(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Return True if an MQTT broker answers a CONNECT on ``host:port``."""
    return connack_code(host, port, timeout) is not None


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
