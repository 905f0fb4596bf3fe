"""ResourceSet: how asynchronous HAL work keeps its resources alive (``hal-abi.md`` 5.6).

This file is a contract. Read it before recording or executing anything asynchronously.

The rule
    Resource lifetime tracking lives inside the HAL. Work that may run after the call that
    recorded it returns (a deferred command buffer, a queue operation on an asynchronous
    queue) *retains* every resource it references (buffers, executables, channels, the
    captured ``update_buffer`` bytes, binding-table buffers, ...) for as long as it can
    still touch them. Host code, and the VM, may drop their references at any moment
    afterwards without the device ever touching freed memory.

Retention in pyree
    Retaining is holding a Python reference; releasing is dropping it. Python's reference
    count is the VM's reference count (refs in registers are plain Python references), so
    no counter is kept here. What a retained reference protects is the *allocation*:
    a pooled block goes back to its pool the moment the last buffer referencing it dies
    (``allocation.py``), and is handed to the next allocation of its size class.

Who retains, who does not
    * Deferred/recorded command buffers retain, in a ResourceSet, everything their
      commands reference, from recording until the command buffer itself is destroyed.
    * Queue operations retain their command buffer, buffers, files and binding-table
      buffers (unless BORROW_BINDING_TABLE_LIFETIME) from submission until they signal
      or fail; on a synchronous device that is the duration of the call.
    * Tracking is paid only where needed: inline command buffers (which execute each
      command while it is recorded), UNRETAINED command buffers and dispatches with
      BORROW_RESOURCE_LIFETIMES retain nothing. Commands that do not retain must hold only
      borrowed :class:`~.raw_range.RawRange` objects (arena + offset + length) and never
      the buffer object itself, so that a broken lifetime promise shows up as wrong data
      (the block reused by someone else, or 0xCD with a poisoning pool) instead of being
      silently papered over by the garbage collector.

The set
    * Append-only. :meth:`insert` retains a resource; nothing is ever removed one by one.
    * An MRU cache of the last :data:`MRU_SIZE` (8) distinct resources filters duplicates:
      a hit moves the entry to the front and retains nothing more, so the same buffer
      inserted 1,000 times in a row costs one entry. A miss appends the resource to the
      current storage chunk and pushes it to the front, evicting the oldest MRU entry.
      A resource that fell out of the MRU window may be retained again; that is allowed
      (each retain is one more reference, dropped together at release).
    * Storage is chunks (plain Python lists, at most :data:`CHUNK_CAPACITY` entries each) of
      bare references: 8 bytes per entry in CPython plus list over-allocation. The MRU is a
      dict keyed by ``id()``; ids are unique because every MRU entry is also retained.
    * ``None`` is ignored (null refs need no retention).
    * :meth:`freeze` marks the end of recording: inserting afterwards is FAILED_PRECONDITION.
      :meth:`release` drops every reference (idempotent); inserting afterwards is
      UseAfterReleaseError (a FAILED_PRECONDITION). Releasing is what a command buffer does
      when it dies, and what a queue operation does after it signalled.
    * Not thread-safe: one recorder inserts; release happens once recording and execution
      are over.

The hot path of :meth:`insert` is one attribute load and an identity check (the resource
inserted last); everything else is in ``_insert_slow``.
"""

from __future__ import annotations

import sys

from pyree.status import FailedPreconditionError, UseAfterReleaseError

MRU_SIZE = 8
CHUNK_CAPACITY = 65535

_RECORDING, _FROZEN, _RELEASED = 0, 1, 2
_CLOSED = object()  # the front sentinel once frozen/released: forces the slow path


class ResourceSet:
    __slots__ = ("_front", "_mru", "_chunk", "_chunks", "_state", "__weakref__")

    def __init__(self):
        self._front = None      # the resource inserted last (None: nulls are ignored)
        self._mru: dict[int, object] = {}   # id -> resource, oldest first
        self._chunk: list = []
        self._chunks: list[list] = [self._chunk]
        self._state = _RECORDING

    def insert(self, resource) -> None:
        """Retains ``resource`` (a no-op for None and for MRU hits)."""
        if resource is self._front:
            return
        self._insert_slow(resource)

    def insert_many(self, resources) -> None:
        for resource in resources:
            if resource is not self._front:
                self._insert_slow(resource)

    def _insert_slow(self, resource) -> None:
        if self._state != _RECORDING:
            self._check_open()
        if resource is None:
            return
        mru = self._mru
        key = id(resource)
        if key in mru:
            del mru[key]            # hit: move to the front, no new retain
            mru[key] = resource
            self._front = resource
            return
        if len(mru) >= MRU_SIZE:
            del mru[next(iter(mru))]
        mru[key] = resource
        self._front = resource
        chunk = self._chunk
        if len(chunk) >= CHUNK_CAPACITY:
            chunk = self._chunk = []
            self._chunks.append(chunk)
        chunk.append(resource)

    def _check_open(self) -> None:
        if self._state == _FROZEN:
            raise FailedPreconditionError(
                "resource set is frozen; resources cannot be inserted after recording ended")
        raise UseAfterReleaseError("resource set has been released")

    def freeze(self) -> None:
        """Ends insertion (idempotent; a released set stays released)."""
        if self._state == _RECORDING:
            self._state = _FROZEN
            self._front = _CLOSED
            self._mru = {}

    def release(self) -> None:
        """Drops every retained reference (idempotent)."""
        self._state = _RELEASED
        self._front = _CLOSED
        self._mru = {}
        self._chunk = []
        self._chunks = []

    @property
    def is_frozen(self) -> bool:
        return self._state == _FROZEN

    @property
    def is_released(self) -> bool:
        return self._state == _RELEASED

    @property
    def retained_count(self) -> int:
        """References held (an entry per retain, duplicates beyond the MRU included)."""
        return sum(len(chunk) for chunk in self._chunks)

    @property
    def nbytes(self) -> int:
        """Estimated bytes of entry storage: the chunk lists (8 bytes per slot plus list
        headers and over-allocation), not the MRU or the resources themselves."""
        return sum(sys.getsizeof(chunk) for chunk in self._chunks)

    def __len__(self) -> int:
        return self.retained_count

    def __bool__(self) -> bool:
        return True  # an object, not a container test: an empty set is still a set

    def __iter__(self):
        for chunk in self._chunks:
            yield from chunk

    def __repr__(self) -> str:
        state = ("recording", "frozen", "released")[self._state]
        return f"<ResourceSet {state} retained={self.retained_count}>"
