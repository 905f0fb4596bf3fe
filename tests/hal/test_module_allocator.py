"""``hal`` exports of allocators and buffers (``hal-abi.md`` 3.1, 3.2) called as bytecode would."""

from __future__ import annotations

import gc
import weakref

import pytest

from pyree import status
from pyree.modules.hal.buffer import HalBuffer
from pyree.modules.hal.device import create_device
from pyree.vm import VmBuffer

from .modhelpers import (DEFAULT_USAGE, DEVICE_LOCAL, HalHarness, fails, hal,  # noqa: F401
                         ref_is_null, ref_mismatch, sync_hal, text)

# -- allocator.allocate ---------------------------------------------------------------


def test_allocate_coerces_like_the_cpu_heap(hal):
    buffer = hal.buffer(10)
    assert type(buffer) is HalBuffer and hal("buffer.length", buffer) == 10
    assert buffer.memory_type == 0x32          # DEVICE_LOCAL | HOST_VISIBLE
    assert buffer.allowed_usage & DEFAULT_USAGE == DEFAULT_USAGE
    host = hal("allocator.allocate", hal.allocator, -1, 0, 0, 4)
    assert host.memory_type == 0x02            # type 0 -> OPTIMAL -> HOST_VISIBLE only


def test_allocate_zero_bytes(sync_hal):
    assert sync_hal("buffer.length", sync_hal.buffer(0)) == 0


def test_allocate_failure_is_annotated(sync_hal):
    with fails(status.ResourceExhaustedError) as info:
        sync_hal("allocator.allocate", sync_hal.allocator, -1, DEVICE_LOCAL, DEFAULT_USAGE,
                 1 << 50)
    assert f"failed to allocate buffer of length {1 << 50}" in info.value.annotations


def test_allocate_refs(sync_hal):
    with ref_is_null():
        sync_hal("allocator.allocate", None, -1, DEVICE_LOCAL, DEFAULT_USAGE, 4)
    with ref_mismatch("hal.allocator"):
        sync_hal("allocator.allocate", sync_hal.device, -1, DEVICE_LOCAL, DEFAULT_USAGE, 4)


# -- allocator.import -----------------------------------------------------------------

def test_import_aliases_the_vm_buffer(sync_hal):
    source = VmBuffer.from_bytes(bytes(range(16)))
    buffer = sync_hal("allocator.import", sync_hal.allocator, 0, -1, DEVICE_LOCAL,
                      DEFAULT_USAGE, source, 4, 8)
    assert buffer.read() == bytes(range(4, 12))
    assert buffer.allowed_access == 0x3                # mutable source: READ | WRITE
    buffer.write(b"\xAB")
    assert source.tobytes()[4] == 0xAB                 # no copy: writes show through
    # buffer.store maps DISCARD_WRITE, which an imported buffer (no DISCARD) refuses
    with fails(status.PermissionDeniedError,
               contains="buffer allows READ|WRITE, operation requires DISCARD_WRITE"):
        sync_hal("buffer.store", 0xAB, buffer, 0, 1)


def test_import_whole_and_keeps_source_alive(sync_hal):
    source = VmBuffer.from_bytes(b"abcdef")
    ref = weakref.ref(source)
    buffer = sync_hal("allocator.import", sync_hal.allocator, 0, -1, DEVICE_LOCAL,
                      DEFAULT_USAGE, source, 2, -1)
    del source
    gc.collect()
    assert ref() is not None and buffer.read() == b"cdef"
    del buffer
    gc.collect()
    assert ref() is None


def test_import_immutable_needs_sharing_immutable(sync_hal):
    source = text("constant")
    with fails(status.PermissionDeniedError,
               "source buffer is immutable and can only be imported for constant usage"):
        sync_hal("allocator.import", sync_hal.allocator, 1, -1, DEVICE_LOCAL, DEFAULT_USAGE,
                 source, 0, -1)
    buffer = sync_hal("allocator.import", sync_hal.allocator, 0, -1, DEVICE_LOCAL,
                      DEFAULT_USAGE | 0x80000, source, 0, -1)
    assert buffer.allowed_access & 0x3 == 0x1          # READ only
    with fails(status.PermissionDeniedError):
        sync_hal("buffer.store", 1, buffer, 0, 1)


def test_import_range_errors(sync_hal):
    source = VmBuffer.from_bytes(bytes(8))
    with fails(status.InvalidArgumentError, "byte range out of bounds (requested 4-11 of "
               "available 8)"):
        sync_hal("allocator.import", sync_hal.allocator, 1, -1, DEVICE_LOCAL, DEFAULT_USAGE,
                 source, 4, 8)


def test_import_try_returns_null_when_the_device_refuses():
    h = HalHarness("local-sync")
    h.allocator.import_alignment = 1 << 20     # the heap now refuses unaligned memory
    source = VmBuffer.from_bytes(bytes(64))
    assert h("allocator.import", h.allocator, 1, -1, DEVICE_LOCAL, DEFAULT_USAGE, source,
             1, 8) is None
    with fails(status.OutOfRangeError):
        h("allocator.import", h.allocator, 0, -1, DEVICE_LOCAL, DEFAULT_USAGE, source, 1, 8)
    h.close()


def test_import_refs(sync_hal):
    with ref_is_null():
        sync_hal("allocator.import", sync_hal.allocator, 0, -1, 0, 0, None, 0, -1)
    with ref_mismatch("vm.buffer"):
        sync_hal("allocator.import", sync_hal.allocator, 0, -1, 0, 0, sync_hal.buffer(4), 0,
                 -1)


# -- allocator.select -----------------------------------------------------------------

def test_select_first_pair_without_a_policy(sync_hal):
    other = create_device("local-sync")
    assert sync_hal("allocator.select", DEVICE_LOCAL, DEFAULT_USAGE, 0,
                    [(other, 2), (sync_hal.device, 1)]) == (other, 2)


def test_select_empty(sync_hal):
    with fails(status.InvalidArgumentError,
               "at least one device/queue affinity pair must be provided"):
        sync_hal("allocator.select", 0, 0, 0, [])
    with ref_is_null():
        sync_hal("allocator.select", 0, 0, 0, [(None, -1)])


def test_select_with_a_policy():
    seen = []

    def policy(memory_types, buffer_usage, flags, pairs):
        seen.append((memory_types, buffer_usage, flags, len(pairs)))
        return len(pairs) - 1

    h = HalHarness("local-sync", selection_policy=policy)
    other = create_device("local-sync")
    assert h("allocator.select", 0x30, 0xC03, 5, [(h.device, 1), (other, 4)]) == (other, 4)
    assert seen == [(0x30, 0xC03, 5, 2)]
    with fails(status.ResourceExhaustedError):
        h("allocator.select", 0, 0, 0, [(h.device, i) for i in range(65)])
    h.close()


# -- buffer.* -------------------------------------------------------------------------

def test_buffer_assert_checks_in_order(sync_hal):
    buffer = sync_hal.buffer(16)
    msg = text("arg0")
    allocator = sync_hal.allocator
    sync_hal("buffer.assert", buffer, msg, allocator, 16, DEVICE_LOCAL, DEFAULT_USAGE)
    with fails(status.InvalidArgumentError,
               "arg0 buffer byte length 16 less than expected minimum 17"):
        sync_hal("buffer.assert", buffer, msg, allocator, 17, 0x46, 0x100)
    with fails(status.PermissionDeniedError, contains="arg0 buffer memory type is not "
               "compatible; buffer has DEVICE_LOCAL|HOST_VISIBLE, operation requires "
               "HOST_LOCAL"):
        sync_hal("buffer.assert", buffer, msg, allocator, 0, 0x46, 0x100)
    with fails(status.PermissionDeniedError, contains="arg0 requested usage was not "
               "specified when the buffer was allocated"):
        sync_hal("buffer.assert", buffer, msg, allocator, 0, 0, 0x100)


@pytest.mark.parametrize("minimum_length", [0, 15, 16, 17, -1, 1 << 40])
def test_buffer_assert_is_assert_compatible(sync_hal, minimum_length):
    # the export passes plain in-range requests in its own frame: over edge values it
    # passes exactly when HalBuffer.assert_compatible does, else raises its error
    buffer = sync_hal.buffer(16)
    for memory_types in (0, DEVICE_LOCAL, 0x32, 0x46, 0x2, 0xFFFFFFFF, -1):
        for usage in (0, DEFAULT_USAGE, 0x100, 0x3, 0xFFFFFFFF, -1, -0x80000000):
            call = ("buffer.assert", buffer, text("m"), sync_hal.allocator, minimum_length,
                    memory_types, usage)
            try:
                buffer.assert_compatible("m", minimum_length, memory_types, usage)
            except status.PyreeError as e:
                with pytest.raises(type(e)) as info:
                    sync_hal(*call)
                assert info.value.message == e.message
                continue
            sync_hal(*call)


def test_buffer_assert_refs(sync_hal):
    buffer = sync_hal.buffer(4)
    with ref_is_null():
        sync_hal("buffer.assert", buffer, text("m"), None, 0, 0, 0)
    with ref_is_null():
        sync_hal("buffer.assert", buffer, None, sync_hal.allocator, 0, 0, 0)
    with ref_mismatch("hal.buffer"):
        sync_hal("buffer.assert", text("x"), text("m"), sync_hal.allocator, 0, 0, 0)


def test_allocation_claims(sync_hal):
    buffer = sync_hal.buffer(4)
    assert sync_hal("buffer.allocation.is_terminal", buffer) == 1
    sync_hal("buffer.allocation.preserve", buffer)
    assert sync_hal("buffer.allocation.is_terminal", buffer) == 0
    assert sync_hal("buffer.allocation.discard", buffer) == 0
    assert sync_hal("buffer.allocation.is_terminal", buffer) == 1
    assert sync_hal("buffer.allocation.discard", buffer) == 1


def test_subspan_and_length(sync_hal):
    buffer = sync_hal.buffer(16)
    buffer.write(bytes(range(16)))
    sub = sync_hal("buffer.subspan", buffer, 4, 8)
    assert sync_hal("buffer.length", sub) == 8 and sub.read() == bytes(range(4, 12))
    subsub = sync_hal("buffer.subspan", sub, 2, -1)
    assert sync_hal("buffer.length", subsub) == 6 and subsub.read() == bytes(range(6, 12))
    with fails(status.OutOfRangeError) as info:
        sync_hal("buffer.subspan", buffer, 12, 8)
    assert "invalid subspan of an existing buffer (source_offset=12, length=8)" in \
        info.value.annotations


def test_subspan_keeps_the_allocation_alive(sync_hal):
    buffer = sync_hal.buffer(16)
    buffer.write(b"x" * 16)
    sub = sync_hal("buffer.subspan", buffer, 8, 8)
    del buffer
    gc.collect()
    assert sub.read() == b"x" * 8


def test_load_and_store(sync_hal):
    buffer = sync_hal.buffer(8)
    buffer.write(bytes(8))
    sync_hal("buffer.store", 0x11223344, buffer, 0, 4)
    sync_hal("buffer.store", -1, buffer, 4, 2)
    assert buffer.read() == bytes([0x44, 0x33, 0x22, 0x11, 0xFF, 0xFF, 0, 0])
    assert sync_hal("buffer.load", buffer, 0, 4) == 0x11223344
    assert sync_hal("buffer.load", buffer, 4, 2) == 0xFFFF       # zero-extended
    assert sync_hal("buffer.load", buffer, 4, 4) == 0xFFFF
    assert sync_hal("buffer.load", buffer, 0, 0) == 0
    sync_hal("buffer.store", 0xFFFFFFFF, buffer, 4, 4)
    assert sync_hal("buffer.load", buffer, 4, 4) == -1           # an i32 result


@pytest.mark.parametrize("op", ["load", "store"])
def test_load_store_errors(sync_hal, op):
    buffer = sync_hal.buffer(8)

    def call(offset, length):
        if op == "load":
            return sync_hal("buffer.load", buffer, offset, length)
        return sync_hal("buffer.store", 7, buffer, offset, length)

    with fails(status.InvalidArgumentError, f"{op} length byte count 5 exceeds max"):
        call(0, 5)
    with fails(status.OutOfRangeError):
        call(6, 4)
    with ref_is_null():
        sync_hal("buffer.load" if op == "load" else "buffer.store",
                 *((None, 0, 4) if op == "load" else (1, None, 0, 4)))


def test_store_out_of_bounds_message(sync_hal):
    with fails(status.OutOfRangeError,
               "store out of bounds (target_offset=6, length=4 into max 8)"):
        sync_hal("buffer.store", 1, sync_hal.buffer(8), 6, 4)


def test_load_needs_read_access(sync_hal):
    source = VmBuffer.from_bytes(bytes(8))
    # usage 0x80000 (SHARING_IMMUTABLE) on a mutable source gives a READ-only buffer
    readonly = sync_hal("allocator.import", sync_hal.allocator, 0, -1, DEVICE_LOCAL,
                        DEFAULT_USAGE | 0x80000, source, 0, -1)
    assert sync_hal("buffer.load", readonly, 0, 4) == 0
    with fails(status.PermissionDeniedError,
               contains="buffer does not support the requested access type"):
        sync_hal("buffer.store", 1, readonly, 0, 4)
