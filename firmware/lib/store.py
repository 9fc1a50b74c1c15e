"""Store-and-forward queue of readings on flash: survives reboot, bounded, thinned when full.

Readings are JSON lines in numbered segment files (q/00000001, ...), oldest first.
When the queue holds more than `max_records`, the two oldest segments are merged
keeping every other reading (and the last one): energy is a cumulative counter,
so kWh totals between kept readings stay exact; only resolution is lost. What
was thinned is counted (persisted in q/meta) and reported in the status.

Memory: every operation streams one record at a time (a line is at most MAX_LINE
bytes); no segment is ever held in RAM, so the heap needed does not grow with the
queue. Segment numbers and counts live in two small arrays, not in a list of lists.
"""

import os
from array import array

import flashfs

SEG_LEN = 50
MAX_LINE = 320  # longest reading line; longer lines are corrupt and skipped


def _next(f):
    """The next record of an open segment file, or None at its end (blank and overlong
    lines skipped). Callers loop on this inside `with open(...)`, so a file is closed
    as soon as they stop, even early (a generator would leave it to the GC)."""
    while True:
        line = f.readline()
        if not line:
            return None
        if 1 < len(line) <= MAX_LINE:
            return line.rstrip("\n")


class Store:
    def __init__(self, root="q", max_records=2000):
        self.root = root
        self.max_records = max(max_records, 2 * SEG_LEN)
        flashfs.makedirs(root)
        self.nums = array("I")  # segment numbers, oldest first
        self.counts = array("H")  # records in each
        for name in sorted(os.listdir(root)):
            if name.isdigit():
                self.nums.append(int(name))
                self.counts.append(self._count(self._path(int(name))))
            elif name.endswith(".tmp"):
                flashfs.remove(root + "/" + name)
        self.thinned = flashfs.read_json(root + "/meta", {}).get("thinned", 0)
        self.unstamped = False
        for num in self.nums:
            if self._has_unstamped(num):
                self.unstamped = True
                break

    def _path(self, num):
        return "%s/%08d" % (self.root, num)

    @staticmethod
    def _count(path):
        n = 0
        with open(path) as f:
            while _next(f) is not None:
                n += 1
        return n

    def _has_unstamped(self, num):
        with open(self._path(num)) as f:
            while True:
                line = _next(f)
                if line is None:
                    return False
                if '"mono"' in line:
                    return True

    def _rewrite(self, num, edit):
        """Stream segment `num` into a temp file through edit(index, line) -> line or
        None (dropped), then rename over it; returns how many lines were kept."""
        path = self._path(num)
        kept = 0
        i = 0
        with open(path) as f, open(path + ".tmp", "w") as out:
            while True:
                line = _next(f)
                if line is None:
                    break
                line = edit(i, line)
                i += 1
                if line is not None:
                    out.write(line)
                    out.write("\n")
                    kept += 1
        flashfs.replace(path + ".tmp", path)
        return kept

    def __len__(self):
        n = 0
        for c in self.counts:
            n += c
        return n

    def append(self, line):
        """Queue one reading (a JSON string) at the end."""
        if not self.nums or self.counts[-1] >= SEG_LEN:
            self.nums.append(self.nums[-1] + 1 if self.nums else 1)
            self.counts.append(0)
        with open(self._path(self.nums[-1]), "a") as f:
            f.write(line)
            f.write("\n")
        self.counts[-1] += 1
        if '"mono"' in line:
            self.unstamped = True
        while len(self) > self.max_records and len(self.nums) > 1:
            self._thin_oldest()

    def _thin_oldest(self):
        a, b = self.nums[0], self.nums[1]
        total = self.counts[0] + self.counts[1]
        pa, pb = self._path(a), self._path(b)
        kept = 0
        i = 0
        with open(pa + ".tmp", "w") as out:
            for path in (pa, pb):
                with open(path) as f:
                    while True:
                        line = _next(f)
                        if line is None:
                            break
                        # every other reading, and the last one: totals stay exact
                        if i % 2 == 0 or i == total - 1:
                            out.write(line)
                            out.write("\n")
                            kept += 1
                        i += 1
        flashfs.replace(pa + ".tmp", pa)
        flashfs.remove(pb)
        self.thinned += i - kept
        self.counts[0] = kept
        self.nums = self.nums[:1] + self.nums[2:]
        self.counts = self.counts[:1] + self.counts[2:]
        flashfs.write_json(self.root + "/meta", {"thinned": self.thinned})

    def peek(self, n):
        """Up to n oldest readings (JSON strings), all from the oldest segment."""
        out = []
        if not self.nums:
            return out
        with open(self._path(self.nums[0])) as f:
            while len(out) < n:
                line = _next(f)
                if line is None:
                    break
                out.append(line)
        return out

    def drop(self, n):
        """Forget the n oldest readings (after they were acknowledged)."""
        num, count = self.nums[0], self.counts[0]
        if n >= count:
            flashfs.remove(self._path(num))
            self.nums = self.nums[1:]
            self.counts = self.counts[1:]
        else:
            self.counts[0] = self._rewrite(num, lambda i, line: line if i >= n else None)

    def stamp(self, boot_id, ticks_to_iso):
        """Give held readings of this boot their timestamp. Readings from an earlier
        boot that never learnt the time lose their tick stamp (the server then uses
        receive time). Plain string edits: re-encoding floats would round them."""
        if not self.unstamped:
            return 0
        done = [0]

        def edit(i, line):
            if '"mono":' not in line:
                return line
            done[0] += 1
            return restamp(line, boot_id, ticks_to_iso)

        for k in range(len(self.nums)):
            if self._has_unstamped(self.nums[k]):
                self.counts[k] = self._rewrite(self.nums[k], edit)
        self.unstamped = False
        return done[0]


def _take_int(line, key):
    """(value, line without `"key":value,`) for an integer field."""
    i = line.index('"%s":' % key)
    j = line.index(",", i)
    return int(line[i + len(key) + 3 : j]), line[:i] + line[j + 1 :]


def restamp(line, boot_id, ticks_to_iso):
    """'{"seq":1,"mono":T,"boot":B,...}' -> '{"seq":1,"timestamp":"...",...}'."""
    mono, line = _take_int(line, "mono")
    boot, line = _take_int(line, "boot")
    if boot != boot_id:
        return line
    i = line.index(",") + 1  # after "seq":N
    return line[:i] + '"timestamp":"%s",' % ticks_to_iso(mono) + line[i:]
