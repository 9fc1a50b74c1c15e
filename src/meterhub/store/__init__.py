"""The write side of ingest: one batch, one transaction (see :mod:`meterhub.store.write`).

One module per concern, in the style of table managers: ``devices``, ``readings``,
``rollups``, ``presence``, ``deadletters``, ``commands``, ``counters``; ``tables`` holds
the Core table handles, ``batch`` what a transaction is given and what it did.
"""

from meterhub.store.batch import Batch, WriteResult
from meterhub.store.write import TelemetryStore

__all__ = ["Batch", "TelemetryStore", "WriteResult"]
