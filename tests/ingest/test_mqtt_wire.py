"""`mqtt_wire` speaks MQTT 3.1.1 (OASIS standard, sections 2.2.3, 3.1, 3.3, 3.4, 3.8):
CONNECT, SUBSCRIBE and PUBACK come out byte for byte as the spec lays them out (expected
bytes written by hand here); the remaining length is read right at every boundary the
spec's table lists; `PacketReader` gives the same publishes and controls, in order, however
the stream is cut (inside a remaining length too), emits a packet only once all of it has
arrived and keeps nothing back after; and malformed input raises `ProtocolError` (or
`ValueError` for strings too long to send)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.mqtt_wire import (
    CONNACK,
    PINGRESP,
    PUBLISH,
    SUBACK,
    Control,
    PacketReader,
    ProtocolError,
    Publish,
    connect_packet,
    puback_packets,
    subscribe_packet,
)

# The remaining length table of section 2.2.3, plus zero.
SPEC_LENGTHS = [
    (0, "00"),
    (127, "7F"),
    (128, "80 01"),
    (16_383, "FF 7F"),
    (16_384, "80 80 01"),
    (2_097_151, "FF FF 7F"),
    (2_097_152, "80 80 80 01"),
    (268_435_455, "FF FF FF 7F"),
]
TOPIC = "meter/Zähler-7/data".encode()  # non-ASCII: its length is in bytes, not characters


def h(text: str) -> bytes:
    """Bytes written as hex pairs, spaces allowed."""
    return bytes.fromhex(text)


def encode_length(n: int) -> bytes:
    """The remaining length, by the algorithm of section 2.2.3 (least significant 7 bits
    first, high bit set while more bytes follow)."""
    assert 0 <= n <= 268_435_455
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def publish_bytes(
    topic: bytes,
    payload: bytes,
    qos: int,
    packet_id: int = 0,
    dup: bool = False,
    retain: bool = False,
) -> bytes:
    """A PUBLISH (section 3.3): 0x30 | DUP << 3 | QoS << 1 | RETAIN, remaining length,
    topic as a length-prefixed string, packet id at QoS > 0, payload."""
    first = PUBLISH << 4 | dup << 3 | qos << 1 | retain
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += packet_id.to_bytes(2, "big")
    body += payload
    return bytes((first,)) + encode_length(len(body)) + body


def control_bytes(kind: int, body: bytes) -> bytes:
    return bytes((kind << 4,)) + encode_length(len(body)) + body


SPEC_MAX = 268_435_455  # the longest remaining length MQTT 3.1.1 can express


def read_all(*chunks: bytes) -> tuple[list[Publish], list[Control]]:
    """What one reader gives for these chunks, fed one after another (the size limit
    raised to the protocol's own: these tests check the codec's framing)."""
    reader, publishes, controls = PacketReader(SPEC_MAX), list[Publish](), list[Control]()
    for chunk in chunks:
        reader.feed(chunk, publishes, controls)
    return publishes, controls


def length_bytes(packet: bytes) -> int:
    """How many bytes the packet's remaining length takes."""
    count = 1
    while packet[count] & 0x80:
        count += 1
    return count


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- exact bytes -------------------------------------------------------------------------------
# CONNECT (3.1): 0x10, remaining length, "MQTT" (00 04 4D 51 54 54), level 4, flags,
# keepalive 30 (00 1E), client id "ingest-1", then user name and password if flagged.
CONNECT_HEAD = "00 04 4D 51 54 54 04"
CLIENT_ID = "00 08 69 6E 67 65 73 74 2D 31"  # "ingest-1"


@pytest.mark.parametrize(
    ("clean", "username", "password", "expected"),
    [
        (True, None, None, f"10 14 {CONNECT_HEAD} 02 00 1E {CLIENT_ID}"),
        (False, None, None, f"10 14 {CONNECT_HEAD} 00 00 1E {CLIENT_ID}"),
        (False, "u1", None, f"10 18 {CONNECT_HEAD} 80 00 1E {CLIENT_ID} 00 02 75 31"),
        (True, "u1", None, f"10 18 {CONNECT_HEAD} 82 00 1E {CLIENT_ID} 00 02 75 31"),
        (False, "u1", "pw", f"10 1C {CONNECT_HEAD} C0 00 1E {CLIENT_ID} 00 02 75 31 00 02 70 77"),
        (True, "u1", "pw", f"10 1C {CONNECT_HEAD} C2 00 1E {CLIENT_ID} 00 02 75 31 00 02 70 77"),
        # 3.1.2.9: no password without a user name.
        (False, None, "pw", f"10 14 {CONNECT_HEAD} 00 00 1E {CLIENT_ID}"),
        # Strings are UTF-8, length in bytes: "ü" is C3 BC.
        (False, "ü", "pw", f"10 1C {CONNECT_HEAD} C0 00 1E {CLIENT_ID} 00 02 C3 BC 00 02 70 77"),
    ],
)
def test_connect_bytes(
    clean: bool, username: str | None, password: str | None, expected: str
) -> None:
    assert connect_packet("ingest-1", 30, clean, username, password) == h(expected)


def test_connect_keepalive_is_big_endian() -> None:
    packet = connect_packet("c", 0x1234, False)
    assert packet == h(f"10 0D {CONNECT_HEAD} 00 12 34 00 01 63")


def test_connect_long_client_id_has_a_three_byte_remaining_length() -> None:
    client_id = "x" * 65_535
    packet = connect_packet(client_id, 30, False)
    # 10 fixed bytes + 2 + 65,535 = 65,547 = 0x1000B: 0x8B, 0x80, 0x04.
    assert packet[:4] == h("10 8B 80 04")
    assert packet[4:16] == h(f"{CONNECT_HEAD} 00 00 1E FF FF")
    assert packet[16:] == client_id.encode()
    assert len(packet) == 4 + 65_547


def test_subscribe_bytes_for_ingest_filters() -> None:
    filters = [("meter/+/data", 1), ("meter/+/status", 1), ("meter/+/control/ack", 1)]
    expected = h(
        "82 38"  # SUBSCRIBE with the reserved flags 0010 (3.8.1), 56 bytes follow
        " 00 01"  # packet id 1
        " 00 0C 6D 65 74 65 72 2F 2B 2F 64 61 74 61 01"  # meter/+/data, QoS 1
        " 00 0E 6D 65 74 65 72 2F 2B 2F 73 74 61 74 75 73 01"  # meter/+/status, QoS 1
        " 00 13 6D 65 74 65 72 2F 2B 2F 63 6F 6E 74 72 6F 6C 2F 61 63 6B 01"  # .../control/ack
    )
    assert subscribe_packet(1, filters) == expected
    assert subscribe_packet(1, iter(filters)) == expected  # any iterable


def test_subscribe_long_body_has_a_multi_byte_remaining_length() -> None:
    filters = [(f"meter/{i:04d}/data", i % 2) for i in range(10)]  # 10 x (2 + 15 + 1)
    packet = subscribe_packet(0xBEEF, filters)
    body = h("BE EF") + b"".join(
        len(topic).to_bytes(2, "big") + topic.encode() + bytes((qos,)) for topic, qos in filters
    )
    assert len(body) == 182
    assert packet == h("82 B6 01") + body


def test_puback_bytes() -> None:
    assert puback_packets([1, 0x1234, 65_535]) == h("40 02 00 01 40 02 12 34 40 02 FF FF")
    assert puback_packets(iter([7, 7])) == h("40 02 00 07 40 02 00 07")  # order and repeats kept
    assert puback_packets([]) == b""


# -- remaining length at the spec's boundaries ---------------------------------------------


@pytest.mark.parametrize(("length", "spec_bytes"), SPEC_LENGTHS)
def test_encoder_here_matches_spec_table(length: int, spec_bytes: str) -> None:
    assert encode_length(length) == h(spec_bytes)


@pytest.mark.parametrize(
    ("length", "spec_bytes", "kind"),
    [
        (length, spec_bytes, kind)
        for length, spec_bytes in SPEC_LENGTHS[:-1]  # the last would need a 256 MB packet
        for kind in ["qos0", "qos1", "control"]
        if length or kind == "control"
    ],  # no PUBLISH is that short
)
def test_reads_remaining_length_boundaries(length: int, spec_bytes: str, kind: str) -> None:
    expected_publish: Publish | None = None
    expected_control: Control | None = None
    if kind == "control":
        body = random_bytes(length, length)
        packet = control_bytes(SUBACK, body)
        expected_control = Control(SUBACK, body)
    else:
        qos = int(kind[-1])
        overhead = 2 + len(TOPIC) + 2 * qos
        payload = random_bytes(length - overhead, length)
        packet = publish_bytes(TOPIC, payload, qos, 0xA55A if qos else 0)
        expected_publish = (TOPIC, payload, qos, 0xA55A if qos else 0)
    header = 1 + len(h(spec_bytes))
    assert packet[1:header] == h(spec_bytes)
    assert len(packet) == header + length

    want = (
        [expected_publish] if expected_publish else [],
        [expected_control] if expected_control else [],
    )
    assert read_all(packet) == want
    # Cut after every byte of the fixed header, and one byte short of the end.
    for cut in [*range(1, header + 1), len(packet) - 1]:
        reader, publishes, controls = PacketReader(SPEC_MAX), list[Publish](), list[Control]()
        reader.feed(packet[:cut], publishes, controls)
        if cut < len(packet):
            assert (publishes, controls) == ([], []), cut
        reader.feed(packet[cut:], publishes, controls)
        assert (publishes, controls) == want, cut


def test_largest_remaining_length_waits_for_its_body() -> None:
    """With the size limit at the protocol's own, the longest length waits for its body."""
    reader, publishes, controls = PacketReader(SPEC_MAX), list[Publish](), list[Control]()
    reader.feed(h("30 FF FF FF 7F 00 01 74"), publishes, controls)
    reader.feed(b"x" * 1000, publishes, controls)
    assert (publishes, controls) == ([], [])


def test_cut_inside_a_multi_byte_remaining_length() -> None:
    first = publish_bytes(b"a/b", b"p" * 200, 1, 9)  # 2 + 3 + 2 + 200 = 207: 32 CF 01 ...
    second = control_bytes(PINGRESP, b"")
    assert first[:3] == h("32 CF 01")
    stream = first + second
    assert read_all(stream[:2], stream[2:]) == (
        [(b"a/b", b"p" * 200, 1, 9)],
        [Control(PINGRESP, b"")],
    )


def test_byte_by_byte() -> None:
    packets = [
        control_bytes(CONNACK, h("00 00")),
        control_bytes(SUBACK, h("00 01 01 01 80")),
        publish_bytes(b"meter/1/data", b"{}", 1, 1),
        publish_bytes(b"meter/1/status", b"", 0),
        publish_bytes(b"meter/1/data", b"z" * 300, 1, 65_535, dup=True, retain=True),
        control_bytes(PINGRESP, b""),
    ]
    stream = b"".join(packets)
    assert read_all(*(stream[i : i + 1] for i in range(len(stream)))) == (
        [
            (b"meter/1/data", b"{}", 1, 1),
            (b"meter/1/status", b"", 0, 0),
            (b"meter/1/data", b"z" * 300, 1, 65_535),
        ],
        [
            Control(CONNACK, h("00 00")),
            Control(SUBACK, h("00 01 01 01 80")),
            Control(PINGRESP, b""),
        ],
    )


# -- any stream, cut anywhere ------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """A packet's bytes and what the reader should make of it."""

    data: bytes
    decoded: Publish | Control
    length_bytes: int  # how many bytes its remaining length takes


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Empty, short, or sized to straddle the one/two and two/three byte length limits."""
    size = draw(
        st.one_of(
            st.just(0),
            st.integers(0, 40),
            st.integers(100, 140),
            st.integers(16_340, 16_400),
        )
    )
    return random_bytes(size, draw(st.integers(0, 2**32)))


@st.composite
def wires(draw: st.DrawFn) -> Wire:
    kind = draw(st.sampled_from(["publish", "publish", "publish", "suback", "pingresp", "connack"]))
    if kind == "publish":
        topic = draw(st.text(max_size=12)).encode()
        payload = draw(payloads())
        qos = draw(st.integers(0, 1))
        packet_id = draw(st.integers(1, 65_535)) if qos else 0
        dup = qos == 1 and draw(st.booleans())
        data = publish_bytes(topic, payload, qos, packet_id, dup, draw(st.booleans()))
        decoded: Publish | Control = (topic, payload, qos, packet_id)
    else:
        if kind == "suback":
            body = draw(st.integers(1, 65_535)).to_bytes(2, "big") + bytes(
                draw(st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=200))
            )
            code = SUBACK
        elif kind == "connack":
            body, code = bytes((draw(st.integers(0, 1)), draw(st.integers(0, 5)))), CONNACK
        else:
            body, code = b"", PINGRESP
        data = control_bytes(code, body)
        decoded = Control(code, body)
    return Wire(data, decoded, length_bytes(data))


def split(wanted: list[Publish | Control]) -> tuple[list[Publish], list[Control]]:
    publishes = [item for item in wanted if isinstance(item, tuple)]
    controls = [item for item in wanted if isinstance(item, Control)]
    return publishes, controls


@settings(max_examples=150)
@given(packets=st.lists(wires(), max_size=8), data=st.data())
def test_any_cuts_give_the_same_packets(packets: list[Wire], data: st.DataObject) -> None:
    stream = b"".join(wire.data for wire in packets)
    ends: list[int] = []  # where each packet ends in the stream
    inside_lengths: list[int] = []  # cut points between two bytes of a remaining length
    pos = 0
    for wire in packets:
        inside_lengths += range(pos + 2, pos + 1 + wire.length_bytes)  # between length bytes
        pos += len(wire.data)
        ends.append(pos)

    cuts = set(data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts"))
    if inside_lengths:
        cuts |= set(
            data.draw(
                st.lists(st.sampled_from(inside_lengths), min_size=1, max_size=3),
                label="cuts inside a remaining length",
            )
        )
    bounds = [0, *sorted(cuts), len(stream)]

    whole = read_all(stream)
    assert whole == split([wire.decoded for wire in packets])

    reader, publishes, controls = PacketReader(), list[Publish](), list[Control]()
    for start, stop in pairwise(bounds):
        reader.feed(stream[start:stop], publishes, controls)
        complete = sum(end <= stop for end in ends)  # exactly the packets wholly arrived
        assert (publishes, controls) == split([wire.decoded for wire in packets[:complete]])
    assert (publishes, controls) == whole

    # Nothing kept back: the next packet is read on its own.
    publishes.clear()
    controls.clear()
    reader.feed(control_bytes(PINGRESP, b""), publishes, controls)
    assert (publishes, controls) == ([], [Control(PINGRESP, b"")])


# -- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(h("30 FF FF FF FF 01") + b"\x00" * 16, id="5th length byte"),
        pytest.param(h("D0 80 80 80 80 00"), id="5th length byte, control"),
        pytest.param(h("34 05 00 01 74 00 01"), id="QoS 2"),
        pytest.param(h("36 05 00 01 74 00 01"), id="QoS 3"),
        pytest.param(h("32 06 00 05 74 6F 70 69"), id="QoS 1 shorter than topic"),
        pytest.param(h("32 08 00 05 74 6F 70 69 63 00"), id="QoS 1 without whole packet id"),
        pytest.param(h("32 07 00 05 74 6F 70 69 63"), id="QoS 1 without packet id"),
        pytest.param(h("30 01 00"), id="QoS 0 remaining length 1"),
        pytest.param(h("32 01 00"), id="QoS 1 remaining length 1"),
        pytest.param(h("30 00"), id="QoS 0 remaining length 0"),
        pytest.param(h("30 03 00 05 74"), id="QoS 0 shorter than topic"),
        pytest.param(h("30 04 00 03 74 6F"), id="QoS 0 topic one byte short"),
    ],
)
def test_protocol_errors(stream: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_all(stream)
    with pytest.raises(ProtocolError):  # however it arrives
        read_all(*(stream[i : i + 1] for i in range(len(stream))))


def test_error_after_good_packets_still_raises() -> None:
    good = publish_bytes(b"t", b"ok", 1, 1)
    with pytest.raises(ProtocolError):
        read_all(good + h("34 05 00 01 74 00 01"))


@pytest.mark.parametrize("field", ["client_id", "username", "password"])
def test_connect_rejects_strings_over_65535_bytes(field: str) -> None:
    args = {"client_id": "c", "username": "u", "password": "p"}
    args[field] = "x" * 65_536
    with pytest.raises(ValueError):
        connect_packet(args["client_id"], 30, False, args["username"], args["password"])
    args[field] = "é" * 32_768  # 32,768 characters, 65,536 bytes
    with pytest.raises(ValueError):
        connect_packet(args["client_id"], 30, False, args["username"], args["password"])
    args[field] = "x" * 65_535  # the longest allowed
    assert (
        len(connect_packet(args["client_id"], 30, False, args["username"], args["password"]))
        > 65_535
    )


def test_subscribe_rejects_a_filter_over_65535_bytes() -> None:
    with pytest.raises(ValueError):
        subscribe_packet(1, [("m" * 65_536, 1)])


def test_a_packet_over_the_limit_is_refused_from_its_header() -> None:
    """Only the header has arrived: the reader refuses the packet before buffering it."""
    from meterhub.mqtt_wire import MAX_PACKET_BYTES, PacketReader, PacketTooLarge, packet

    big = packet(0x30, b"\x00\x01t" + b"x" * (MAX_PACKET_BYTES + 1))
    reader = PacketReader()
    publishes: list[Any] = []
    with pytest.raises(PacketTooLarge) as info:
        reader.feed(big[:8], publishes, [])
    assert info.value.size == MAX_PACKET_BYTES + 4 and not publishes
    assert f"{MAX_PACKET_BYTES:,}" in str(info.value)


def test_a_packet_at_the_limit_is_read() -> None:
    from meterhub.mqtt_wire import PacketReader, packet

    body = b"\x00\x01t" + b"x" * 997
    publishes: list[Any] = []
    PacketReader(max_packet=1000).feed(packet(0x30, body), publishes, [])
    assert publishes == [(b"t", b"x" * 997, 0, 0)]
