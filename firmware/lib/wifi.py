"""Wi-Fi policy: station mode with retries and back-off; the setup access point."""

import time

import board

CONNECT_TIMEOUT_S = 15
BOOT_ATTEMPTS = 3
BACKOFF_MIN_S = 5
BACKOFF_MAX_S = 300
AP_IP = "192.168.4.1"


def ap_name(mac6):
    return "PZEM_Meter_" + mac6.upper()


def connect(ssid, password, attempts=BOOT_ATTEMPTS):
    """Try to join `ssid`; True when connected. Waits BACKOFF_MIN_S * 2^n between tries."""
    if not ssid:
        return False
    delay = BACKOFF_MIN_S
    for i in range(attempts):
        board.sta_start(ssid, password)
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < CONNECT_TIMEOUT_S * 1000:
            if board.sta_connected():
                return True
            time.sleep_ms(100)
        board.sta_stop()
        if i + 1 < attempts:
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    return False


class Reconnector:
    """Non-blocking re-join while the meter keeps reading: one attempt when due."""

    def __init__(self, ssid, password):
        self.ssid, self.password = ssid, password
        self.backoff = BACKOFF_MIN_S
        self.next_try = time.ticks_ms()
        self.started = None

    def step(self):
        """Call often; True while connected."""
        if board.sta_connected():
            self.backoff = BACKOFF_MIN_S
            self.started = None
            return True
        now = time.ticks_ms()
        if self.started is not None:
            if time.ticks_diff(now, self.started) > CONNECT_TIMEOUT_S * 1000:
                board.sta_stop()
                self.started = None
                self.next_try = time.ticks_add(now, self.backoff * 1000)
                self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)
        elif time.ticks_diff(now, self.next_try) >= 0:
            board.sta_start(self.ssid, self.password)
            self.started = now
        return False
