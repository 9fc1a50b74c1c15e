"""Commands from meter/<id>/control: {"id","cmd","args"} -> ack {"id","ok","error"}.

handle() returns (ack dict, follow-up) where follow-up is something to do after
the ack was published (reboot), or None.
"""
import json

REBOOT = "reboot"


def _num(args, *names):
    for n in names:
        if n in args:
            v = args[n]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
            raise ValueError(n + " must be a number")
    raise ValueError("missing argument: " + names[0])


def handle(device, payload):
    """device: the running app (needs set_interval, meter, blink, ota_install)."""
    cid = None
    try:
        msg = json.loads(payload)
        cid = msg.get("id")
        cmd = msg.get("cmd")
        args = msg.get("args") or {}
        follow = None
        if cmd == "set_interval":
            device.set_interval(int(_num(args, "seconds", "interval")))
        elif cmd == "reset_energy":
            if not device.meter.reset_energy():
                raise OSError("meter did not answer")
        elif cmd == "reboot":
            follow = REBOOT
        elif cmd == "identify":
            device.blink(int(args.get("count", 5)))
        elif cmd == "set_alarm_threshold":
            if not device.meter.set_alarm_threshold(int(_num(args, "watts", "threshold"))):
                raise OSError("meter did not answer")
        elif cmd == "ota":
            url = args.get("url") or args.get("manifest_url")
            if not url:
                raise ValueError("missing argument: url")
            device.ota_install(url, args.get("token"))
            follow = REBOOT
        else:
            raise ValueError("unknown command: %s" % cmd)
        return {"id": cid, "ok": True, "error": None}, follow
    except Exception as e:  # every failure is answered, never dropped
        return {"id": cid, "ok": False, "error": str(e) or repr(e)}, None
