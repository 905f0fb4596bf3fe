"""A state machine over HAL lifetimes: allocations, subspans, views, borrowed ranges, resource
sets and trims. Invariants: live memory is never handed out twice, retained memory keeps
its contents, and the pool's statistics match the live allocations."""

import itertools
import weakref

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes, invariant,
                                 precondition, rule)

from pyree.modules.hal import HalBufferView, ResourceSet

from .halhelpers import allocator

_tags = itertools.count(1)


class Lifetimes(RuleBasedStateMachine):
    # The bundle holds keys, not buffers: hypothesis keeps every bundle value it drew, which
    # would keep dropped buffers alive. The machine owns the buffers in ``self.live``.
    buffers = Bundle("buffers")

    def __init__(self):
        super().__init__()
        self.alloc = allocator(poison=True, arena_bytes=4096)
        self.tags = {}           # id(allocation) -> tag byte (alive allocations only)
        self.weak = {}           # id(allocation) -> weakref
        self.borrowed = []       # (raw range, weakref to allocation, tag)
        self.resource_set = ResourceSet()
        self.live = {}           # key -> buffer
        self.keys = itertools.count()

    def _add(self, buffer):
        key = next(self.keys)
        self.live[key] = buffer
        return key

    def _track(self, buffer, tag):
        allocation = buffer.allocation
        self.tags[id(allocation)] = (tag, buffer.byte_length)
        self.weak[id(allocation)] = weakref.ref(allocation)

    @rule(target=buffers, size=st.integers(0, 3000))
    def allocate(self, size):
        buffer = self.alloc.allocate(0, 0, size)
        tag = next(_tags) % 200 + 1       # never 0xCD (205) nor 0
        buffer.fill(tag)
        self._track(buffer, tag)
        return self._add(buffer)

    @rule(target=buffers, source=buffers, data=st.data())
    def subspan(self, source, data):
        source = self.live[source]
        offset = data.draw(st.integers(0, source.byte_length))
        length = data.draw(st.integers(0, source.byte_length - offset))
        return self._add(source.subspan(offset, length))

    @rule(target=buffers, source=buffers)
    def view_round_trip(self, source):
        source = self.live[source]
        view = HalBufferView(source, (source.byte_length,), 0x12000008)   # ui8
        if source.byte_length:
            assert np.shares_memory(np.asarray(view), source.map_range())
        return self._add(view.buffer)

    @rule(source=buffers)
    def borrow(self, source):
        source = self.live[source]
        self.borrowed.append((source.borrow(), weakref.ref(source.allocation),
                              self.tags[id(source.allocation)][0]))

    @precondition(lambda self: not self.resource_set.is_released)
    @rule(source=buffers)
    def retain(self, source):
        self.resource_set.insert(self.live[source])

    @rule(source=consumes(buffers))
    def drop(self, source):
        del self.live[source]

    @rule()
    def release_resource_set(self):
        self.resource_set.release()
        self.resource_set = ResourceSet()

    @rule()
    def trim(self):
        self.alloc.trim()

    @invariant()
    def memory_is_consistent(self):
        # No gc.collect(): CPython frees on the last reference, and the weakrefs decide.
        alive = {key: ref() for key, ref in self.weak.items() if ref() is not None}
        for key in list(self.weak):
            if key not in alive:
                del self.weak[key]
                del self.tags[key]
        # Every live allocation still holds its tag: nobody else got its memory.
        ranges = []
        for key, allocation in alive.items():
            tag, length = self.tags[key]
            memory = allocation.memory[allocation.offset:allocation.offset + length]
            assert (memory == tag).all()
            ranges.append((allocation.memory.ctypes.data + allocation.offset, allocation.size,
                           allocation.block_size))
        ranges.sort()
        for (start, _, block), (next_start, _, _) in itertools.pairwise(ranges):
            assert start + block <= next_start          # no two live blocks overlap
        stats = self.alloc.statistics()
        assert stats.live_allocations == len(alive)
        assert stats.live_bytes == sum(r[2] for r in ranges)
        # Borrowed ranges of live allocations read their tag; dead ones are not kept alive.
        for raw, ref, tag in self.borrowed:
            if ref() is not None:
                assert (raw.array() == tag).all()
        assert all(b.memory is not None for b in alive.values())


TestLifetimes = Lifetimes.TestCase
