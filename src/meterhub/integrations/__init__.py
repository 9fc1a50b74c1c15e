"""Integrations with other energy software: Home Assistant MQTT discovery and Emoncms
forwarding. Each runs beside ingest under `meterhub run`, reads committed readings from
the database, and never touches ingest's hot path."""
