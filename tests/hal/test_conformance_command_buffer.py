"""HAL conformance: command buffers on every driver: the state machine, every validation row
of ``hal-abi.md`` 3.5, modes (inline, deferred, UNVALIDATED, UNRETAINED, ONE_SHOT),
categories, debug groups, direct and indirect references, binding tables and the exact
errors of ``queue.execute`` / ``execute.indirect`` (3.6), and replay."""

import gc
import weakref

import numpy as np
import pytest
from pyree.modules.hal.command_buffer import HalCommandBuffer
from pyree.modules.hal.enums import BufferUsage, ExecuteFlags, MemoryAccess
from pyree.modules.hal.resource_set import ResourceSet
from pyree.vm.buffer import VmBuffer

from pyree.status import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    PermissionDeniedError,
)

from . import cts
from .cts import (
    sync_device,
    task_device,
    ANY,
    DISPATCH,
    INLINE,
    ONE_SHOT,
    TRANSFER,
    UNRETAINED,
    UNVALIDATED,
    Gate,
    buffer,
    data,
    execute,
    fence,
    kernels,
)
from .halhelpers import raises

device = cts.device

NOT_RECORDING = ("command buffer is not in a recording state; all recording must happen "
                 "between a begin/end pair")


def _commands(b, exe):
    """One call of every recording method (all valid on a fresh ANY command buffer)."""
    return {
        "begin_debug_group": lambda cb: cb.begin_debug_group("x"),
        "end_debug_group": lambda cb: cb.end_debug_group(),
        "execution_barrier": lambda cb: cb.execution_barrier(0x4, 0x4, 0),
        "advise_buffer": lambda cb: cb.advise_buffer(b, 0, 0, 0, 0),
        "fill_buffer": lambda cb: cb.fill_buffer(b, 0, 4, 0, 1, 1, 0),
        "update_buffer": lambda cb: cb.update_buffer(VmBuffer.from_bytes(b"ab"), 0, b, 0, 2,
                                                     0, 0),
        "copy_buffer": lambda cb: cb.copy_buffer(0, 0, b, 0, b, 8, 4, 0),
        "collective": lambda cb: cb.collective(
            cb.device.create_channel(), 0x90000, 0, 0, 0, b, b, 0, 4, 8, 4, 1),
        "dispatch": lambda cb: cb.dispatch(exe, 0, (1, 1, 1), 0, [1],
                                           [(0, b, 0, 4), (0, b, 4, 4), (0, b, 8, 4)]),
        "dispatch_indirect": lambda cb: cb.dispatch_indirect(
            exe, 0, 0, b, 48, 0, [1], [(0, b, 0, 4), (0, b, 4, 4), (0, b, 8, 4)]),
    }


# State machine.


def test_create_begins_recording(device):
    cb = device.create_command_buffer(0, ANY)
    assert cb.state == "recording" and type(cb) is HalCommandBuffer
    with raises(FailedPreconditionError, "command buffer is already in a recording state"):
        cb.begin()
    cb.finalize()
    assert cb.state == "executable"
    with raises(FailedPreconditionError, "command buffer has already been recorded; "
                "re-recording command buffers is not allowed"):
        cb.begin()
    with raises(FailedPreconditionError, "command buffer is not in a recording state"):
        cb.finalize()


@pytest.mark.parametrize("name", list(_commands(None, None)))
def test_recording_after_finalize_fails(device, name):
    b = buffer(device, 64)
    cb = device.create_command_buffer(0, ANY)
    cb.finalize()
    with raises(FailedPreconditionError, NOT_RECORDING):
        _commands(b, kernels())[name](cb)


def test_every_command_records(device):
    b = buffer(device, 64, fill=0, usage=0xC03 | int(BufferUsage.DISPATCH_INDIRECT_PARAMETERS))
    b.map_range(0x7, 48, 12).view("<u4")[:] = 1
    cb = device.create_command_buffer(0, ANY)
    for record in _commands(b, kernels()).values():
        record(cb)
    cb.finalize()
    execute(device, cb)


def test_submission_state_errors(device):
    cb = device.create_command_buffer(0, ANY)
    with raises(FailedPreconditionError, "command buffer recording has not been ended and it "
                "is still in a recording state"):
        device.queue_execute(-1, None, None, cb, None, 0)
    fresh = HalCommandBuffer(device)
    with raises(FailedPreconditionError, "command buffer has not been recorded"):
        device.queue_execute(-1, None, None, fresh, None, 0)


def test_mode_rules(device):
    with raises(InvalidArgumentError, "inline command buffers must be one-shot"):
        device.create_command_buffer(0x10, ANY)
    with raises(InvalidArgumentError, "inline command buffers cannot have indirect bindings"):
        device.create_command_buffer(INLINE, ANY, -1, 1)


def test_one_shot_submits_once_reusable_many(device):
    b = buffer(device, 4, fill=0)
    once = device.create_command_buffer(ONE_SHOT, ANY)
    once.fill_buffer(b, 0, 4, 0, 1, 1, 0)
    once.finalize()
    execute(device, once)
    with raises(FailedPreconditionError) as info:
        device.queue_execute(-1, None, None, once, None, 0)
    assert "one-shot" in info.value.message
    again = device.create_command_buffer(0, ANY)
    again.fill_buffer(b, 0, 4, 0, 0x02, 1, 0)
    again.finalize()
    for _ in range(3):
        execute(device, again)
    assert list(data(b)) == [2] * 4


# Categories and debug groups.


def test_categories(device):
    b = buffer(device, 64)
    transfer_only = device.create_command_buffer(0, TRANSFER)
    with raises(FailedPreconditionError, "operation requires categories DISPATCH but command "
                "buffer only supports TRANSFER"):
        _commands(b, kernels())["dispatch"](transfer_only)
    dispatch_only = device.create_command_buffer(0, DISPATCH)
    for name in ("fill_buffer", "update_buffer", "copy_buffer", "advise_buffer"):
        with raises(FailedPreconditionError, "operation requires categories TRANSFER but "
                    "command buffer only supports DISPATCH"):
            _commands(b, kernels())[name](dispatch_only)
    unvalidated = device.create_command_buffer(UNVALIDATED, TRANSFER)
    _commands(b, kernels())["dispatch"](unvalidated)   # UNVALIDATED skips categories


def test_debug_groups(device):
    cb = device.create_command_buffer(0, ANY)
    cb.begin_debug_group(VmBuffer.from_bytes(b"outer"))
    cb.begin_debug_group("inner")
    cb.end_debug_group()
    with raises(FailedPreconditionError, "unbalanced debug group depth (expected 0, is 1)"):
        cb.finalize()
    cb.end_debug_group()
    with raises(FailedPreconditionError, "unbalanced debug group depth (expected > 0)"):
        cb.end_debug_group()
    cb.finalize()
    execute(device, cb)
    loose = device.create_command_buffer(UNVALIDATED, ANY)
    loose.begin_debug_group("never closed")
    loose.finalize()


# Validation rows of 3.5 on direct buffers.


def test_indirect_slot_beyond_capacity(device):
    cb = device.create_command_buffer(0, ANY, -1, 2)
    with raises(OutOfRangeError, "indirect buffer reference slot 2 is out range of the "
                "declared binding capacity of the command buffer 2"):
        cb.fill_buffer(None, 0, 4, 2, 0, 1, 0)
    plain = device.create_command_buffer(0, ANY)
    with raises(OutOfRangeError, "indirect buffer reference slot 0 is out range of the "
                "declared binding capacity of the command buffer 0"):
        plain.copy_buffer(0, 0, None, 0, buffer(device, 4), 0, 4, 0)


def test_direct_buffer_usage(device):
    exe = kernels()
    cb = device.create_command_buffer(0, ANY)
    good = buffer(device, 16)
    read_only_usage = buffer(device, 16, usage=int(BufferUsage.DISPATCH_STORAGE_READ))
    with raises(PermissionDeniedError) as info:
        cb.dispatch(exe, 0, (1, 1, 1), 0, [4], [(0, read_only_usage, 0, 16), (0, good, 0, 16),
                                                (0, good, 0, 16)])
    assert info.value.message == (
        "requested usage was not specified when the buffer was allocated; buffer allows "
        "TRANSFER|DISPATCH_STORAGE_READ|MAPPING_SCOPED|MAPPING_PERSISTENT|"
        "MAPPING_ACCESS_RANDOM, operation requires DISPATCH_STORAGE")
    with raises(PermissionDeniedError) as info:
        cb.dispatch_indirect(exe, 0, 0, good, 0, 0, [4],
                             [(0, good, 0, 16), (0, good, 0, 16), (0, good, 0, 16)])
    assert info.value.message.endswith("operation requires DISPATCH_INDIRECT_PARAMETERS")


def test_direct_buffer_access(device):
    cb = device.create_command_buffer(0, ANY)
    read_only = buffer(device, 16, access=int(MemoryAccess.READ))
    with raises(PermissionDeniedError, "buffer does not support the requested access type; "
                "buffer allows READ, operation requires WRITE"):
        cb.fill_buffer(read_only, 0, 16, 0, 0, 1, 0)
    with raises(PermissionDeniedError):
        cb.copy_buffer(0, 0, buffer(device, 16), 0, read_only, 0, 16, 0)
    cb.copy_buffer(0, 0, read_only, 0, buffer(device, 16), 0, 16, 0)   # reading is fine


def test_direct_buffer_memory_type(device):
    cb = device.create_command_buffer(0, ANY)
    host_only = buffer(device, 16, memory=0)           # type 0 -> HOST_VISIBLE only
    with raises(PermissionDeniedError, "buffer memory type is not compatible with the "
                "requested operation; buffer has HOST_VISIBLE, operation requires "
                "DEVICE_VISIBLE"):
        cb.fill_buffer(host_only, 0, 16, 0, 0, 1, 0)


def test_direct_buffer_queue_compatibility(device):
    exe = kernels()
    cb = device.create_command_buffer(0, ANY)
    uniform = buffer(device, 16, usage=int(BufferUsage.DISPATCH_UNIFORM_READ))
    good = buffer(device, 16)
    with raises(PermissionDeniedError) as info:
        cb.dispatch(exe, 0, (1, 1, 1), 0, [4],
                    [(0, uniform, 0, 16), (0, good, 0, 16), (0, good, 0, 16)])
    assert info.value.message.startswith(
        "requested buffer usage is not supported for the buffer on this queue; ")


def test_fill_and_copy_rows(device):
    cb = device.create_command_buffer(0, ANY)
    b = buffer(device, 32)
    with raises(InvalidArgumentError, "fill value length is not one of the supported values"):
        cb.fill_buffer(b, 0, 8, 0, 0, 8, 0)
    with raises(InvalidArgumentError):
        cb.fill_buffer(b, 0, 6, 0, 0, 4, 0)
    with raises(InvalidArgumentError, "source and target ranges overlap within the same buffer"):
        cb.copy_buffer(0, 0, b, 0, b, 4, 8, 0)
    with raises(InvalidArgumentError):
        cb.copy_buffer(0, 0, b, 0, buffer(device, 8), 0, -1, 0)
    with raises(OutOfRangeError) as info:
        cb.fill_buffer(b, 24, 16, 0, 0, 1, 0)
    assert info.value.message.startswith(
        "attempted to access an address outside of the valid buffer range")


def test_unvalidated_skips_program_checks_not_memory_checks(device):
    cb = device.create_command_buffer(UNVALIDATED, ANY)
    host_only = buffer(device, 16, memory=0)
    cb.fill_buffer(host_only, 0, 16, 0, 5, 1, 0)            # memory type not checked
    with pytest.raises(OutOfRangeError):
        cb.fill_buffer(host_only, 8, 16, 0, 5, 1, 0)        # ranges always are
    cb.finalize()
    execute(device, cb)
    assert list(data(host_only)) == [5] * 16


# Modes and retention.


def test_inline_executes_while_recording(device):
    b = buffer(device, 8, fill=0)
    cb = device.create_command_buffer(INLINE, ANY)
    cb.fill_buffer(b, 0, 8, 0, 9, 1, 0)
    if device.id == "local-sync":
        assert cb.inline and cb.resources is None
        assert list(data(b)) == [9] * 8                     # before any submission
    else:
        assert not cb.inline and isinstance(cb.resources, ResourceSet)
    cb.finalize()
    execute(device, cb)
    assert list(data(b)) == [9] * 8


def test_inline_sees_contents_as_of_recording(sync_device):
    device = sync_device
    a = buffer(device, 4, fill=1)
    b = buffer(device, 4, fill=0)
    cb = device.create_command_buffer(INLINE, ANY)
    cb.copy_buffer(0, 0, a, 0, b, 0, 4, 0)
    a.fill(7)
    cb.finalize()
    execute(device, cb)
    assert list(data(b)) == [1] * 4


def test_resource_set_dedupes_and_freezes(device):
    b = buffer(device, 64)
    cb = device.create_command_buffer(0, ANY)
    for _ in range(1000):
        cb.fill_buffer(b, 0, 4, 0, 1, 1, 0)
    assert cb.resources.retained_count == 1
    cb.finalize()
    assert cb.resources.is_frozen


def test_unretained_tracks_nothing(device):
    cb = device.create_command_buffer(UNRETAINED, ANY)
    assert cb.resources is None
    b = buffer(device, 16)
    ref = weakref.ref(b)
    cb.fill_buffer(b, 0, 16, 0, 1, 1, 0)
    del b
    gc.collect()
    assert ref() is None        # nothing kept it alive: the caller broke its promise


def test_deferred_retains_until_released(device):
    b = buffer(device, 16, fill=0)
    ref = weakref.ref(b)
    cb = device.create_command_buffer(0, ANY)
    cb.fill_buffer(b, 0, 16, 0, 3, 1, 0)
    cb.update_buffer(VmBuffer.from_bytes(b"\x01\x02"), 0, b, 0, 2, 0, 0)
    cb.finalize()
    del b
    gc.collect()
    assert ref() is not None
    execute(device, cb)
    assert list(data(ref())) == [1, 2] + [3] * 14
    del cb
    gc.collect()
    assert ref() is None


def test_update_captured_at_record_time(device):
    b = buffer(device, 4, fill=0)
    source = VmBuffer.from_bytes(b"\x05\x06\x07\x08")
    cb = device.create_command_buffer(0, ANY)
    cb.update_buffer(source, 1, b, 0, 3, 0, 0)
    source.data[:] = bytes(4)
    cb.finalize()
    execute(device, cb)
    assert list(data(b)) == [6, 7, 8, 0]
    with raises(OutOfRangeError):
        device.create_command_buffer(0, ANY).update_buffer(source, 2, b, 0, 4, 0, 0)


# Binding tables.


def _indirect_copy(device, capacity=2):
    cb = device.create_command_buffer(0, ANY, -1, capacity)
    cb.copy_buffer(0, 1, None, 4, None, 0, 8, 0)
    cb.finalize()
    return cb


def test_binding_table_resolves_slots(device):
    cb = _indirect_copy(device)
    assert cb.binding_count == 2
    a = buffer(device, 32, fill=np.arange(32, dtype=np.uint8))
    b = buffer(device, 32, fill=0)
    execute(device, cb, [(a, 8, 16), (b, 16, -1)])
    assert list(data(b)) == [0] * 16 + list(range(12, 20)) + [0] * 8
    execute(device, cb, [(b, 16, 16), (a, 0, 8)])            # same commands, other buffers
    assert list(data(a)[:8]) == [16, 17, 18, 19, 0, 0, 0, 0]


def test_binding_table_errors(device):
    cb = _indirect_copy(device)
    a = buffer(device, 32)
    with raises(InvalidArgumentError, "indirect command buffer requires at least 2 bindings "
                "but no binding table was provided"):
        device.queue_execute(-1, None, None, cb, None, 0)
    with raises(OutOfRangeError, "indirect command buffer requires at least 2 bindings but "
                "only 1 were provided"):
        device.queue_execute(-1, None, None, cb, [(a, 0, -1)], 0)
    with raises(InvalidArgumentError, "binding table slot requires a buffer but none was "
                "provided"):
        device.queue_execute(-1, None, None, cb, [(a, 0, -1), (None, 0, 0)], 0)
    with raises(OutOfRangeError) as info:
        device.queue_execute(-1, None, None, cb, [(a, 0, 8), (a, 0, -1)], 0)
    assert info.value.message.startswith("at least one command attempted to access an address "
                                         "outside of the valid bound buffer range")
    read_only = buffer(device, 32, access=int(MemoryAccess.READ))
    with raises(PermissionDeniedError):
        device.queue_execute(-1, None, None, cb, [(a, 0, -1), (read_only, 0, -1)], 0)
    with raises(PermissionDeniedError):
        device.queue_execute(-1, None, None, cb, [(a, 0, -1), (buffer(device, 32, memory=0),
                                                               0, -1)], 0)
    with raises(OutOfRangeError):
        device.queue_execute(-1, None, None, cb, [(a, 40, -1), (a, 0, -1)], 0)


def test_binding_table_alignment(device):
    cb = device.create_command_buffer(0, ANY, -1, 1)
    cb.fill_buffer(None, 0, 8, 0, 0x01020304, 4, 0)
    cb.finalize()
    b = buffer(device, 32, fill=0)
    with raises(InvalidArgumentError, "required binding offset alignment of 4 provided a "
                "binding offset of 2"):
        device.queue_execute(-1, None, None, cb, [(b, 2, -1)], 0)
    execute(device, cb, [(b, 4, -1)])
    assert list(data(b)[4:12]) == [4, 3, 2, 1] * 2


def test_binding_table_is_copied(device):
    cb = _indirect_copy(device)
    a = buffer(device, 32, fill=1)
    b = buffer(device, 32, fill=0)
    table = [(a, 0, -1), (b, 0, -1)]
    gate = Gate(device)
    signal = fence()
    device.queue_execute(-1, gate.fence, signal, cb, table, 0)
    table[1] = (a, 0, -1)
    gate.open()
    signal.wait(10)
    assert list(data(b)[:8]) == [1] * 8


def test_submission_retains_binding_table_buffers(task_device):
    device = task_device
    for flags, retained in ((0, True), (int(ExecuteFlags.BORROW_BINDING_TABLE_LIFETIME), False)):
        cb = _indirect_copy(device)
        a = buffer(device, 32, fill=1)
        b = buffer(device, 32, fill=0)
        refs = weakref.ref(a), weakref.ref(b)
        gate = Gate(device)
        signal = fence()
        device.queue_execute(-1, gate.fence, signal, cb, [(a, 0, -1), (b, 0, -1)], flags)
        del a, b
        gc.collect()
        assert all((r() is not None) == retained for r in refs)
        gate.open()
        signal.wait(10)
        assert all(r() is None for r in refs)


def test_direct_and_indirect_mixed(device):
    a = buffer(device, 16, fill=np.arange(16, dtype=np.uint8))
    cb = device.create_command_buffer(0, ANY, -1, 1)
    cb.copy_buffer(0, 0, a, 0, None, 4, 8, 0)
    cb.fill_buffer(None, 0, 4, 0, 0xEE, 1, 0)
    cb.finalize()
    b = buffer(device, 16, fill=0)
    execute(device, cb, [(b, 0, -1)])
    assert list(data(b)) == [0xEE] * 4 + list(range(8)) + [0] * 4


# Replay.


def test_replay_onto_targets(device):
    source = device.create_command_buffer(0, ANY, -1, 1)
    source.begin_debug_group("g")
    source.fill_buffer(None, 0, 8, 0, 4, 1, 0)
    source.end_debug_group()
    source.finalize()
    b = buffer(device, 8, fill=0)
    target = device.create_command_buffer(INLINE, ANY)
    source.replay_onto(target, [(b, 0, -1)])
    target.finalize()
    execute(device, target)
    assert list(data(b)) == [4] * 8
    carried = device.create_command_buffer(0, ANY, -1, 1)
    source.replay_onto(carried)
    carried.finalize()
    assert carried.binding_count == 1
    c = buffer(device, 8, fill=0)
    execute(device, carried, [(c, 0, -1)])
    assert list(data(c)) == [4] * 8
    with raises(OutOfRangeError):
        source.replay_onto(device.create_command_buffer(0, ANY))


def test_replay_target_retains_source(device):
    b = buffer(device, 8, fill=0)
    source = device.create_command_buffer(0, ANY)
    source.fill_buffer(b, 0, 8, 0, 6, 1, 0)
    source.finalize()
    target = device.create_command_buffer(0, ANY)
    source.replay_onto(target)
    target.finalize()
    refs = weakref.ref(source), weakref.ref(b)
    del source, b
    gc.collect()
    assert all(r() is not None for r in refs)
    execute(device, target)
    assert list(data(refs[1]())) == [6] * 8
    unretained = device.create_command_buffer(UNRETAINED, ANY)
    refs[0]().replay_onto(unretained)
    del target
    gc.collect()
    assert all(r() is None for r in refs)


def test_recording_before_begin_fails(device):
    cb = HalCommandBuffer(device)
    assert cb.state == "initial"
    with raises(FailedPreconditionError, NOT_RECORDING):
        cb.fill_buffer(buffer(device, 4), 0, 4, 0, 0, 1, 0)


def test_local_sync_inline_work_creates_no_resource_sets(device, monkeypatch):
    created = []
    original = ResourceSet.__init__

    def counting_init(self):
        created.append(1)
        original(self)

    monkeypatch.setattr(ResourceSet, "__init__", counting_init)
    b = buffer(device, 16, fill=0)
    cb = device.create_command_buffer(INLINE, ANY)
    cb.fill_buffer(b, 0, 16, 0, 1, 1, 0)
    cb.copy_buffer(0, 0, b, 0, b, 8, 8, 0)
    cb.finalize()
    execute(device, cb)
    device.queue_fill(-1, None, None, b, 0, 8, 2, 1, 0)
    device.wait_idle(10)
    if device.id == "local-sync":
        assert created == []                 # inline and synchronous: nothing tracked
    else:
        assert len(created) >= 2             # the command buffer's set, submissions' sets
