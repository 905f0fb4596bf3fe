"""When a command needs an execution barrier before it.

Commands between two barriers may run concurrently (``local-task`` runs a batch's
dispatches in any order). A command needs a barrier before it when it reads or writes a
byte range written since the last barrier (read-after-write, write-after-write) or
writes a range read since then (write-after-read: the arena reuses bytes).
"""

from __future__ import annotations


def _overlaps(ranges, key, start, end) -> bool:
    return any(k == key and s < end and start < e for k, s, e in ranges)


class HazardTracker:
    def __init__(self):
        self.reads: list[tuple] = []
        self.writes: list[tuple] = []

    def needs_barrier(self, reads, writes) -> bool:
        """``reads``/``writes``: (buffer key, start, end) byte ranges of the next command."""
        for key, start, end in reads:
            if end > start and _overlaps(self.writes, key, start, end):
                return True
        for key, start, end in writes:
            if end > start and (_overlaps(self.writes, key, start, end)
                                or _overlaps(self.reads, key, start, end)):
                return True
        return False

    def barrier(self) -> None:
        self.reads.clear()
        self.writes.clear()

    def record(self, reads, writes) -> None:
        self.reads.extend(reads)
        self.writes.extend(writes)
