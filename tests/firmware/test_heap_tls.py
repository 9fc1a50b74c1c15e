"""The heap cost of mqtts, measured on the 32-bit build with the firmware frozen in
(ESP8266 object sizes) and mbedTLS allocating on the MicroPython heap (as
MicroPython's mbedTLS ports do), against a real Mosquitto with a TLS listener whose
certificate meterhub's CA signed. Needs the build with TLS (MBEDTLS_SRC, see
meterhub.firmware.frozen); the figures are in docs/firmware.md.

Run with `-s` to see the figures: free heap once connected, plain vs TLS, and the
smallest heap the station loop over TLS works in."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterhub.broker.tls import TlsFiles, default_names, ensure_tls
from meterhub.firmware import heap
from meterhub.firmware.frozen import SRC_ENV, unix32_binary
from meterhub.firmware.paths import FirmwareError
from tests.support import Mosquitto, free_port, require

HEAP = 64 * 1024  # room for both, so the difference is the TLS session's
STATION = heap.Scenario("station-tls", "station loop over TLS", readings=8, interval=1.0)


@pytest.fixture(scope="module")
def unix32_tls() -> Path:
    require(bool(os.environ.get(SRC_ENV)), f"{SRC_ENV} is not set (MicroPython source)")
    try:
        binary = unix32_binary()
    except FirmwareError as exc:
        require(False, f"32-bit MicroPython build failed: {exc}")
        raise
    probe = subprocess.run([str(binary), "-c", "import tls"], capture_output=True, check=False)
    if probe.returncode != 0:
        # Optional by design (CI too): the MicroPython release tarball has no mbedTLS,
        # and its source is an extra input (MBEDTLS_SRC); the figures are in the docs.
        pytest.skip("the 32-bit build has no TLS (set MBEDTLS_SRC to measure mqtts)")
    return binary


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, int, TlsFiles]]:
    tmp = tmp_path_factory.mktemp("heap-tls")
    files = ensure_tls(tmp / "data", default_names())
    mosq = Mosquitto(tmp / "mosq", persistent=False)
    tls_port = free_port()
    with open(mosq.conf, "a") as conf:
        conf.write(
            f"listener {tls_port} 127.0.0.1\n"
            f"certfile {files.server_cert}\nkeyfile {files.server_key}\n"
        )
    mosq.start()
    try:
        yield mosq, tls_port, files
    finally:
        mosq.stop()


def run(binary: Path, heap_size: int, flash: Path, port: int, ca: bytes | None) -> heap.RunResult:
    """The station scenario on `heap_size` bytes, configured for TLS when `ca` is given."""
    flash.mkdir(parents=True)
    cfg: dict[str, object] = {
        "wifi_ssid": "virtual",
        "wifi_password": "virtual",
        "mqtt_host": "localhost",
        "mqtt_port": port,
        "serial_number": "HEAP-TLS",
        "reading_interval": 1,
    }
    if ca is not None:
        (flash / "ca.pem").write_bytes(ca)
        cfg.update(mqtt_tls=True, mqtt_ca="ca.pem")
    (flash / "config.json").write_text(json.dumps(cfg))
    return heap.run(binary, STATION, heap_size, f"localhost:{port}", flash=flash)


def free_after(res: heap.RunResult) -> int:
    assert res.ok, res.output[-1500:]
    line = [x for x in res.output.splitlines() if x.startswith("heap-run: done")][-1]
    return int(line.rsplit("free=", 1)[1])


def test_tls_heap_cost(
    unix32_tls: Path, brokers: tuple[Mosquitto, int, TlsFiles], tmp_path: Path
) -> None:
    mosq, tls_port, files = brokers
    ca = files.ca_cert.read_bytes()
    plain = free_after(run(unix32_tls, HEAP, tmp_path / "plain", mosq.port, None))
    tls = free_after(run(unix32_tls, HEAP, tmp_path / "tls", tls_port, ca))
    cost = plain - tls
    # Smallest heap the TLS station loop works in, to 1 KB.
    lo, hi = 16 * 1024, HEAP
    n = 0
    while hi - lo > 1024:
        mid = (lo + hi) // 2 // 512 * 512
        n += 1
        if run(unix32_tls, mid, tmp_path / f"bisect{n}", tls_port, ca).ok:
            hi = mid
        else:
            lo = mid
    print(
        f"\nheap {HEAP} B: free once connected plain {plain} B, TLS {tls} B, "
        f"TLS costs {cost} B; the TLS station loop works at {hi} B, not at {lo} B "
        f"(plain budget {heap.BUDGET} B)"
    )
    # mbedTLS's record buffers (16 KB in, 4 KB out) are on the measured heap (else the
    # build used libc's calloc and the figures would say nothing)
    assert cost > 10_000
    assert hi > heap.BUDGET  # does not fit what an ESP8266 leaves free: docs say so
