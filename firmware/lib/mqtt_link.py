"""MQTT session on top of micropython-lib's umqtt.simple.

Topics (protocol v1): meter/<id>/data (QoS 1), meter/<id>/status (retained,
last will "offline"), meter/<id>/control (subscribed), meter/<id>/control/ack.
Every network fault surfaces as OSError; the link then closes and retries
with exponential back-off (the caller keeps queueing readings meanwhile).

With TLS (mqtts) the broker's certificate must verify against the pinned CA file
and name the configured host. A failed verification, a missing CA file or a port
that cannot verify (the ESP8266's axTLS) is a connect failure like any other: it is
logged and retried after the back-off, and never becomes a plain connection.
"""

import time

import umqtt.simple
from umqtt.simple import MQTTClient, MQTTException

# Timing knobs (tests and the PC build shrink them).
SOCKET_TIMEOUT_S = 10
KEEPALIVE_S = 60
BACKOFF_MIN_S = 1
BACKOFF_MAX_S = 60


class Chunks:
    """A payload made of several strings, written one after the other: a batch of
    readings never needs one contiguous block of heap. (ASCII only: len is bytes.)"""

    def __init__(self, parts):
        self.parts = parts
        n = 0
        for p in parts:
            n += len(p)
        self.size = n

    def __len__(self):
        return self.size


class _DeadlineSocket:
    """The socket umqtt.simple uses, with every operation bounded by the link's
    deadline (and SOCKET_TIMEOUT_S): a stalled broker costs at most the time left
    before the next reading, never the reading itself. umqtt.simple's
    setblocking(True/False) maps to "until the deadline" / "do not wait"."""

    def __init__(self, sock, link):
        self._s = sock  # the TLS socket once connected with TLS
        self._raw = sock  # timeouts are set on the TCP socket under TLS
        self._link = link
        self._wait = True
        self.op = None  # first byte of the last packet read (its retain flag is bit 0)
        self.want_op = False

    def _arm(self):
        if not self._wait:
            self._raw.settimeout(0)
            return
        left = self._link.time_left_ms()
        if left <= 0:
            raise OSError(110)  # ETIMEDOUT: no time left before the next reading
        self._raw.settimeout(min(left, SOCKET_TIMEOUT_S * 1000) / 1000)

    def setblocking(self, flag):
        self._wait = flag

    def connect(self, addr):
        self._arm()
        self._s.connect(addr)
        if self._link.tls:
            # The handshake (and the certificate check) runs here, within the deadline.
            self._s = self._link.tls.wrap(self._raw)

    def read(self, n):
        self._arm()
        data = self._s.read(n)
        if self.want_op and data:
            self.op = data[0]
            self.want_op = False
        return data

    def write(self, buf, n=None):
        self._arm()
        if isinstance(buf, Chunks):
            for part in buf.parts:
                self._s.write(part)
            return len(buf)
        if n is None:
            return self._s.write(buf)
        return self._s.write(buf, n)

    def close(self):
        self._s.close()


class _Net:
    """Stands in for the socket module inside umqtt.simple (its connect() makes the
    socket itself), so the connection handshake is deadline-bounded too."""

    def __init__(self, link, base):
        self._link = link
        self.base = base  # the socket module (tests put a fake one there)

    def socket(self, *args):
        return _DeadlineSocket(self.base.socket(*args), self._link)

    def getaddrinfo(self, host, port):
        return self.base.getaddrinfo(host, port)


def der(cert):
    """The DER bytes of a certificate given as DER or PEM (MicroPython's mbedTLS is built
    without PEM parsing: its load_verify_locations takes DER only)."""
    begin = b"-----BEGIN CERTIFICATE-----"
    at = cert.find(begin)
    if at < 0:
        return cert
    end = cert.find(b"-----END CERTIFICATE-----", at)
    if end < 0:
        raise ValueError("PEM without its END line")
    import binascii

    return binascii.a2b_base64(cert[at + len(begin) : end].replace(b"\n", b"").replace(b"\r", b""))


class TlsConfig:
    """mqtts settings: the CA file that must have signed the broker's certificate, and
    the name that certificate must carry (the configured mqtt_host)."""

    def __init__(self, ca_file, host):
        if not ca_file:
            raise ValueError("mqtt_tls needs mqtt_ca (the CA certificate file)")
        self.ca_file = ca_file
        self.host = host

    def context(self):
        """A client context that requires a verified certificate, or OSError saying why
        there can be none (a port without verification is refused, not used unverified)."""
        try:
            import tls
        except ImportError:
            try:
                import ssl as tls
            except ImportError:
                raise OSError("tls: this MicroPython build has no TLS module")
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        try:
            ctx.verify_mode = tls.CERT_REQUIRED
        except (AttributeError, ValueError):
            pass
        if getattr(ctx, "verify_mode", None) != tls.CERT_REQUIRED or not hasattr(
            ctx, "load_verify_locations"
        ):
            # axTLS (the ESP8266 port) accepts CERT_REQUIRED and ignores it
            raise OSError("tls: this port cannot verify certificates; not connecting")
        try:
            with open(self.ca_file, "rb") as f:
                cadata = f.read()
        except OSError as e:
            raise OSError("tls: cannot read mqtt_ca %s: %r" % (self.ca_file, e))
        try:
            ctx.load_verify_locations(der(cadata))
        except (ValueError, TypeError) as e:
            raise OSError("tls: mqtt_ca %s is not a certificate: %r" % (self.ca_file, e))
        return ctx

    def wrap(self, sock):
        ctx = self.context()
        try:
            return ctx.wrap_socket(sock, server_hostname=self.host)
        except (OSError, ValueError) as e:
            # mbedTLS: a refused certificate is ValueError ("not correctly signed by the
            # trusted CA", "CN mismatch", expired), a broken handshake OSError
            raise OSError("tls handshake with %s failed: %s" % (self.host, str(e).strip()))


class _Client(MQTTClient):
    """umqtt.simple's client, noting each incoming packet's first byte: its callback
    gets no retain flag, and a retained control message must never run."""

    def wait_msg(self):
        s = self.sock
        if isinstance(s, _DeadlineSocket):
            s.op = None
            s.want_op = True
        return MQTTClient.wait_msg(self)


class Link:
    def __init__(
        self,
        device_id,
        host,
        port=1883,
        user="",
        password="",
        client_id=None,
        on_control=None,
        tls_ca=None,
    ):
        """tls_ca: the CA file for mqtts (None: plain MQTT)."""
        if not host:
            raise ValueError("mqtt_host is not configured")
        self.tls = TlsConfig(tls_ca, host) if tls_ca is not None else None
        base = "meter/%s/" % device_id
        self.t_data = base + "data"
        self.t_status = base + "status"
        self.t_control = base + "control"
        self.t_ack = base + "control/ack"
        self.on_control = on_control
        self.client = _Client(
            client_id or device_id,
            host,
            port,
            user or None,
            password or None,
            keepalive=KEEPALIVE_S,
        )
        self.client.set_last_will(self.t_status, b"offline", retain=True, qos=1)
        self.client.set_callback(self._on_message)
        self.up = False
        self.backoff = BACKOFF_MIN_S
        self.next_try = time.ticks_ms()
        self.last_io = time.ticks_ms()
        self.connects = 0
        self.inbox = []  # control messages, handled by the caller outside umqtt's callback
        self.deadline = None  # ticks_ms by which any network call must have returned

    def time_left_ms(self):
        """Milliseconds until the deadline (SOCKET_TIMEOUT_S when there is none)."""
        if self.deadline is None:
            return SOCKET_TIMEOUT_S * 1000
        return time.ticks_diff(self.deadline, time.ticks_ms())

    def _on_message(self, topic, msg):
        op = getattr(self.client.sock, "op", None)
        if op is not None and op & 1:
            print("control: retained message ignored")
            return  # a retained command would run again on every connect
        if topic == self.t_control.encode() and len(self.inbox) < 4:
            self.inbox.append(msg)

    def due(self):
        return not self.up and time.ticks_diff(time.ticks_ms(), self.next_try) >= 0

    def connect(self):
        """Connect and subscribe; on failure schedule the next try and re-raise OSError."""
        base = umqtt.simple.socket
        umqtt.simple.socket = _Net(self, base)  # only while umqtt makes its socket
        try:
            self.client.connect()
            self.client.subscribe(self.t_control, qos=1)
        except (OSError, MQTTException, IndexError, AssertionError) as e:
            self.fail()
            raise OSError("mqtt connect: %r" % (e,))
        finally:
            umqtt.simple.socket = base
        self.up = True
        self.backoff = BACKOFF_MIN_S
        self.connects += 1
        self.last_io = time.ticks_ms()

    def fail(self):
        """Drop the session; try again after the back-off, which doubles each time."""
        self.up = False
        try:
            self.client.sock.close()
        except Exception:  # the socket may be half-made or already gone
            pass
        self.next_try = time.ticks_add(time.ticks_ms(), self.backoff * 1000)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except (OSError, MQTTException, IndexError, AssertionError, TypeError) as e:
            # umqtt.simple reports a dead peer as OSError, IndexError (empty read) or
            # TypeError (read -> None); all mean the session is gone.
            self.fail()
            raise OSError("mqtt: %r" % (e,))
        self.last_io = time.ticks_ms()

    def publish(self, topic, payload, retain=False, qos=1):
        self._guard(self.client.publish, topic, payload, retain, qos)

    def publish_data(self, payload):
        """One reading or a batch; returns once the broker acknowledged (QoS 1)."""
        self.publish(self.t_data, payload)

    def publish_status(self, payload):
        self.publish(self.t_status, payload, True)

    def ack(self, payload):
        self.publish(self.t_ack, payload)

    def poll(self):
        """Handle what the broker sent (control messages go to inbox); ping when idle."""
        if not self.up:
            return
        if time.ticks_diff(time.ticks_ms(), self.last_io) > KEEPALIVE_S * 500:
            self._guard(self.client.ping)
        for _ in range(8):
            op = None
            try:
                op = self.client.check_msg()
            except (OSError, MQTTException, IndexError, AssertionError, TypeError) as e:
                self.fail()
                raise OSError("mqtt: %r" % (e,))
            if op is None:
                break

    def close(self):
        if self.up:
            try:
                self.client.disconnect()
            except OSError:
                pass
        self.up = False
