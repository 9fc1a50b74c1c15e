"""MQTT broker selection (``MQTT_BROKER_URL``, `url`), probing (`probe`), the embedded
amqtt broker (`embedded`, `server`) with meterhub's accounts and ACL (`guard`, `registry`,
`acl`, `passwords`, `tls`), meterhub's own account (`credentials`) and the Mosquitto export
(`mosquitto`). Import the submodules: this package imports nothing, so that the ingest
receiver does not load what it does not use."""
