"""Signed commands from meter/<id>/control -> ack {"id","ok","error"}.

The message is {"m": "<command JSON>", "sig": "<hex HMAC-SHA256 of m>"} (see
signing.py); the command is {"id","cmd","args","exp","n"}. It runs only when the
signature is valid under the configured command_secret, `exp` (Unix seconds) is
not past, and `n` is above every n run before (kept on flash, so a replayed or
retained old command never runs again, even after a reboot).

handle() returns (ack dict, follow-up) where follow-up is something to do after
the ack was published (reboot), or None. Messages that are not validly signed
and replays are not answered (ack None): an unsigned sender learns nothing and
cannot mark the server's commands failed. A signed command that has expired or
arrives before the clock is set is answered with an error and not run.
"""

import json
import time

import clock
import flashfs
import signing

REBOOT = "reboot"
MAX_PAYLOAD = 768  # bytes; longer control messages are refused unread
MAX_ID = 64
SEEN_PATH = "cmd_seen.json"  # {"n": highest n run}
BLINKS = (1, 20)  # identify: count is clamped to this range


def _fresh(n):
    """True if n is above every n run before; then it is recorded first (on flash), so
    a reboot command cannot run again after the reboot."""
    last = flashfs.read_json(SEEN_PATH, {})
    last = last.get("n", 0) if isinstance(last, dict) else 0
    if not isinstance(n, int) or isinstance(n, bool) or n <= last:
        return False
    flashfs.write_json(SEEN_PATH, {"n": n})
    return True


def unix_now():
    return int(time.time()) + clock.EPOCH_OFFSET


def open_signed(device, payload):
    """The command dict inside a validly signed message, or None."""
    try:
        outer = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(outer, dict):
        return None
    m = outer.get("m")
    if not signing.valid(device.cfg.get("command_secret", ""), m, outer.get("sig")):
        return None
    msg = json.loads(m)
    return msg if isinstance(msg, dict) else None


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
            return None, None
        msg = open_signed(device, payload)
        if msg is None:
            print("command: not validly signed; ignored")
            return None, None
        cid = msg.get("id")
        if not isinstance(cid, str) or not 0 < len(cid) <= MAX_ID:
            cid = None
            raise ValueError("command id must be text of 1-%d characters" % MAX_ID)
        exp = msg.get("exp")
        if not device.clock.synced:
            raise ValueError("clock not set yet: cannot check the command's expiry")
        if not isinstance(exp, int) or exp < unix_now():
            raise ValueError("command expired")
        if not _fresh(msg.get("n")):
            return None, None  # replayed (or retained) old command
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
            device.ota_install(url, args.get("token"), args.get("sha256"))
            follow = REBOOT
        else:
            raise ValueError("unknown command: %s" % cmd)
        return {"id": cid, "ok": True, "error": None}, follow
    except Exception as e:  # every failure is answered, never dropped
        return {"id": cid, "ok": False, "error": str(e) or repr(e)}, None
