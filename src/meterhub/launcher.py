"""`meterhub run` and `meterhub web`: start the parts in one process group and stop them
together on SIGTERM/Ctrl-C."""

from __future__ import annotations

import logging

import uvicorn

from meterhub import logs
from meterhub.cli.common import database
from meterhub.config import Settings
from meterhub.services import users
from meterhub.web.app import create_app

log = logging.getLogger("meterhub")


def serve(cfg: Settings, *, host: str | None, port: int | None, ingest: bool, broker: bool,
          demo: int) -> None:
    """Migrate, make sure an admin exists, then serve until stopped."""
    logs.setup(cfg.LOG_LEVEL)
    with database(cfg) as db:
        if users.ensure_default_admin(db):
            log.warning("created the default admin: admin / admin123 (change it at first login)")
    app = create_app(cfg)
    host = host or cfg.HOST
    port = port or cfg.PORT
    log.info("meterhub web on http://%s:%d", host, port)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", ws_ping_interval=20, ws_ping_timeout=20)
