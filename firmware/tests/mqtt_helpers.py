"""Byte builders for MQTT 3.1.1 packets, written from the spec (not from umqtt)."""

import struct


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack("!H", len(x)) + x


def rem_len(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes((b | (0x80 if n else 0),))
        if not n:
            return out


def publish(topic, payload, pid=None, retain=False):
    payload = payload.encode() if isinstance(payload, str) else payload
    body = s(topic) + (struct.pack("!H", pid) if pid else b"") + payload
    return bytes((0x30 | (2 if pid else 0) | (1 if retain else 0),)) + rem_len(len(body)) + body


def puback(pid):
    return b"\x40\x02" + struct.pack("!H", pid)


CONNACK = b"\x20\x02\x00\x00"


def suback(pid):
    return b"\x90\x03" + struct.pack("!H", pid) + b"\x01"
