"""MQTT_BROKER_URL parsing and broker selection."""

from __future__ import annotations

import pytest

from meterhub.broker.url import BrokerTarget, parse_broker_url, resolve_broker


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.lan", BrokerTarget("broker.lan", 1883)),
        ("mqtt://10.0.0.5:1884", BrokerTarget("10.0.0.5", 1884)),
        ("mqtts://h.example:8884", BrokerTarget("h.example", 8884, tls=True)),
        ("mqtts://h.example", BrokerTarget("h.example", 8883, tls=True)),
        ("MQTT://user:p%40ss@host:1", BrokerTarget("host", 1, "user", "p@ss")),
        ("mqtt://user@host/", BrokerTarget("host", 1883, "user", None)),
        ("mqtt://user:@host", BrokerTarget("host", 1883, "user", "")),
        ("mqtt://[::1]:1883", BrokerTarget("::1", 1883)),
        ("  mqtt://host:2000  ", BrokerTarget("host", 2000)),
    ],
)
def test_parse_valid(url: str, expected: BrokerTarget) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("host:1883", "no scheme"),
        ("http://host", "scheme 'http'"),
        ("mqtt://", "no host"),
        ("mqtt://host:99999", "invalid port"),
        ("mqtt://host:abc", "invalid port"),
        ("mqtt://host:0", "port 0"),
        ("mqtt://host/topic", "path"),
        ("mqtt://host?x=1", "path or query"),
    ],
)
def test_parse_invalid_names_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="MQTT broker URL") as info:
        parse_broker_url(url)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_display_url_hides_password() -> None:
    target = parse_broker_url("mqtts://meterhub:s3cret@broker:8883")
    assert target.display_url == "mqtts://meterhub:***@broker:8883"
    assert "s3cret" not in target.display_url


def test_resolve_external_url_never_starts_embedded() -> None:
    target, start = resolve_broker("mqtt://u:p@remote:1999", 1883)
    assert target == BrokerTarget("remote", 1999, "u", "p")
    assert start is False


def test_resolve_embedded_uses_mqtt_port() -> None:
    assert resolve_broker("Embedded", 2883) == (BrokerTarget("127.0.0.1", 2883), True)


def test_resolve_auto_falls_back_when_nothing_listens(free_port: int) -> None:
    assert resolve_broker("auto", free_port) == (BrokerTarget("127.0.0.1", free_port), True)


def test_resolve_rejects_bad_port() -> None:
    with pytest.raises(ValueError, match="MQTT_PORT 0"):
        resolve_broker("auto", 0)


def test_target_url_round_trips_credentials() -> None:
    from meterhub.broker.url import target_url

    for target in (
        BrokerTarget("h", 1883, "meterhub", "p@ss/w:rd"),
        BrokerTarget("::1", 8883, "u", None, tls=True),
        BrokerTarget("h", 1),
    ):
        assert parse_broker_url(target_url(target)) == target
