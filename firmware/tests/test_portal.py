"""Setup portal: microdot on a localhost port, fetched over a real socket."""

import asyncio
import binascii
import json

import app
import board
import config
import portal
from fakes import assert_eq
from pzem_emulator import EmulatedUART, PzemEmulator

PORT = 18741
PW = "letmein99"
AUTH = "admin:" + PW
_saved_reboot = board.reboot
portal.REBOOT_DELAY_S = 0


def teardown():
    board.reboot = _saved_reboot


async def http(method, path, body=None, auth=AUTH):
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    head = "%s %s HTTP/1.0\r\nHost: meter\r\n" % (method, path)
    if auth:
        head += "Authorization: Basic %s\r\n" % binascii.b2a_base64(auth.encode()).decode().strip()
    data = (body or "").encode()
    if body is not None:
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(
            data
        )
    w.write(head.encode() + b"\r\n" + data)
    await w.drain()
    raw = b""
    while True:
        chunk = await r.read(1024)
        if not chunk:
            break
        raw += chunk
    w.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()


async def with_portal(fn):
    reboots = []
    board.reboot = lambda delay_s=0: reboots.append(1)
    if not config.load()["portal_password"]:
        config.update({"portal_password": PW})
    dev = app.Device(config.load(), uart=EmulatedUART(PzemEmulator()))
    dev.mode = "portal"
    srv = portal.make_app(dev)
    task = asyncio.create_task(srv.start_server(host="127.0.0.1", port=PORT))
    await asyncio.sleep(0.1)
    try:
        await fn(dev, reboots)
    finally:
        srv.shutdown()
        await asyncio.sleep(0.1)
        task.cancel()


async def test_pages_open_on_first_boot():
    async def check(dev, reboots):
        code, body = await http("GET", "/")
        assert_eq(code, 200)
        assert "HomeNet" in body and "wifi_ssid" in body, body
        code, body = await http("GET", "/config")
        assert_eq(code, 200)
        assert "mqtt_host" in body
        code, body = await http("GET", "/ip")
        assert_eq(json.loads(body)["ap_ip"], "192.168.4.1")
        code, body = await http("GET", "/status")
        st = json.loads(body)
        assert_eq((code, st["mode"], st["queue"]), (200, "portal", 0))

    await with_portal(check)


async def csrf():
    """The form token, read from a page as a browser would."""
    body = (await http("GET", "/config"))[1]
    return body.split('name=csrf value="', 1)[1].split('"', 1)[0]


async def test_wifi_and_mqtt_setup_saved_then_reboot():
    async def check(dev, reboots):
        t = "csrf=" + await csrf() + "&"
        code, _ = await http("POST", "/", t + "wifi_ssid=Home+Net&wifi_password=p%40ss")
        assert_eq(code, 200)
        code, _ = await http(
            "POST",
            "/config",
            t + "mqtt_host=10.0.0.9&mqtt_port=1884&serial_number=S9"
            "&reading_interval=15&mqtt_password=",
        )
        assert_eq(code, 200)
        cfg = config.load()
        assert_eq((cfg["wifi_ssid"], cfg["wifi_password"]), ("Home Net", "p@ss"))
        assert_eq(
            (cfg["mqtt_host"], cfg["mqtt_port"], cfg["serial_number"]), ("10.0.0.9", 1884, "S9")
        )
        assert_eq(cfg["reading_interval"], 15)
        code, body = await http("POST", "/config", t + "mqtt_port=99999")
        assert_eq(code, 400)
        assert "mqtt_port" in body
        await asyncio.sleep(0.05)
        assert len(reboots) >= 2

    await with_portal(check)


async def test_password_protects_config_pages():
    config.save({"portal_password": "letmein99"})

    async def check(dev, reboots):
        for method, path in (
            ("GET", "/"),
            ("GET", "/config"),
            ("POST", "/reset"),
            ("POST", "/reboot"),
        ):
            code, _ = await http(method, path, "" if method == "POST" else None, auth=None)
            assert_eq(code, 401, path)
        code, _ = await http("GET", "/config", auth="admin:wrong")
        assert_eq(code, 401)
        code, _ = await http("GET", "/config", auth="admin:letmein99")
        assert_eq(code, 200)
        assert_eq((await http("GET", "/status"))[0], 200)  # status stays open
        assert_eq(reboots, [])
        code, _ = await http("POST", "/reset", "")  # password but no form token
        assert_eq(code, 403)
        code, _ = await http("POST", "/reset", "csrf=0123")
        assert_eq(code, 403)
        assert_eq(reboots, [])
        code, _ = await http("POST", "/reset", "csrf=" + await csrf())
        assert_eq(code, 200)
        await asyncio.sleep(0.05)
        assert_eq(config.load(), config.DEFAULTS)  # factory reset
        assert_eq(len(reboots), 1)

    await with_portal(check)


def test_first_boot_generates_the_wpa2_password():
    cfg = config.ensure_portal_password(config.load())
    pw = cfg["portal_password"]
    assert len(pw) >= 8
    assert_eq(config.load()["portal_password"], pw)  # saved: the same after a reboot
    assert_eq(config.ensure_portal_password(cfg)["portal_password"], pw)
    import host_board

    e = None
    try:
        host_board.ap_start("PZEM_Meter_X", "")
    except ValueError as exc:
        e = exc
    assert e is not None  # no open access point


def test_configured_meter_without_wifi_stays_a_station():
    config.save(
        {"wifi_ssid": "home", "mqtt_host": "127.0.0.1", "mqtt_port": 9, "portal_password": PW}
    )
    board.set_wifi(False)
    saved = app.PORTAL_AFTER_OUTAGE_S
    try:
        dev = app.Device(config.load(), uart=EmulatedUART(PzemEmulator()))
        app.PORTAL_AFTER_OUTAGE_S = 3600
        dev.run_station(max_loops=20)
        assert_eq((dev.mode, dev.want_portal), ("station", False))  # retries, no portal
        app.PORTAL_AFTER_OUTAGE_S = 0
        dev.run_station(max_loops=20)
        assert dev.want_portal  # a long outage: main() opens the portal now
    finally:
        app.PORTAL_AFTER_OUTAGE_S = saved
        board.set_wifi(True)


# A CA certificate as meterhub makes it (meterhub.broker.tls), PEM; 385 bytes as DER.
CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfTCCASOgAwIBAgIUNtDMfSehskWqmHFlRwyW9qxWoYowCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQbWV0ZXJodWIgTVFUVCBDQTAeFw0yNjEyMDUwMzE0NDhaFw0z\n"
    "NjEyMDIwMzE5NDhaMBsxGTAXBgNVBAMMEG1ldGVyaHViIE1RVFQgQ0EwWTATBgcq\n"
    "hkjOPQIBBggqhkjOPQMBBwNCAAR2EY2ZEYkdagu+KVrjGeZDQBy8OGKWuGveCYVG\n"
    "gW98ngTW69M/WvpRmzFm4iyp6ZWOPwmt+TUy/PMTKzeVaTflo0UwQzASBgNVHRMB\n"
    "Af8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUW9R+hCtJslas\n"
    "xhsw55et0ISXvr8wCgYIKoZIzj0EAwIDSAAwRQIhANPE7LSMvXFVFfGkzN9825pR\n"
    "5pqt78+I08F3bJkEzNdYAiAB1/tuLzIrCqlpNuWbAfUAkrq7ljydf2aFNnrALGt9\n"
    "uQ==\n"
    "-----END CERTIFICATE-----\n"
)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _form(s):
    out = ""
    for c in s:
        if c.isalpha() or c.isdigit() or c in "-_.":
            out += c
        else:
            out += "%%%02X" % ord(c)
    return out


async def test_tls_and_its_ca_set_in_the_portal():
    async def check(dev, reboots):
        t = "csrf=" + await csrf() + "&"
        code, body = await http("GET", "/config")
        assert 'name=mqtt_tls value="off"' in body and "action=/ca" in body, body
        code, body = await http("POST", "/config", t + "mqtt_tls=on&mqtt_ca=&mqtt_port=8883")
        assert_eq(code, 400)  # TLS without a CA file: nothing to verify the broker with
        assert "mqtt_ca" in body
        code, body = await http("POST", "/ca", t + "ca=" + _form("not a certificate"))
        assert_eq(code, 400)
        assert not config.load()["mqtt_ca"]
        code, _ = await http("POST", "/ca", t + "ca=" + _form(CA_PEM))
        assert_eq(code, 200)
        assert_eq(config.load()["mqtt_ca"], "ca.der")
        der = read_bytes("ca.der")
        assert_eq(len(der), 385)
        assert der[:2] == b"\x30\x82"  # a DER SEQUENCE: what mbedTLS is given
        code, _ = await http("POST", "/config", t + "mqtt_tls=on&mqtt_port=8883")
        assert_eq(code, 200)
        cfg = config.load()
        assert cfg["mqtt_tls"] is True and cfg["mqtt_port"] == 8883
        code, body = await http("GET", "/config")
        assert 'name=mqtt_tls value="on"' in body and 'value="ca.der"' in body

    await with_portal(check)
