"""The one MQTT client library of meterhub outside ingest's hot path: aiomqtt, the asyncio
wrapper of paho-mqtt (paho itself for one-shot publishes, :mod:`meterhub.mqtt_publish`).

Import it from here: paho imports dnspython, when installed (it is, for e-mail
validation), for DNS SRV lookups meterhub never makes; that costs the web process 7 MiB
of its 200 MiB budget (measured: ``import dns.resolver`` adds 7,076 KiB of RSS, paho and
aiomqtt after it 1,684 KiB). The import below hides dnspython from paho only, for the
duration of the import; paho then runs without SRV support, and everything else that
imports dnspython later still gets it.
"""

from __future__ import annotations

import sys

__all__ = ["aiomqtt"]

_hidden = "dns" not in sys.modules
if _hidden:
    sys.modules["dns"] = None  # type: ignore[assignment]  # "import dns..." raises ImportError
try:
    import aiomqtt
    import paho.mqtt.client  # noqa: F401  - paho's import is where dnspython is tried
finally:
    if _hidden:
        del sys.modules["dns"]
