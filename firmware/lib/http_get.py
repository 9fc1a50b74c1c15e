"""Minimal HTTP/1.0 GET that streams the body in chunks (OTA downloads on a small heap).

Only plain http:// (OTA files are checked by sha256 from the manifest, whose
URL carries a short-lived token). Faults are OSError.
"""

import socket

TIMEOUT_S = 15
CHUNK = 512


def split_url(url):
    if not url.startswith("http://"):
        raise ValueError("only http:// URLs are supported: " + url)
    rest = url[7:]
    host, _, path = rest.partition("/")
    host, _, port = host.partition(":")
    return host, int(port or 80), "/" + path


def get(url, sink, headers=None):
    """GET url and call sink(chunk) for each body chunk; returns the byte count."""
    host, port, path = split_url(url)
    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket()
    try:
        s.settimeout(TIMEOUT_S)
        s.connect(addr)
        req = "GET %s HTTP/1.0\r\nHost: %s\r\n" % (path, host)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        s.write((req + "\r\n").encode())
        status = s.readline()
        parts = status.split(None, 2)
        if len(parts) < 2 or parts[1] != b"200":
            raise OSError("HTTP %s for %s" % (status.strip().decode(), path))
        while True:  # skip headers
            line = s.readline()
            if not line or line == b"\r\n":
                break
        total = 0
        while True:
            chunk = s.read(CHUNK)
            if not chunk:
                return total
            total += len(chunk)
            sink(chunk)
    finally:
        s.close()
