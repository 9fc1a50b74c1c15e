"""The pure rules behind both brokers: topic matching, filters within filters, the
client-id rule, and Mosquitto-compatible password hashes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from meterhub.broker.acl import (
    SERVICE_RULES,
    Identity,
    client_id_allowed,
    device_rules,
    enrol_rules,
    filter_within,
    may_publish,
    may_receive,
    may_subscribe,
    topic_matches,
)
from meterhub.broker.passwords import hash_password, new_password, parse_hash, verify_password


@pytest.mark.parametrize(
    ("pattern", "topic", "match"),
    [
        ("meter/+/data", "meter/A/data", True),
        ("meter/+/data", "meter/A/B/data", False),
        ("meter/#", "meter", True),
        ("meter/#", "meter/A/control/ack", True),
        ("#", "$SYS/broker", False),
        ("meter/A/control", "meter/A/control/ack", False),
    ],
)
def test_topic_matches(pattern: str, topic: str, match: bool) -> None:
    assert topic_matches(pattern, topic) is match


@pytest.mark.parametrize(
    ("requested", "allowed", "within"),
    [
        ("meter/A/control", "meter/A/control", True),
        ("meter/+/control", "meter/A/control", False),
        ("meter/#", "meter/A/control", False),
        ("cmnd/p1/POWER", "cmnd/p1/#", True),
        ("cmnd/p1/#", "cmnd/p1/#", True),
        ("cmnd/#", "cmnd/p1/#", False),
        ("meter/+/data", "meter/#", True),
        ("meter/+/data", "meter/+/+", True),
        ("meter/A/#", "meter/+/data", False),
    ],
)
def test_filter_within(requested: str, allowed: str, within: bool) -> None:
    assert filter_within(requested, allowed) is within


def test_device_rules_by_protocol() -> None:
    v1 = device_rules("A")
    assert may_publish(v1, "meter/A/data") and may_publish(v1, "meter/A/control/ack")
    assert not may_publish(v1, "meter/A/control") and not may_publish(v1, "meter/B/data")
    assert may_receive(v1, "meter/A/control") and not may_receive(v1, "meter/A/data")
    tasmota = device_rules("plug", "tasmota")
    assert may_publish(tasmota, "tele/plug/SENSOR") and may_publish(tasmota, "stat/plug/RESULT")
    assert not may_publish(tasmota, "cmnd/plug/POWER")
    assert may_subscribe(tasmota, "cmnd/plug/#") and not may_subscribe(tasmota, "cmnd/#")
    esphome = device_rules("kitchen", "esphome")
    assert may_publish(esphome, "kitchen/sensor/power/state")
    assert not may_publish(esphome, "garage/sensor/power/state")
    assert may_subscribe(SERVICE_RULES, "$share/g/meter/+/data")
    assert not may_subscribe(v1, "$share/g/meter/A/control/extra")
    assert not may_publish(enrol_rules("S1"), "meter/S1/data")


def test_client_id_rule() -> None:
    service = Identity("service", "meterhub", SERVICE_RULES)
    device = Identity("device", "PZEM-1", device_rules("PZEM-1"))
    enrol = Identity("enrol", "enrol")
    assert client_id_allowed(service, "meterhub-ingest")
    assert not client_id_allowed(service, "meter-PZEM-1")
    assert client_id_allowed(device, "meter-PZEM-1") and client_id_allowed(device, "PZEM-1")
    for taken in ("meterhub-ingest", "meter-PZEM-2", "meter-PZEM-1x", "enrol-PZEM-1", ""):
        assert not client_id_allowed(device, taken)
    assert client_id_allowed(enrol, "enrol-NEW-1")
    assert not client_id_allowed(enrol, "enrol-") and not client_id_allowed(enrol, "meterhub-x")


def test_password_hash_is_mosquittos_pbkdf2_sha512() -> None:
    password = new_password()
    assert len(base64.urlsafe_b64decode(password + "==")) * 8 >= 128
    stored = hash_password(password)
    iterations, salt, digest = parse_hash(stored)
    assert stored.startswith(f"$7${iterations}$")
    assert digest == hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)
    assert not verify_password(password, None) and not verify_password(password, "$6$x")
    assert hash_password(password) != stored  # a fresh salt each time
