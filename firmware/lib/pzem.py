"""PZEM-004T v3.0 driver: Modbus-RTU over a UART that is passed in.

The UART only needs write(buf), read(n) -> bytes|None and any() -> int, so
tests hand in a fake (see firmware/tests) and the PC build an emulator.
A meter that does not answer, or answers garbage, gives None: never zeros.
"""

import time

# Timing knobs (tests shrink them). 9600 baud: a 25-byte reply takes ~26 ms.
TIMEOUT_MS = 200
RETRIES = 2
GAP_MS = 5

FUNC_READ_HOLDING = 0x03
FUNC_READ_INPUT = 0x04
FUNC_WRITE_SINGLE = 0x06
FUNC_RESET_ENERGY = 0x42
REG_ALARM_THRESHOLD = 0x0001
REG_ADDRESS = 0x0002
GENERAL_ADDRESS = 0xF8


class PZEMError(Exception):
    """The meter answered with a Modbus exception code."""


def crc16(data):
    """CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def with_crc(body):
    """body + its CRC, low byte first (Modbus order)."""
    c = crc16(body)
    return bytes(body) + bytes((c & 0xFF, c >> 8))


def crc_ok(frame):
    return len(frame) >= 4 and crc16(frame[:-2]) == (frame[-2] | frame[-1] << 8)


def read_request(addr, func, reg, count):
    return with_crc(bytes((addr, func, reg >> 8, reg & 0xFF, count >> 8, count & 0xFF)))


def write_request(addr, reg, value):
    return with_crc(
        bytes((addr, FUNC_WRITE_SINGLE, reg >> 8, reg & 0xFF, value >> 8, value & 0xFF))
    )


def reset_request(addr):
    return with_crc(bytes((addr, FUNC_RESET_ENERGY)))


def _u32(w, i):
    # 32-bit values are low word first, then high word; each word big-endian.
    return (w[i] << 8 | w[i + 1]) | (w[i + 2] << 24 | w[i + 3] << 16)


def decode_measurements(payload):
    """Decode the 20 data bytes of a 10-register read, in the meter's integer units.

    Integers, not floats: ESP8266 floats have ~6 digits, too few for 9999.999 kWh.
    """
    w = payload
    return {
        "voltage_dv": w[0] << 8 | w[1],
        "current_ma": _u32(w, 2),
        "power_dw": _u32(w, 6),
        "energy_wh": _u32(w, 10),
        "frequency_dhz": w[14] << 8 | w[15],
        "pf_centi": w[16] << 8 | w[17],
        "alarm": (w[18] << 8 | w[19]) == 0xFFFF,
    }


def _dec(n, places):
    q = 10**places
    return "%d.%s" % (n // q, ("000" + str(n % q))[-places:])


def json_fields(m):
    """The v1 reading fields (V, A, W, kWh, Hz, pf, alarm) as a JSON fragment, exact decimals."""
    return '"voltage":%s,"current":%s,"power":%s,"energy":%s,"frequency":%s,"pf":%s,"alarm":%s' % (
        _dec(m["voltage_dv"], 1),
        _dec(m["current_ma"], 3),
        _dec(m["power_dw"], 1),
        _dec(m["energy_wh"], 3),
        _dec(m["frequency_dhz"], 1),
        _dec(m["pf_centi"], 2),
        "true" if m["alarm"] else "false",
    )


class PZEM:
    """One meter on a UART. Methods return None when the meter gives no valid answer."""

    def __init__(self, uart, address=1):
        if not 1 <= address <= 0xF8:
            raise ValueError("modbus address must be 1..247 (or 0xF8)")
        self.uart = uart
        self.address = address
        self.errors = 0  # failed exchanges (timeouts, bad CRC), for status

    def _drain(self):
        # Stale bytes from an earlier, timed-out reply would corrupt this one.
        n = self.uart.any()
        while n:
            self.uart.read(n)
            n = self.uart.any()

    def _read_exact(self, n):
        buf = b""
        need = n
        start = time.ticks_ms()
        while len(buf) < need:
            chunk = self.uart.read(need - len(buf))
            if chunk:
                buf += chunk
                if len(buf) >= 2 and buf[1] & 0x80:
                    need = 5  # a Modbus exception reply: addr, func|0x80, code, CRC
            elif time.ticks_diff(time.ticks_ms(), start) >= TIMEOUT_MS:
                break
            else:
                time.sleep_ms(GAP_MS)
        return buf[:need]

    def exchange(self, request, reply_len):
        """Send a frame; return the checked reply frame or None. Raises PZEMError on exception replies."""
        for _ in range(RETRIES + 1):
            self._drain()
            self.uart.write(request)
            reply = self._read_exact(reply_len)
            if len(reply) == 5 and reply[1] & 0x80 and crc_ok(reply) and reply[0] == request[0]:
                raise PZEMError("modbus exception 0x%02x" % reply[2])
            if (
                len(reply) == reply_len
                and crc_ok(reply)
                and reply[0] == request[0]
                and reply[1] == request[1]
            ):
                return reply
            self.errors += 1
        return None

    def read(self):
        """All 10 input registers (see decode_measurements), or None."""
        try:
            reply = self.exchange(read_request(self.address, FUNC_READ_INPUT, 0, 10), 25)
        except PZEMError:
            self.errors += 1
            return None
        if reply is None or reply[2] != 20:
            return None
        return decode_measurements(reply[3:23])

    def reset_energy(self):
        """Zero the energy counter; True when the meter echoed the command."""
        req = reset_request(self.address)
        return self.exchange(req, 4) == req

    def read_settings(self):
        """(alarm threshold W, modbus address) or None."""
        reply = self.exchange(
            read_request(self.address, FUNC_READ_HOLDING, REG_ALARM_THRESHOLD, 2), 9
        )
        if reply is None or reply[2] != 4:
            return None
        return (reply[3] << 8 | reply[4], reply[5] << 8 | reply[6])

    def set_alarm_threshold(self, watts):
        if not 0 <= watts <= 0xFFFF:
            raise ValueError("alarm threshold must be 0..65535 W")
        req = write_request(self.address, REG_ALARM_THRESHOLD, watts)
        return self.exchange(req, 8) == req

    def set_address(self, new_address):
        """Give the meter a new Modbus address (send to 0xF8 when it is alone on the bus)."""
        if not 1 <= new_address <= 0xF7:
            raise ValueError("modbus address must be 1..247")
        req = write_request(self.address, REG_ADDRESS, new_address)
        if self.exchange(req, 8) != req:
            return False
        self.address = new_address
        return True
