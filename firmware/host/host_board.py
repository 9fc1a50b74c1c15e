"""PC stand-in for board_esp (MicroPython Unix port). DO NOT UPLOAD.

Settings come from environment variables so a supervisor can start many meters:
  METER_SERIAL   serial number; also gives the fake MAC      (default PZEM-000001)
  METER_SEED     seed of the household load                  (default: from serial)
  METER_SPEED    simulated seconds per real second           (default 1)
  METER_WIFI     "up" or "down" (station retries; unconfigured -> portal) (default up)
  METER_NTP_FAILS how many NTP syncs fail before one works   (default 0)
  METER_PORTAL_PORT port of the portal                       (default 8080)
"""

import gc
import os
import sys

IS_HOST = True
REBOOT_EXIT = 75  # the supervisor restarts a process that exits with this


def _env(name, default):
    v = os.getenv(name)
    return default if v is None or v == "" else v


PORTAL_PORT = int(_env("METER_PORTAL_PORT", "8080"))
_serial = _env("METER_SERIAL", "PZEM-000001")
_state = {
    "wifi": _env("METER_WIFI", "up") == "up",
    "ntp_fails": int(_env("METER_NTP_FAILS", "0")),
    "sta": False,
    "ap": None,
    "blinks": 0,
    "reboots": 0,
}
_uart = None


def _seed():
    h = 0
    for c in _serial:
        h = (h * 31 + ord(c)) & 0x7FFFFFFF
    return h


def uart():
    """A UART whose other end is the PZEM emulator (one per process)."""
    global _uart
    if _uart is None:
        from pzem_emulator import EmulatedUART, Household, PzemEmulator

        load = Household(
            seed=int(_env("METER_SEED", str(_seed()))), speed=float(_env("METER_SPEED", "1"))
        )
        _uart = EmulatedUART(PzemEmulator(1, load))
    return _uart


def blink(count=5, on_ms=150):
    _state["blinks"] += count
    print("identify: LED blinks", count, "times")


def reboot(delay_s=0):
    _state["reboots"] += 1
    print("reboot requested")
    sys.exit(REBOOT_EXIT)


def mac6():
    return "%06x" % (_seed() & 0xFFFFFF)


def free_mem():
    gc.collect()
    return gc.mem_free()


def set_wifi(up):
    """Tests: make the fake network appear or vanish."""
    _state["wifi"] = up
    if not up:
        _state["sta"] = False


def sta_start(ssid, password):
    _state["sta"] = _state["wifi"]


def sta_connected():
    return _state["sta"] and _state["wifi"]


def sta_stop():
    _state["sta"] = False


def sta_ip():
    return "127.0.0.1" if sta_connected() else None


def rssi():
    return -55 if sta_connected() else None


def scan():
    return [("HomeNet", -48, True), ("Neighbour 5G", -71, True), ("Cafe", -80, False)]


def ap_start(essid, password):
    if len(password) < 8:
        raise ValueError("the access point needs a WPA2 password of 8+ characters")
    _state["ap"] = essid
    return "192.168.4.1"


def ap_stop():
    _state["ap"] = None


def ntp_sync(host):
    """The host clock is right already; fail the first METER_NTP_FAILS times."""
    if _state["ntp_fails"] > 0:
        _state["ntp_fails"] -= 1
        raise OSError("ntp: no answer (simulated)")
