"""Ingest: the receiver process (MQTT in, acknowledgements after commit), the writer
process (decode, group commit) and the hand-off between them. Entry point:
``python -m meterhub.ingest.main``."""
