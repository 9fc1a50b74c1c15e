"""Device configuration: JSON on flash, defaults, validation, factory reset.

Bad configuration is the only ValueError in the firmware (network faults are OSError).
"""

import flashfs

PATH = "config.json"

DEFAULTS = {
    "wifi_ssid": "",
    "wifi_password": "",
    "mqtt_host": "",
    "mqtt_port": 1883,  # 8883 when mqtt_tls is on and no port is given
    "mqtt_tls": False,  # mqtts, the server verified against mqtt_ca; never falls back to plain
    "mqtt_ca": "",  # file on flash with the CA certificate (PEM or DER) that mqtts trusts
    "mqtt_user": "",
    "mqtt_password": "",
    "device_id": "",  # MQTT topic id; empty -> serial_number
    "serial_number": "",  # empty -> PZEM-<MAC6>
    "reading_interval": 10,
    "portal_password": "",  # once set, the portal's config pages need it
    "ntp_host": "pool.ntp.org",
    "modbus_address": 1,
    "queue_max": 2000,  # readings kept on flash while offline
    "command_secret": "",  # HMAC key of signed commands (firmware configure); none: refused
    "ota_host": "",  # host OTA downloads may come from; empty -> mqtt_host
}

_INTS = {
    "mqtt_port": (1, 65535),
    "reading_interval": (1, 86400),
    "modbus_address": (1, 247),
    "queue_max": (100, 50000),
}
_BOOLS = ("mqtt_tls",)
_TRUE = (True, 1, "1", "true", "on", "yes")
_FALSE = (False, 0, "0", "false", "off", "no", "")
_MAX_STR = 64
# A file name on flash: these characters, not starting with "." (no paths, no "..").
FILE_CLASS = "A-Za-z0-9._-"
# The server's serial number rule, regex [A-Za-z0-9._:-]{1,64} (MicroPython's re has
# no {m,n}, so the class and the length are checked apart; a test keeps them equal
# to the server's). A quote or newline in a serial would break the JSON the meter writes.
SERIAL_CLASS = "A-Za-z0-9._:-"
SERIAL_MAX = 64


def _in_class(c, cls):
    i = 0
    while i < len(cls):
        if i + 2 < len(cls) and cls[i + 1] == "-":
            if cls[i] <= c <= cls[i + 2]:
                return True
            i += 3
        else:
            if c == cls[i]:
                return True
            i += 1
    return False


def serial_ok(serial):
    """True when `serial` follows the server's rule (see SERIAL_CLASS)."""
    if not 1 <= len(serial) <= SERIAL_MAX:
        return False
    return all(_in_class(c, SERIAL_CLASS) for c in serial)


def validate(cfg):
    """Return a full, checked config (defaults filled in); ValueError names the bad key."""
    out = dict(DEFAULTS)
    for key, value in cfg.items():
        if key not in DEFAULTS:
            raise ValueError("unknown config key: " + key)
        if key in _INTS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValueError(key + " must be a whole number")
            lo, hi = _INTS[key]
            if not lo <= value <= hi:
                raise ValueError("%s must be %d..%d" % (key, lo, hi))
        elif key in _BOOLS:
            if isinstance(value, str):
                value = value.lower()
            if value in _TRUE:
                value = True
            elif value in _FALSE:
                value = False
            else:
                raise ValueError(key + " must be true or false")
        else:
            if not isinstance(value, str):
                raise ValueError(key + " must be text")
            if len(value) > _MAX_STR:
                raise ValueError(key + " is too long")
        out[key] = value
    if out["serial_number"] and not serial_ok(out["serial_number"]):
        raise ValueError(
            "serial_number may hold only %s (1-%d characters)" % (SERIAL_CLASS, SERIAL_MAX)
        )
    ca = out["mqtt_ca"]
    if ca and (ca[0] == "." or not all(_in_class(c, FILE_CLASS) for c in ca)):
        raise ValueError(
            "mqtt_ca must be a file name on flash (%s, not starting with .)" % FILE_CLASS
        )
    if out["mqtt_tls"]:
        if not ca:
            raise ValueError(
                "mqtt_tls needs mqtt_ca (the CA certificate file to verify the broker)"
            )
        if "mqtt_port" not in cfg:
            out["mqtt_port"] = 8883
    pw = out["portal_password"]
    if pw and len(pw) < 8:
        raise ValueError("portal_password needs at least 8 characters (WPA2)")
    return out


def load(path=PATH):
    """The stored config, or defaults when there is none or it is unreadable."""
    raw = flashfs.read_json(path, {})
    try:
        return validate(raw if isinstance(raw, dict) else {})
    except ValueError:
        return dict(DEFAULTS)


def save(cfg, path=PATH):
    """Validate and write atomically; returns the stored config."""
    cfg = validate(cfg)
    flashfs.write_json(path, cfg)
    return cfg


def update(changes, path=PATH):
    cfg = load(path)
    cfg.update(changes)
    return save(cfg, path)


def factory_reset(path=PATH):
    flashfs.remove(path)
    flashfs.remove(path + ".tmp")


def ensure_portal_password(cfg, path=PATH):
    """The config with a portal password, generating and saving a random one if there is
    none (first boot): the access point is always WPA2 and its pages always locked.
    Printed on the USB console; `meterhub firmware configure` sets and prints its own."""
    if cfg["portal_password"]:
        return cfg
    import binascii
    import os

    pw = binascii.hexlify(os.urandom(6)).decode()  # 12 hex characters, 48 bits
    cfg = save(dict(cfg, portal_password=pw), path)
    print("portal password:", pw)
    return cfg


def identity(cfg, mac6):
    """(serial_number, device_id) with the defaults derived from the MAC."""
    serial = cfg["serial_number"] or "PZEM-" + mac6.upper()
    return serial, cfg["device_id"] or serial
