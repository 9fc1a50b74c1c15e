"""Commands from meter/<id>/control: {"id","cmd","args"} -> ack {"id","ok","error"}.

handle() returns (ack dict, follow-up) where follow-up is something to do after
the ack was published (reboot), or None. A command id seen before (a replayed
message) is not run again and not answered: the ack is None.
"""
import json

import flashfs

REBOOT = "reboot"
MAX_PAYLOAD = 768  # bytes; longer control messages are refused unread
MAX_ID = 64
SEEN_PATH = "cmd_seen.json"
SEEN_KEPT = 16  # ids remembered across reboots
BLINKS = (1, 20)  # identify: count is clamped to this range


def _seen(cid):
    """True if `cid` ran before; else remember it (on flash: survives a reboot)."""
    ids = flashfs.read_json(SEEN_PATH, [])
    if not isinstance(ids, list):
        ids = []
    if cid in ids:
        return True
    ids.append(cid)
    flashfs.write_json(SEEN_PATH, ids[-SEEN_KEPT:])
    return False


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
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("command longer than %d bytes" % MAX_PAYLOAD)
        msg = json.loads(payload)
        if not isinstance(msg, dict):
            raise ValueError("command must be a JSON object")
        cid = msg.get("id")
        if not isinstance(cid, str) or not 0 < len(cid) <= MAX_ID:
            cid = None
            raise ValueError("command id must be text of 1-%d characters" % MAX_ID)
        if _seen(cid):
            return None, None
        cmd = msg.get("cmd")
        args = msg.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError("args must be an object")
        follow = None
        if cmd == "set_interval":
            device.set_interval(int(_num(args, "seconds", "interval")))
        elif cmd == "reset_energy":
            if not device.meter.reset_energy():
                raise OSError("meter did not answer")
        elif cmd == "reboot":
            follow = REBOOT
        elif cmd == "identify":
            count = int(_num(args, "count")) if "count" in args else 5
            device.blink(min(max(count, BLINKS[0]), BLINKS[1]))
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
