"""HalBuffer: subspans, mapping, load/store, buffer.assert, allocation claims and lifetimes
(hal-abi 3.2, 5.2)."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyree.modules.hal import (Allocation, BufferUsage, HalBuffer, MemoryAccess, MemoryType,
                               RawRange)
from pyree.modules.hal.buffer_validation import (calculate_range, device_size,
                                                 validate_access, validate_memory_type,
                                                 validate_usage)
from pyree.status import (FailedPreconditionError, InvalidArgumentError, OutOfRangeError,
                          PermissionDeniedError, StatusCode, UseAfterReleaseError)
from pyree.vm.buffer import VmBuffer

from .halhelpers import allocator, raises

M64 = 2**64 - 1
FULL_USAGE = "TRANSFER|DISPATCH_STORAGE|MAPPING_SCOPED|MAPPING_PERSISTENT|MAPPING_ACCESS_RANDOM"


def make(size=16, memory_types=MemoryType.DEVICE_LOCAL, usage=BufferUsage.DEFAULT, alloc=None,
         **kwargs):
    return (alloc or allocator()).allocate(memory_types, usage, size, **kwargs)


def off_end(offset, length, byte_length):
    return ("attempted to access an address off the end of the valid buffer range "
            f"(offset={offset}, length={length}, buffer byte_length={byte_length})")


def outside(offset, length, end, byte_length):
    return ("attempted to access an address outside of the valid buffer range "
            f"(offset={offset}, length={length}, end(inc)={end}, buffer byte_length={byte_length})")


# -- ranges and subspans -----------------------------------------------------------------------

def test_calculate_range():
    assert calculate_range(10, 0, M64) == (0, 10)
    assert calculate_range(10, 4, M64) == (4, 6)
    assert calculate_range(10, 10, M64) == (10, 0)
    assert calculate_range(10, 10, 0) == (10, 0)
    assert calculate_range(10, 2, 8) == (2, 8)
    with raises(OutOfRangeError, off_end(11, 0, 10)):
        calculate_range(10, 11, 0)
    with raises(OutOfRangeError, outside(2, 9, 10, 10)):
        calculate_range(10, 2, 9)
    # no u64 wraparound: C would wrap 5 + (2**64 - 2) - 1 to 2 and accept it
    with raises(OutOfRangeError, outside(5, M64 - 1, M64 + 3, 10)):
        calculate_range(10, 5, M64 - 1)


def test_device_size():
    assert device_size(-1) == M64
    assert device_size(np.int64(-2)) == M64 - 1
    assert device_size(5) == 5
    with raises(InvalidArgumentError):
        device_size(1.5)


def test_subspan_composes_and_shares_allocation():
    buffer = make(64)
    buffer.map_range(MemoryAccess.WRITE)[:] = np.arange(64, dtype=np.uint8)
    sub = buffer.subspan(8, 32)
    subsub = sub.subspan(4, -1)
    assert (sub.byte_offset, sub.byte_length) == (8, 32)
    assert (subsub.byte_offset, subsub.byte_length) == (12, 28)
    assert subsub.allocation is buffer.allocation
    assert subsub.allocation_size == 64
    assert subsub.load(0, 1) == 12
    assert (subsub.memory_type, subsub.allowed_access, subsub.allowed_usage) == \
        (buffer.memory_type, buffer.allowed_access, buffer.allowed_usage)
    assert buffer.subspan(0, -1) is buffer
    assert buffer.subspan(0, 64) is buffer
    assert buffer.subspan(64, 0).byte_length == 0


@pytest.mark.parametrize("offset, length, message", [
    (17, 0, off_end(17, 0, 16)),
    (8, 9, outside(8, 9, 16, 16)),
    (-1, 1, off_end(M64, 1, 16)),
    (17, -1, off_end(17, M64, 16)),
])
def test_subspan_errors(offset, length, message):
    with raises(OutOfRangeError, message, code=StatusCode.OUT_OF_RANGE) as info:
        make(16).subspan(offset, length)
    assert info.value.annotations == [
        ("invalid subspan of an existing buffer "
         f"(source_offset={offset & M64}, length={length & M64})")]


def test_subspan_keeps_allocation_alive():
    alloc = allocator()
    buffer = make(100, alloc=alloc)
    buffer.fill(9)
    allocation = weakref.ref(buffer.allocation)
    where = buffer.borrow().address
    sub = buffer.subspan(10, 10)
    del buffer
    gc.collect()
    assert allocation() is not None
    other = make(100, alloc=alloc)                 # must not get the live block
    assert other.borrow().address != where
    assert (sub.map_range() == 9).all()
    del sub
    assert allocation() is None
    assert make(100, alloc=alloc).borrow().address == where


# -- borrowed ranges ---------------------------------------------------------------------------

def test_borrow_does_not_keep_buffer_alive_and_stale_reads_show_wrong_data():
    alloc = allocator()
    buffer = make(64, alloc=alloc)
    buffer.fill(1)
    raw = buffer.subspan(16, 16).borrow(4, 8)
    assert type(raw) is RawRange
    assert (raw.length, len(raw)) == (8, 8)
    assert raw.offset == buffer.allocation.offset + 20
    assert np.shares_memory(raw.array(), buffer.map_range())
    buffer_ref = weakref.ref(buffer)
    allocation_ref = weakref.ref(buffer.allocation)
    del buffer
    assert buffer_ref() is None and allocation_ref() is None
    new_owner = make(64, alloc=alloc)            # reuses the block
    new_owner.fill(2)
    assert (raw.array() == 2).all()              # the lifetime bug is visible as wrong data


def test_borrow_range_checks():
    buffer = make(16)
    with raises(OutOfRangeError, outside(8, 9, 16, 16)):
        buffer.borrow(8, 9)
    assert buffer.borrow().length == 16
    raw = buffer.borrow()
    assert raw.subrange(4, 4).offset == raw.offset + 4
    with raises(OutOfRangeError):
        raw.subrange(10, 10)


# -- mapping -------------------------------------------------------------------------------------

def test_map_range_views_and_access():
    buffer = make(16)
    view = buffer.map_range(MemoryAccess.WRITE, 4, 8)
    assert view.dtype == np.uint8 and view.shape == (8,) and view.flags.writeable
    view[:] = 5
    read = buffer.map_range(MemoryAccess.READ)
    assert not read.flags.writeable
    assert list(read) == [0] * 4 + [5] * 8 + [0] * 4
    assert np.shares_memory(view, read)
    assert buffer.map_range(MemoryAccess.ANY).size == 16


def test_map_range_access_errors():
    buffer = make(16, access=MemoryAccess.READ)
    with raises(PermissionDeniedError,
                "buffer does not support the requested access type; buffer allows READ, "
                "operation requires WRITE"):
        buffer.map_range(MemoryAccess.WRITE)
    with raises(InvalidArgumentError,
                "memory access must specify one or more of _READ or _WRITE"):
        buffer.map_range(MemoryAccess.DISCARD)
    with raises(OutOfRangeError, outside(10, 10, 19, 16)):
        buffer.map_range(MemoryAccess.READ, 10, 10)


def test_access_is_checked_before_range():
    with raises(PermissionDeniedError):
        make(16, access=MemoryAccess.READ).map_range(MemoryAccess.WRITE, 100, 100)


def test_persistent_mapping():
    buffer = make(16)
    assert buffer.map_range(MemoryAccess.READ, persistent=True).size == 16
    allocation = buffer.allocation
    device_only = HalBuffer(allocation, 0x30, 7, 0xC03, 0, 16)
    with raises(PermissionDeniedError,
                "buffer memory type is not compatible with the requested operation; "
                "buffer has DEVICE_LOCAL, operation requires HOST_VISIBLE"):
        device_only.map_range(MemoryAccess.READ, persistent=True)
    no_mapping = HalBuffer(allocation, 0x32, 7, 0xC03, 0, 16)
    with raises(PermissionDeniedError,
                "requested usage was not specified when the buffer was allocated; "
                "buffer allows TRANSFER|DISPATCH_STORAGE, operation requires "
                "MAPPING_PERSISTENT"):
        no_mapping.map_range(MemoryAccess.READ, persistent=True)
    assert no_mapping.map_range(MemoryAccess.READ).size == 16      # scoped is fine


def test_validators():
    validate_access(0, MemoryAccess.ANY)
    validate_usage(0xC03, 0x3)
    validate_memory_type(0x32, 0x10)
    with raises(PermissionDeniedError,
                "requested usage was not specified when the buffer was allocated; buffer "
                "allows TRANSFER, operation requires DISPATCH_STORAGE_READ|100000h"):
        validate_usage(0x3, 0x100400)


def test_host_helpers_and_numpy():
    buffer = make(8)
    buffer.write(b"\x01\x02\x03", 2)
    assert buffer.read(1, 4) == b"\x00\x01\x02\x03"
    buffer.fill(0x1FF, 6)
    assert np.asarray(buffer).tolist() == [0, 0, 1, 2, 3, 0, 255, 255]
    assert np.shares_memory(np.asarray(buffer), buffer.map_range())
    assert np.asarray(buffer, dtype=np.int8)[-1] == -1
    with pytest.raises(ValueError):
        np.array(buffer, dtype=np.int16, copy=False)
    assert not np.shares_memory(np.array(buffer, copy=True), buffer.map_range())


# -- load / store (3.2) ---------------------------------------------------------------------------

def test_load_is_zero_extended_little_endian():
    buffer = make(8)
    buffer.write(bytes([0x01, 0x82, 0xFF, 0xFF, 0x7F, 0, 0, 0]))
    assert buffer.load(0, 1) == 0x01
    assert buffer.load(1, 1) == 0x82
    assert buffer.load(0, 2) == 0x8201
    assert buffer.load(1, 3) == 0xFFFF82
    assert buffer.load(1, 4) == 0x7FFFFF82
    assert buffer.load(2, 4) == 0x7FFFFF
    assert buffer.load(0, 0) == 0
    assert buffer.load(10**30, 0) == 0          # 0 bytes: nothing is checked


@pytest.mark.parametrize("length, text", [(5, "5"), (-1, "-1"), (2**31, "-2147483648")])
def test_load_store_length_errors(length, text):
    buffer = make(8)
    with raises(InvalidArgumentError, f"load length byte count {text} exceeds max"):
        buffer.load(0, length)
    with raises(InvalidArgumentError, f"store length byte count {text} exceeds max"):
        buffer.store(0, 0, length)


def test_load_out_of_range():
    buffer = make(8)
    with raises(OutOfRangeError, outside(6, 4, 9, 8)):
        buffer.load(6, 4)
    with raises(OutOfRangeError, off_end(9, 1, 8)):
        buffer.load(9, 1)


def test_load_needs_read():
    buffer = make(8, access=MemoryAccess.WRITE | MemoryAccess.DISCARD)
    with raises(PermissionDeniedError,
                "buffer does not support the requested access type; buffer allows "
                "DISCARD_WRITE, operation requires READ"):
        buffer.load(0, 4)


def test_store_writes_low_bytes():
    buffer = make(8)
    buffer.store(0x11223344, 0, 4)
    buffer.store(-1, 4, 2)
    buffer.store(0xABCD, 6, 1)
    buffer.store(0x99, 7, 0)
    assert buffer.read() == bytes([0x44, 0x33, 0x22, 0x11, 0xFF, 0xFF, 0xCD, 0x00])
    buffer.store(0, 8, 0)                        # empty store at the end is fine


@pytest.mark.parametrize("offset, length", [(6, 4), (9, 0), (8, 1), (-1, 1)])
def test_store_out_of_bounds(offset, length):
    buffer = make(8)
    with raises(OutOfRangeError, f"store out of bounds (target_offset={offset & M64}, "
                                 f"length={length} into max 8)"):
        buffer.store(1, offset, length)


def test_store_needs_discard_write():
    buffer = make(8, access=MemoryAccess.READ | MemoryAccess.WRITE)
    with raises(PermissionDeniedError,
                "buffer does not support the requested access type; buffer allows "
                "READ|WRITE, operation requires DISCARD_WRITE"):
        buffer.store(1, 0, 4)


def test_store_bounds_checked_before_access():
    buffer = make(8, access=MemoryAccess.READ)
    with raises(OutOfRangeError):
        buffer.store(1, 8, 1)


@given(st.integers(0, 2**32 - 1), st.integers(0, 4), st.integers(0, 4))
def test_store_load_round_trip(value, length, offset):
    buffer = make(8)
    buffer.store(value, offset, length)
    assert buffer.load(offset, length) == value & ((1 << (8 * length)) - 1)


# -- buffer.assert -------------------------------------------------------------------------------

def test_assert_compatible():
    buffer = make(16)
    buffer.assert_compatible("x", 16, MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT)
    buffer.assert_compatible("x", 0, 0, 0)
    with raises(InvalidArgumentError,
                "tensor buffer byte length 16 less than expected minimum 17"):
        buffer.assert_compatible("tensor", 17, 0, 0)
    with raises(InvalidArgumentError,
                f"m buffer byte length 16 less than expected minimum {M64}"):
        buffer.assert_compatible(b"m", -1, 0, 0)
    with raises(PermissionDeniedError,
                "arg0 buffer memory type is not compatible; buffer has "
                "DEVICE_LOCAL|HOST_VISIBLE, operation requires HOST_LOCAL"):
        buffer.assert_compatible(VmBuffer.from_bytes(b"arg0"), 0, MemoryType.HOST_LOCAL, 0)
    with raises(PermissionDeniedError,
                "arg0 requested usage was not specified when the buffer was allocated; "
                f"buffer allows {FULL_USAGE}, operation requires SHARING_IMMUTABLE"):
        buffer.assert_compatible("arg0", 0, 0, BufferUsage.SHARING_IMMUTABLE)


def test_assert_order_length_then_type_then_usage():
    buffer = make(4, memory_types=MemoryType.HOST_LOCAL)
    with raises(InvalidArgumentError):
        buffer.assert_compatible("", 5, MemoryType.DEVICE_LOCAL, BufferUsage.SHARING_EXPORT)
    with raises(PermissionDeniedError) as info:
        buffer.assert_compatible("", 4, MemoryType.DEVICE_LOCAL, BufferUsage.SHARING_EXPORT)
    assert info.value.message == (
        " buffer memory type is not compatible; buffer has HOST_LOCAL, operation requires "
        "DEVICE_LOCAL")


# -- allocation claims and release -------------------------------------------------------------

def test_allocation_claims():
    buffer = make(4)
    sub = buffer.subspan(1, 2)
    assert buffer.allocation_is_terminal()
    sub.allocation_preserve()
    assert not buffer.allocation_is_terminal()
    assert buffer.allocation_discard() is False     # two owners -> not the last
    assert sub.allocation_is_terminal()
    assert sub.allocation_discard() is True         # the last owner
    assert not buffer.allocation_is_terminal()
    assert buffer.allocation_discard() is False     # no owners left: stays at 0
    assert buffer.allocation.claims == 0


def test_release_returns_storage_early():
    alloc = allocator()
    buffer = make(32, alloc=alloc)
    where = buffer.borrow().address
    assert buffer.allocation.release() is True
    assert buffer.allocation.release() is False
    assert buffer.allocation.is_released
    assert alloc.statistics().live_allocations == 0
    with raises(UseAfterReleaseError, "buffer storage has been released (deallocated)"):
        buffer.map_range()
    with pytest.raises(FailedPreconditionError):
        buffer.borrow()
    reused = make(32, alloc=alloc)
    assert reused.borrow().address == where
    del buffer                                      # no double free
    stats = alloc.statistics()
    assert (stats.free_count, stats.live_allocations) == (1, 1)
    assert reused.allocation.memory is not None


def test_allocation_repr_and_ref_type():
    buffer = make(4)
    assert "pooled" in repr(buffer.allocation)
    assert isinstance(buffer.allocation, Allocation)
    assert "DEVICE_LOCAL|HOST_VISIBLE" in repr(buffer)
    assert bool(make(0))
