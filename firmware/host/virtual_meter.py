"""A virtual meter: the real firmware on the MicroPython Unix port. DO NOT UPLOAD.

micropython virtual_meter.py --flash DIR --serial S --broker HOST:PORT
                             [--interval SECONDS] [--fast]
DIR plays the board's flash (config.json, queue, ...). --fast shrinks the
timing knobs (back-off, status period) for tests. Exit code 75 = reboot.
"""
import os
import sys


def _args(argv):
    out = {"interval": "10", "fast": False}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--fast":
            out["fast"] = True
        elif a.startswith("--") and i + 1 < len(argv):
            out[a[2:]] = argv[i + 1]
            i += 1
        i += 1
    return out


def main():
    a = _args(sys.argv)
    flash = a.get("flash") or "."
    if not os.getenv("METER_SERIAL") and a.get("serial"):
        os.putenv("METER_SERIAL", a["serial"])
    try:
        os.mkdir(flash)
    except OSError:
        pass
    os.chdir(flash)
    import config
    import flashfs
    if not flashfs.exists(config.PATH) and a.get("broker"):
        host, _, port = a["broker"].rpartition(":")
        config.save({"wifi_ssid": "virtual", "wifi_password": "virtual",
                     "mqtt_host": host or "127.0.0.1", "mqtt_port": int(port or 1883),
                     "serial_number": a.get("serial", ""),
                     "mqtt_user": os.getenv("METER_MQTT_USER") or "",
                     "mqtt_password": os.getenv("METER_MQTT_PASSWORD") or "",
                     "reading_interval": max(1, int(float(a["interval"])))})
    import app
    if a.get("interval"):
        # Sub-second intervals are for tests only; config keeps whole seconds.
        app.READ_INTERVAL_MS = int(float(a["interval"]) * 1000)
    if a["fast"]:
        import clock
        import mqtt_link
        import wifi
        mqtt_link.BACKOFF_MIN_S = 1
        mqtt_link.BACKOFF_MAX_S = 2
        mqtt_link.SOCKET_TIMEOUT_S = 3
        wifi.BACKOFF_MIN_S = 1
        clock.RETRY_S = 1
        app.STATUS_EVERY_S = 5
        app.LOOP_MS = 20
    app.main()


main()
