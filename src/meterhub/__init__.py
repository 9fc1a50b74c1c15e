"""meterhub: electricity meter management (PZEM-004T firmware, MQTT ingest, API, dashboard)."""

__version__ = "0.1.0"
