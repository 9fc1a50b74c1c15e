"""The meter: read the PZEM every interval, publish over MQTT, queue on flash when offline.

Modes: station (normal) or, with no usable Wi-Fi, the setup access point with
the portal (which keeps recording readings to the queue meanwhile).
"""

import gc
import json
import time

import board
import clock
import config
import flashfs
import pzem
import seqno
import store
import wifi

VERSION = "1.0.0"
READ_INTERVAL_MS = None  # overrides reading_interval (PC tests use sub-second intervals)
# Timing knobs (tests and the PC build shrink them).
LOOP_MS = 100
STATUS_EVERY_S = 60
OTA_CONFIRM_S = 300
PORTAL_STA_RETRY_S = 300
PORTAL_AFTER_OUTAGE_S = 1800  # a configured meter opens its portal after 30 min without Wi-Fi
BATCH = 20  # most readings per backlog message
BATCH_MIN_FREE = 6000  # heap kept free while a batch is in RAM (one reading line ~150 B)
LINE_COST = 400  # heap one batched reading costs: its line, list slot, GC slack
NET_GUARD_MS = 150  # network calls end this long before the next reading is due
NTP_BUDGET_MS = 1500  # ntptime waits up to 1 s: tried only with this much time left


def next_boot_id(path="boots.json"):
    n = flashfs.read_json(path, {}).get("boots", 0) + 1
    flashfs.write_json(path, {"boots": n})
    return n


class Device:
    def __init__(self, cfg=None, uart=None):
        self.cfg = cfg or config.load()
        self.mac6 = board.mac6()
        self.serial, self.device_id = config.identity(self.cfg, self.mac6)
        self.boot_id = next_boot_id()
        self.started = time.ticks_ms()
        self.meter = pzem.PZEM(
            uart if uart is not None else board.uart(), self.cfg["modbus_address"]
        )
        self.store = store.Store("q", self.cfg["queue_max"])
        self.seq = seqno.SeqCounter()
        self.clock = clock.Clock(lambda: board.ntp_sync(self.cfg["ntp_host"]))
        self.interval_ms = READ_INTERVAL_MS or self.cfg["reading_interval"] * 1000
        self.link = None
        self.missed = 0  # reads the meter did not answer
        self.published = 0  # readings acknowledged by the broker
        self.running = True
        self.mode = "starting"
        self.guard_ms = NET_GUARD_MS
        self.want_portal = False  # set by the station loop after a long Wi-Fi outage

    # --- readings -------------------------------------------------------
    def take_reading(self):
        """One reading as a JSON line for the queue, or None when the meter is silent."""
        m = self.meter.read()
        if m is None:
            self.missed += 1
            return None
        head = '{"seq":%d,' % self.seq.take()
        if self.clock.synced:
            head += '"timestamp":"%s",' % clock.iso_ms(clock.now_ms())
        else:  # held until NTP answers; stamped then with its measurement time
            head += '"mono":%d,"boot":%d,' % (time.ticks_ms(), self.boot_id)
        return head + pzem.json_fields(m) + "}"

    def ticks_iso(self, ticks):
        return self.clock.iso_of_ticks(ticks)

    def live_payload(self, line):
        ip = board.sta_ip()
        extra = '"serial_number":"%s","firmware_version":"%s","ip_address":%s,' % (
            self.serial,
            VERSION,
            json.dumps(ip),
        )
        return "{" + extra + line[1:]

    def batch_payload(self, lines):
        """The backlog message as pieces written one after the other (see mqtt_link.Chunks)."""
        import mqtt_link

        parts = ['{"serial_number":"%s","readings":[' % self.serial]
        for i, line in enumerate(lines):
            parts.append("," + line if i else line)
        parts.append("]}")
        return mqtt_link.Chunks(parts)

    @staticmethod
    def batch_size():
        """Readings per backlog message that the free heap can hold (1..BATCH)."""
        gc.collect()
        room = (board.free_mem() - BATCH_MIN_FREE) // LINE_COST
        return max(1, min(BATCH, room))

    def record(self, line):
        """Publish at once when nothing is waiting, else queue (order is kept)."""
        if line is None:
            return
        if self.link and self.link.up and self.clock.synced and len(self.store) == 0:
            try:
                self.link.publish_data(self.live_payload(line))
                self.published += 1
                return
            except OSError:
                pass
        self.store.append(line)

    def flush(self):
        """Send queued readings in order, in batches, each acknowledged before it is
        dropped, while there is time before the next reading (the link's deadline)."""
        if not self.clock.synced:
            return
        if self.store.unstamped:
            self.store.stamp(self.boot_id, self.ticks_iso)
        while self.link.up and self.link.time_left_ms() > self.guard_ms:
            lines = self.store.peek(self.batch_size())
            if not lines:
                return
            self.link.publish_data(self.batch_payload(lines))
            self.store.drop(len(lines))
            self.published += len(lines)
            lines = None
            gc.collect()

    # --- status and commands -------------------------------------------
    def status(self):
        return {
            "state": "online",
            "serial_number": self.serial,
            "firmware_version": VERSION,
            "ip_address": board.sta_ip(),
            "rssi": board.rssi(),
            "uptime_s": time.ticks_diff(time.ticks_ms(), self.started) // 1000,
            "free_mem": board.free_mem(),
            "queue": len(self.store),
            "thinned": self.store.thinned,
            "missed_reads": self.missed,
            "meter_errors": self.meter.errors,
            "published": self.published,
            "seq": self.seq.next - 1,
            "interval_s": self.interval_ms // 1000,
            "time_synced": self.clock.synced,
            "mode": self.mode,
        }

    def publish_status(self):
        self.link.publish_status(json.dumps(self.status()))

    def set_interval(self, seconds):
        self.cfg = config.update({"reading_interval": seconds})
        self.interval_ms = seconds * 1000

    def blink(self, count):
        board.blink(count)

    def ota_install(self, url, token, manifest_sha256=None):
        """Only from the configured server (ota_host, else mqtt_host), and only the
        manifest whose sha256 the signed command named."""
        import http_get
        import ota

        host = http_get.split_url(url)[0]
        allowed = self.cfg.get("ota_host") or self.cfg["mqtt_host"]
        if host != allowed:
            raise ValueError("OTA only from %s, not %s" % (allowed, host))
        if not manifest_sha256:
            raise ValueError("missing argument: sha256 (of the manifest)")
        gc.collect()
        ota.install(url, token, manifest_sha256=manifest_sha256)

    def handle_commands(self):
        if not self.link.inbox:
            return  # commands (and signing) are imported only when one arrives
        import commands

        while self.link.inbox:
            ack, follow = commands.handle(self, self.link.inbox.pop(0))
            if ack is None:
                continue  # a replayed command: not run, not answered
            self.link.ack(json.dumps(ack))
            if follow == commands.REBOOT:
                self.shutdown()
                board.reboot(delay_s=1)

    def shutdown(self):
        """Leave cleanly: status offline (retained), disconnect."""
        self.running = False
        if self.link and self.link.up:
            try:
                self.link.publish_status(b"offline")
            except OSError:
                pass
            self.link.close()

    def check_ota(self):
        import ota

        if not ota.pending():
            return
        if self.link and self.link.up:
            ota.confirm()
        elif time.ticks_diff(time.ticks_ms(), self.started) > OTA_CONFIRM_S * 1000:
            board.reboot()  # unconfirmed new code: boot.py counts this and may roll back

    # --- modes ---------------------------------------------------------
    def make_link(self):
        import mqtt_link

        gc.collect()
        c = self.cfg
        return mqtt_link.Link(
            self.device_id,
            c["mqtt_host"],
            c["mqtt_port"],
            c["mqtt_user"],
            c["mqtt_password"],
            client_id="meter-" + self.serial,
            tls_ca=c["mqtt_ca"] if c["mqtt_tls"] else None,
        )

    def run_station(self, max_loops=None):
        """The normal loop. max_loops bounds it for tests."""
        self.mode = "station"
        reconn = wifi.Reconnector(self.cfg["wifi_ssid"], self.cfg["wifi_password"])
        if self.link is None:
            self.link = self.make_link()
        next_read = time.ticks_ms()
        next_status = next_read
        ota_checked = False
        wifi_down_since = None
        loops = 0
        self.guard_ms = guard = min(NET_GUARD_MS, self.interval_ms // 4)
        while self.running and (max_loops is None or loops < max_loops):
            loops += 1
            now = time.ticks_ms()
            if time.ticks_diff(now, next_read) >= 0:
                next_read = time.ticks_add(next_read, self.interval_ms)
                if time.ticks_diff(now, next_read) >= 0:  # fell behind: do not burst
                    next_read = time.ticks_add(now, self.interval_ms)
                # Every network call below must be over before the next reading is due.
                self.link.deadline = time.ticks_add(next_read, -guard)
                self.record(self.take_reading())
                gc.collect()
            if self.link.time_left_ms() <= guard:
                time.sleep_ms(LOOP_MS)
                continue
            if not reconn.step():
                now = time.ticks_ms()
                if wifi_down_since is None:
                    wifi_down_since = now
                elif time.ticks_diff(now, wifi_down_since) > PORTAL_AFTER_OUTAGE_S * 1000:
                    print("wifi: down for %d s; opening the setup portal" % PORTAL_AFTER_OUTAGE_S)
                    self.want_portal = True
                    return
            else:
                wifi_down_since = None
                if self.link.time_left_ms() > NTP_BUDGET_MS and self.clock.try_sync():
                    self.store.stamp(self.boot_id, self.ticks_iso)
                if self.link.due():
                    try:
                        self.link.connect()
                        self.publish_status()
                        next_status = time.ticks_add(time.ticks_ms(), STATUS_EVERY_S * 1000)
                    except OSError as e:
                        print("mqtt:", e)
            if self.link.up:
                try:
                    self.link.poll()
                    self.handle_commands()
                    self.flush()
                    if time.ticks_diff(time.ticks_ms(), next_status) >= 0:
                        next_status = time.ticks_add(time.ticks_ms(), STATUS_EVERY_S * 1000)
                        self.publish_status()
                except OSError as e:
                    print("mqtt:", e)
            if not ota_checked and (
                self.link.up
                or time.ticks_diff(time.ticks_ms(), self.started) > OTA_CONFIRM_S * 1000
            ):
                self.check_ota()
                ota_checked = True
            time.sleep_ms(LOOP_MS)

    def run_portal(self):
        """Setup mode: access point + portal; keep recording; go back to station when it works."""
        import asyncio

        self.mode = "portal"
        self.cfg = config.ensure_portal_password(self.cfg)
        name = wifi.ap_name(self.mac6)
        ip = board.ap_start(name, self.cfg["portal_password"])
        print("portal: join", name, "then open http://%s/" % ip)
        gc.collect()
        import portal

        gc.collect()
        app = portal.make_app(self)

        async def recorder():
            reconn = wifi.Reconnector(self.cfg["wifi_ssid"], self.cfg["wifi_password"])
            reconn.next_try = time.ticks_add(time.ticks_ms(), PORTAL_STA_RETRY_S * 1000)
            while self.running:
                self.record(self.take_reading())
                gc.collect()
                if self.cfg["wifi_ssid"] and reconn.step():
                    print("portal: station is back; restarting")
                    board.reboot(delay_s=1)
                await asyncio.sleep_ms(self.interval_ms)

        async def both():
            asyncio.create_task(recorder())
            await app.start_server(host="0.0.0.0", port=board.PORTAL_PORT)

        try:
            asyncio.run(both())
        finally:
            release_portal()


def release_portal():
    """Forget the portal's modules (about 4 KB frozen, 22 KB from .mpy): they are only
    needed in access-point mode, and the station loop should have that heap back."""
    import sys

    for name in ("portal", "microdot", "microdot.microdot"):
        sys.modules.pop(name, None)
    gc.collect()


def main():
    gc.collect()
    if getattr(board, "maintenance_mode", None) and board.maintenance_mode():
        print("maintenance mode: console kept, meter not started")
        return
    cfg = config.load()
    dev = Device(cfg)
    gc.collect()
    # A configured meter stays a station whatever Wi-Fi does (it keeps retrying and
    # queueing readings); the portal opens on first boot, or after PORTAL_AFTER_OUTAGE_S
    # without Wi-Fi (a deliberate trigger: unplug the router, or move the meter).
    if cfg["wifi_ssid"] and cfg["mqtt_host"]:
        wifi.connect(cfg["wifi_ssid"], cfg["wifi_password"], attempts=1)
        dev.run_station()
        if not dev.want_portal:
            return
    dev.run_portal()
