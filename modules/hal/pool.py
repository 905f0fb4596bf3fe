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
* **Free lists**, one per class, are LIFO stacks (``collections.deque``: a push and a pop
  of a near-empty stack allocate nothing, where a list reallocates) of *block entries*:
  ``(arena, offset, block_size)`` tuples made once, when the block is carved, and reused
  for its whole life (the allocation that holds the block keeps its entry and puts that
  same tuple back), so an allocate/free cycle builds and frees no tuple.
* :meth:`trim` drops every arena none of whose blocks is in use (their free-list entries go
  with them); the memory is released once no borrowed range still references the arena.
* **Statistics** follow from the free lists: ``_owned[c]`` counts the blocks of class ``c``
  that exist (carved, less trimmed), so ``_owned[c] - len(_free[c])`` of them are live;
  live bytes, live allocations, pooled bytes and the free count (allocations less live
  ones) are derived on demand. Only the allocation count and the peak are kept at
  allocation, the peak through ``_bound``, an upper bound of the live bytes: an allocation
  of class ``c`` adds its block and subtracts the blocks released to ``c``'s list since
  the last look at it (``_seen[c]``: the list's length then), so releases to other
  classes are the only slack; the exact sum (:meth:`_refresh`) is taken only when the
  bound passes the peak.

The hot path is ``HalAllocator.allocate`` (``allocator.py``): in one frame it takes a
block entry under the pool lock (:meth:`_take` when the free list is empty) and builds the
:class:`~.allocation.Allocation` that owns the block and the HalBuffer over it (both
without attrs' ``__init__``); the allocation's finalizer puts the entry back itself
(:func:`return_block`, inlined) - no other object and no frame in between.

Threading: ``HalAllocator.allocate``, :meth:`allocate`, :meth:`trim` and
:meth:`statistics` take the pool lock. A release (``Allocation.__del__`` or ``release``)
may run at any point, including while this thread holds the lock (a finalizer run by the
garbage collector inside a locked section), so it takes no lock: it poisons the block (if
enabled) and appends its entry to the free list, one atomic ``list.append``, which is all
the bookkeeping a release needs. Only locked paths pop entries, so an entry seen in a free
list under the lock stays there until that path takes it; :meth:`trim` removes entries by
popping them (a release appending meanwhile is not lost).
"""

from __future__ import annotations

import threading
from collections import deque

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
    """One aligned numpy array blocks are carved from. ``data`` is always a 1-D,
    C-contiguous, writable ``uint8`` array; ``typed`` caches whole-arena views of it per
    dtype (:meth:`typed_view`), so a typed window of a block is one slice."""

    __slots__ = ("data", "size", "used", "bytes_view", "typed")

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
        self.bytes_view = memoryview(self.data)   # byte copies are cheaper through it
        self.typed: dict = {}                       # dtype -> typed_view(dtype)

    def typed_view(self, dtype: np.dtype) -> np.ndarray | None:
        """``data`` viewed as ``dtype``, cached in ``typed``: element ``i`` of it is the
        aligned bytes ``[i * n, (i + 1) * n)`` of the arena (``n = dtype.itemsize``; the
        arena starts 64-byte aligned and its size is a multiple of 64), so
        ``typed_view(dtype)[a // n:b // n]`` is ``data[a:b].view(dtype)`` for ``a`` and
        ``b`` multiples of ``n``. None when ``n`` does not divide 64 (e.g. ``V3``)."""
        view = self.typed.get(dtype)
        if view is None and not ALIGNMENT % dtype.itemsize:
            view = self.typed[dtype] = self.data.view(dtype)
        return view

    def __repr__(self) -> str:
        return f"<Arena size={self.size} used={self.used}>"


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
        self._free: dict[int, deque] = {}   # class -> LIFO stack of block entries
        self._owned: dict[int, int] = {}    # class -> blocks of the class in arenas
        self._seen: dict[int, int] = {}     # class -> its free list's length when last counted
        self._arenas: list[Arena] = []
        self._current: Arena | None = None
        self._peak_bytes = 0
        self._bound = 0                     # >= the live bytes (see the module doc)
        self._allocation_count = 0

    def allocate(self, nbytes: int) -> tuple[Arena, int, int]:
        """A block of at least ``nbytes``: ``(arena, offset, block_size)``.

        The contents are whatever the block last held (zero for fresh arenas, 0xCD for
        returned blocks when poisoning). Return it with :meth:`release`.
        """
        block = size_class(nbytes)
        with self._lock:
            arena, offset, _ = self._take(block)
        return arena, offset, block

    def release(self, arena: Arena, offset: int, block: int) -> None:
        """Returns a block (never blocks; safe from finalizers). Poisons it if enabled."""
        return_block(self, (arena, offset, block))

    def trim(self) -> int:
        """Releases every arena with no block in use; returns the bytes released."""
        with self._lock:
            pooled: dict[int, int] = {}     # id(arena) -> bytes of its blocks in free lists
            for block, entries in self._free.items():
                for arena, _, _ in entries.copy():     # releases may append meanwhile
                    key = id(arena)
                    pooled[key] = pooled.get(key, 0) + block
            idle = {id(a) for a in self._arenas if pooled.get(id(a), 0) == a.used}
            if not idle:
                return 0
            released = 0
            for arena in self._arenas:
                if id(arena) in idle:
                    released += arena.size
            self._arenas = [a for a in self._arenas if id(a) not in idle]
            if self._current is not None and id(self._current) in idle:
                self._current = None
            for block, entries in self._free.items():   # the lists stay: releases append
                kept = []
                while entries:      # popped one by one: a concurrent append is not lost
                    entry = entries.pop()
                    if id(entry[0]) in idle:
                        self._owned[block] -= 1
                    else:
                        kept.append(entry)
                kept.reverse()
                entries.extend(kept)
            self._refresh()
            return released

    def statistics(self) -> PoolStatistics:
        with self._lock:
            live_bytes, live_allocations, pooled_bytes = self._counts()
            return PoolStatistics(
                live_bytes=live_bytes, peak_bytes=self._peak_bytes,
                live_allocations=live_allocations,
                allocation_count=self._allocation_count,
                free_count=self._allocation_count - live_allocations,
                pooled_bytes=pooled_bytes,
                reserved_bytes=sum(a.size for a in self._arenas),
                arena_count=len(self._arenas))

    # Internals (called with the lock held).

    def _take(self, block: int) -> tuple[Arena, int, int]:
        """The entry ``(arena, offset, block)`` of a block of class ``block`` (from its free
        list, else carved), counted."""
        free = self._free.get(block)
        if free:
            self._counted(block, len(free))
            return free.pop()
        entry = self._carve(block)
        self._counted(block, 0)
        return entry

    def _counted(self, block: int, listed: int) -> None:
        """Counts an allocation of class ``block`` whose free list held ``listed`` entries
        before it (HalAllocator.allocate's too): the bound of the live bytes, and the
        peak, exact whenever the bound passes it."""
        seen = self._seen
        bound = self._bound + block * (seen[block] + 1 - listed)
        seen[block] = listed - 1 if listed else 0
        self._allocation_count += 1
        if bound > self._peak_bytes:
            bound = self._refresh()
            if bound > self._peak_bytes:
                self._peak_bytes = bound
        self._bound = bound

    def _refresh(self) -> int:
        """The exact live bytes, which become the bound (every class's list looked at)."""
        free = self._free
        seen = self._seen
        live_bytes = 0
        for block, owned in self._owned.items():
            n = seen[block] = len(free[block])
            live_bytes += (owned - n) * block
        self._bound = live_bytes
        return live_bytes

    def _counts(self) -> tuple[int, int, int]:
        """Exact ``(live bytes, live blocks, pooled bytes)`` from the free lists."""
        free = self._free
        live_bytes = live = pooled = 0
        for block, owned in self._owned.items():
            n = len(free[block])
            live += owned - n
            live_bytes += (owned - n) * block
            pooled += n * block
        return live_bytes, live, pooled

    def _carve(self, block: int) -> tuple[Arena, int, int]:
        """A new block's entry (made here, once for the block's life), counted in
        ``_owned``."""
        if block not in self._free:
            self._free[block] = deque()     # exists before any block of the class is returned
            self._owned[block] = self._seen[block] = 0
        if block > self._large:
            arena = Arena(block)        # may raise RESOURCE_EXHAUSTED: nothing counted yet
            arena.used = block
            self._arenas.append(arena)
            offset = 0
        else:
            arena = self._current
            if arena is None or arena.used + block > arena.size:
                arena = self._current = Arena(self.arena_bytes)
                self._arenas.append(arena)
            offset = arena.used
            arena.used = offset + block
        self._owned[block] += 1
        return arena, offset, block

    def __repr__(self) -> str:
        return (f"<MemoryPool arenas={len(self._arenas)} arena_bytes={self.arena_bytes} "
                f"poison={self.poison}>")


def return_block(pool: MemoryPool, entry: tuple) -> None:
    """Puts a block entry ``(arena, offset, block)`` back on its free list, the block
    poisoned first if enabled: one atomic append, no lock (see the module doc), so it never
    blocks. ``Allocation.__del__`` is this, inlined."""
    arena, offset, block = entry
    if pool.poison:
        arena.data[offset:offset + block] = pool._poison_byte
    pool._free[block].append(entry)
