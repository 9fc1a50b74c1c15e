"""What every benchmark case shares: sizes, the machine and versions, percentiles, child
processes, and the result shape (a table for people, one flat JSON object for scripts)."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from meterhub import __version__

Size = Literal["tiny", "quick", "full"]
MOSQUITTO = "/usr/sbin/mosquitto"
POLL_S = 0.05


@dataclass
class Target:
    """A figure's goal on the reference machine (2 cores)."""

    key: str
    limit: float
    higher_is_better: bool

    def met(self, value: Any) -> bool | None:
        if not isinstance(value, int | float):
            return None
        return value >= self.limit if self.higher_is_better else value <= self.limit

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.limit:g}"


@dataclass
class CaseResult:
    """One case's figures (flat keys), its table and what limits the figures."""

    case: str
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[list[str]] = field(default_factory=list)
    header: list[str] = field(default_factory=lambda: ["measure", "value", "target", "ok"])
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, key: str, value: Any, label: str | None = None, unit: str = "") -> None:
        """Record a figure and its table row (with the target, when there is one)."""
        self.figures[key] = value
        target = next((t for t in self.targets if t.key == key), None)
        verdict = target.met(value) if target else None
        shown = _fmt(value) + (f" {unit}" if unit and value is not None else "")
        self.rows.append(
            [
                label or key,
                shown,
                target.describe() if target else "",
                "" if verdict is None else ("yes" if verdict else "NO"),
            ]
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def as_json(self, size: Size) -> dict[str, Any]:
        return {
            "case": self.case,
            "size": size,
            "machine": machine(),
            "versions": versions(),
            **self.figures,
            "targets": {
                t.key: {"target": t.describe(), "met": t.met(self.figures.get(t.key))}
                for t in self.targets
            },
            "notes": self.notes,
            "case_seconds": round(self.seconds, 1),
        }

    def table(self) -> str:
        rows = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.header))]
        lines = [f"== {self.case} ({self.seconds:.0f} s) =="]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# -- machine and versions ---------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Cores, CPU model, memory: what the figures were measured on."""
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import psutil  # here, not at the top: the `bench` extra brings it (the CLI loads this)

    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": round(psutil.virtual_memory().total / 2**20),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
    }


_VERSIONS: dict[str, str | None] = {}


def versions() -> dict[str, str | None]:
    """python, sqlite, mosquitto, meterhub and the MQTT/web libraries in the path."""
    if not _VERSIONS:
        from importlib.metadata import PackageNotFoundError, version

        _VERSIONS.update(
            {
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "mosquitto": mosquitto_version(),
                "meterhub": __version__,
            }
        )
        for dist in (
            "paho-mqtt",
            "aiomqtt",
            "amqtt",
            "sqlalchemy",
            "uvicorn",
            "websockets",
            "fastapi",
        ):
            try:
                _VERSIONS[dist] = version(dist)
            except PackageNotFoundError:
                _VERSIONS[dist] = None
    return dict(_VERSIONS)


def mosquitto_version() -> str | None:
    if not Path(MOSQUITTO).exists():
        return None
    try:
        out = subprocess.run(
            [MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split()
    return words[2] if len(words) > 2 and words[:2] == ["mosquitto", "version"] else None


# -- numbers ----------------------------------------------------------------------------
def percentile(samples: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest-rank on the sorted samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def timed_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall time of `fn` in ms, `repeats` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def r2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# -- processes and ports ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until truthy; RuntimeError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a meterhub child process (quiet logs, no stray .env)."""
    env = dict(os.environ)
    env.update({"LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@contextlib.contextmanager
def child(
    argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (stdout/stderr to `log_path`), terminated (then killed) on exit."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def meterhub_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "meterhub", *args]


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU seconds so far of a process and (unless `children` is False) its
    live descendants (ingest's writer is a child of its receiver); 0 when it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in tree:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return 0.0


def cache_dir() -> Path:
    """Where generated data sets are kept between runs (METERHUB_BENCH_CACHE overrides)."""
    root = os.environ.get("METERHUB_BENCH_CACHE")
    if root:
        path = Path(root)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meterhub-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path
