"""Sending one notification over one channel: webhook, e-mail, ntfy, MQTT.

Each sender takes the delivery's JSON body (the alert object plus "event") and raises
:class:`SendError` (or an OSError/httpx error, which the notifier treats alike) when the
other side did not take it. Every network call has a timeout, so a dead receiver costs
one attempt's SEND_TIMEOUT_S, never a stuck worker.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from meterhub.alerts.core import MQTT_TOPIC_PREFIX
from meterhub.broker.url import BrokerTarget
from meterhub.mqtt_publish import publish_once

SEND_TIMEOUT_S: float = 10.0
SIGNATURE_HEADER: Final = "X-Meterhub-Signature"
NTFY_PRIORITY: Final = {"critical": "5", "major": "4", "minor": "3", "warning": "3"}


class SendError(Exception):
    """The receiver refused or could not be reached (the message says how)."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A channel as the notifier needs it."""

    id: int
    kind: str
    target: str
    secret: str | None


@dataclass(frozen=True, slots=True)
class Outbound:
    """Where e-mail and MQTT notifications leave from (from the settings)."""

    smtp_url: str | None = None
    smtp_from: str | None = None
    broker: BrokerTarget | None = None


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def subject(body: dict[str, Any]) -> str:
    """A one-line title: "[meterhub] CRITICAL opened: <message>"."""
    return f"[meterhub] {str(body.get('severity', '')).upper()} {body.get('event')}: " + str(
        body.get("message", "")
    )


def send(channel: ChannelConfig, body: dict[str, Any], out: Outbound) -> None:
    """Deliver `body` over `channel`; raises when it was not taken."""
    if channel.kind == "webhook":
        _webhook(channel, body)
    elif channel.kind == "email":
        _email(channel, body, out)
    elif channel.kind == "ntfy":
        _ntfy(channel, body)
    elif channel.kind == "mqtt":
        _mqtt(channel, body, out)
    else:
        raise SendError(f"unknown channel kind {channel.kind!r}")


def _check(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise SendError(f"HTTP {response.status_code} from {response.url.host}")


def _webhook(channel: ChannelConfig, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    headers = {"Content-Type": "application/json", "User-Agent": "meterhub-alerts"}
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, raw)
    _check(httpx.post(channel.target, content=raw, headers=headers, timeout=SEND_TIMEOUT_S))


def _ntfy(channel: ChannelConfig, body: dict[str, Any]) -> None:
    headers = {
        "Title": subject(body)[:200].encode("utf-8").decode("latin-1", "replace"),
        "Priority": NTFY_PRIORITY.get(str(body.get("severity")), "3"),
        "Tags": "warning" if body.get("event") == "opened" else "white_check_mark",
    }
    if channel.secret:
        headers["Authorization"] = f"Bearer {channel.secret}"
    text = str(body.get("message", "")).encode()
    _check(httpx.post(channel.target, content=text, headers=headers, timeout=SEND_TIMEOUT_S))


def _email(channel: ChannelConfig, body: dict[str, Any], out: Outbound) -> None:
    if not out.smtp_url:
        raise SendError("SMTP_URL is not set")
    url = urlsplit(out.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise SendError("SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://...")
    msg = EmailMessage()
    msg["From"] = out.smtp_from or f"meterhub@{url.hostname}"
    msg["To"] = channel.target
    msg["Subject"] = subject(body)[:200]
    lines = [str(body.get("message", "")), ""]
    lines += [f"{key}: {body.get(key)}" for key in ("serial", "metric", "value", "state")]
    lines += [f"opened_at: {body.get('opened_at')}", f"resolved_at: {body.get('resolved_at')}"]
    msg.set_content("\n".join(lines))
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            url.hostname, url.port or 465, timeout=SEND_TIMEOUT_S, context=context
        )
    else:
        client = smtplib.SMTP(url.hostname, url.port or 25, timeout=SEND_TIMEOUT_S)
    with client:
        client.ehlo()
        if url.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(msg)


def _mqtt(channel: ChannelConfig, body: dict[str, Any], out: Outbound) -> None:
    if out.broker is None:
        raise SendError("no MQTT broker configured")
    if not channel.target.startswith(MQTT_TOPIC_PREFIX):
        raise SendError(f"MQTT topic must start with {MQTT_TOPIC_PREFIX}")
    try:
        publish_once(out.broker, channel.target, orjson.dumps(body), qos=1, timeout=SEND_TIMEOUT_S)
    except Exception as exc:  # publish_once raises its own error type; keep it generic
        raise SendError(str(exc)) from exc
