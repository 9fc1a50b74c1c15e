"""The benchmark's own Mosquitto: a free port on 127.0.0.1 and a config that never drops
QoS 1 messages for a lagging subscriber (the Debian default `max_queued_messages 1000`
does) and does not cap messages in flight at 20."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from meterhub.bench.common import MOSQUITTO, free_port, port_answers, stop_process, wait_until

CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
max_inflight_bytes 0
log_dest file {log}
log_type error
log_type warning
"""


@dataclass
class Broker:
    host: str
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def available() -> bool:
    return Path(MOSQUITTO).exists()


@contextlib.contextmanager
def own_mosquitto(workdir: Path) -> Iterator[Broker]:
    """Start Mosquitto on a free port with the benchmark config; stop it on exit."""
    if not available():
        raise RuntimeError(
            f"{MOSQUITTO} not found: install mosquitto (apt-get install mosquitto) to run this case"
        )
    port = free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    log = workdir / f"mosquitto-{port}.log"
    conf.write_text(CONFIG.format(port=port, log=log))
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: proc.poll() is not None or port_answers(port), 10, "mosquitto to listen")
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}; see {log}")
        yield Broker("127.0.0.1", port, proc.pid)
    finally:
        stop_process(proc)
