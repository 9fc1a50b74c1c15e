"""ESP8266 / ESP32 hardware: UART for the PZEM, Wi-Fi, LED, RTC via NTP, reset."""

import gc
import sys
import time

import machine
import network

IS_HOST = False
PORTAL_PORT = 80
ESP8266 = sys.platform == "esp8266"
LED_PIN = 2  # on-board LED of ESP-12 / DevKit boards (active low on ESP8266)
# ESP32: UART2 on GPIO16 (RX) / GPIO17 (TX). ESP8266 has one full UART: UART0
# (GPIO3 RX / GPIO1 TX), shared with the USB console, which is detached after
# CONSOLE_GRACE_S unless the FLASH button (GPIO0) is held at boot.
ESP32_UART = (2, 17, 16)
CONSOLE_GRACE_S = 5

_sta = network.WLAN(network.STA_IF)
_ap = network.WLAN(network.AP_IF)


def maintenance_mode():
    """FLASH button held at boot: keep the console, do not start the meter."""
    return machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def uart():
    if ESP8266:
        import os

        time.sleep(CONSOLE_GRACE_S)  # a window for mpremote / Ctrl-C
        os.dupterm(None, 1)
        return machine.UART(0, 9600, timeout=0)
    uid, tx, rx = ESP32_UART
    return machine.UART(uid, 9600, tx=tx, rx=rx, timeout=0)


def blink(count=5, on_ms=150):
    pin = machine.Pin(LED_PIN, machine.Pin.OUT)
    for _ in range(count):
        pin.value(0 if ESP8266 else 1)
        time.sleep_ms(on_ms)
        pin.value(1 if ESP8266 else 0)
        time.sleep_ms(on_ms)


def reboot(delay_s=0):
    time.sleep(delay_s)
    machine.reset()


def mac6():
    import binascii

    return binascii.hexlify(_sta.config("mac")).decode()[-6:]


def free_mem():
    gc.collect()
    return gc.mem_free()


def sta_start(ssid, password):
    _sta.active(True)
    _sta.connect(ssid, password)


def sta_connected():
    return _sta.isconnected()


def sta_stop():
    _sta.disconnect()


def sta_ip():
    return _sta.ifconfig()[0] if _sta.isconnected() else None


def rssi():
    try:
        return _sta.status("rssi")
    except (OSError, ValueError):
        return None


def scan():
    """[(ssid, rssi, secured)], strongest first."""
    _sta.active(True)
    nets = []
    for n in _sta.scan():
        if n[0]:
            nets.append((n[0].decode(), n[3], n[4] != 0))
    nets.sort(key=lambda n: -n[1])
    return nets


def ap_start(essid, password):
    """A WPA2 access point; there is no open one (config.ensure_portal_password)."""
    if len(password) < 8:
        raise ValueError("the access point needs a WPA2 password of 8+ characters")
    _ap.active(True)
    _ap.config(essid=essid, password=password, authmode=network.AUTH_WPA2_PSK)
    return _ap.ifconfig()[0]  # 192.168.4.1 by default


def ap_stop():
    _ap.active(False)


def ntp_sync(host):
    import ntptime

    ntptime.host = host
    ntptime.settime()
