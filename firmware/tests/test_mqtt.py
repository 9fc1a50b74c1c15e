"""MQTT link over umqtt.simple with a fake socket: exact bytes on the wire."""

import umqtt.simple

import mqtt_link
from fakes import FakeSocket, FakeSocketModule, assert_eq, assert_raises
from mqtt_helpers import CONNACK, puback, publish, s, suback

_real_socket = umqtt.simple.socket


def teardown():
    umqtt.simple.socket = _real_socket


def make_link(*socks):
    umqtt.simple.socket = FakeSocketModule(*socks)
    return mqtt_link.Link("S1", "broker.local", 1883, client_id="meter-S1")


def test_connect_sends_last_will_and_subscribes():
    sock = FakeSocket(CONNACK + suback(1))
    link = make_link(sock)
    link.connect()
    connect = (
        b"\x10\x2e\x00\x04MQTT\x04"
        b"\x2e"  # clean session, will flag, will QoS 1, will retain
        b"\x00\x3c" + s("meter-S1") + s("meter/S1/status") + s("offline")  # keepalive 60 s
    )
    subscribe = b"\x82\x15\x00\x01" + s("meter/S1/control") + b"\x01"
    assert_eq(sock.sent(), connect + subscribe)
    assert link.up


def test_user_password_flags():
    sock = FakeSocket(CONNACK + suback(1))
    umqtt.simple.socket = FakeSocketModule(sock)
    link = mqtt_link.Link("S1", "h", 1883, "u", "pw", client_id="c")
    link.connect()
    assert_eq(sock.sent()[9], 0xEE)  # + user and password flags
    assert sock.sent().endswith(
        s("u") + s("pw") + b"\x82\x15\x00\x01" + s("meter/S1/control") + b"\x01"
    )


def test_qos1_publish_waits_for_puback():
    sock = FakeSocket(CONNACK + suback(1) + puback(2) + puback(3))
    link = make_link(sock)
    link.connect()
    start = len(sock.sent())
    link.publish_data('{"seq":1}')
    link.publish_status('{"state":"online"}')
    assert_eq(
        sock.sent()[start:],
        publish("meter/S1/data", '{"seq":1}', pid=2)
        + publish("meter/S1/status", '{"state":"online"}', pid=3, retain=True),
    )


def test_missing_puback_is_oserror_and_backoff_grows():
    mqtt_link.BACKOFF_MIN_S = 1
    sock = FakeSocket(CONNACK + suback(1))
    link = make_link(sock)
    link.connect()
    assert_raises(OSError, link.publish_data, "x")
    assert not link.up
    assert sock.closed
    assert not link.due()  # waits for the back-off
    assert_eq(link.backoff, 2)


def test_broker_down_is_oserror():
    link = make_link()  # no socket: connection refused
    assert_raises(OSError, link.connect)
    assert not link.up


def test_control_messages_reach_inbox_and_are_acked():
    cmd = '{"id":"abc","cmd":"identify","args":{}}'
    sock = FakeSocket(CONNACK + suback(1))
    link = make_link(sock)
    link.connect()
    start = len(sock.sent())
    sock.feed(publish("meter/S1/control", cmd, pid=7))
    link.poll()
    assert_eq(link.inbox, [cmd.encode()])
    assert_eq(sock.sent()[start:], puback(7))  # umqtt acknowledges QoS 1 deliveries


def test_peer_close_is_oserror():
    sock = FakeSocket(CONNACK + suback(1))
    link = make_link(sock)
    link.connect()
    sock.closed = True
    assert_raises(OSError, link.poll)
    assert not link.up


def test_tls_without_its_ca_file_sends_nothing_and_backs_off():
    mqtt_link.BACKOFF_MIN_S = 1
    sock = FakeSocket(CONNACK + suback(1))
    umqtt.simple.socket = FakeSocketModule(sock)
    link = mqtt_link.Link("S1", "broker.local", 8883, client_id="c", tls_ca="missing.pem")
    e = assert_raises(OSError, link.connect)
    assert "cannot read mqtt_ca missing.pem" in str(e), e
    assert_eq(sock.sent(), b"")  # no plain CONNECT instead: never a downgrade
    assert not link.up and not link.due()
    assert_eq(link.backoff, 2)


class _AxtlsLike:
    """The ESP8266's tls module (extmod/modtls_axtls.c): verify_mode reads CERT_NONE
    whatever was set, and there is no load_verify_locations."""

    CERT_NONE = 0
    CERT_REQUIRED = 2
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            pass

        def __setattr__(self, name, value):
            pass  # ignored, as axTLS does

        verify_mode = 0

        def wrap_socket(self, sock, server_hostname=None):
            raise AssertionError("an unverified TLS session must never be made")


def test_a_port_that_cannot_verify_is_refused():
    import sys

    with open("ca.der", "wb") as f:
        f.write(b"\x30\x03\x02\x01\x00")
    sock = FakeSocket(CONNACK + suback(1))
    umqtt.simple.socket = FakeSocketModule(sock)
    saved = sys.modules.get("tls")
    sys.modules["tls"] = _AxtlsLike
    try:
        link = mqtt_link.Link("S1", "h", 8883, client_id="c", tls_ca="ca.der")
        e = assert_raises(OSError, link.connect)
    finally:
        if saved is None:
            sys.modules.pop("tls")
        else:
            sys.modules["tls"] = saved
    assert "cannot verify certificates" in str(e), e
    assert_eq(sock.sent(), b"")


def test_pem_is_turned_into_der():
    pem = b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n"
    assert_eq(mqtt_link.der(pem), b"\x30\x03\x02\x01\x00")
    assert_eq(mqtt_link.der(b"\x30\x03\x02\x01\x00"), b"\x30\x03\x02\x01\x00")
    assert_raises(ValueError, mqtt_link.der, b"-----BEGIN CERTIFICATE-----\nMAMC")
