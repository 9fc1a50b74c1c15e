"""Per-device reading counter that survives reboots without a flash write per reading.

Blocks of BLOCK numbers are reserved on flash; after a reboot counting resumes
at the next block, so seq never repeats (a reboot may skip up to BLOCK-1 numbers).
"""

import flashfs

BLOCK = 100


class SeqCounter:
    def __init__(self, path="seq.json"):
        self.path = path
        self.next = flashfs.read_json(path, {}).get("reserved", 1)
        self.limit = self.next

    def take(self):
        if self.next >= self.limit:
            self.limit = self.next + BLOCK
            flashfs.write_json(self.path, {"reserved": self.limit})
        n = self.next
        self.next += 1
        return n
