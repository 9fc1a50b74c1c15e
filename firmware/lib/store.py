"""Store-and-forward queue of readings on flash: survives reboot, bounded, thinned when full.

Readings are JSON lines in numbered segment files (q/00000001, ...), oldest first.
When the queue holds more than `max_records`, the two oldest segments are merged
keeping every other reading (and the last one): energy is a cumulative counter,
so kWh totals between kept readings stay exact; only resolution is lost. What
was thinned is counted (persisted in q/meta) and reported in the status.
"""
import os

import flashfs

SEG_LEN = 50


class Store:
    def __init__(self, root="q", max_records=2000):
        self.root = root
        self.max_records = max(max_records, 2 * SEG_LEN)
        flashfs.makedirs(root)
        self.segs = []  # [number, line count], oldest first
        for name in sorted(os.listdir(root)):
            if name.isdigit():
                self.segs.append([int(name), self._count(self._path(int(name)))])
            elif name.endswith(".tmp"):
                flashfs.remove(root + "/" + name)
        self.thinned = flashfs.read_json(root + "/meta", {}).get("thinned", 0)
        self.unstamped = any(self._has_unstamped(s[0]) for s in self.segs)

    def _path(self, num):
        return "%s/%08d" % (self.root, num)

    @staticmethod
    def _count(path):
        n = 0
        with open(path) as f:
            for line in f:
                if line.strip():
                    n += 1
        return n

    def _lines(self, num):
        with open(self._path(num)) as f:
            return [line.rstrip("\n") for line in f if line.strip()]

    def _write(self, num, lines):
        flashfs.atomic_write(self._path(num), "".join(line + "\n" for line in lines))

    def _has_unstamped(self, num):
        with open(self._path(num)) as f:
            for line in f:
                if '"mono"' in line:
                    return True
        return False

    def __len__(self):
        n = 0
        for s in self.segs:
            n += s[1]
        return n

    def append(self, line):
        """Queue one reading (a JSON string) at the end."""
        if not self.segs or self.segs[-1][1] >= SEG_LEN:
            self.segs.append([self.segs[-1][0] + 1 if self.segs else 1, 0])
        with open(self._path(self.segs[-1][0]), "a") as f:
            f.write(line + "\n")
        self.segs[-1][1] += 1
        if '"mono"' in line:
            self.unstamped = True
        while len(self) > self.max_records and len(self.segs) > 1:
            self._thin_oldest()

    def _thin_oldest(self):
        a, b = self.segs[0][0], self.segs[1][0]
        lines = self._lines(a) + self._lines(b)
        kept = lines[::2]
        if (len(lines) - 1) % 2:
            kept.append(lines[-1])  # keep the boundary reading: totals stay exact
        self._write(a, kept)
        flashfs.remove(self._path(b))
        self.thinned += len(lines) - len(kept)
        self.segs[0][1] = len(kept)
        del self.segs[1]
        flashfs.write_json(self.root + "/meta", {"thinned": self.thinned})

    def peek(self, n):
        """Up to n oldest readings (JSON strings), all from the oldest segment."""
        if not self.segs:
            return []
        out = []
        with open(self._path(self.segs[0][0])) as f:
            for line in f:
                if line.strip():
                    out.append(line.rstrip("\n"))
                    if len(out) >= n:
                        break
        return out

    def drop(self, n):
        """Forget the n oldest readings (after they were acknowledged)."""
        num, count = self.segs[0]
        if n >= count:
            flashfs.remove(self._path(num))
            del self.segs[0]
        else:
            self._write(num, self._lines(num)[n:])
            self.segs[0][1] = count - n

    def stamp(self, boot_id, ticks_to_iso):
        """Give held readings of this boot their timestamp. Readings from an earlier
        boot that never learnt the time lose their tick stamp (the server then uses
        receive time). Plain string edits: re-encoding floats would round them."""
        if not self.unstamped:
            return 0
        done = 0
        for num, _ in self.segs:
            if not self._has_unstamped(num):
                continue
            lines = self._lines(num)
            for i, line in enumerate(lines):
                if '"mono":' in line:
                    lines[i] = restamp(line, boot_id, ticks_to_iso)
                    done += 1
            self._write(num, lines)
        self.unstamped = False
        return done


def _take_int(line, key):
    """(value, line without `"key":value,`) for an integer field."""
    i = line.index('"%s":' % key)
    j = line.index(",", i)
    return int(line[i + len(key) + 3:j]), line[:i] + line[j + 1:]


def restamp(line, boot_id, ticks_to_iso):
    """'{"seq":1,"mono":T,"boot":B,...}' -> '{"seq":1,"timestamp":"...",...}'."""
    mono, line = _take_int(line, "mono")
    boot, line = _take_int(line, "boot")
    if boot != boot_id:
        return line
    i = line.index(",") + 1  # after "seq":N
    return line[:i] + '"timestamp":"%s",' % ticks_to_iso(mono) + line[i:]
