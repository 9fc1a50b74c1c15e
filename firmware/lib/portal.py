"""Setup portal served with microdot (access point mode, http://192.168.4.1/).

Pages: / (Wi-Fi scan + setup), /config (MQTT, identity, interval, portal
password), /ip, /status, /reset (factory reset, POST), /reboot (POST).
The access point is WPA2 with the portal password (generated on first boot when
there is none); /, /config, /reset and /reboot also need it (HTTP Basic, any
user name); /ip and /status stay open. Every form carries a token made when the
portal starts and every POST must return it: a page elsewhere cannot make the
browser post to the portal with its remembered Basic credentials (CSRF).
"""

import asyncio
import binascii
import gc

from microdot import Microdot

import board
import config
import flashfs

REBOOT_DELAY_S = 1

_HEAD = (
    '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'
    "<title>PZEM meter</title><style>body{font-family:sans-serif;max-width:30em;margin:1em auto}"
    "label{display:block;margin:.4em 0}input{width:100%}</style></head><body>"
    '<p><a href="/">Wi-Fi</a> | <a href="/config">MQTT</a> | <a href="/status">status</a></p>'
)
_TAIL = "</body></html>"
_HTML = {"Content-Type": "text/html; charset=utf-8"}
_FIELDS = (
    ("mqtt_host", "MQTT host"),
    ("mqtt_port", "MQTT port"),
    ("mqtt_user", "MQTT user"),
    ("mqtt_password", "MQTT password"),
    ("mqtt_tls", "MQTT over TLS (on/off)"),
    ("mqtt_ca", "CA file for TLS (name on flash)"),
    ("device_id", "Device id (topic)"),
    ("serial_number", "Serial number"),
    ("reading_interval", "Interval (s)"),
    ("portal_password", "Portal password (8+ chars)"),
)
_SECRET = ("wifi_password", "mqtt_password", "portal_password")


def esc(s):
    return (
        str(s)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def page(parts, status=200):
    """An HTML page streamed piece by piece (`parts`: a string or an iterable of them),
    so the whole page never has to sit in the heap at once."""

    def body():
        gc.collect()  # a page is served seldom; start it on a tidy heap
        yield _HEAD
        if isinstance(parts, str):
            yield parts
        else:
            yield from parts
        yield _TAIL

    return body(), status, _HTML


def authorized(request, password):
    if not password:
        return False  # never open: run_portal makes sure there is one
    h = request.headers.get("Authorization", "")
    if not h.startswith("Basic "):
        return False
    try:
        user_pw = binascii.a2b_base64(h[6:]).decode()
    except (ValueError, UnicodeError):
        return False
    return user_pw.partition(":")[2] == password


def make_app(dev):
    """dev: the running app.Device (config, status(), shutdown())."""
    import os

    app = Microdot()
    token = binascii.hexlify(os.urandom(16)).decode()
    hidden = '<input type=hidden name=csrf value="%s">' % token

    def guard(handler):
        async def wrapped(request):
            if not authorized(request, dev.cfg["portal_password"]):
                return "password required", 401, {"WWW-Authenticate": 'Basic realm="meter"'}
            if request.method == "POST" and (request.form or {}).get("csrf") != token:
                return "form expired: reload the page", 403
            return handler(request)

        return wrapped

    async def reboot_soon():
        await asyncio.sleep(REBOOT_DELAY_S)
        dev.shutdown()
        board.reboot()

    def save(changes):
        try:
            dev.cfg = config.update(changes)
        except ValueError as e:
            return page("<p>Not saved: %s</p>" % esc(e), 400)
        asyncio.create_task(reboot_soon())
        return page("<p>Saved. The meter restarts now.</p>")

    @app.route("/", methods=["GET", "POST"])
    @guard
    def wifi_page(request):
        if request.method == "POST":
            f = request.form or {}
            return save(
                {"wifi_ssid": f.get("wifi_ssid", ""), "wifi_password": f.get("wifi_password", "")}
            )

        def parts():
            yield "<h1>Wi-Fi</h1><ul>"
            try:
                nets = board.scan()
            except OSError:
                nets = None
            if nets is None:
                yield "<li>scan failed</li>"
            else:
                for ssid, rssi, secured in nets:
                    yield "<li>%s (%d dBm%s)</li>" % (
                        esc(ssid),
                        rssi,
                        ", locked" if secured else "",
                    )
            # constant pieces are yielded as they are (in flash when frozen), not joined
            yield "</ul><form method=post action=/>"
            yield hidden
            yield '<label>Network <input name=wifi_ssid value="'
            yield esc(dev.cfg["wifi_ssid"])
            yield (
                '"></label><label>Password <input type=password name=wifi_password>'
                "</label><button>Save</button></form>"
            )

        return page(parts())

    @app.route("/config", methods=["GET", "POST"])
    @guard
    def config_page(request):
        if request.method == "POST":
            f = request.form or {}
            changes = {}
            for key, _ in _FIELDS:
                v = f.get(key)
                if v is None or (key in _SECRET and v == ""):
                    continue  # an empty secret field keeps the stored one
                changes[key] = v
            return save(changes)

        def parts():
            yield "<h1>MQTT and meter</h1><form method=post>"
            yield hidden
            for key, label in _FIELDS:
                kind = "password" if key in _SECRET else "text"
                value = dev.cfg[key]
                if value is True or value is False:
                    value = "on" if value else "off"
                value = "" if key in _SECRET else esc(value)
                yield '<label>%s <input type=%s name=%s value="%s"></label>' % (
                    label,
                    kind,
                    key,
                    value,
                )
            yield "<button>Save</button></form><form method=post action=/ca>"
            yield hidden
            yield (
                "<label>CA certificate for TLS (PEM, e.g. the server's mqtt-tls/ca.crt)"
                " <textarea name=ca rows=6 cols=40></textarea></label>"
                "<button>Save CA</button></form><form method=post action=/reset>"
            )
            yield hidden
            yield "<button>Factory reset</button></form><form method=post action=/reboot>"
            yield hidden
            yield "<button>Reboot</button></form>"

        return page(parts())

    @app.route("/ip")
    def ip_page(request):
        return {"ip": board.sta_ip(), "ap_ip": "192.168.4.1", "mode": dev.mode}

    @app.route("/status")
    def status_page(request):
        return dev.status()

    @app.post("/ca")
    @guard
    def ca_page(request):
        """The pasted CA (PEM) stored as DER in the mqtt_ca file (ca.der when unset)."""
        import mqtt_link

        pem = (request.form or {}).get("ca", "").encode()
        try:
            der = mqtt_link.der(pem)
            if der is pem or len(der) < 64:
                raise ValueError("paste the CA certificate as PEM (BEGIN CERTIFICATE ...)")
        except ValueError as e:
            return page("<p>Not saved: %s</p>" % esc(e), 400)
        name = dev.cfg["mqtt_ca"] or "ca.der"
        flashfs.atomic_write(name, der)
        return save({"mqtt_ca": name})

    @app.post("/reset")
    @guard
    def reset(request):
        config.factory_reset()
        asyncio.create_task(reboot_soon())
        return page("<p>Factory reset done. The meter restarts now.</p>")

    @app.post("/reboot")
    @guard
    def reboot(request):
        asyncio.create_task(reboot_soon())
        return page("<p>Rebooting.</p>")

    return app
