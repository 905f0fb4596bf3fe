"""HalAllocator and MemoryPool: coercion (hal-abi 4.1), import (3.1), compatibility (5.1),
pool reuse, poisoning, statistics, trim and thread safety."""

import gc
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyree.modules.hal import (BufferCompatibility, BufferUsage, HalAllocator, HalBuffer,
                               MemoryAccess, MemoryPool, MemoryType)
from pyree.modules.hal.pool import ALIGNMENT, POISON_BYTE, size_class
from pyree.status import (InvalidArgumentError, OutOfRangeError, PermissionDeniedError,
                          ResourceExhaustedError, StatusCode)
from pyree.vm import buffer as vm_buffer_module
from pyree.vm.buffer import MUTABLE, ORIGIN_HOST, ORIGIN_MODULE, VmBuffer
from pyree.vm.ref import lookup_ref_type, ref_type_of

from .halhelpers import allocator, raises

HEAP_USAGE = 0x1000000 | 0x2000000 | 0x8000000 | 0x3


def address(buffer):
    return buffer.borrow().address


# -- canonicalisation and CPU-heap coercion ----------------------------------------------------

@pytest.mark.parametrize("requested, memory_type", [
    (0, 0x02),                                  # 0 -> OPTIMAL -> HOST_VISIBLE, not DEVICE_VISIBLE
    (MemoryType.OPTIMAL, 0x02),
    (MemoryType.DEVICE_LOCAL, 0x32),
    (MemoryType.OPTIMAL_FOR_DEVICE, 0x32),
    (MemoryType.HOST_LOCAL, 0x46),
    (MemoryType.OPTIMAL_FOR_HOST, 0x46),
    (MemoryType.DEVICE_VISIBLE, 0x12),
    (MemoryType.HOST_LOCAL | MemoryType.DEVICE_VISIBLE, 0x56),
])
def test_memory_type_coercion(requested, memory_type):
    buffer = allocator().allocate(requested, BufferUsage.DEFAULT, 16)
    assert buffer.memory_type == memory_type


@pytest.mark.parametrize("requested, usage", [
    (0, 0xC03 | HEAP_USAGE),
    (BufferUsage.DEFAULT, 0xC03 | HEAP_USAGE),
    (BufferUsage.DISPATCH_STORAGE_READ, 0x400 | HEAP_USAGE),
    (BufferUsage.SHARING_IMMUTABLE, 0x80000 | HEAP_USAGE),
])
def test_usage_coercion(requested, usage):
    buffer = allocator().allocate(MemoryType.DEVICE_LOCAL, requested, 16)
    assert buffer.allowed_usage == usage


def test_access_canonicalisation():
    alloc = allocator()
    assert alloc.allocate(0, 0, 4).allowed_access == MemoryAccess.ALL
    assert alloc.allocate(0, 0, 4, access=MemoryAccess.READ).allowed_access == 1


def test_negative_i32_flags_are_masked():
    buffer = allocator().allocate(-1 & ~0x1, 0, 4)   # every bit but OPTIMAL
    assert buffer.memory_type == 0xFFFFFFFE


def test_allocate_sizes():
    alloc = allocator()
    for size in (0, 1, 3, 4, 5, 63, 64, 65, 1000, 100_000):
        buffer = alloc.allocate(MemoryType.DEVICE_LOCAL, 0, size)
        assert type(buffer) is HalBuffer
        assert buffer.byte_length == len(buffer) == size
        assert buffer.allocation_size == (size + 3) // 4 * 4
        assert buffer.byte_offset == 0
        assert address(buffer) % ALIGNMENT == 0


def test_fresh_memory_is_zero():
    buffer = allocator().allocate(0, 0, 1000)
    assert not buffer.map_range().any()


def test_allocate_too_large():
    alloc = allocator()
    alloc.max_allocation_size = 1024
    with raises(ResourceExhaustedError,
                "allocation of 1025 bytes exceeds the allocator limit of 1024 bytes",
                annotations=["failed to allocate buffer of length 1025"]) as info:
        alloc.allocate(0, 0, 1025)
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    alloc.allocate(0, 0, 1024)


def test_allocate_negative_is_huge_u64():
    with raises(ResourceExhaustedError,
                annotations=[f"failed to allocate buffer of length {2**64 - 1}"]):
        allocator().allocate(0, 0, -1)


def test_allocate_default_limit_follows_vm_buffer_limit():
    previous = vm_buffer_module.set_limits(max_bytes=4096)
    try:
        with raises(ResourceExhaustedError):
            allocator().allocate(0, 0, 4097)
    finally:
        vm_buffer_module.set_limits(**previous)


# -- pool reuse, poisoning, statistics ---------------------------------------------------------

def test_freed_block_is_reused_with_old_contents():
    alloc = allocator()
    a = alloc.allocate(0, 0, 100)
    a.map_range(MemoryAccess.WRITE)[:] = 7
    where = address(a)
    del a
    b = alloc.allocate(0, 0, 100)
    assert address(b) == where
    assert (b.map_range() == 7).all()      # use-after-free would read the old owner's data


def test_a_block_keeps_its_free_list_entry_for_life():
    # the entry (arena, offset, block) is made once when the block is carved: a free puts
    # that same tuple back and the next allocation of the class takes it again
    alloc = allocator()
    a = alloc.allocate(0, 0, 40)
    entry = a.allocation.entry
    assert entry == (a.allocation.arena, a.allocation.offset, ALIGNMENT)
    del a
    assert list(alloc.pool._free[ALIGNMENT]) == [entry]
    assert alloc.pool._free[ALIGNMENT][0] is entry
    b = alloc.allocate(0, 0, 60)
    assert b.allocation.entry is entry and not alloc.pool._free[ALIGNMENT]
    assert (b.allocation.size, b.byte_length) == (60, 60)
    stats = alloc.statistics()
    assert (stats.live_bytes, stats.live_allocations, stats.allocation_count,
            stats.free_count) == (ALIGNMENT, 1, 2, 1)


def test_poisoned_pool_fills_freed_memory():
    alloc = allocator(poison=True)
    a = alloc.allocate(0, 0, 100)
    a.map_range(MemoryAccess.WRITE)[:] = 7
    stale = a.borrow()
    del a
    assert (stale.array() == POISON_BYTE).all()
    b = alloc.allocate(0, 0, 100)
    assert (b.map_range() == POISON_BYTE).all()


def test_reuse_is_lifo():
    alloc = allocator()
    a, b, c = (alloc.allocate(0, 0, 64) for _ in range(3))
    where_a, where_b = address(a), address(b)
    del a
    del b
    first = alloc.allocate(0, 0, 64)
    second = alloc.allocate(0, 0, 64)
    assert (address(first), address(second)) == (where_b, where_a)
    assert address(c) not in (where_a, where_b)


def test_same_size_class_shares_blocks():
    alloc = allocator()
    a = alloc.allocate(0, 0, 300)
    where = address(a)
    del a
    assert address(alloc.allocate(0, 0, 320)) == where   # 300 and 320 are one class


def test_statistics_return_to_baseline():
    alloc = allocator()
    base = alloc.statistics()
    assert base.live_bytes == 0 and base.live_allocations == 0
    buffers = [alloc.allocate(0, 0, n) for n in (1, 100, 1000, 30_000)]
    mid = alloc.statistics()
    assert mid.live_allocations == 4
    assert mid.live_bytes == sum(size_class((n + 3) & ~3) for n in (1, 100, 1000, 30_000))
    assert mid.allocation_count == 4 and mid.free_count == 0
    del buffers
    end = alloc.statistics()
    assert end.live_bytes == 0 and end.live_allocations == 0
    assert end.free_count == 4
    assert end.pooled_bytes == mid.live_bytes
    assert end.peak_bytes == mid.live_bytes
    assert end.reserved_bytes == mid.reserved_bytes


def test_large_allocation_gets_dedicated_arena():
    alloc = allocator(arena_bytes=4096)
    big = alloc.allocate(0, 0, 10_000)
    stats = alloc.statistics()
    assert stats.arena_count == 1 and stats.reserved_bytes == size_class(10_000)
    where = address(big)
    del big
    assert address(alloc.allocate(0, 0, 10_000)) == where


def test_trim_releases_unused_arenas():
    alloc = allocator(arena_bytes=4096)
    keep = alloc.allocate(0, 0, 100)
    drop = [alloc.allocate(0, 0, 1000) for _ in range(8)]   # spills into more arenas
    big = alloc.allocate(0, 0, 50_000)
    before = alloc.statistics()
    assert before.arena_count >= 3
    del drop, big
    released = alloc.trim()
    after = alloc.statistics()
    assert released == before.reserved_bytes - after.reserved_bytes > 0
    assert after.arena_count == 1                  # the arena holding ``keep``
    assert after.pooled_bytes <= after.reserved_bytes
    keep.map_range(MemoryAccess.WRITE)[:] = 1      # still valid
    del keep
    alloc.trim()
    assert alloc.statistics().reserved_bytes == 0
    assert alloc.statistics().pooled_bytes == 0
    assert alloc.allocate(0, 0, 10).byte_length == 10   # pool still usable


def test_trimmed_arena_stays_addressable_through_borrowed_ranges():
    alloc = allocator()
    buffer = alloc.allocate(0, 0, 16)
    buffer.map_range(MemoryAccess.WRITE)[:] = 3
    stale = buffer.borrow()
    del buffer
    alloc.trim()
    assert (stale.array() == 3).all()   # no crash: the arena is a live numpy array


def test_pool_validation():
    with raises(InvalidArgumentError):
        MemoryPool(100)
    with raises(InvalidArgumentError):
        MemoryPool(4096 + 1)


@given(st.integers(0, 1 << 22))
def test_size_classes(n):
    block = size_class(n)
    assert block >= n and block % ALIGNMENT == 0
    assert block <= max(ALIGNMENT, n * 1.25 + ALIGNMENT)
    assert size_class(block) == block


def test_concurrent_allocate_and_free():
    alloc = allocator(poison=True)
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        held = []
        try:
            for _ in range(300):
                size = int(rng.integers(0, 5000))
                buffer = alloc.allocate(0, 0, size)
                buffer.fill(seed)
                held.append(buffer)
                if len(held) > 5:
                    victim = held.pop(int(rng.integers(0, len(held))))
                    if not (victim.map_range() == seed).all():
                        errors.append("block shared between live buffers")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i + 1,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert errors == []
    stats = alloc.statistics()
    assert stats.live_allocations == 0 and stats.live_bytes == 0
    assert stats.allocation_count == stats.free_count == 8 * 300


# -- import (allocator.import) -----------------------------------------------------------------

def test_import_is_zero_copy_and_keeps_source_alive():
    alloc = allocator()
    source = VmBuffer.allocate(64)
    ref = weakref.ref(source)
    buffer = alloc.import_buffer(source, 16, 32, BufferUsage.DEFAULT, MemoryType.DEVICE_LOCAL)
    assert buffer.byte_length == 32
    assert buffer.memory_type == 0x32
    assert buffer.allowed_access == MemoryAccess.READ | MemoryAccess.WRITE
    source.data[16] = 0xAB
    assert buffer.load(0, 1) == 0xAB
    buffer.map_range(MemoryAccess.WRITE, 1, 1)[:] = 0xCD
    assert source.data[17] == 0xCD
    assert alloc.statistics().allocation_count == 0     # not pooled
    del source
    gc.collect()
    assert ref() is not None
    del buffer
    gc.collect()
    assert ref() is None


def test_import_whole_and_empty():
    alloc = allocator()
    source = VmBuffer.allocate(10)
    assert alloc.import_buffer(source, 0, -1).byte_length == 10
    assert alloc.import_buffer(source, 4, -1).byte_length == 6
    assert alloc.import_buffer(source, 10, 0).byte_length == 0
    assert alloc.import_buffer(VmBuffer.allocate(0), 0, -1).byte_length == 0


@pytest.mark.parametrize("offset, length, text", [
    (0, 11, "requested 0-10 of available 10"),
    (11, 0, "requested 11-10 of available 10"),
    (5, 6, "requested 5-10 of available 10"),
    (11, -1, "requested 11-10 of available 10"),
    (-1, 1, f"requested {2**64 - 1}-{2**64 - 1} of available 10"),
])
def test_import_range_errors(offset, length, text):
    with raises(InvalidArgumentError, f"byte range out of bounds ({text})"):
        allocator().import_buffer(VmBuffer.allocate(10), offset, length)


def test_import_immutable_source():
    alloc = allocator()
    rodata = VmBuffer.wrap(memoryview(bytes(range(16))), ORIGIN_MODULE)
    with raises(PermissionDeniedError,
                "source buffer is immutable and can only be imported for constant usage"):
        alloc.import_buffer(rodata, 0, -1, BufferUsage.DEFAULT, 0)
    with raises(PermissionDeniedError):   # try does not cover this
        alloc.import_buffer(rodata, 0, -1, BufferUsage.DEFAULT, 0, True)
    buffer = alloc.import_buffer(rodata, 0, -1,
                                 BufferUsage.DEFAULT | BufferUsage.SHARING_IMMUTABLE, 0)
    assert buffer.allowed_access == MemoryAccess.READ
    assert buffer.load(4, 4) == int.from_bytes(bytes([4, 5, 6, 7]), "little")
    assert not buffer.map_range().flags.writeable
    with raises(PermissionDeniedError,
                "buffer does not support the requested access type; buffer allows READ, "
                "operation requires DISCARD_WRITE"):
        buffer.store(1, 0, 1)


def test_import_mutable_for_immutable_usage_is_read_only():
    buffer = allocator().import_buffer(VmBuffer.allocate(8), 0, -1,
                                       BufferUsage.SHARING_IMMUTABLE, 0)
    assert buffer.allowed_access == MemoryAccess.READ


def test_imported_mutable_buffer_has_no_discard_access():
    buffer = allocator().import_buffer(VmBuffer.allocate(8, flags=MUTABLE | ORIGIN_HOST))
    with raises(PermissionDeniedError,
                "buffer does not support the requested access type; buffer allows READ|WRITE, "
                "operation requires DISCARD_WRITE"):
        buffer.store(1, 0, 4)


def test_import_alignment_and_try():
    alloc = allocator(import_alignment=64)
    source = VmBuffer.allocate(256, 64)
    assert alloc.import_buffer(source, 64, 64) is not None
    assert alloc.import_buffer(source, 4, 64, 0, 0, True) is None
    with raises(OutOfRangeError) as info:
        alloc.import_buffer(source, 4, 64, 0, 0, False)
    assert info.value.message.startswith("imported heap buffer data must be aligned to 64; got ")


def test_import_source_type():
    with raises(InvalidArgumentError):
        allocator().import_buffer(bytearray(4))


def test_import_host_array():
    alloc = allocator()
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    buffer = alloc.import_host(array, MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT)
    assert buffer.byte_length == 48
    assert np.shares_memory(buffer.map_range(), array)
    assert buffer.allowed_access == MemoryAccess.ALL
    readonly = array.copy()
    readonly.flags.writeable = False
    assert alloc.import_host(readonly).allowed_access == MemoryAccess.READ
    with raises(PermissionDeniedError):
        alloc.import_host(readonly, access=MemoryAccess.WRITE)
    with raises(InvalidArgumentError):
        alloc.import_host(array[:, ::2])
    with raises(InvalidArgumentError):
        alloc.import_host(object())


def _misaligned_f32(count: int) -> np.ndarray:
    """A C-contiguous float32 array starting 4 bytes past a 64-byte boundary."""
    raw = np.zeros(count * 4 + 128, np.uint8)
    start = -raw.ctypes.data % 64 + 4
    return raw[start:start + count * 4].view(np.float32)


@pytest.mark.parametrize("memory_types, usage", [
    (MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT), (0, 0),
    (MemoryType.HOST_LOCAL, BufferUsage.TRANSFER), (MemoryType.DEVICE_VISIBLE, 0x3)])
def test_import_array_is_import_host_without_the_buffer_protocol(memory_types, usage):
    alloc = allocator()
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    readonly = array.copy()
    readonly.flags.writeable = False
    for source in (array, readonly, np.zeros((0, 3), np.int64), np.array(2.5)):
        fast = alloc.import_array(source, int(memory_types), int(usage))
        slow = alloc.import_host(source, int(memory_types), int(usage))
        assert (fast.memory_type, fast.allowed_access, fast.allowed_usage, fast.byte_length) \
            == (slow.memory_type, slow.allowed_access, slow.allowed_usage, slow.byte_length)
        assert fast.allocation.source is source and fast.allocation.pool is None
        memory = fast.allocation.memory
        assert memory.dtype == np.uint8 and memory.ndim == 1 and len(memory) == source.nbytes
        assert memory.flags.writeable == source.flags.writeable
        if source.nbytes:
            assert np.shares_memory(fast.map_range(), source)
    assert alloc.statistics().allocation_count == 0
    buffer = alloc.import_array(readonly)
    assert buffer.allowed_access == MemoryAccess.READ
    with raises(PermissionDeniedError):
        buffer.map_range(MemoryAccess.WRITE)
    alloc.import_array(array).map_range(MemoryAccess.WRITE)[:4] = 255   # written through
    assert array.reshape(-1).view(np.uint8)[:4].tolist() == [255] * 4


def test_import_array_refuses_what_import_host_refuses():
    alloc = allocator()
    strided = np.arange(16, dtype=np.float32).reshape(4, 4)[:, ::2]
    with raises(InvalidArgumentError, "cannot import non-contiguous host memory"):
        alloc.import_array(strided)
    assert alloc.import_array(strided, try_=True) is None
    aligned = allocator(import_alignment=64)
    misaligned = _misaligned_f32(16)
    with raises(OutOfRangeError):
        aligned.import_host(misaligned)
    with raises(OutOfRangeError):
        aligned.import_array(misaligned)
    assert aligned.import_array(misaligned, try_=True) is None
    assert allocator().import_array(misaligned).byte_length == 64   # no alignment asked
    with raises(InvalidArgumentError):
        alloc.import_array(object())        # not an ndarray: import_host's checks
    assert alloc.import_array(bytearray(8)).byte_length == 8


# -- compatibility (5.1) ------------------------------------------------------------------------

ALLOC_IMPORT_EXPORT = 0x7


@pytest.mark.parametrize("memory_types, usage, expected", [
    (MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT, ALLOC_IMPORT_EXPORT | 0x400 | 0x800),
    (MemoryType.DEVICE_LOCAL, BufferUsage.TRANSFER_SOURCE, ALLOC_IMPORT_EXPORT | 0x400),
    (MemoryType.DEVICE_LOCAL, BufferUsage.DISPATCH_UNIFORM_READ, ALLOC_IMPORT_EXPORT | 0x800),
    (MemoryType.DEVICE_LOCAL, BufferUsage.MAPPING_SCOPED, ALLOC_IMPORT_EXPORT),
    (MemoryType.HOST_LOCAL, BufferUsage.DEFAULT, ALLOC_IMPORT_EXPORT),
    (0, 0, ALLOC_IMPORT_EXPORT),                 # OPTIMAL is not DEVICE_VISIBLE
    (MemoryType.DEVICE_VISIBLE, 0, ALLOC_IMPORT_EXPORT | 0x400 | 0x800),
])
def test_query_buffer_compatibility(memory_types, usage, expected):
    result = allocator().query_buffer_compatibility(memory_types, usage, allocation_size=5)
    assert result.compatibility == expected
    assert result.allocation_size == 8
    assert not result.params.type & MemoryType.OPTIMAL
    assert result.params.type & MemoryType.HOST_VISIBLE


def test_buffer_compatibility_of_existing_buffers():
    alloc = allocator()
    device = alloc.allocate(MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT, 4)
    host = alloc.allocate(MemoryType.HOST_LOCAL, BufferUsage.DEFAULT, 4)
    storage = BufferUsage.DISPATCH_STORAGE
    assert alloc.buffer_compatibility(device, storage) & BufferCompatibility.QUEUE_DISPATCH
    assert not alloc.buffer_compatibility(host, storage) & BufferCompatibility.QUEUE_DISPATCH
    uniform_only = alloc.allocate(MemoryType.DEVICE_LOCAL, BufferUsage.DISPATCH_UNIFORM_READ, 4)
    assert not (alloc.buffer_compatibility(uniform_only, storage)
                & BufferCompatibility.QUEUE_DISPATCH)
    # heap coercion adds TRANSFER, so every device-visible buffer can be used for transfer
    assert (alloc.buffer_compatibility(uniform_only, BufferUsage.TRANSFER_TARGET)
            & BufferCompatibility.QUEUE_TRANSFER)


def test_ref_types_registered():
    alloc = HalAllocator()
    assert ref_type_of(alloc) is lookup_ref_type("hal.allocator")
    assert ref_type_of(alloc.allocate(0, 0, 1)) is lookup_ref_type("hal.buffer")
    assert lookup_ref_type("hal.allocator").cls is HalAllocator


def test_release_while_the_pool_lock_is_busy_returns_the_block_at_once():
    # A finalizer may run while the pool lock is held (by another thread, or by this one
    # inside a locked section): the release takes no lock, so it neither waits nor
    # deadlocks, and the block is back on its free list (poisoned) before the lock is free.
    alloc = allocator(poison=True)
    a = alloc.allocate(0, 0, 40)
    a.fill(7)
    where = address(a)
    pool = alloc.pool
    with pool._lock:
        del a                                   # finalizer runs with the lock held
        arena, offset, block = pool._free[ALIGNMENT][-1]
        assert address_of_arena(arena) + offset == where and block == ALIGNMENT
        assert (arena.data[offset:offset + block] == POISON_BYTE).all()
    stats = alloc.statistics()
    assert stats.live_allocations == 0 and stats.live_bytes == 0 and stats.free_count == 1
    b = alloc.allocate(0, 0, 40)
    assert address(b) == where                  # the released block is the one reused
    assert (b.map_range() == POISON_BYTE).all()


def test_uncontended_release_returns_the_block_at_once():
    alloc = allocator()
    a = alloc.allocate(0, 0, 8)
    where = address(a)
    del a
    pool = alloc.pool
    assert pool._free[ALIGNMENT][-1][1] == where - address_of_arena(pool._free[ALIGNMENT][-1][0])
    assert alloc.statistics().live_bytes == 0


def address_of_arena(arena):
    return arena.data.ctypes.data


def test_allocation_has_every_field_of_init():
    # MemoryPool.allocation builds the Allocation without attrs' __init__
    import attrs as _attrs

    from pyree.modules.hal.allocation import Allocation
    buffer = allocator().allocate(0, 0, 12)
    made = buffer.allocation
    for field in _attrs.fields(Allocation):
        getattr(made, field.name)               # every slot is set
    assert (made.size, made.claims, made.source, made.queue_owner) == (12, 1, None, None)
    assert made.block_size == ALIGNMENT and made.memory is made.arena.data
    assert isinstance(made, Allocation) and repr(made) == "<Allocation pooled size=12 claims=1>"


def test_pool_buffer_blocks_come_back_with_exact_statistics():
    # MemoryPool.buffer (allocator.allocate's one-frame path) builds the allocation and the
    # buffer together: the block still returns when the last holder goes - a subspan, or a
    # retaining command buffer on local-task - and the counters stay exact.
    from pyree.modules.hal.command_buffer import ONE_SHOT
    from pyree.modules.hal.commands import TRANSFER
    from pyree.modules.hal.device import create_device

    from .cts import DEFAULT_USAGE, DEVICE_LOCAL

    device = create_device("local-task", poison=True)
    try:
        alloc = device.allocator
        a = alloc.allocate(0, 0, 20)
        where = address(a)
        assert a.byte_length == 20 and a.allocation.size == 20 and a.byte_offset == 0
        part = a.subspan(4, 8)
        del a
        stats = alloc.statistics()
        assert (stats.live_allocations, stats.live_bytes, stats.free_count) == (1, 64, 0)
        del part
        stats = alloc.statistics()
        assert (stats.live_allocations, stats.live_bytes, stats.free_count) == (0, 0, 1)
        b = alloc.allocate(DEVICE_LOCAL, DEFAULT_USAGE, 20)   # same class: the same block
        assert address(b) == where and (b.map_range() == POISON_BYTE).all()
        cb = device.create_command_buffer(ONE_SHOT, TRANSFER)     # retains what it records
        cb.fill_buffer(b, 0, 20, 0, 7, 1, 0)
        cb.finalize()
        del b
        stats = alloc.statistics()
        assert (stats.live_allocations, stats.allocation_count, stats.peak_bytes) == (1, 2, 64)
        del cb
        gc.collect()
        stats = alloc.statistics()
        assert (stats.live_allocations, stats.live_bytes, stats.free_count) == (0, 0, 2)
    finally:
        device.close()


_POOL_OPS = ["alloc", "alloc", "free", "release", "trim", "sub"]


@given(st.lists(st.tuples(st.sampled_from(_POOL_OPS),
                          st.sampled_from([0, 60, 100, 200, 700, 1500]),
                          st.integers(0, 1 << 16)),
                max_size=60))
def test_statistics_follow_a_model_of_the_blocks(ops):
    # live/peak bytes and counts are derived from the free lists (and the peak kept through
    # a bound): after every step they equal a plain model of the blocks handed out
    alloc = HalAllocator.create(arena_bytes=4096)
    held: list = []             # (buffer, block size)
    live = peak = count = 0
    for op, size, pick in ops:
        if op == "alloc":
            buffer = alloc.allocate(0, 0, size)
            block = size_class((size + 3) & ~3)
            held.append((buffer, block))
            live += block
            count += 1
            peak = max(peak, live)
        elif held and op in ("free", "release", "sub"):
            buffer, block = held.pop(pick % len(held))
            if op == "release":
                buffer.allocation.release()     # early (queue.dealloca), then dropped
            elif op == "sub":                   # a subspan outlives its buffer for a while
                tail = buffer.subspan(0, 0)
                del buffer
                assert alloc.statistics().live_bytes == live
                del tail
            else:
                del buffer
            live -= block
        elif op == "trim":
            alloc.trim()
        stats = alloc.statistics()
        assert (stats.live_bytes, stats.peak_bytes, stats.live_allocations,
                stats.allocation_count, stats.free_count) == \
            (live, peak, len(held), count, count - len(held))
        assert stats.pooled_bytes == sum(block * len(entries)
                                         for block, entries in alloc.pool._free.items())
