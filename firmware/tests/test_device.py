"""The meter loop with the emulator and a fake broker socket: queueing, flushing, commands."""

import binascii
import json

import umqtt.simple

import app
import board
import clock
import commands
import config
import host_board
import mqtt_link
import pzem
import signing
from fakes import BrokerSocket, FakeSocketModule, assert_eq, assert_raises
from mqtt_helpers import publish
from pzem_emulator import EmulatedUART, Household, PzemEmulator

_saved = (
    umqtt.simple.socket,
    board.reboot,
    board.ntp_sync,
    app.LOOP_MS,
    app.READ_INTERVAL_MS,
    app.NTP_BUDGET_MS,
)
app.LOOP_MS = 1
app.NTP_BUDGET_MS = 0  # the fake NTP answers at once
pzem.TIMEOUT_MS = 20


def teardown():
    (
        umqtt.simple.socket,
        board.reboot,
        board.ntp_sync,
        app.LOOP_MS,
        app.READ_INTERVAL_MS,
        app.NTP_BUDGET_MS,
    ) = _saved
    app.LOOP_MS = 1
    app.NTP_BUDGET_MS = 0
    board.set_wifi(True)


def make_device(*socks, interval_ms=30):
    app.READ_INTERVAL_MS = interval_ms
    mqtt_link.BACKOFF_MIN_S = 0
    umqtt.simple.socket = FakeSocketModule(*socks)
    cfg = config.save(
        {
            "wifi_ssid": "home",
            "mqtt_host": "broker",
            "serial_number": "S1",
            "command_secret": SECRET,
        }
    )
    board.sta_start("home", "")
    emu = PzemEmulator(1, Household(seed=5))
    return app.Device(cfg, uart=EmulatedUART(emu)), emu


def published(sock, topic):
    """Payloads published on topic, parsed from the raw bytes the device sent."""
    data, out, i = sock.sent(), [], 0
    while i < len(data):
        op = data[i]
        n, shift, j = 0, 0, i + 1
        while True:
            b = data[j]
            n |= (b & 0x7F) << shift
            shift += 7
            j += 1
            if not b & 0x80:
                break
        body = data[j : j + n]
        if op & 0xF0 == 0x30:
            tl = body[0] << 8 | body[1]
            t = body[2 : 2 + tl].decode()
            payload = body[2 + tl + (2 if op & 6 else 0) :]
            if t == topic:
                out.append(payload)
        i = j + n
    return out


def test_broker_down_then_up_flushes_in_order():
    dev, _ = make_device()  # no sockets yet: connection refused
    app.LOOP_MS = 5
    dev.run_station(max_loops=150)
    queued = len(dev.store)
    assert queued >= 25, queued
    sock = BrokerSocket()
    umqtt.simple.socket.socks.append(sock)
    dev.link.next_try = 0
    dev.link.backoff = 0
    dev.interval_ms = 2000  # time enough before the next reading to send the backlog
    dev.run_station(max_loops=30)
    seqs = []
    for p in published(sock, "meter/S1/data"):
        msg = json.loads(p)
        if "readings" in msg:
            assert_eq(msg["serial_number"], "S1")
            seqs += [r["seq"] for r in msg["readings"]]
            assert all("timestamp" in r for r in msg["readings"])
        else:
            seqs.append(msg["seq"])
    assert_eq(seqs, list(range(1, len(seqs) + 1)), queued)
    assert len(seqs) >= queued
    assert_eq(len(dev.store), 0)
    status = json.loads(published(sock, "meter/S1/status")[0])
    assert_eq(status["state"], "online")
    for key in (
        "firmware_version",
        "ip_address",
        "rssi",
        "uptime_s",
        "free_mem",
        "queue",
        "thinned",
    ):
        assert key in status, key


def test_readings_before_ntp_are_held_then_stamped_with_measurement_time():
    fails = [1000]  # NTP fails until the second run below

    def ntp(host):
        if fails[0]:
            fails[0] -= 1
            raise OSError("no ntp")

    board.ntp_sync = ntp
    clock.RETRY_S = 0
    sock = BrokerSocket()
    dev, _ = make_device(sock)
    app.LOOP_MS = 15
    dev.run_station(max_loops=6)
    assert not dev.clock.synced
    assert_eq(published(sock, "meter/S1/data"), [])  # held, not sent without a time
    assert len(dev.store) >= 2
    fails[0] = 1  # one more failure, then NTP answers
    dev.interval_ms = 2000  # time enough before the next reading to send the backlog
    dev.run_station(max_loops=8)
    assert dev.clock.synced
    readings = []
    for p in published(sock, "meter/S1/data"):
        msg = json.loads(p)
        readings += msg.get("readings", [msg])
    assert_eq([r["seq"] for r in readings][:3], [1, 2, 3])
    assert all(r["timestamp"].endswith("Z") for r in readings)
    assert not any("mono" in r for r in readings)


SECRET = "0123456789abcdef" * 4
_n = [0]


def signed(cid, cmd, args, exp=None, n=None, secret=SECRET):
    """A control message as the server signs it (see signing.py)."""
    if n is None:
        _n[0] += 1
        n = 1000 + _n[0]
    m = json.dumps(
        {
            "id": cid,
            "cmd": cmd,
            "args": args,
            "n": n,
            "exp": commands.unix_now() + 60 if exp is None else exp,
        }
    )
    sig = binascii.hexlify(signing.hmac_sha256(secret.encode(), m.encode())).decode()
    return json.dumps({"m": m, "sig": sig})


def deliver(sock, dev, message, pid=9, retain=False):
    """Hand a control message to the device; its ack, or None when it did not answer."""
    before = len(published(sock, "meter/S1/control/ack"))
    sock.feed(publish("meter/S1/control", message, pid, retain))
    dev.link.poll()
    dev.handle_commands()
    acks = published(sock, "meter/S1/control/ack")
    return json.loads(acks[-1]) if len(acks) > before else None


def command(sock, dev, cid, cmd, args, pid=9):
    return deliver(sock, dev, signed(cid, cmd, args), pid)


def connected_device():
    sock = BrokerSocket()
    dev, emu = make_device(sock, interval_ms=60000)
    dev.run_station(max_loops=1)
    assert dev.link.up
    return sock, dev, emu


def test_commands_are_acked():
    sock, dev, emu = connected_device()
    assert_eq(
        command(sock, dev, "c1", "set_interval", {"seconds": 30}),
        {"id": "c1", "ok": True, "error": None},
    )
    assert_eq(dev.interval_ms, 30000)
    assert_eq(config.load()["reading_interval"], 30)
    assert_eq(command(sock, dev, "c2", "set_alarm_threshold", {"watts": 1500})["ok"], True)
    assert_eq(emu.alarm_threshold, 1500)
    assert_eq(command(sock, dev, "c3", "reset_energy", {})["ok"], True)
    assert dev.meter.read()["energy_wh"] < 5
    assert_eq(command(sock, dev, "c4", "identify", {"count": 2})["ok"], True)
    bad = command(sock, dev, "c5", "self_destruct", {})
    assert_eq((bad["id"], bad["ok"]), ("c5", False))
    assert "unknown command" in bad["error"]
    bad = command(sock, dev, "c6", "set_interval", {"seconds": 0})
    assert_eq(bad["ok"], False)
    assert_eq(dev.interval_ms, 30000)


def test_unsigned_or_wrongly_signed_commands_do_nothing():
    sock, dev, _ = connected_device()
    reboots = []
    board.reboot = lambda delay_s=0: reboots.append(delay_s)
    plain = json.dumps({"id": "u1", "cmd": "reboot", "args": {}})
    assert_eq(deliver(sock, dev, plain), None)
    assert_eq(deliver(sock, dev, signed("u2", "reboot", {}, secret="f" * 64)), None)
    forged = json.loads(signed("u3", "set_interval", {"seconds": 30}))
    forged["m"] = forged["m"].replace("30", "31")  # tampered after signing
    assert_eq(deliver(sock, dev, json.dumps(forged)), None)
    assert_eq(deliver(sock, dev, signed("u4", "identify", {"pad": "x" * 1000})), None)  # too long
    assert_eq(reboots, [])
    assert_eq(dev.interval_ms, 60000)
    config.update({"command_secret": ""})  # a meter without a secret refuses everything
    dev.cfg = config.load()
    assert_eq(deliver(sock, dev, signed("u5", "reboot", {}, secret="")), None)
    assert_eq(reboots, [])


def test_replayed_retained_and_expired_commands_do_nothing():
    sock, dev, _ = connected_device()
    reboots = []
    board.reboot = lambda delay_s=0: reboots.append(delay_s)
    msg = signed("c1", "set_interval", {"seconds": 30})
    assert_eq(deliver(sock, dev, msg)["ok"], True)
    config.update({"reading_interval": 10})
    assert_eq(deliver(sock, dev, msg, pid=11), None)  # the same message again
    assert_eq(config.load()["reading_interval"], 10)
    old_reboot = signed("r0", "reboot", {}, n=5)  # an older n
    assert_eq(deliver(sock, dev, old_reboot, pid=12), None)
    retained = signed("r2", "reboot", {})  # valid and fresh, but retained on the broker
    assert_eq(deliver(sock, dev, retained, pid=13, retain=True), None)
    assert_eq(deliver(sock, dev, signed("c2", "identify", {"count": 1}), pid=14)["ok"], True)
    expired = deliver(sock, dev, signed("r1", "reboot", {}, exp=commands.unix_now() - 1))
    assert_eq((expired["ok"], expired["error"]), (False, "command expired"))
    assert_eq(reboots, [])
    assert dev.running


def test_argument_clamps():
    sock, dev, _ = connected_device()
    blinks = host_board._state["blinks"]
    assert_eq(command(sock, dev, "c3", "identify", {"count": 100000})["ok"], True)
    assert_eq(host_board._state["blinks"] - blinks, 20)  # clamped
    bad = command(sock, dev, "c4", "identify", {"count": "many"})
    assert_eq(bad["ok"], False)


def test_hmac_matches_rfc4231():
    got = binascii.hexlify(signing.hmac_sha256(b"Jefe", b"what do ya want for nothing?"))
    assert_eq(got, b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert signing.valid("k", "m", binascii.hexlify(signing.hmac_sha256(b"k", b"m")).decode())
    assert not signing.valid("k", "m", "00" * 32)


def test_ota_only_from_the_configured_server():
    sock, dev, _ = connected_device()
    e = assert_raises(
        ValueError, dev.ota_install, "http://evil.example/fw/manifest.json", None, "ab" * 32
    )
    assert "only from broker" in str(e), e
    ack = command(
        sock, dev, "o1", "ota", {"url": "http://evil.example/m.json", "sha256": "ab" * 32}
    )
    assert_eq(ack["ok"], False)


def test_reboot_command_acks_first_then_goes_offline():
    sock, dev, _ = connected_device()
    reboots = []
    board.reboot = lambda delay_s=0: reboots.append(delay_s)
    ack = command(sock, dev, "r1", "reboot", {})
    assert_eq(ack, {"id": "r1", "ok": True, "error": None})
    assert_eq(len(reboots), 1)
    assert_eq(published(sock, "meter/S1/status")[-1], b"offline")
    assert not dev.running


def test_silent_meter_publishes_nothing_and_counts():
    sock, dev, emu = connected_device()
    emu.address = 9  # nobody answers address 1 now
    before = len(published(sock, "meter/S1/data"))
    dev.record(dev.take_reading())
    assert_eq(len(published(sock, "meter/S1/data")), before)
    assert_eq(dev.missed, 1)
    assert_eq(len(dev.store), 0)
