"""Start and stop meterhub's embedded MQTT broker (amqtt) in its own process.

The broker runs in a child process (``python -m meterhub.broker``)
so its CPU use and failures stay apart from ingest and the web server.
amqtt speaks MQTT 3.1.1 only and treats ``$share/...`` as a plain topic, so
clients must connect with 3.1.1. It serves a home or a small site (up to
about 1,000 meters); beyond that use Mosquitto (deploy/mosquitto/).

Security: `meterhub run` starts it with `access` (a `BrokerAccess`): only accounts of
the device registry and meterhub's service account get in, each confined to its topics
(see `meterhub.broker.guard`). Without `access` (tests, benchmarks, a throw-away
`meterhub simulate`) it admits everyone, so it then binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from meterhub.broker.errors import BrokerStartError, port_in_use_message
from meterhub.broker.probe import mqtt_answers
from meterhub.broker.server import DATABASE_ENV, EXIT_PORT_IN_USE

#: Seconds to wait for the child to answer an MQTT CONNECT.
STARTUP_TIMEOUT_S = 15.0
#: Seconds between readiness probes while starting.
STARTUP_POLL_S = 0.1


@dataclass(frozen=True)
class BrokerAccess:
    """Enforce meterhub's accounts: the registry's database and the service password."""

    database_url: str
    service_password_file: Path
    enrolment: bool = True


@dataclass(frozen=True)
class TlsListener:
    """A second, TLS (mqtts) listener: its port and the server certificate and key."""

    port: int
    cert: Path
    key: Path


class EmbeddedBroker:
    """Handle on a running embedded broker process."""

    def __init__(
        self, process: subprocess.Popen[bytes], host: str, port: int, log_file: IO[bytes]
    ) -> None:
        """Wrap an already started broker process (use ``start_embedded_broker``)."""
        self._process = process
        self._log_file = log_file
        self.host = host
        self.port = port

    @property
    def pid(self) -> int:
        """Process id of the broker."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process.poll() is None

    @property
    def client_host(self) -> str:
        """The host a local client should connect to."""
        return _client_host(self.host)

    def stop(self, timeout: float = 5.0) -> int:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``); return its exit code."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        self._log_file.close()
        return self._process.returncode

    def __enter__(self) -> EmbeddedBroker:
        """Use as a context manager that stops the broker on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()


def start_embedded_broker(
    port: int,
    host: str = "127.0.0.1",
    log_path: Path | None = None,
    *,
    password_file: Path | None = None,
    persistence_path: Path | None = None,
    access: BrokerAccess | None = None,
    tls: TlsListener | None = None,
    log_level: str = "WARNING",
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> EmbeddedBroker:
    """Start amqtt on ``host:port`` in a child process and wait until it answers MQTT.

    Raises BrokerStartError (one line, naming the fix) if the port is taken
    or the broker does not come up within ``startup_timeout`` seconds.
    """
    if _port_taken(host, port):
        raise BrokerStartError(port_in_use_message(port))
    log_file: IO[bytes] = (
        open(log_path, "ab") if log_path is not None else tempfile.TemporaryFile()  # noqa: SIM115
    )
    command = [
        sys.executable,
        "-m",
        "meterhub.broker",
        "--port",
        str(port),
        "--host",
        host,
        "--parent-pid",
        str(os.getpid()),
        "--log-level",
        log_level,
    ]
    if password_file is not None:
        command += ["--password-file", str(password_file)]
    if persistence_path is not None:
        command += ["--persistence", str(persistence_path)]
    if tls is not None:
        if _port_taken(host, tls.port):
            raise BrokerStartError(port_in_use_message(tls.port))
        command += ["--tls-port", str(tls.port), "--tls-cert", str(tls.cert)]
        command += ["--tls-key", str(tls.key)]
    env = dict(os.environ)
    if access is not None:
        # The database URL may hold a password: environment, not `ps` output.
        env[DATABASE_ENV] = access.database_url
        command += ["--service-password-file", str(access.service_password_file)]
        if access.enrolment:
            command.append("--enrolment")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env
    )
    broker = EmbeddedBroker(process, host, port, log_file)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            broker.stop()
            if code == EXIT_PORT_IN_USE:
                raise BrokerStartError(port_in_use_message(port))
            raise BrokerStartError(
                f"the embedded MQTT broker exited with code {code}: "
                f"see {log_path or 'its log (pass log_path)'}, or set MQTT_BROKER_URL "
                f"to an external broker"
            )
        if mqtt_answers(_client_host(host), port):
            return broker
        time.sleep(STARTUP_POLL_S)
    broker.stop()
    raise BrokerStartError(
        f"the embedded MQTT broker did not answer on port {port} within {startup_timeout:g} s: "
        f"check {log_path or 'its log (pass log_path)'}, "
        f"or set MQTT_BROKER_URL to an external broker"
    )


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host


def _port_taken(host: str, port: int) -> bool:
    """True if something already listens on the port (checked on the client address too)."""
    with contextlib.suppress(OSError), socket.create_connection((_client_host(host), port), 0.3):
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
