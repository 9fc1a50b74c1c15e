"""A virtual meter: the real firmware on the MicroPython Unix port. DO NOT UPLOAD.

micropython virtual_meter.py --flash DIR --serial S --broker HOST:PORT
                             [--interval SECONDS] [--fast] [--backlog N] [--readings N]
(or `micropython -m virtual_meter ...` where it is frozen in)
DIR plays the board's flash (config.json, queue, ...). --fast shrinks the
timing knobs (back-off, status period) for tests. Exit code 75 = reboot.

Heap scenarios (`meterhub firmware heap`): --backlog N queues N readings before
the first NTP sync (held with their ticks, as a meter offline since boot does),
so they are stamped and flushed once the meter is online; --readings N ends the
run (exit 0, last line "heap-run: done ...") after N readings once the queue is
empty again (in portal mode: after N readings once the harness, done fetching the
portal's pages, has written DIR/heap-run.stop). A MemoryError ends it with exit 1.
"""

import gc
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


def _stop_after(app, readings):
    """Exit 0 after `readings` readings, once everything queued was acknowledged."""
    take = app.Device.take_reading
    taken = [0]

    def counting(dev):
        taken[0] += 1
        if dev.mode == "portal":
            import flashfs

            done = flashfs.exists("heap-run.stop")
        else:
            done = len(dev.store) == 0
        if taken[0] > readings and done:
            gc.collect()
            print(
                "heap-run: done readings=%d published=%d free=%d"
                % (taken[0] - 1, dev.published, gc.mem_free())
            )
            sys.exit(0)
        return take(dev)

    app.Device.take_reading = counting


def _with_backlog(app, n, readings):
    """Run the station loop after queueing n readings taken before any NTP sync."""
    dev = app.Device()
    for _ in range(n):
        line = dev.take_reading()
        if line is not None:
            dev.store.append(line)
    gc.collect()
    if readings:
        _stop_after(app, readings)
    dev.run_station()


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
        config.save(
            {
                "wifi_ssid": "virtual",
                "wifi_password": "virtual",
                "mqtt_host": host or "127.0.0.1",
                "mqtt_port": int(port or 1883),
                "serial_number": a.get("serial", ""),
                "mqtt_user": os.getenv("METER_MQTT_USER") or "",
                "mqtt_password": os.getenv("METER_MQTT_PASSWORD") or "",
                "command_secret": os.getenv("METER_COMMAND_SECRET") or "",
                "reading_interval": max(1, int(float(a["interval"]))),
            }
        )
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
        wifi.CONNECT_TIMEOUT_S = 1
        wifi.BOOT_ATTEMPTS = 1
        clock.RETRY_S = 1
        app.STATUS_EVERY_S = 5
        app.LOOP_MS = 20
        app.NTP_BUDGET_MS = 0  # the host's "NTP" answers at once
    readings = int(a.get("readings") or 0)
    if a.get("backlog"):
        _with_backlog(app, int(a["backlog"]), readings)
        return
    if readings:
        _stop_after(app, readings)
    app.main()


main()
