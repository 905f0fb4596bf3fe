"""``hal`` exports of devices and queues (``hal-abi.md`` 3.6) on both drivers."""

from __future__ import annotations

import threading

import pytest

from pyree import status
from pyree.vm import VmBuffer

from .modhelpers import (DEFAULT_USAGE, DEVICE_LOCAL, fails, hal, ref_is_null,  # noqa: F401
                         ref_mismatch, sync_hal, text)


def test_allocator(hal):
    assert hal("device.allocator", hal.device) is hal.device.allocator
    with ref_is_null():
        hal("device.allocator", None)


@pytest.mark.parametrize("category, key, expected", [
    ("hal.device.id", "{id}", (1, 1)),
    ("hal.device.id", "local*", (1, 1)),
    ("hal.device.id", "*", (1, 1)),
    ("hal.device.id", "cuda*", (1, 0)),
    ("hal.executable.format", "pyree-kernels-v1", (1, 1)),
    ("hal.executable.format", "embedded-elf-x86_64", (1, 0)),
    ("hal.device", "concurrency", None),
    ("hal.dispatch", "concurrency", None),
    ("hal.device", "nonsense", (0, 0)),
    ("no.such.category", "x", (0, 0)),
])
def test_query_i64(hal, category, key, expected):
    got = hal("device.query.i64", hal.device, text(category),
              text(key.format(id=hal.device.id)))
    if expected is None:   # concurrency: 1 on local-sync, the worker count on local-task
        ok, value = got
        assert ok == 1 and (value == 1 if hal.device.id == "local-sync" else value >= 1)
    else:
        assert got == expected


def test_query_refs(sync_hal):
    with ref_is_null():
        sync_hal("device.query.i64", sync_hal.device, None, text("k"))
    with ref_mismatch("hal.device"):
        sync_hal("device.query.i64", text("d"), text("c"), text("k"))


def _fence(h):
    return h("fence.create", h.device, 0)


def _await(h, fence):
    assert h("fence.await", 10_000, 0, [fence]) == 0


def test_queue_fill_update_copy_in_fence_order(hal):
    a, b = hal.buffer(16), hal.buffer(16)
    f1, f2, f3 = _fence(hal), _fence(hal), _fence(hal)
    hal("device.queue.fill", hal.device, -1, None, f1, a, 0, 16, 0x0201, 2, 0)
    hal("device.queue.update", hal.device, -1, f1, f2, VmBuffer.from_bytes(b"xyzw"), 1, a,
        4, 3, 0)
    hal("device.queue.copy", hal.device, -1, f2, f3, a, 0, b, 8, 8, 0)
    _await(hal, f3)
    assert a.read(0, 8) == b"\x01\x02\x01\x02yzw\x02"
    assert b.read(8, 8) == a.read(0, 8)


@pytest.mark.parametrize("hal", ["local-task"], indirect=True)  # local-sync would block here
def test_queue_waits_for_its_wait_fence(hal):
    target = hal.buffer(4)
    target.write(b"\0\0\0\0")
    gate, done = _fence(hal), _fence(hal)
    hal("device.queue.fill", hal.device, -1, gate, done, target, 0, 4, 9, 1, 0)
    assert hal("fence.query", done) == 17 and target.read() == b"\0\0\0\0"
    hal("fence.signal", gate)
    _await(hal, done)
    assert target.read() == b"\x09" * 4


def test_local_sync_blocks_on_the_wait_fence(sync_hal):
    gate, done = _fence(sync_hal), _fence(sync_hal)
    timer = threading.Timer(0.05, gate.signal)
    timer.start()
    try:
        sync_hal("device.queue.barrier", sync_hal.device, -1, gate, done, 0)
    finally:
        timer.join()
    assert sync_hal("fence.query", done) == 0


def test_queue_update_source_range_is_checked_at_once(hal):
    fence = _fence(hal)
    with fails(status.OutOfRangeError):
        hal("device.queue.update", hal.device, -1, None, fence, VmBuffer.from_bytes(b"ab"),
            0, hal.buffer(4), 0, 4, 0)
    assert hal("fence.query", fence) == 11     # the signal fence failed too


def test_queue_fill_validation(hal):
    with fails(status.InvalidArgumentError):
        hal("device.queue.fill", hal.device, -1, None, None, hal.buffer(8), 0, 8, 0, 3, 0)


def test_queue_alloca_and_dealloca(hal):
    signal = _fence(hal)
    buffer = hal("device.queue.alloca", hal.device, -1, None, signal, 0, DEVICE_LOCAL,
                 DEFAULT_USAGE, 64, 0)
    _await(hal, signal)
    assert hal("buffer.length", buffer) == 64
    done = _fence(hal)
    hal("device.queue.dealloca", hal.device, -1, signal, done, buffer, 0)
    _await(hal, done)
    assert hal("buffer.length", buffer) == 64    # the object stays valid


def test_queue_alloca_pools_are_unimplemented(sync_hal):
    with fails(status.UnimplementedError, "VM queue allocation pools are not supported"):
        sync_hal("device.queue.alloca", sync_hal.device, -1, None, None, 1, DEVICE_LOCAL,
                 DEFAULT_USAGE, 64, 0)


def test_queue_read_from_a_file(hal):
    memory = VmBuffer.from_bytes(bytes(range(32)), mutable=False)
    file = hal("ex.file.from_memory", hal.device, -1, 1, memory, 8, 16, 0)
    target = hal.buffer(8)
    fence = _fence(hal)
    hal("device.queue.read", hal.device, -1, None, fence, file, 4, target, 0, 8, 0)
    _await(hal, fence)
    assert target.read() == bytes(range(12, 20))


def test_queue_write_to_a_read_only_file(sync_hal):
    memory = VmBuffer.from_bytes(bytes(32))
    file = sync_hal("ex.file.from_memory", sync_hal.device, -1, 1, memory, 0, 32, 0)
    with fails(status.PermissionDeniedError):
        sync_hal("device.queue.write", sync_hal.device, -1, None, None, sync_hal.buffer(8),
                 0, file, 0, 8, 0)


def test_queue_barrier_orders_fences(hal):
    wait, signal = _fence(hal), _fence(hal)
    hal("fence.signal", wait)
    hal("device.queue.barrier", hal.device, -1, wait, signal, 0)
    _await(hal, signal)
    hal("device.queue.barrier", hal.device, -1, None, None, 0)


def test_queue_failure_fails_the_signal_fence(hal):
    wait, signal = _fence(hal), _fence(hal)
    hal("fence.fail", wait, 10)                    # ABORTED
    try:
        hal("device.queue.barrier", hal.device, -1, wait, signal, 0)
    except status.AbortedError:
        pass                                       # local-sync also raises it
    with fails(status.AbortedError):
        hal("fence.await", 10_000, 0, [signal])


def test_queue_flush(hal):
    hal("device.queue.flush", hal.device, -1)


def test_queue_refs(sync_hal):
    device = sync_hal.device
    buffer = sync_hal.buffer(8)
    with ref_is_null():
        sync_hal("device.queue.barrier", None, -1, None, None, 0)
    with ref_mismatch("hal.fence"):
        sync_hal("device.queue.barrier", device, -1, buffer, None, 0)
    with ref_mismatch("hal.fence"):
        sync_hal("device.queue.barrier", device, -1, None, buffer, 0)
    with ref_is_null():
        sync_hal("device.queue.fill", device, -1, None, None, None, 0, 8, 0, 1, 0)
    with ref_is_null():
        sync_hal("device.queue.copy", device, -1, None, None, None, 0, buffer, 0, 8, 0)
    with ref_mismatch("vm.buffer"):
        sync_hal("device.queue.update", device, -1, None, None, buffer, 0, buffer, 0, 8, 0)
    with ref_mismatch("hal.file"):
        sync_hal("device.queue.read", device, -1, None, None, buffer, 0, buffer, 0, 8, 0)
    with ref_is_null():
        sync_hal("device.queue.dealloca", device, -1, None, None, None, 0)
    with ref_is_null():
        sync_hal("device.queue.execute", device, -1, None, None, None, 0)
    with ref_mismatch("hal.command_buffer"):
        sync_hal("device.queue.execute.indirect", device, -1, None, None, buffer, 0, [])
    with ref_is_null():
        sync_hal("device.queue.flush", None, -1)
