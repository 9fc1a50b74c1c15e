"""MQTT broker selection (``MQTT_BROKER_URL``, `url`), probing (`probe`) and the embedded
amqtt broker (`embedded`, `server`). Import the submodules: this package imports nothing,
so that the ingest receiver does not load what it does not use."""
