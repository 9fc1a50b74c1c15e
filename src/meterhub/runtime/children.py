"""The child processes meterhub starts (ingest, its writer): how they are started."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child (a Popen `preexec_fn`): get SIGTERM when the parent dies, even by
    kill -9 (Linux only; elsewhere stop-all.sh signals the whole process group)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def ingest_command(
    broker_url: str,
    database_url: str,
    log_level: str,
    ca_file: str | None = None,
    late_window_days: float | None = None,
    shared_group: str | None = None,
    name: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the slim ingest process (the URLs, which may hold
    passwords, go in the environment, not in `ps` output); `shared_group` and `name` make
    it one of several workers."""
    env = {
        **os.environ,
        "MQTT_BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": log_level,
    }
    if ca_file:
        env["MQTT_CA_FILE"] = ca_file
    if late_window_days is not None:  # settings from .env reach the child this way
        env["METERHUB_LATE_WINDOW_DAYS"] = repr(late_window_days)
    for key, value in (("INGEST_SHARED_GROUP", shared_group), ("INGEST_NAME", name)):
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return [sys.executable, "-m", "meterhub.ingest.main"], env


def alerts_command(
    broker_url: str,
    database_url: str,
    log_level: str,
    smtp_url: str | None = None,
    smtp_from: str | None = None,
    ca_file: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the alerts process (evaluator and notifier)."""
    env = {
        **os.environ,
        "MQTT_BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": log_level,
    }
    optional = (("SMTP_URL", smtp_url), ("SMTP_FROM", smtp_from), ("MQTT_CA_FILE", ca_file))
    env.update({k: v for k, v in optional if v})
    return [sys.executable, "-m", "meterhub.alerts.service"], env
