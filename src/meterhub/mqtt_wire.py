"""The MQTT 3.1.1 packets ingest's receiver sends and reads (OASIS MQTT 3.1.1, section 3):
what a subscriber with deferred acknowledgements needs, nothing else.

Ingest must acknowledge a QoS 1 message only after the transaction holding it committed,
thousands of times a second. The client libraries cost ~45 us a message here (paho reads
each packet's header a byte per system call and queues every PUBACK on its own; gmqtt
runs a task per message when it defers acknowledgements), as much as decoding and storing
it. This codec reads every packet in a received buffer in one pass and writes a committed
chunk's PUBACKs with one write.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}

MAX_PACKET_BYTES = 256 * 1024
"""Largest packet body the reader accepts. meterhub's own payloads are at most 64 KiB
(``protocol.rules.MAX_PAYLOAD_BYTES``); a larger packet is refused from its header, before
its bytes are buffered: the connection is dropped (:class:`PacketTooLarge`)."""

PINGREQ_PACKET = bytes((PINGREQ << 4, 0))
DISCONNECT_PACKET = bytes((DISCONNECT << 4, 0))


class ProtocolError(Exception):
    """The broker sent something that is not valid MQTT 3.1.1: the connection is closed."""


class PacketTooLarge(ProtocolError):
    """A packet longer than the reader's limit: the connection is closed, nothing allocated."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a packet of {size:,} bytes, more than the limit of {limit:,}")
        self.size = size


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return struct.pack("!H", len(data)) + data


def packet(first: int, body: bytes) -> bytes:
    """A packet: its first byte, the remaining length, the body."""
    return bytes((first,)) + _remaining_length(len(body)) + body


def connect_packet(
    client_id: str,
    keepalive: int,
    clean_session: bool,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = (0x02 if clean_session else 0) | (0x80 if username else 0)
    if username and password:
        flags |= 0x40
    body = string("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive)
    body += string(client_id)
    if username:
        body += string(username)
        if password:
            body += string(password)
    return packet(CONNECT << 4, body)


def subscribe_packet(packet_id: int, filters: Iterable[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id)
    for topic, qos in filters:
        body += string(topic) + bytes((qos,))
    return packet(SUBSCRIBE << 4 | 0x02, body)


_PUBACK = struct.Struct("!BBH")


def puback_packets(packet_ids: Iterable[int]) -> bytes:
    """The PUBACKs of these packets, back to back (in the order given: MQTT wants them in
    the order the messages arrived)."""
    pack, first = _PUBACK.pack, PUBACK << 4
    return b"".join([pack(first, 2, mid) for mid in packet_ids])


@dataclass(frozen=True)
class Control:
    """A packet other than PUBLISH: its type and body (CONNACK, SUBACK, PINGRESP, ...)."""

    kind: int
    body: bytes


Publish = tuple[bytes, bytes, int, int]  # topic (raw), payload, qos, packet id (0 at QoS 0)


class PacketReader:
    """Splits the byte stream from the broker into packets, however it was cut up."""

    def __init__(self, max_packet: int = MAX_PACKET_BYTES) -> None:
        self._buffer = bytearray()
        self._max_packet = max_packet

    def feed(self, data: bytes, publishes: list[Publish], controls: list[Control]) -> None:
        """Append the complete packets in what has arrived so far to `publishes` and
        `controls`; keep an incomplete tail for the next call."""
        buf = self._buffer
        buf += data
        size, pos = len(buf), 0
        while size - pos >= 2:
            first, length, start = buf[pos], buf[pos + 1], pos + 2
            if length & 0x80:  # 2-4 length bytes (messages over 127 bytes)
                found = _long_length(buf, pos + 1, size)
                if found is None:
                    break  # the length itself has not fully arrived
                length, start = found
                if length > self._max_packet:
                    raise PacketTooLarge(length, self._max_packet)
            end = start + length
            if end > size:
                break
            kind = first >> 4
            if kind == PUBLISH:
                publishes.append(_publish(buf, first, start, end))
            else:
                controls.append(Control(kind, bytes(buf[start:end])))
            pos = end
        if pos:
            del buf[:pos]


def _long_length(buf: bytearray, at: int, size: int) -> tuple[int, int] | None:
    """Remaining length starting at `at` (7 bits a byte, least significant first) and
    where the packet's body starts; None if its bytes have not all arrived."""
    length, shift = 0, 0
    while at < size:
        byte = buf[at]
        at += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length, at
        shift += 7
        if shift > 21:
            raise ProtocolError("a packet's remaining length runs over 4 bytes")
    return None


def _publish(buf: bytearray, first: int, start: int, end: int) -> Publish:
    qos = (first >> 1) & 0x03
    if end - start < 2:
        raise ProtocolError("a PUBLISH without a topic")
    topic_end = start + 2 + (buf[start] << 8 | buf[start + 1])
    if qos:
        if qos != 1:
            raise ProtocolError(f"a PUBLISH with QoS {qos} (ingest subscribes at QoS 1)")
        if topic_end + 2 > end:
            raise ProtocolError("a PUBLISH shorter than its topic and packet id")
        mid = buf[topic_end] << 8 | buf[topic_end + 1]
        return bytes(buf[start + 2 : topic_end]), bytes(buf[topic_end + 2 : end]), qos, mid
    if topic_end > end:
        raise ProtocolError("a PUBLISH shorter than its topic")
    return bytes(buf[start + 2 : topic_end]), bytes(buf[topic_end:end]), 0, 0
