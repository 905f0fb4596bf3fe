"""A pooling host-memory allocator: size-class free lists carved from large numpy arenas.

Why a real pool: the HAL promises that resources referenced by asynchronous work stay alive
(``resource_set.py``), and commands that do not retain resources hold only *borrowed* raw
ranges (arena + offset + length, see ``raw_range.py``). If memory came straight from numpy
and Python's GC, a lifetime bug would go unnoticed (the borrowed array keeps the old bytes
alive). Here a freed block goes back to its free list at once and the next allocation of
the same size class gets *the same bytes* (LIFO), so a use-after-free shows up as wrong
data; with ``poison=True`` freed blocks are also filled with 0xCD on release.

Layout:

* **Arenas** are 64-byte aligned ``uint8`` numpy arrays of ``arena_bytes`` (default
  1 MiB), zero-filled when created. Blocks are carved from the current arena by bumping an
  offset; when a block does not fit, a new arena becomes current (the tail of the old one
  is left unused). Requests larger than ``arena_bytes // 4`` get a dedicated arena of
  exactly their class size, which is pooled like any other block afterwards.
* **Size classes** are multiples of 64 bytes: 64, 128, 192, 256, then four classes per
  doubling (320, 384, 448, 512, 640, ...), so internal waste is at most 25%.
* **Free lists**, one per class, are LIFO stacks of ``(arena, offset)``.
* :meth:`trim` drops every arena none of whose blocks is in use (their free-list entries go
  with them); the memory is released once no borrowed range still references the arena.

Threading: :meth:`allocate`, :meth:`trim` and :meth:`statistics` take the pool lock.
:meth:`release` never does: it may run from a finalizer (``Allocation.__del__``) at any
point, including while this thread holds the lock, so it only poisons the block and
appends it to a pending deque (an atomic operation), which the locked paths drain first.
"""

from __future__ import annotations

import collections
import threading

import attrs
import numpy as np

from pyree.status import InvalidArgumentError, ResourceExhaustedError

ALIGNMENT = 64
POISON_BYTE = 0xCD
DEFAULT_ARENA_BYTES = 1 << 20


def size_class(nbytes: int) -> int:
    """The block size serving a request of ``nbytes`` (0 gets the smallest block)."""
    if nbytes <= 256:
        return max(ALIGNMENT, (nbytes + ALIGNMENT - 1) & ~(ALIGNMENT - 1))
    step = (1 << ((nbytes - 1).bit_length() - 1)) >> 2
    return (nbytes + step - 1) // step * step


class Arena:
    """One aligned numpy array blocks are carved from."""

    __slots__ = ("data", "size", "used", "live")

    def __init__(self, size: int):
        try:
            raw = np.zeros(size + ALIGNMENT, dtype=np.uint8)
        except MemoryError:
            raise ResourceExhaustedError(
                f"out of host memory reserving a pool arena of {size} bytes") from None
        start = -raw.ctypes.data % ALIGNMENT
        self.data = raw[start:start + size]
        self.size = size
        self.used = 0   # bump offset
        self.live = 0   # blocks handed out and not yet returned

    def __repr__(self) -> str:
        return f"<Arena size={self.size} used={self.used} live={self.live}>"


@attrs.frozen
class PoolStatistics:
    """A snapshot of a :class:`MemoryPool` (byte counts are block sizes)."""

    live_bytes: int         # bytes in blocks currently allocated
    peak_bytes: int         # maximum of live_bytes since creation
    live_allocations: int   # blocks currently allocated
    allocation_count: int   # blocks handed out since creation
    free_count: int         # blocks returned since creation
    pooled_bytes: int       # bytes in free lists, ready for reuse
    reserved_bytes: int     # bytes in arenas (live + pooled + not yet carved)
    arena_count: int


class MemoryPool:
    """Size-class free lists over 64-byte aligned numpy arenas (see the module docstring)."""

    def __init__(self, arena_bytes: int = DEFAULT_ARENA_BYTES, *, poison: bool = False):
        if arena_bytes < 4 * ALIGNMENT or arena_bytes % ALIGNMENT:
            raise InvalidArgumentError(
                f"arena_bytes must be a multiple of {ALIGNMENT} and at least "
                f"{4 * ALIGNMENT}, got {arena_bytes}")
        self.arena_bytes = arena_bytes
        self.poison = poison
        self._poison_byte = POISON_BYTE   # kept here: release may run at interpreter exit
        self._large = arena_bytes // 4
        self._lock = threading.Lock()
        self._pending: collections.deque = collections.deque()
        self._free: dict[int, list] = {}
        self._arenas: list[Arena] = []
        self._current: Arena | None = None
        self._live_bytes = 0
        self._peak_bytes = 0
        self._allocation_count = 0
        self._free_count = 0

    def allocate(self, nbytes: int) -> tuple[Arena, int, int]:
        """A block of at least ``nbytes``: ``(arena, offset, block_size)``.

        The contents are whatever the block last held (zero for fresh arenas, 0xCD for
        returned blocks when poisoning). Return it with :meth:`release`.
        """
        if nbytes <= 256:
            block = ((nbytes + ALIGNMENT - 1) & ~(ALIGNMENT - 1)) or ALIGNMENT
        else:
            block = size_class(nbytes)
        with self._lock:
            if self._pending:
                self._drain()
            free = self._free.get(block)
            if free:
                arena, offset = free.pop()
            else:
                arena, offset = self._carve(block)
            arena.live += 1
            self._allocation_count += 1
            live = self._live_bytes = self._live_bytes + block
            if live > self._peak_bytes:
                self._peak_bytes = live
        return arena, offset, block

    def release(self, arena: Arena, offset: int, block: int) -> None:
        """Returns a block (lock-free; safe from finalizers). Poisons it if enabled."""
        if self.poison:
            arena.data[offset:offset + block] = self._poison_byte
        self._pending.append((arena, offset, block))

    def trim(self) -> int:
        """Releases every arena with no block in use; returns the bytes released."""
        with self._lock:
            self._drain()
            idle = {id(a) for a in self._arenas if a.live == 0}
            if not idle:
                return 0
            released = 0
            for arena in self._arenas:
                if id(arena) in idle:
                    released += arena.size
            self._arenas = [a for a in self._arenas if id(a) not in idle]
            if self._current is not None and id(self._current) in idle:
                self._current = None
            for block, entries in list(self._free.items()):
                kept = [e for e in entries if id(e[0]) not in idle]
                if kept:
                    self._free[block] = kept
                else:
                    del self._free[block]
            return released

    def statistics(self) -> PoolStatistics:
        with self._lock:
            self._drain()
            return PoolStatistics(    # live allocations and pooled bytes are derived here
                live_bytes=self._live_bytes, peak_bytes=self._peak_bytes,
                live_allocations=self._allocation_count - self._free_count,
                allocation_count=self._allocation_count, free_count=self._free_count,
                pooled_bytes=sum(block * len(entries)
                                 for block, entries in self._free.items()),
                reserved_bytes=sum(a.size for a in self._arenas),
                arena_count=len(self._arenas))

    # Internals (called with the lock held).

    def _drain(self) -> None:
        pending = self._pending
        free = self._free
        count = nbytes = 0
        while pending:
            arena, offset, block = pending.popleft()
            arena.live -= 1
            entries = free.get(block)
            if entries is None:
                entries = free[block] = []
            entries.append((arena, offset))
            count += 1
            nbytes += block
        self._live_bytes -= nbytes
        self._free_count += count

    def _carve(self, block: int) -> tuple[Arena, int]:
        if block > self._large:
            arena = Arena(block)
            arena.used = block
            self._arenas.append(arena)
            return arena, 0
        arena = self._current
        if arena is None or arena.used + block > arena.size:
            arena = self._current = Arena(self.arena_bytes)
            self._arenas.append(arena)
        offset = arena.used
        arena.used = offset + block
        return arena, offset

    def __repr__(self) -> str:
        return (f"<MemoryPool arenas={len(self._arenas)} arena_bytes={self.arena_bytes} "
                f"poison={self.poison}>")
