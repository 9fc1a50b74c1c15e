"""Signed control messages for meters that hold a command secret.

Wire format (docs/mqtt.md, "Commands"): ``{"m": M, "sig": S}`` where M is the JSON
text of ``{"id", "cmd", "args", "exp", "n"}`` and S the lowercase hex HMAC-SHA256 of
M's UTF-8 bytes keyed by the device's secret (its 64 hex characters used as text).
``exp`` is the Unix second after which the meter refuses the command; ``n`` grows
with every command (the send time in microseconds), and a meter runs a command only
if its n is above every n it ran before. The signature covers M's exact bytes, so
neither side needs a canonical JSON form.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

SECRET_HEX_LEN = 64


def new_secret() -> str:
    """A fresh per-device command secret: 32 random bytes as 64 hex characters."""
    return secrets.token_hex(SECRET_HEX_LEN // 2)


def signature(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, command_id: str, cmd: str, args: dict[str, Any], ttl_s: int) -> bytes:
    """The control payload for a meter holding `secret`, valid for `ttl_s` seconds."""
    now = time.time()
    body = {
        "id": command_id,
        "cmd": cmd,
        "args": args,
        "exp": int(now) + ttl_s,
        "n": time.time_ns() // 1000,
    }
    message = json.dumps(body, separators=(",", ":"))
    return json.dumps(
        {"m": message, "sig": signature(secret, message)}, separators=(",", ":")
    ).encode()


def verify(secret: str, payload: bytes) -> dict[str, Any] | None:
    """The command inside a signed payload if the signature holds (for tests and tools)."""
    outer = json.loads(payload)
    message = outer.get("m") if isinstance(outer, dict) else None
    if not isinstance(message, str) or not hmac.compare_digest(
        signature(secret, message), str(outer.get("sig"))
    ):
        return None
    body: dict[str, Any] = json.loads(message)
    return body
