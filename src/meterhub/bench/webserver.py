"""`python -m meterhub.bench.webserver --port P --broker-port B`: the web app with the live
feed subscribed to the benchmark's broker, served by uvicorn on 127.0.0.1 (DATABASE_URL
and SESSION_SECRET from the environment). Used by the latency and memory cases."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from meterhub.broker.url import BrokerTarget
from meterhub.config import load_settings
from meterhub.db.migrate import upgrade
from meterhub.live.lifespan import start_live, stop_live
from meterhub.live.ws import router as live_router
from meterhub.web.app import build_context, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker-port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    refresh = os.environ.get("METERHUB_BENCH_LIVE_REFRESH_S")
    if refresh:  # diagnosis: how much of the tail latency the access refresher causes
        from meterhub.live import access

        access.REFRESH_INTERVAL_S = float(refresh)
    ctx = build_context(load_settings())
    upgrade(ctx.engine)
    ctx.extras["broker_target"] = BrokerTarget("127.0.0.1", args.broker_port)
    app = create_app(ctx=ctx, start_hooks=[start_live], stop_hooks=[stop_live])
    if not any(getattr(route, "path", None) == "/ws" for route in app.routes):
        app.include_router(live_router)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning",
                ws_ping_interval=20, ws_ping_timeout=20)


if __name__ == "__main__":
    main()
