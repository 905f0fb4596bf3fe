"""ResourceSet: MRU dedupe, chunked storage, freeze/release and what retention protects (5.6)."""

import gc
import sys
import timeit
import weakref

import pytest

from pyree.modules.hal import MemoryAccess, ResourceSet
from pyree.modules.hal import resource_set as resource_set_module
from pyree.modules.hal.resource_set import MRU_SIZE
from pyree.status import FailedPreconditionError, UseAfterReleaseError

from .halhelpers import allocator, raises


class Resource:
    """A weak-referenceable stand-in (eq by identity)."""

    __slots__ = ("__weakref__",)


def test_same_resource_inserted_1000_times_is_one_entry():
    rs = ResourceSet()
    r = Resource()
    for _ in range(1000):
        rs.insert(r)
    assert rs.retained_count == len(rs) == 1
    assert list(rs) == [r]


def test_mru_window_dedupes_interleaved_resources():
    rs = ResourceSet()
    resources = [Resource() for _ in range(MRU_SIZE)]
    for _ in range(100):
        for r in resources:
            rs.insert(r)
    assert rs.retained_count == MRU_SIZE


def test_duplicates_beyond_the_window_are_retained_again():
    rs = ResourceSet()
    resources = [Resource() for _ in range(MRU_SIZE + 1)]
    for r in resources:
        rs.insert(r)
    rs.insert(resources[0])                    # evicted by the 9th: retained twice
    assert rs.retained_count == MRU_SIZE + 2
    assert list(rs).count(resources[0]) == 2


def test_hit_moves_to_front():
    rs = ResourceSet()
    a, *others = [Resource() for _ in range(MRU_SIZE)]
    rs.insert(a)
    for r in others:                           # a is now the oldest of 8
        rs.insert(r)
    rs.insert(a)                               # hit: a moves to the front
    rs.insert(Resource())                      # evicts others[0], not a
    rs.insert(a)
    assert rs.retained_count == MRU_SIZE + 1
    rs.insert(others[0])                       # was evicted: retained again
    assert rs.retained_count == MRU_SIZE + 2


def test_none_is_ignored():
    rs = ResourceSet()
    rs.insert(None)
    rs.insert(Resource())
    rs.insert(None)
    rs.insert_many([None, None])
    assert rs.retained_count == 1


def test_insert_many():
    rs = ResourceSet()
    a, b = Resource(), Resource()
    rs.insert_many([a, a, b, a, b, None])
    assert list(rs) == [a, b]


def test_freeze():
    rs = ResourceSet()
    r = Resource()
    rs.insert(r)
    rs.freeze()
    rs.freeze()                                # idempotent
    assert rs.is_frozen
    message = "resource set is frozen; resources cannot be inserted after recording ended"
    with raises(FailedPreconditionError, message):
        rs.insert(r)                           # even the last inserted resource
    with raises(FailedPreconditionError, message):
        rs.insert(Resource())
    with raises(FailedPreconditionError):
        rs.insert_many([r])
    assert list(rs) == [r]                     # frozen still retains


def test_release_drops_every_reference():
    rs = ResourceSet()
    resources = [Resource() for _ in range(20)]
    refs = [weakref.ref(r) for r in resources]
    rs.insert_many(resources)
    rs.insert_many(resources)                  # some retained twice
    del resources
    gc.collect()
    assert all(ref() is not None for ref in refs)
    rs.release()
    assert all(ref() is None for ref in refs)
    assert rs.retained_count == 0 and rs.is_released and not rs.is_frozen
    rs.release()                               # idempotent
    rs.freeze()                                # stays released
    with raises(UseAfterReleaseError, "resource set has been released"):
        rs.insert(Resource())
    with pytest.raises(FailedPreconditionError):
        rs.insert(None)


def test_chunks(monkeypatch):
    monkeypatch.setattr(resource_set_module, "CHUNK_CAPACITY", 10)
    rs = ResourceSet()
    resources = [Resource() for _ in range(25)]
    rs.insert_many(resources)
    assert [len(c) for c in rs._chunks] == [10, 10, 5]
    assert list(rs) == resources
    assert rs.retained_count == 25


def test_memory_per_entry_is_about_one_pointer():
    rs = ResourceSet()
    resources = [Resource() for _ in range(100_000)]
    rs.insert_many(resources)
    assert rs.retained_count == 100_000
    per_entry = rs.nbytes / rs.retained_count
    assert 8 <= per_entry <= 9.5, per_entry
    assert rs.nbytes < sys.getsizeof(resources) * 1.2


def test_retention_keeps_buffers_alive_and_release_returns_blocks():
    alloc = allocator(poison=True)
    rs = ResourceSet()
    buffer = alloc.allocate(0, 0, 64)
    buffer.fill(5)
    raw = buffer.borrow()
    rs.insert(buffer.subspan(8, 8))            # a subspan retains the whole allocation
    del buffer
    assert alloc.statistics().live_allocations == 1
    assert (raw.array() == 5).all()            # not freed: no poison
    rs.release()
    assert alloc.statistics().live_allocations == 0
    assert (raw.array() == 0xCD).all()         # freed now


def test_insert_hot_path_is_cheap():
    rs = ResourceSet()
    r = Resource()
    rs.insert(r)
    hit = min(timeit.repeat(lambda: rs.insert(r), number=20_000, repeat=3)) / 20_000
    # a generous bound (a hit is one attribute load and an identity check)
    assert hit < 5e-6, hit


def test_repr():
    rs = ResourceSet()
    rs.insert(allocator().allocate(0, 0, 4).map_range(MemoryAccess.READ))
    assert "recording retained=1" in repr(rs)
