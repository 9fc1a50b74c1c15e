"""Wall-clock time from NTP, and timestamps for readings taken before it was known.

A reading keeps its ticks_ms until the first sync; then its time is
now - (ticks now - ticks then), so held readings get their measurement time.
"""

import time

# ESP8266/ESP32 count seconds from 2000-01-01; the Unix port from 1970.
EPOCH_OFFSET = 0 if time.gmtime(0)[0] == 1970 else 946684800
RETRY_S = 60


class Clock:
    def __init__(self, sync_fn):
        self._sync_fn = sync_fn  # board.ntp_sync: sets the RTC or raises OSError
        self.synced = False
        self._base_ticks = 0
        self._base_ms = 0
        self._next_try = time.ticks_ms()

    def try_sync(self, force=False):
        """Sync with NTP when due; True on the first success."""
        if self.synced and not force:
            return False
        if not force and time.ticks_diff(time.ticks_ms(), self._next_try) < 0:
            return False
        self._next_try = time.ticks_add(time.ticks_ms(), RETRY_S * 1000)
        try:
            self._sync_fn()
        except (OSError, IndexError):  # ntptime raises both on bad replies
            return False
        first = not self.synced
        self.synced = True
        # One (wall clock, ticks) pair for every held reading: reading both clocks per
        # reading would let millisecond jitter reorder readings taken close together.
        self._base_ticks = time.ticks_ms()
        self._base_ms = now_ms()
        return first

    def time_of_ticks(self, ticks):
        """Seconds since the device epoch at which ticks_ms was `ticks`."""
        return time.time() - time.ticks_diff(time.ticks_ms(), ticks) // 1000

    def iso_of_ticks(self, ticks):
        """UTC ISO-8601, to the millisecond, of the moment ticks_ms was `ticks` (after
        the sync; ticks_diff covers some days either side of it)."""
        return iso_ms(self._base_ms + time.ticks_diff(ticks, self._base_ticks))


def now_ms():
    """Milliseconds since the device epoch (time_ns where the port has it)."""
    ns = getattr(time, "time_ns", None)
    return ns() // 1000000 if ns else time.time() * 1000


def iso(t):
    """UTC ISO-8601 for a device-epoch time."""
    y, mo, d, h, mi, s = time.gmtime(int(t))[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def iso_ms(ms):
    """UTC ISO-8601 with milliseconds for a device-epoch time in ms: readings 2 s apart
    stay measurably 2 s apart (whole seconds would blur that by up to one second)."""
    y, mo, d, h, mi, s = time.gmtime(ms // 1000)[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (y, mo, d, h, mi, s, ms % 1000)
