"""Allocation: the storage behind one or more HalBuffers.

An :class:`Allocation` owns either one pool block (``memory`` is the arena's array,
``offset`` the block start, ``entry`` the block's free-list entry; made by
``HalAllocator.allocate`` as a :class:`PooledAllocation`) or a zero-copy window of external
memory (an imported ``!vm.buffer`` or host array, kept alive through ``source``; ``typed``
caches typed views of its whole ``memory`` for the fused submit, ``replay_fused.py``). Buffers
and their subspans hold the allocation; when the last of them is gone the allocation dies
and :meth:`__del__` puts the block's entry back on its pool's free list itself
(``pool.return_block`` inlined: no lock, never waits). Never earlier: nothing but buffers
may hold an allocation for the purpose of keeping its memory, and borrowed
:class:`~.raw_range.RawRange` objects hold the arena, not this.

:meth:`release` returns the storage early (``queue.dealloca``): the buffer objects stay
valid, but mapping or borrowing them fails with UseAfterReleaseError (FAILED_PRECONDITION);
the cached typed views are dropped with the memory.

``claims`` is the ownership counter of ``buffer.allocation.preserve`` / ``discard`` /
``is_terminal`` (``hal-abi.md`` 3.2): separate from Python's reference count, starts at 1.
"""

from __future__ import annotations

import threading

import attrs
import numpy as np

from pyree.status import UseAfterReleaseError

_claims_lock = threading.Lock()
_new = object.__new__


@attrs.define(eq=False, repr=False)
class Allocation:
    memory: np.ndarray | None   # 1-D uint8 backing array; None once released
    offset: int                 # absolute byte offset of the allocation in ``memory``
    size: int                   # allocation size in bytes
    pool: object = None         # MemoryPool the block returns to (None: external memory)
    arena: object = None        # pool Arena of the block
    block_size: int = 0         # pool block size
    source: object = None       # keeps external memory alive (VmBuffer, ndarray, ...)
    claims: int = 1
    queue_owner: object = None  # the device whose queue.alloca made it (queue.dealloca)
    entry: tuple | None = None  # the pool block's free-list entry (arena, offset, block_size)
    typed = None    # not a field: ExternalAllocation's slot (its typed views), else None

    def __del__(self):
        # pool.return_block inlined: the finalizer is the pooled block's only way home; no
        # lock, one atomic append (the pool's statistics follow from its free lists)
        pool = self.pool
        if pool is None or self.memory is None:
            return
        block = self.block_size
        if pool.poison:
            self.memory[self.offset:self.offset + block] = pool._poison_byte
        entry = self.entry
        if entry is None:       # a pooled Allocation(...) made by hand
            entry = (self.arena, self.offset, block)
        pool._free[block].append(entry)

    @classmethod
    def external(cls, memory: np.ndarray, offset: int, size: int, source) -> Allocation:
        """``Allocation(memory, offset, size, source=source)`` of memory the pool does not
        own (an import), built without attrs' ``__init__`` (a per-call path), as an
        :class:`ExternalAllocation` (no cached typed views yet)."""
        allocation = _new(ExternalAllocation)   # every field, as Allocation(...) sets them
        allocation.memory = memory
        allocation.offset = offset
        allocation.size = size
        allocation.source = source
        allocation.block_size = 0
        allocation.pool = allocation.arena = allocation.queue_owner = allocation.entry = None
        allocation.typed = None
        allocation.claims = 1
        return allocation

    @property
    def is_released(self) -> bool:
        return self.memory is None

    def checked_memory(self) -> np.ndarray:
        """``memory``, or UseAfterReleaseError if the storage was released."""
        memory = self.memory
        if memory is None:
            raise UseAfterReleaseError("buffer storage has been released (deallocated)")
        return memory

    def release(self) -> bool:
        """Returns the storage now (idempotent). True if this call released it."""
        with _claims_lock:
            if self.memory is None:
                return False
            self.memory = None
        if self.typed is not None:      # an ExternalAllocation's typed views
            self.typed = None
        if self.pool is not None:
            self.pool.release(self.arena, self.offset, self.block_size)   # a new entry
        self.source = None
        return True

    def preserve(self) -> None:
        """Adds an ownership claim."""
        with _claims_lock:
            self.claims += 1

    def discard(self) -> bool:
        """Drops one claim; True if the caller was the last owner (the count was 1)."""
        with _claims_lock:
            claims = self.claims
            if claims > 0:
                self.claims = claims - 1
            return claims == 1

    def is_terminal(self) -> bool:
        """True if the allocation has exactly one owner."""
        return self.claims == 1

    def __repr__(self) -> str:
        kind = "pooled" if self.pool is not None else "external"
        state = " released" if self.memory is None else ""
        return f"<Allocation {kind} size={self.size} claims={self.claims}{state}>"


class PooledAllocation(Allocation):
    """An :class:`Allocation` of a pool block as ``HalAllocator.allocate`` makes it: the same
    fields and behaviour, but the class is called without arguments (object's C
    ``__init__``, no attrs ``__init__`` frame) and the allocator stores every field."""

    __slots__ = ()
    __init__ = object.__init__      # (the type slot becomes object's own: no Python call)


class ExternalAllocation(Allocation):
    """An :class:`Allocation` of external memory as :meth:`Allocation.external` makes it, with
    one slot more: ``typed``, None or a dict of typed views of the whole ``memory`` per dtype
    (the fused submit's, ``replay_fused._external_view``; dropped by :meth:`release`). Pooled
    allocations do without it (their arena caches the views)."""

    __slots__ = ("typed",)
