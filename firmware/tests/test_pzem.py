"""PZEM driver: exact frames (PZEM.md), decoding, silence and bad CRC."""

import pzem
from fakes import FakeUART, assert_eq, assert_raises, unhex

pzem.TIMEOUT_MS = 20
pzem.GAP_MS = 1

READ_REPLY = unhex("01 04 14 08 98 03 E8 00 00 08 98 00 00 00 00 00 00 01 F4 00 64 00 00 63 CE")


def test_crc_of_datasheet_frames():
    assert_eq(pzem.crc16(unhex("01 04 00 00 00 0A")), 0x0D70)
    for frame in (
        "01 04 00 00 00 0A 70 0D",
        "01 42 80 11",
        "01 06 00 01 08 FC DF 8B",
        "F8 06 00 02 00 05 FC 60",
        "01 03 00 01 00 02 95 CB",
    ):
        assert pzem.crc_ok(unhex(frame)), frame
    assert pzem.crc_ok(READ_REPLY)


def test_request_bytes():
    assert_eq(pzem.read_request(1, 4, 0, 10), unhex("01 04 00 00 00 0A 70 0D"))
    assert_eq(pzem.reset_request(1), unhex("01 42 80 11"))
    assert_eq(pzem.write_request(1, 1, 2300), unhex("01 06 00 01 08 FC DF 8B"))
    assert_eq(pzem.write_request(0xF8, 2, 5), unhex("F8 06 00 02 00 05 FC 60"))
    assert_eq(pzem.read_request(1, 3, 1, 2), unhex("01 03 00 01 00 02 95 CB"))


def test_read_decodes_datasheet_reply():
    uart = FakeUART([READ_REPLY])
    m = pzem.PZEM(uart).read()
    assert_eq(uart.sent, [unhex("01 04 00 00 00 0A 70 0D")])
    assert_eq(
        m,
        {
            "voltage_dv": 2200,
            "current_ma": 1000,
            "power_dw": 2200,
            "energy_wh": 0,
            "frequency_dhz": 500,
            "pf_centi": 100,
            "alarm": False,
        },
    )
    assert_eq(
        pzem.json_fields(m),
        '"voltage":220.0,"current":1.000,"power":220.0,"energy":0.000,'
        '"frequency":50.0,"pf":1.00,"alarm":false',
    )


def test_32bit_values_low_word_first():
    # 123.456 A = 123456 mA = 0x0001E240: low word E240 first, then high word 0001
    body = bytes(
        (
            1,
            4,
            20,
            0x09,
            0x1A,
            0xE2,
            0x40,
            0x00,
            0x01,
            0x86,
            0xA0,
            0x00,
            0x03,
            0x96,
            0x7F,
            0x00,
            0x98,
            0x01,
            0xF3,
            0x00,
            0x5F,
            0xFF,
            0xFF,
        )
    )
    m = pzem.PZEM(FakeUART([pzem.with_crc(body)])).read()
    assert_eq(m["current_ma"], 123456)
    assert_eq(m["power_dw"], 0x00038 * 0 + 0x000386A0)  # 23100.0 W
    assert_eq(m["energy_wh"], 0x0098967F)  # 9999999 Wh
    assert_eq(m["alarm"], True)
    assert '"energy":9999.999' in pzem.json_fields(m)
    assert '"current":123.456' in pzem.json_fields(m)


def test_silent_meter_gives_none_after_retries():
    uart = FakeUART([None, None, None])
    p = pzem.PZEM(uart)
    assert_eq(p.read(), None)
    assert_eq(len(uart.sent), pzem.RETRIES + 1)
    assert_eq(p.errors, pzem.RETRIES + 1)


def test_bad_crc_is_retried_then_accepted():
    bad = READ_REPLY[:-1] + bytes((READ_REPLY[-1] ^ 0xFF,))
    uart = FakeUART([bad, READ_REPLY])
    m = pzem.PZEM(uart).read()
    assert_eq(m["voltage_dv"], 2200)
    assert_eq(len(uart.sent), 2)


def test_bad_crc_every_time_gives_none_not_zeros():
    bad = READ_REPLY[:5] + b"\x00" + READ_REPLY[6:]
    assert_eq(pzem.PZEM(FakeUART([bad] * 3)).read(), None)


def test_truncated_reply_gives_none():
    assert_eq(pzem.PZEM(FakeUART([READ_REPLY[:12]] * 3)).read(), None)


def test_stale_bytes_are_drained_before_request():
    uart = FakeUART([READ_REPLY])
    uart.rx = b"\x00\x13\x37"
    assert_eq(pzem.PZEM(uart).read()["pf_centi"], 100)


def test_reset_energy_echo_and_error_reply():
    req = unhex("01 42 80 11")
    assert pzem.PZEM(FakeUART([req])).reset_energy()
    err = pzem.with_crc(bytes((1, 0xC2, 0x04)))
    e = assert_raises(pzem.PZEMError, pzem.PZEM(FakeUART([err])).reset_energy)
    assert "0x04" in str(e)


def test_alarm_threshold_and_address():
    req = unhex("01 06 00 01 08 FC DF 8B")
    uart = FakeUART([req])
    assert pzem.PZEM(uart).set_alarm_threshold(2300)
    assert_eq(uart.sent, [req])
    reply = pzem.with_crc(bytes((1, 3, 4, 0x08, 0xFC, 0x00, 0x01)))
    uart = FakeUART([reply])
    assert_eq(pzem.PZEM(uart).read_settings(), (2300, 1))
    assert_eq(uart.sent, [unhex("01 03 00 01 00 02 95 CB")])
    req = unhex("F8 06 00 02 00 05 FC 60")
    p = pzem.PZEM(FakeUART([req]), address=0xF8)
    assert p.set_address(5)
    assert_eq(p.address, 5)
    assert_raises(ValueError, p.set_address, 0)
    assert_raises(ValueError, p.set_alarm_threshold, 70000)


def test_emulator_round_trip():
    from pzem_emulator import EmulatedUART, Household, PzemEmulator

    emu = PzemEmulator(1, Household(seed=3))
    p = pzem.PZEM(EmulatedUART(emu))
    m = p.read()
    assert 2200 <= m["voltage_dv"] <= 2400, m
    assert 495 <= m["frequency_dhz"] <= 505, m
    assert 0 < m["pf_centi"] <= 100, m
    assert m["power_dw"] > 0
    # The household never draws less than its 80 W night base load (+-2 %),
    # whatever the hour the suite runs at.
    assert p.set_alarm_threshold(60)
    assert_eq(p.read_settings(), (60, 1))
    assert p.read()["alarm"]
    assert p.reset_energy()
    assert p.read()["energy_wh"] < 5
    # The emulator ignores frames with a bad CRC, like the meter.
    assert_eq(emu.handle(unhex("01 04 00 00 00 0A 70 0E")), None)
