"""HMAC-SHA256 for signed commands (MicroPython has hashlib.sha256 but no hmac).

A signed control message is {"m": "<command JSON text>", "sig": "<hex HMAC-SHA256
of m's bytes, keyed by the device's command_secret>"}; the command inside is
{"id", "cmd", "args", "exp" (Unix seconds), "n" (increasing per device)}. The
signature covers m's exact bytes, so no JSON canonical form is needed.
"""

import binascii
import hashlib

_BLOCK = 64


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of bytes `msg` under bytes `key`; the 32-byte digest."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + b"\0" * (_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def valid(secret, message, sig_hex):
    """True when sig_hex is the HMAC of `message` (text) under `secret` (text).
    Compares every byte, so the time taken does not tell how much matched."""
    if not secret or not isinstance(message, str) or not isinstance(sig_hex, str):
        return False
    want = binascii.hexlify(hmac_sha256(secret.encode(), message.encode()))
    got = sig_hex.encode()
    if len(got) != len(want):
        return False
    diff = 0
    for a, b in zip(want, got):
        diff |= a ^ b
    return diff == 0
