"""HAL conformance: buffers through queue operations (fill, update, copy, read, write, alloca,
dealloca), on every driver (``hal-abi.md`` 3.6)."""

import gc
import weakref

import numpy as np
import pytest
from pyree.modules.hal.enums import BufferUsage, MemoryAccess
from pyree.vm.buffer import VmBuffer

from pyree.status import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    PermissionDeniedError,
    UnimplementedError,
    UseAfterReleaseError,
)

from . import cts
from .cts import buffer, data, fence, Gate, run, task_device, TIMEOUT
from .halhelpers import raises

device = cts.device


@pytest.mark.parametrize("pattern,length,expected", [
    (0xAB, 1, [0xAB] * 4),
    (0x1234, 2, [0x34, 0x12] * 2),
    (0x01020304, 4, [4, 3, 2, 1]),
    (0xFFFF01, 1, [1] * 4),          # only the low pattern_length bytes count
])
def test_fill_patterns(device, pattern, length, expected):
    b = buffer(device, 16, fill=0)
    run(device, "fill", b, 4, 8, pattern, length, 0)
    assert list(data(b)) == [0] * 4 + expected * 2 + [0] * 4


def test_fill_whole_buffer_and_subspan(device):
    b = buffer(device, 12, fill=0)
    run(device, "fill", b, 4, -1, 7, 1, 0)
    assert list(data(b)) == [0] * 4 + [7] * 8
    run(device, "fill", b.subspan(2, 4), 0, -1, 9, 2, 0)
    assert list(data(b)) == [0, 0, 9, 0, 9, 0] + [7] * 6


def test_fill_errors(device):
    b = buffer(device, 16)
    with raises(InvalidArgumentError, "fill value length is not one of the supported values"):
        device.queue_fill(-1, None, None, b, 0, 16, 0, 3, 0)
    with raises(InvalidArgumentError) as info:
        device.queue_fill(-1, None, None, b, 2, 8, 0, 4, 0)
    assert info.value.message.startswith(
        "binding offset and/or length do not match the required alignment")
    with raises(OutOfRangeError) as info:
        device.queue_fill(-1, None, None, b, 8, 16, 0, 1, 0)
    assert "outside of the valid buffer range" in info.value.message
    with raises(InvalidArgumentError, "queue.fill target must be a hal.buffer, got null"):
        device.queue_fill(-1, None, None, None, 0, 4, 0, 1, 0)


def test_validation_errors_fail_the_signal_fence(device):
    b = buffer(device, 16)
    signal = fence()
    with pytest.raises(InvalidArgumentError):
        device.queue_fill(-1, None, signal, b, 0, 16, 0, 3, 0)
    assert signal.query() == 3
    with raises(InvalidArgumentError, "fill value length is not one of the supported values"):
        signal.wait(TIMEOUT)


def test_fill_read_only_buffer_is_denied(device):
    b = buffer(device, 16, access=int(MemoryAccess.READ))
    with raises(PermissionDeniedError) as info:
        device.queue_fill(-1, None, None, b, 0, 16, 0, 1, 0)
    assert info.value.message.startswith("buffer does not support the requested access type")


def test_update_captures_source_at_call_time(device):
    b = buffer(device, 8, fill=0)
    source = VmBuffer.from_bytes(bytes(range(10, 20)))
    gate = Gate(device)
    signal = fence()
    device.queue_update(-1, gate.fence, signal, source, 2, b, 1, 6, 0)
    source.data[:] = bytes(10)          # changed after the call: must not matter
    gate.open()
    signal.wait(TIMEOUT)
    assert list(data(b)) == [0, 12, 13, 14, 15, 16, 17, 0]


def test_update_source_range_checked_immediately(device):
    b = buffer(device, 8)
    source = VmBuffer.from_bytes(bytes(4))
    with raises(OutOfRangeError):
        device.queue_update(-1, None, None, source, 2, b, 0, 4, 0)
    run(device, "update", source, 1, b, 0, -1, 0)   # -1: to the end of the source
    assert list(data(b)[:3]) == [0, 0, 0]


def test_copy(device):
    a = buffer(device, 16, fill=np.arange(16, dtype=np.uint8))
    b = buffer(device, 16, fill=0)
    run(device, "copy", a, 4, b, 8, 8, 0)
    assert list(data(b)) == [0] * 8 + list(range(4, 12))
    run(device, "copy", a, 0, a, 8, 8, 0)            # same buffer, disjoint ranges
    assert list(data(a)) == list(range(8)) * 2


def test_copy_errors(device):
    a = buffer(device, 16)
    b = buffer(device, 8)
    with raises(InvalidArgumentError, "source and target ranges overlap within the same buffer"):
        device.queue_copy(-1, None, None, a, 0, a, 4, 8, 0)
    with raises(InvalidArgumentError,
                "copy span sizes do not match (source_length=16, target_length=8)"):
        device.queue_copy(-1, None, None, a, 0, b, 0, -1, 0)
    with raises(OutOfRangeError):
        device.queue_copy(-1, None, None, a, 12, b, 0, 8, 0)
    sub = a.subspan(4, 8)
    with raises(InvalidArgumentError, "source and target ranges overlap within the same buffer"):
        device.queue_copy(-1, None, None, sub, 2, a, 8, 4, 0)


def test_read_from_file(device):
    memory = VmBuffer.from_bytes(bytes(range(32)), mutable=False)
    file = device.file_from_memory(-1, int(MemoryAccess.READ), memory, 8, 16, 0)
    b = buffer(device, 8, fill=0)
    run(device, "read", file, 4, b, 2, 6, 0)
    assert list(data(b)) == [0, 0, 12, 13, 14, 15, 16, 17]
    with raises(OutOfRangeError):
        device.queue_read(-1, None, None, file, 12, b, 0, 8, 0)


def test_file_errors(device):
    memory = VmBuffer.from_bytes(bytes(8))
    with raises(PermissionDeniedError,
                "only read-only memory can be accessed via a file handle (today)"):
        device.file_from_memory(-1, int(MemoryAccess.ALL), memory, 0, 8, 0)
    with raises(OutOfRangeError):
        device.file_from_memory(-1, int(MemoryAccess.READ), memory, 4, 8, 0)
    file = device.file_from_memory(-1, int(MemoryAccess.READ), memory, 0, -1, 0)
    assert file.length == 8
    with raises(PermissionDeniedError):
        device.queue_write(-1, None, None, buffer(device, 8), 0, file, 0, 8, 0)


def test_file_keeps_memory_alive(device):
    memory = VmBuffer.from_bytes(bytes(range(8)))
    ref = weakref.ref(memory)
    file = device.file_from_memory(-1, int(MemoryAccess.READ), memory, 0, -1, 0)
    del memory
    gc.collect()
    assert ref() is not None
    b = buffer(device, 8)
    run(device, "read", file, 0, b, 0, 8, 0)
    assert list(data(b)) == list(range(8))


def test_alloca_and_dealloca(device):
    stats = device.allocator.statistics
    before = stats().live_allocations
    signal = fence()
    b = device.queue_alloca(-1, None, signal, 0, 0x30, int(BufferUsage.DEFAULT), 100, 0)
    signal.wait(TIMEOUT)
    assert b.byte_length == 100 and stats().live_allocations == before + 1
    run(device, "fill", b, 0, 100, 5, 1, 0)
    gate = Gate(device)
    done = fence()
    device.queue_dealloca(-1, gate.fence, done, b, 0)
    if device.id == "local-task":
        assert stats().live_allocations == before + 1   # only after the wait fence
    gate.open()
    done.wait(TIMEOUT)
    assert stats().live_allocations == before
    assert b.byte_length == 100                        # the object stays valid
    with pytest.raises(UseAfterReleaseError):
        b.read()


def test_alloca_errors(device):
    signal = fence()
    with raises(UnimplementedError, "VM queue allocation pools are not supported"):
        device.queue_alloca(-1, None, signal, 1, 0x30, 0xC03, 16, 0)
    assert signal.query() == 12


def test_dealloca_of_an_allocated_buffer_is_a_barrier(device):
    b = buffer(device, 16, fill=3)
    run(device, "dealloca", b, 0)
    assert list(data(b)) == [3] * 16


def test_use_of_deallocated_buffer_fails(device):
    b = device.queue_alloca(-1, None, None, 0, 0x30, 0xC03, 16, 0)
    run(device, "dealloca", b, 0)
    with pytest.raises(FailedPreconditionError):
        device.queue_fill(-1, None, None, b, 0, 16, 0, 1, 0)


def test_alloca_retained_until_signal(task_device):
    device = task_device
    gate = Gate(device)
    signal = fence()
    b = device.queue_alloca(-1, gate.fence, signal, 0, 0x30, 0xC03, 64, 0)
    ref = weakref.ref(b)
    del b
    gc.collect()
    assert ref() is not None
    gate.open()
    signal.wait(TIMEOUT)
    assert ref() is None
