"""Config: defaults, validation, atomic writes, factory reset."""

import json
import os

import config
import flashfs
from fakes import assert_eq, assert_raises


def test_defaults_when_missing_or_corrupt():
    assert_eq(config.load(), config.DEFAULTS)
    with open("config.json", "w") as f:
        f.write("{not json")
    assert_eq(config.load()["reading_interval"], 10)


def test_save_load_round_trip_and_coercion():
    cfg = config.save({"mqtt_host": "10.0.0.2", "mqtt_port": "1884", "reading_interval": 30})
    assert_eq(cfg["mqtt_port"], 1884)
    assert_eq(config.load()["mqtt_host"], "10.0.0.2")
    assert_eq(config.load()["reading_interval"], 30)


def test_validation_is_the_only_valueerror():
    for bad in (
        {"mqtt_port": 0},
        {"reading_interval": "soon"},
        {"nope": 1},
        {"portal_password": "short"},
        {"mqtt_host": "x" * 100},
        {"mqtt_host": 5},
    ):
        assert_raises(ValueError, config.save, bad)
    assert not flashfs.exists("config.json")


def test_write_is_atomic_temp_then_rename():
    config.save({"mqtt_host": "old"})
    # A power cut while writing the temp file leaves the old config readable.
    with open("config.json.tmp", "w") as f:
        f.write('{"mqtt_host": "ne')
    assert_eq(config.load()["mqtt_host"], "old")
    config.update({"mqtt_host": "new"})
    assert_eq(config.load()["mqtt_host"], "new")
    assert not flashfs.exists("config.json.tmp")
    # Cut between removing the old file and the rename (FAT path): the temp is used.
    flashfs.write_json("config.json.tmp", {"mqtt_host": "newer"})
    os.remove("config.json")
    assert_eq(config.load()["mqtt_host"], "newer")


def test_factory_reset():
    config.save({"wifi_ssid": "home", "portal_password": "secret123"})
    config.factory_reset()
    assert_eq(config.load(), config.DEFAULTS)


def test_identity_from_mac():
    cfg = config.validate({})
    assert_eq(config.identity(cfg, "1a2b3c"), ("PZEM-1A2B3C", "PZEM-1A2B3C"))
    cfg = config.validate({"serial_number": "S1", "device_id": "kitchen"})
    assert_eq(config.identity(cfg, "1a2b3c"), ("S1", "kitchen"))


def test_seq_counter_survives_reboot_without_repeats():
    import seqno

    c = seqno.SeqCounter()
    first = [c.take() for _ in range(5)]
    assert_eq(first, [1, 2, 3, 4, 5])
    c2 = seqno.SeqCounter()  # reboot
    assert c2.take() > 5
    assert_eq(json.load(open("seq.json"))["reserved"], 1 + 2 * seqno.BLOCK)


def test_serial_follows_the_servers_rule():
    for bad in ('PZ"EM-1', "PZEM\n1", "PZEM 1", "PZEM/1", "x" * 65, "zähler"):
        e = assert_raises(ValueError, config.save, {"serial_number": bad})
        assert "serial_number" in str(e), e
    assert not flashfs.exists("config.json")
    for good in ("PZEM-00A1B2", "site.7:meter_2", "x" * 64):
        assert_eq(config.save({"serial_number": good})["serial_number"], good)
    assert config.serial_ok("a-b") and not config.serial_ok("")


def test_mqtt_tls_needs_a_ca_file_and_defaults_to_8883():
    cfg = config.save({"mqtt_host": "h", "mqtt_tls": "on", "mqtt_ca": "ca.pem"})
    assert cfg["mqtt_tls"] is True
    assert_eq(cfg["mqtt_port"], 8883)  # mqtts' port when none is given
    assert_eq(config.load()["mqtt_port"], 8883)
    cfg = config.save({"mqtt_tls": True, "mqtt_ca": "ca.der", "mqtt_port": 8884})
    assert_eq(cfg["mqtt_port"], 8884)
    cfg = config.update({"mqtt_tls": "0"})
    assert cfg["mqtt_tls"] is False
    assert_eq(config.load()["mqtt_ca"], "ca.der")
    for bad, words in (
        ({"mqtt_tls": True}, "needs mqtt_ca"),  # nothing to verify the broker with
        ({"mqtt_tls": "maybe", "mqtt_ca": "ca.pem"}, "true or false"),
        ({"mqtt_tls": True, "mqtt_ca": "../ca.pem"}, "file name"),
        ({"mqtt_tls": True, "mqtt_ca": "certs/ca.pem"}, "file name"),
        ({"mqtt_ca": ".ca"}, "file name"),
    ):
        try:
            config.validate(bad)
        except ValueError as e:
            assert words in str(e), (bad, e)
        else:
            raise AssertionError("accepted %r" % (bad,))
