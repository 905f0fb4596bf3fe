"""``hal`` exports of command buffers (``hal-abi.md`` 3.5) on both drivers: recording,
validation, direct and indirect (binding table) references, dispatch, submission."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from pyree import status
from pyree.modules.hal.command_buffer import HalCommandBuffer
from pyree.vm import VmBuffer

from .modhelpers import (ALLOW_INLINE, ANY_CATEGORY, ONE_SHOT, UNRETAINED,  # noqa: F401
                         create_executable, fails, hal, ref_is_null, ref_mismatch, sync_hal,
                         text)


def record(h, mode=ONE_SHOT, categories=ANY_CATEGORY, capacity=0):
    return h("command_buffer.create", h.device, mode, categories, -1, capacity)


def submit(h, cb, table=None):
    """finalize, queue.execute(.indirect) with a signal fence, await it."""
    h("command_buffer.finalize", cb)
    fence = h("fence.create", h.device, 0)
    if table is None:
        h("device.queue.execute", h.device, -1, None, fence, cb, 0)
    else:
        h("device.queue.execute.indirect", h.device, -1, None, fence, cb, 0, table)
    assert h("fence.await", -1, 0, [fence]) == 0


MODES = [ONE_SHOT, ONE_SHOT | ALLOW_INLINE, 0, ONE_SHOT | UNRETAINED]


@pytest.mark.parametrize("mode", MODES)
def test_fill_update_copy(hal, mode):
    a, b = hal.buffer(16), hal.buffer(16)
    cb = record(hal, mode)
    assert type(cb) is HalCommandBuffer and cb.state == "recording"
    hal("command_buffer.fill_buffer", cb, a, 0, 16, 0, 0x01020304, 4, 0)
    source = VmBuffer.from_bytes(b"\xAA\xBB")
    hal("command_buffer.update_buffer", cb, source, 0, a, 4, 2, 0, 0)
    hal("command_buffer.execution_barrier", cb, 0x1C, 0xD, 0)
    hal("command_buffer.copy_buffer", cb, 0, 0, a, 0, b, 8, 8, 0)
    submit(hal, cb)
    assert a.read() == bytes([4, 3, 2, 1, 0xAA, 0xBB, 2, 1]) + bytes([4, 3, 2, 1]) * 2
    assert b.read(8, 8) == a.read(0, 8)


def test_update_captures_the_source_at_record_time(hal):
    target = hal.buffer(4)
    source = VmBuffer.from_bytes(b"abcd")
    cb = record(hal, 0)
    hal("command_buffer.update_buffer", cb, source, 0, target, 0, 4, 0, 0)
    source.data[:] = b"wxyz"
    submit(hal, cb)
    assert target.read() == b"abcd"


def test_inline_executes_while_recording(sync_hal):
    target = sync_hal.buffer(4)
    cb = record(sync_hal, ONE_SHOT | ALLOW_INLINE)
    sync_hal("command_buffer.fill_buffer", cb, target, 0, 4, 0, 7, 1, 0)
    assert target.read() == b"\x07" * 4          # before finalize or submission
    assert cb.resources is None                   # inline: nothing retained


def test_deferred_retains_what_it_records(hal):
    cb = record(hal, ONE_SHOT)
    target = hal.buffer(8)
    hal("command_buffer.fill_buffer", cb, target, 0, 8, 0, 9, 1, 0)
    del target
    gc.collect()
    assert cb.resources is not None and len(list(cb.resources)) >= 1


@pytest.mark.parametrize("mode, capacity, message", [
    (ALLOW_INLINE, 0, "inline command buffers must be one-shot"),
    (ONE_SHOT | ALLOW_INLINE, 2, "inline command buffers cannot have indirect bindings"),
])
def test_create_mode_rules(sync_hal, mode, capacity, message):
    with fails(status.InvalidArgumentError, message):
        record(sync_hal, mode, capacity=capacity)


def test_recording_state_machine(sync_hal):
    cb = record(sync_hal, 0)
    sync_hal("command_buffer.begin_debug_group", cb, text("group"))
    with fails(status.FailedPreconditionError,
               "unbalanced debug group depth (expected 0, is 1)"):
        sync_hal("command_buffer.finalize", cb)
    sync_hal("command_buffer.end_debug_group", cb)
    sync_hal("command_buffer.finalize", cb)
    with fails(status.FailedPreconditionError, contains="not in a recording state"):
        sync_hal("command_buffer.finalize", cb)
    with fails(status.FailedPreconditionError, contains="not in a recording state"):
        sync_hal("command_buffer.fill_buffer", cb, sync_hal.buffer(4), 0, 4, 0, 0, 1, 0)


def test_categories(sync_hal):
    cb = record(sync_hal, 0, categories=2)     # DISPATCH only
    with fails(status.FailedPreconditionError, contains="operation requires categories"):
        sync_hal("command_buffer.fill_buffer", cb, sync_hal.buffer(4), 0, 4, 0, 0, 1, 0)


def test_fill_validation(sync_hal):
    cb = record(sync_hal, 0)
    target = sync_hal.buffer(8)
    with fails(status.InvalidArgumentError,
               contains="fill value length is not one of the supported values"):
        sync_hal("command_buffer.fill_buffer", cb, target, 0, 8, 0, 0, 3, 0)
    with fails(status.InvalidArgumentError, contains="do not match the required alignment"):
        sync_hal("command_buffer.fill_buffer", cb, target, 2, 4, 0, 0, 4, 0)


def test_copy_overlap(sync_hal):
    cb = record(sync_hal, 0)
    buffer = sync_hal.buffer(16)
    with fails(status.InvalidArgumentError,
               contains="source and target ranges overlap within the same buffer"):
        sync_hal("command_buffer.copy_buffer", cb, 0, 0, buffer, 0, buffer, 4, 8, 0)


def test_usage_validation(sync_hal):
    cb = record(sync_hal, 0)
    no_transfer = sync_hal("allocator.allocate", sync_hal.allocator, -1, 0x30, 0xC00, 8)
    # the CPU heap adds TRANSFER to every buffer, so usage never fails for transfers there;
    # a buffer that is not DEVICE_VISIBLE is refused
    host_only = sync_hal("allocator.allocate", sync_hal.allocator, -1, 0x46, 0xC03, 8)
    sync_hal("command_buffer.fill_buffer", cb, no_transfer, 0, 8, 0, 0, 1, 0)
    with fails(status.PermissionDeniedError):
        sync_hal("command_buffer.fill_buffer", cb, host_only, 0, 8, 0, 0, 1, 0)


def test_advise_and_barrier_are_recorded(sync_hal):
    cb = record(sync_hal, 0)
    sync_hal("command_buffer.advise_buffer", cb, sync_hal.buffer(4), 0, 0, 0, 0)
    sync_hal("command_buffer.execution_barrier", cb, 0x4, 0x4, 0)
    submit(sync_hal, cb)


def test_refs(sync_hal):
    cb = record(sync_hal, 0)
    buffer = sync_hal.buffer(4)
    with ref_is_null():
        sync_hal("command_buffer.finalize", None)
    with ref_mismatch("hal.command_buffer"):
        sync_hal("command_buffer.finalize", buffer)
    with ref_is_null():
        sync_hal("command_buffer.create", None, 0, 3, -1, 0)
    with ref_mismatch("hal.buffer"):
        sync_hal("command_buffer.fill_buffer", cb, cb, 0, 4, 0, 0, 1, 0)
    with ref_is_null():
        sync_hal("command_buffer.update_buffer", cb, None, 0, buffer, 0, 4, 0, 0)
    with ref_mismatch("hal.buffer"):
        sync_hal("command_buffer.copy_buffer", cb, 0, 0, buffer, 0, text("x"), 0, 4, 0)
    with ref_is_null():
        sync_hal("command_buffer.begin_debug_group", cb, None)
    with ref_is_null():
        sync_hal("command_buffer.dispatch", cb, None, 0, 1, 1, 1, 0, [], [])


# -- indirect references --------------------------------------------------------------

def test_indirect_slots_resolve_against_the_binding_table(hal):
    cb = record(hal, 0, capacity=2)
    hal("command_buffer.fill_buffer", cb, None, 0, 8, 1, 0x55, 1, 0)
    hal("command_buffer.copy_buffer", cb, 1, 0, None, 0, None, 4, 4, 0)
    a, b = hal.buffer(16), hal.buffer(8)
    submit(hal, cb, [(a, 0, 16), (b, 0, 8)])
    assert b.read() == b"\x55" * 8 and a.read(4, 4) == b"\x55" * 4
    # reusable: a second submission with another table
    c = hal.buffer(8)
    fence = hal("fence.create", hal.device, 0)
    hal("device.queue.execute.indirect", hal.device, -1, None, fence, cb, 0,
        [(a, 0, 16), (c, 0, 8)])
    assert hal("fence.await", -1, 0, [fence]) == 0 and c.read() == b"\x55" * 8


def test_indirect_slot_beyond_capacity(sync_hal):
    cb = record(sync_hal, 0, capacity=1)
    with fails(status.OutOfRangeError, contains="indirect buffer reference slot 1 is out "
               "range of the declared binding capacity of the command buffer 1"):
        sync_hal("command_buffer.fill_buffer", cb, None, 0, 8, 1, 0, 1, 0)


def test_indirect_needs_a_table(sync_hal):
    cb = record(sync_hal, 0, capacity=1)
    sync_hal("command_buffer.fill_buffer", cb, None, 0, 8, 0, 0, 1, 0)
    sync_hal("command_buffer.finalize", cb)
    with fails(status.InvalidArgumentError, contains="indirect command buffer requires at "
               "least 1 bindings but no binding table was provided"):
        sync_hal("device.queue.execute", sync_hal.device, -1, None, None, cb, 0)
    with fails(status.OutOfRangeError, contains="requires at least 1 bindings but only 0"):
        sync_hal("device.queue.execute.indirect", sync_hal.device, -1, None, None, cb, 0, [])
    with fails(status.InvalidArgumentError,
               contains="binding table slot requires a buffer but none was provided"):
        sync_hal("device.queue.execute.indirect", sync_hal.device, -1, None, None, cb, 0,
                 [(None, 0, 8)])
    with fails(status.OutOfRangeError):
        sync_hal("device.queue.execute.indirect", sync_hal.device, -1, None, None, cb, 0,
                 [(sync_hal.buffer(4), 0, 4)])


# -- dispatch -------------------------------------------------------------------------

def _dispatch(h, cb, executable, fn, n, a, b, flags=0, slots=(0, 0)):
    h("command_buffer.dispatch", cb, executable, fn, (n + 63) // 64, 1, 1, flags, [n],
      [(0, slots[0], a, 0, 4 * n), (0, slots[1], b, 0, 4 * n)])


@pytest.mark.parametrize("mode", MODES)
def test_dispatch(hal, mode):
    executable = create_executable(hal)
    fn = hal("executable.lookup.function", executable, text("neg"))
    src = hal.f32_view(np.arange(100, dtype=np.float32))
    a = hal("buffer_view.buffer", src)
    b = hal.buffer(400)
    cb = record(hal, mode)
    _dispatch(hal, cb, executable, fn, 100, a, b)
    submit(hal, cb)
    np.testing.assert_array_equal(np.frombuffer(b.read(), np.float32), -np.arange(100))


def test_dispatch_indirect_bindings(hal):
    executable = create_executable(hal)
    cb = record(hal, 0, capacity=2)
    _dispatch(hal, cb, executable, 0, 3, None, None, slots=(0, 1))
    a = hal.f32_view([-1.0, 2.0, -3.0])
    b = hal.buffer(12)
    submit(hal, cb, [(hal("buffer_view.buffer", a), 0, 12), (b, 0, 12)])
    assert np.frombuffer(b.read(), np.float32).tolist() == [1.0, 2.0, 3.0]


def test_dispatch_indirect_workgroups(hal):
    executable = create_executable(hal)
    counts = hal.buffer(12, usage=0xC03 | 0x100)    # DISPATCH_INDIRECT_PARAMETERS
    counts.write(np.array([1, 1, 1], np.uint32).tobytes())
    a = hal("buffer_view.buffer", hal.f32_view([-4.0, 5.0]))
    b = hal.buffer(8)
    cb = record(hal, 0)
    hal("command_buffer.dispatch.indirect", cb, executable, 0, 0, counts, 0, 0, [2],
        [(0, 0, a, 0, 8), (0, 0, b, 0, 8)])
    submit(hal, cb)
    assert np.frombuffer(b.read(), np.float32).tolist() == [4.0, 5.0]


def test_dispatch_binding_limit(sync_hal):
    executable = create_executable(sync_hal)
    cb = record(sync_hal, 0)
    buffer = sync_hal.buffer(4)
    with fails(status.OutOfRangeError, "binding count 33 > 32"):
        sync_hal("command_buffer.dispatch", cb, executable, 0, 1, 1, 1, 0, [1],
                 [(0, 0, buffer, 0, 4)] * 33)


def test_dispatch_errors(sync_hal):
    executable = create_executable(sync_hal)
    cb = record(sync_hal, 0)
    a, b = sync_hal.buffer(4), sync_hal.buffer(4)
    with fails(status.NotFoundError):
        _dispatch(sync_hal, cb, executable, 7, 1, a, b)
    with fails(status.OutOfRangeError, contains="needs 8 bytes"):
        sync_hal("command_buffer.dispatch", cb, executable, 0, 1, 1, 1, 0, [2],
                 [(0, 0, a, 0, -1), (0, 0, b, 0, -1)])
    with fails(status.InvalidArgumentError, contains="push constants"):
        sync_hal("command_buffer.dispatch", cb, executable, 0, 1, 1, 1, 0, [],
                 [(0, 0, a, 0, 4), (0, 0, b, 0, 4)])
    with ref_mismatch("hal.executable"):
        sync_hal("command_buffer.dispatch", cb, a, 0, 1, 1, 1, 0, [1], [])
    with ref_mismatch("hal.buffer"):
        sync_hal("command_buffer.dispatch", cb, executable, 0, 1, 1, 1, 0, [1],
                 [(0, 0, executable, 0, 4), (0, 0, b, 0, 4)])


def test_one_shot_submits_once(sync_hal):
    cb = record(sync_hal, ONE_SHOT)
    sync_hal("command_buffer.fill_buffer", cb, sync_hal.buffer(4), 0, 4, 0, 0, 1, 0)
    submit(sync_hal, cb)
    with fails(status.FailedPreconditionError):
        sync_hal("device.queue.execute", sync_hal.device, -1, None, None, cb, 0)


def test_execute_needs_a_finalized_command_buffer(sync_hal):
    cb = record(sync_hal, 0)
    with fails(status.FailedPreconditionError, contains="still in a recording state"):
        sync_hal("device.queue.execute", sync_hal.device, -1, None, None, cb, 0)
