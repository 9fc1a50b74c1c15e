"""The embedded broker's process: run amqtt until SIGTERM, SIGINT or parent exit.

Started by ``meterhub.broker.embedded.start_embedded_broker`` as
``python -m meterhub.broker --port N``. It exits with
``EXIT_PORT_IN_USE`` when the port is taken, so the parent can say so.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from meterhub.broker.config import embedded_config, persistence_available

DATABASE_ENV = "METERHUB_BROKER_DATABASE_URL"
EXIT_PORT_IN_USE = 98
EXIT_START_FAILED = 1
#: Seconds between checks that the parent process is still alive.
PARENT_POLL_S = 1.0

log = logging.getLogger("meterhub.broker")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="meterhub embedded MQTT broker (amqtt)")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--password-file", type=Path, default=None)
    parser.add_argument("--persistence", type=Path, default=None)
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--service-password-file",
        type=Path,
        default=None,
        help="enforce meterhub's accounts and ACL (the registry's database URL comes from "
        f"the {DATABASE_ENV} environment variable)",
    )
    parser.add_argument("--enrolment", action="store_true", help="admit enrolling meters")
    parser.add_argument("--tls-port", type=int, default=None)
    parser.add_argument("--tls-cert", type=Path, default=None)
    parser.add_argument("--tls-key", type=Path, default=None)
    return parser.parse_args(argv)


def _is_addr_in_use(exc: BaseException) -> bool:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.errno == errno.EADDRINUSE:
            return True
        current = current.__cause__ or current.__context__
    return False


async def _wait_for_stop(parent_pid: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        if parent_pid and os.getppid() != parent_pid:
            log.warning("parent process %s is gone: stopping the broker", parent_pid)
            return
        try:
            await asyncio.wait_for(stop.wait(), PARENT_POLL_S)
        except TimeoutError:
            continue


async def serve(args: argparse.Namespace) -> int:
    """Run the broker until asked to stop; return the process exit code."""
    from amqtt.broker import Broker  # imported here: amqtt is heavy and only needed here

    if args.persistence is not None and not persistence_available():
        log.warning("broker persistence needs the aiosqlite package: sessions stay in memory")
    guarded = args.service_password_file is not None
    config = embedded_config(
        args.host,
        args.port,
        password_file=args.password_file,
        persistence_path=args.persistence,
        guarded=guarded,
        tls=(args.tls_port, args.tls_cert, args.tls_key) if args.tls_port else None,
    )
    broker = _guarded_broker(config, args) if guarded else Broker(config)
    try:
        await broker.start()
    except Exception as exc:
        if _is_addr_in_use(exc):
            print(f"meterhub broker: port {args.port} is already in use", file=sys.stderr)
            return EXIT_PORT_IN_USE
        print(f"meterhub broker: cannot start: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    log.warning(
        "embedded MQTT broker listening on %s:%s (%s)",
        args.host,
        args.port,
        "meterhub accounts and ACL" if guarded else "OPEN: anyone who reaches it may connect",
    )
    try:
        await _wait_for_stop(args.parent_pid)
    finally:
        await broker.shutdown()
    return 0


def _guarded_broker(config: dict[str, object], args: argparse.Namespace) -> Any:
    from meterhub.broker.guard import GuardedBroker
    from meterhub.broker.registry import Registry, read_service_password

    registry = Registry(
        os.environ[DATABASE_ENV],
        read_service_password(args.service_password_file),
        enrolment=args.enrolment,
    )
    return GuardedBroker(config, registry)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the broker process."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # amqtt logs every connection at INFO; keep its chatter out unless asked.
    if args.log_level.upper() != "DEBUG":
        logging.getLogger("amqtt").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
        # A refused CONNECT is logged once, with its reason, by meterhub.broker.registry.
        logging.getLogger("amqtt.broker").addFilter(
            lambda record: "not authorised" not in record.getMessage()
        )
    return asyncio.run(serve(args))
