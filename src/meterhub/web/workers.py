"""`meterhub web --workers N`: the app factory each uvicorn worker process calls.

uvicorn starts every worker as a fresh interpreter (multiprocessing "spawn") and builds
its app from the import string `meterhub.web.workers:worker_app`; settings come from the
environment (and `.env`), which the workers inherit from `meterhub web`.

What holds across workers, and why:
- Every worker runs its own live feed: an MQTT client with a random client id and a plain
  (not `$share`) subscription, so each worker receives every reading and status and serves
  them to the WebSockets it holds.
- Sessions, API tokens and login throttling live in the database, so a session made on
  one worker is valid on all, and failed logins are counted together.
- Per worker by design (they bound this process's memory or connections, not a user's
  total): the cap on concurrent password hashes, one running CSV export per user, the
  WebSocket count per session, and each socket's message rate.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi import FastAPI

from meterhub.broker.credentials import resolve_service_broker
from meterhub.config import load_settings
from meterhub.runtime import logs
from meterhub.web.app import build_context, create_app

WORKER_APP = "meterhub.web.workers:worker_app"
log = logging.getLogger("meterhub")


def worker_app() -> FastAPI:
    """The app of one web worker: the same as `meterhub web` serves in one process."""
    cfg = load_settings()
    logs.setup(cfg.LOG_LEVEL)
    try:
        target, _ = resolve_service_broker(cfg.MQTT_BROKER_URL, cfg.MQTT_PORT, cfg.data_dir)
    except ValueError as exc:  # the parent checked it already; say it again, per worker
        raise SystemExit(f"error: {exc}") from exc
    ctx = build_context(cfg)
    ctx.broker_target = replace(target, ca_file=cfg.MQTT_CA_FILE)
    return create_app(ctx=ctx)
