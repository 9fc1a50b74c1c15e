"""Test doubles for the firmware suite (not uploaded)."""

import io

from pzem_emulator import EmulatedUART


class _ScriptedMeter:
    """Answers each request with the next scripted reply (None = stays silent)."""

    def __init__(self, replies):
        self.replies = list(replies)

    def handle(self, request):
        return self.replies.pop(0) if self.replies else None


class FakeUART(EmulatedUART):
    """Records what the driver writes; answers from a list of scripted replies
    (None = the meter stays silent for that request)."""

    def __init__(self, replies=()):
        super().__init__(_ScriptedMeter(replies))


class FakeSocket:
    """A socket for umqtt: reads come from `incoming`, writes are collected.
    Empty input: a non-blocking read gives None, a blocking one times out."""

    def __init__(self, incoming=b""):
        self.inp = io.BytesIO(incoming)
        self.out = io.BytesIO()
        self.blocking = True
        self.closed = False

    def feed(self, data):
        pos = self.inp.tell()
        rest = self.inp.read()
        self.inp = io.BytesIO(rest + data)
        self.inp.seek(0)
        return pos

    def read(self, n):
        if self.closed:
            raise OSError(9)
        data = self.inp.read(n)
        if not data:
            if not self.blocking:
                return None
            raise OSError(110)  # ETIMEDOUT
        return data

    def write(self, buf, n=None):
        if self.closed:
            raise OSError(32)
        buf = buf.encode() if isinstance(buf, str) else bytes(buf)
        buf = buf if n is None else buf[:n]
        self.out.write(buf)
        return len(buf)

    def settimeout(self, t):
        self.blocking = t != 0

    def setblocking(self, flag):
        self.blocking = flag

    def connect(self, addr):
        pass

    def close(self):
        self.closed = True

    def sent(self):
        return self.out.getvalue()


class FakeSocketModule:
    """Stands in for umqtt.simple's `socket` module; hands out prepared sockets."""

    def __init__(self, *socks):
        self.socks = list(socks)
        self.made = []

    def socket(self, *a):
        if not self.socks:
            raise OSError(111)  # ECONNREFUSED: the broker is down
        s = self.socks.pop(0)
        self.made.append(s)
        return s

    def getaddrinfo(self, host, port, *a):
        return [(2, 1, 0, "", (host, port))]


def assert_eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%r != %r %s" % (a, b, msg))


def assert_raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def unhex(s):
    import binascii

    return binascii.unhexlify(s.replace(" ", ""))


class BrokerSocket(FakeSocket):
    """A FakeSocket that answers like a broker: CONNACK, SUBACK, PUBACK for what the
    device wrote (umqtt writes a packet in pieces, so complete packets are parsed).
    answer_publish=False models a broker that stopped acknowledging."""

    def __init__(self, answer_publish=True):
        FakeSocket.__init__(self)
        self.parsed = 0
        self.answer_publish = answer_publish

    def write(self, buf, n=None):
        r = FakeSocket.write(self, buf, n)
        self._answer()
        return r

    def _answer(self):
        data = self.out.getvalue()
        while True:
            i = self.parsed
            if i + 2 > len(data):
                return
            n, shift, j = 0, 0, i + 1
            while True:
                if j >= len(data):
                    return
                b = data[j]
                n |= (b & 0x7F) << shift
                shift += 7
                j += 1
                if not b & 0x80:
                    break
            if j + n > len(data):
                return
            op, body = data[i], data[j : j + n]
            self.parsed = j + n
            if op == 0x10:
                self.feed(b"\x20\x02\x00\x00")
            elif op == 0x82:
                self.feed(b"\x90\x03" + body[:2] + b"\x01")
            elif op & 0xF0 == 0x30 and op & 6 and self.answer_publish:
                tl = body[0] << 8 | body[1]
                self.feed(b"\x40\x02" + body[2 + tl : 4 + tl])
