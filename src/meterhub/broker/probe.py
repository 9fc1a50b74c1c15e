"""Ask a TCP endpoint whether an MQTT broker answers there.

A bare TCP connect is not enough (any program may hold the port), so the
probe sends a real MQTT 3.1.1 CONNECT and waits for a CONNACK. A refusing
CONNACK (bad credentials, say) still proves that a broker answers.
"""

from __future__ import annotations

import os
import socket
import struct

#: Seconds to wait for the TCP connect and for the CONNACK.
PROBE_TIMEOUT_S = 0.5

_CONNACK = 0x20
_DISCONNECT = b"\xe0\x00"


def connect_packet(client_id: str, keepalive_s: int = 5) -> bytes:
    """Build an MQTT 3.1.1 CONNECT packet (clean session, no credentials)."""
    cid = client_id.encode()
    variable = b"\x00\x04MQTT" + bytes([4, 0x02]) + struct.pack("!H", keepalive_s)
    payload = struct.pack("!H", len(cid)) + cid
    body = variable + payload
    return bytes([0x10, len(body)]) + body  # body < 128 bytes: one length byte


def connack_code(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> int | None:
    """Return the CONNACK return code from ``host:port``, or None if no broker answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(connect_packet(f"meterhub-probe-{os.getpid()}"))
            reply = _recv_exact(sock, 4)
            if reply is None or reply[0] != _CONNACK or reply[1] != 2:
                return None
            if reply[3] == 0:
                sock.sendall(_DISCONNECT)
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
