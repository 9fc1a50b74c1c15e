"""MQTT protocol v1, pure: topic and bytes in, plain data out (no database, no I/O).

* :mod:`~meterhub.protocol.rules`: the serial rule, measuring ranges and limits, once;
* :mod:`~meterhub.protocol.topics`: ``meter/<id>/...`` topics;
* :mod:`~meterhub.protocol.readings`: readings (fast path and reference path);
* :mod:`~meterhub.protocol.fields`: the reference path's field checks;
* :mod:`~meterhub.protocol.status`: status messages and command acknowledgements;
* :mod:`~meterhub.protocol.rejects`: what bad input becomes (dead letters);
* :mod:`~meterhub.protocol.tasmota`, :mod:`~meterhub.protocol.esphome`: other firmwares'
  energy telemetry as the same readings.

Nothing here imports anything else of meterhub (tests/test_imports.py enforces it).
"""
