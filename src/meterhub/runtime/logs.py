"""Logging setup: one line per event, with the logger name, to stderr (start-all.sh sends
stderr to data/meterhub.log)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level: str) -> None:
    """Configure the root logger once."""
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger().setLevel(level)
    for noisy in ("amqtt", "transitions", "passlib", "multipart"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
