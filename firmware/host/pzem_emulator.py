"""PZEM-004T v3 emulator for the PC build. DO NOT UPLOAD.

Answers real Modbus-RTU frames (requests with a bad CRC get no answer, like the
meter), with a household load: a base load following the time of day, a fridge
compressor cycling, random kettle / oven / washing machine runs, and noise.
Energy is integrated from power over (optionally sped-up) time.
"""

import math
import random
import time

from pzem import crc_ok, with_crc

# name, watts, pf, mean minutes between starts, run minutes
APPLIANCES = (
    ("kettle", 2000, 1.0, 180, 3),
    ("oven", 2200, 0.99, 1440, 45),
    ("washer", 500, 0.8, 1440, 90),
    ("tv", 120, 0.9, 480, 120),
)


class Household:
    def __init__(self, seed=1, speed=1.0, start=None):
        self.rng = random.Random(seed) if hasattr(random, "Random") else random
        if not hasattr(random, "Random"):
            random.seed(seed)
        self.speed = speed
        self.t0 = time.time()
        self.sim_t = self.t0 if start is None else start
        self.last = self.t0
        self.energy_wh = float(self.rng.randint(1000, 400000)) / 10
        self.running = {}  # name -> sim time it stops

    def _advance(self):
        now = time.time()
        dt = max(0.0, (now - self.last) * self.speed)
        self.last = now
        p_before = self.power()[0]
        self.sim_t += dt
        minutes = dt / 60
        for name, _, _, every, run in APPLIANCES:
            if name not in self.running and self.rng.random() < minutes / every:
                self.running[name] = self.sim_t + run * 60
        for name in list(self.running):
            if self.running[name] <= self.sim_t:
                del self.running[name]
        self.energy_wh = (self.energy_wh + p_before * dt / 3600) % 10000000

    def power(self):
        """(watts, pf) now."""
        hour = (self.sim_t % 86400) / 3600
        # Base: ~80 W at night, morning and evening peaks.
        base = (
            80
            + 150 * max(0.0, math.sin((hour - 6) / 24 * 2 * math.pi))
            + 250 * math.exp(-((hour - 19.5) ** 2) / 4)
            + 120 * math.exp(-((hour - 7.5) ** 2) / 1)
        )
        fridge = 90 if (self.sim_t // 60) % 40 < 15 else 0
        watts, reactive = base + fridge, fridge * 0.6
        for name, w, pf, _, _ in APPLIANCES:
            if name in self.running:
                watts += w
                reactive += w * (1 - pf)
        watts *= 1 + (self.rng.random() - 0.5) * 0.04
        pf = watts / (watts + reactive) if watts else 1.0
        return watts, pf

    def registers(self):
        """The 10 input registers the meter would hold now."""
        self._advance()
        watts, pf = self.power()
        volts = 230 + 4 * math.sin(self.sim_t / 3600) + (self.rng.random() - 0.5) * 2
        amps = watts / (volts * pf)
        hz = 50 + (self.rng.random() - 0.5) * 0.1
        return make_registers(volts, amps, watts, int(self.energy_wh), hz, pf, False)


def make_registers(volts, amps, watts, wh, hz, pf, alarm):
    ma, dw = int(amps * 1000), int(watts * 10)
    return [
        int(volts * 10),
        ma & 0xFFFF,
        ma >> 16,
        dw & 0xFFFF,
        dw >> 16,
        wh & 0xFFFF,
        wh >> 16,
        int(hz * 10 + 0.5),
        int(pf * 100 + 0.5),
        0xFFFF if alarm else 0,
    ]


class PzemEmulator:
    """One meter on the bus: handle(request frame) -> reply frame or None."""

    def __init__(self, address=1, load=None):
        self.address = address
        self.load = load or Household()
        self.alarm_threshold = 2300
        self.energy_offset = 0

    def handle(self, frame):
        if not crc_ok(frame) or len(frame) < 4:
            return None
        addr, func = frame[0], frame[1]
        if addr not in (self.address, 0xF8):
            return None
        if func == 0x04 and len(frame) == 8:
            reg, count = frame[2] << 8 | frame[3], frame[4] << 8 | frame[5]
            regs = self.load.registers()
            wh = (regs[5] | regs[6] << 16) - self.energy_offset
            regs[5], regs[6] = wh & 0xFFFF, wh >> 16
            if watts_of(regs) >= self.alarm_threshold * 10:
                regs[9] = 0xFFFF
            return self._words(addr, func, regs, reg, count)
        if func == 0x03 and len(frame) == 8:
            reg, count = frame[2] << 8 | frame[3], frame[4] << 8 | frame[5]
            return self._words(addr, func, [0, self.alarm_threshold, self.address], reg, count)
        if func == 0x06 and len(frame) == 8:
            reg, value = frame[2] << 8 | frame[3], frame[4] << 8 | frame[5]
            if reg == 1:
                self.alarm_threshold = value
            elif reg == 2 and 1 <= value <= 0xF7:
                self.address = value
            else:
                return with_crc(bytes((addr, 0x86, 0x03)))
            return bytes(frame)
        if func == 0x42 and len(frame) == 4:
            self.energy_offset = int(self.load.energy_wh)
            return bytes(frame)
        return with_crc(bytes((addr, func | 0x80, 0x01)))

    @staticmethod
    def _words(addr, func, regs, reg, count):
        if reg + count > len(regs) or count == 0:
            return with_crc(bytes((addr, func | 0x80, 0x02)))
        body = bytearray((addr, func, count * 2))
        for w in regs[reg : reg + count]:
            body.append(w >> 8)
            body.append(w & 0xFF)
        return with_crc(body)


def watts_of(regs):
    return regs[3] | regs[4] << 16


class EmulatedUART:
    """machine.UART look-alike wired to an emulator (write a request, read the reply)."""

    SENT_KEPT = 16  # request frames kept for tests; a long-running meter must not grow

    def __init__(self, emulator):
        self.emulator = emulator
        self.rx = b""
        self.sent = []

    def write(self, buf):
        if len(self.sent) >= self.SENT_KEPT:
            self.sent.pop(0)
        self.sent.append(bytes(buf))
        reply = self.emulator.handle(bytes(buf))
        if reply:
            self.rx += reply
        return len(buf)

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        if not self.rx:
            return None
        if n < 0:
            n = len(self.rx)
        out, self.rx = self.rx[:n], self.rx[n:]
        return out
