"""MQTT broker selection (``MQTT_BROKER_URL``) and the embedded amqtt broker."""

from meterhub.broker.embedded import EmbeddedBroker, start_embedded_broker
from meterhub.broker.errors import BrokerStartError, port_in_use_message
from meterhub.broker.probe import connack_code, mqtt_answers
from meterhub.broker.url import BrokerTarget, parse_broker_url, resolve_broker

__all__ = [
    "BrokerStartError",
    "BrokerTarget",
    "EmbeddedBroker",
    "connack_code",
    "mqtt_answers",
    "parse_broker_url",
    "port_in_use_message",
    "resolve_broker",
    "start_embedded_broker",
]
