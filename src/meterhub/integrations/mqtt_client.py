"""A long-lived paho-mqtt client for the integrations, connected like every other
meterhub client: from a `BrokerTarget` (host, port, credentials, TLS)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from meterhub.broker.url import BrokerTarget
from meterhub.mqtt_tls import client_tls_context

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


def make_client(target: BrokerTarget, name: str, will_topic: str | None = None) -> mqtt.Client:
    """A paho client (MQTT 3.1.1, clean session) for `target`, with a retained `offline`
    last will on `will_topic`; call `connect_async` + `loop_start` on it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"meterhub-{name}-{uuid.uuid4().hex[:8]}",
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set_context(client_tls_context(target.ca_file))
    if will_topic is not None:
        client.will_set(will_topic, b"offline", qos=1, retain=True)
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return client
