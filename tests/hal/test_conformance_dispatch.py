"""HAL conformance: dispatches of real pyree-kernels-v1 executables on every driver: direct and
indirect bindings, indirect workgroup counts read at execution, record-time validation,
executable retention, execution failures, and single-participant collectives."""

import gc
import weakref

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.enums import BufferUsage, DispatchFlags
from pyree.modules.hal.executable import Executable

from pyree.status import (
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    UnimplementedError,
)

from . import cts
from .cts import ANY, TIMEOUT, UNRETAINED, buffer, execute, fence, groups, kernels
from .halhelpers import raises

device = cts.device

INDIRECT_USAGE = int(BufferUsage.DEFAULT | BufferUsage.DISPATCH_INDIRECT_PARAMETERS)


def f32(device, values):
    values = np.asarray(values, dtype=np.float32)
    return buffer(device, values.nbytes, fill=values.view(np.uint8))


def floats(b):
    return np.frombuffer(b.read(), dtype=np.float32)


def test_dispatch_direct(device):
    exe = kernels()
    n = 37
    a, b = f32(device, np.arange(n)), f32(device, np.full(n, 0.5))
    c = f32(device, np.zeros(n))
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch(exe, exe.lookup_function("add_f32"), groups(n), 0, [n],
                [(0, a, 0, -1), (0, b, 0, -1), (0, c, 0, -1)])
    cb.finalize()
    execute(device, cb)
    np.testing.assert_array_equal(floats(c), np.arange(n) + 0.5)


def test_dispatch_indirect_bindings(device):
    exe = kernels()
    fid = exe.lookup_function("scale_i32")
    cb = device.create_command_buffer(0, ANY, -1, 2)
    cb.dispatch(exe, fid, (2, 1, 1), 0, [8, 3],
                [(0, None, 0, 32), (1, None, 0, -1), (1, None, 32, 32)])
    cb.finalize()
    a = buffer(device, 32, fill=np.arange(8, dtype=np.int32).view(np.uint8))
    bc = buffer(device, 64, fill=np.full(16, 100, dtype=np.int32).view(np.uint8))
    execute(device, cb, [(a, 0, -1), (bc, 0, -1)])
    out = np.frombuffer(bc.read(32, 32), dtype=np.int32)
    np.testing.assert_array_equal(out, np.arange(8) * 3 + 100)
    with raises(OutOfRangeError):                    # slot 1 needs 64 bytes
        device.queue_execute(-1, None, None, cb, [(a, 0, -1), (bc, 0, 48)], 0)


def test_dispatch_indirect_workgroups_read_at_execution(device):
    exe = kernels()
    n = 16
    a, b = f32(device, np.ones(n)), f32(device, np.ones(n))
    c = f32(device, np.zeros(n))
    counts = buffer(device, 16, usage=INDIRECT_USAGE, fill=0)
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch_indirect(exe, 0, 0, counts, 4, 0, [n],
                         [(0, a, 0, -1), (0, b, 0, -1), (0, c, 0, -1)])
    cb.finalize()
    counts.map_range(0x7, 4, 12).view("<u4")[:] = (2, 1, 1)    # after recording
    execute(device, cb)
    np.testing.assert_array_equal(floats(c), [2] * 8 + [0] * 8)  # 2 workgroups x 4 items
    counts.map_range(0x7, 4, 12).view("<u4")[:] = (4, 1, 1)
    execute(device, cb)
    np.testing.assert_array_equal(floats(c), [2] * n)


def test_dispatch_indirect_validation(device):
    exe = kernels()
    a = f32(device, np.ones(4))
    counts = buffer(device, 16, usage=INDIRECT_USAGE)
    cb = device.create_command_buffer(0, ANY, -1, 1)
    with raises(InvalidArgumentError, "workgroup count offset 2 must be 4-byte aligned"):
        cb.dispatch_indirect(exe, 0, 0, counts, 2, 0, [4], [(0, a, 0, -1)] * 3)
    cb.dispatch_indirect(exe, 0, 0, None, 4, 0, [4], [(0, a, 0, -1)] * 3)   # slot 0
    cb.finalize()
    with raises(PermissionDeniedError):      # slot 0 lacks DISPATCH_INDIRECT_PARAMETERS
        device.queue_execute(-1, None, None, cb, [(a, 0, -1)], 0)


def test_record_time_validation(device):
    exe = kernels()
    a = f32(device, np.ones(8))
    cb = device.create_command_buffer(0, ANY)
    three = [(0, a, 0, -1)] * 3
    with raises(OutOfRangeError, "binding count 33 > 32"):
        cb.dispatch(exe, 0, (1, 1, 1), 0, [8], [(0, a, 0, -1)] * 33)
    with raises(InvalidArgumentError):
        cb.dispatch(exe, 0, (1, 1, 1), 0, [8], three[:2])
    with raises(InvalidArgumentError):
        cb.dispatch(exe, 0, (1, 1, 1), 0, [8, 9], three)          # push constant count
    with raises(NotFoundError):
        cb.dispatch(exe, 7, (1, 1, 1), 0, [8], three)
    with raises(OutOfRangeError) as info:
        cb.dispatch(exe, 0, (4, 1, 1), 0, [16], three)            # 64 bytes needed, 32 bound
    assert "needs 64 bytes" in info.value.message
    with raises(InvalidArgumentError):
        cb.dispatch("not an executable", 0, (1, 1, 1), 0, [8], three)
    cb.finalize()
    assert cb.commands == ()


def test_executable_retained(device):
    desc = {"version": 1, "functions": [{
        "name": "fill", "push_constants": ["n"],
        "bindings": [{"index": 0, "type": "i32", "access": "write", "shape": [{"pc": 0}]}],
        "items_per_workgroup": 4, "body": {"kind": "fill", "target": 0, "value": 7}}]}
    exe = Executable.create(fmt.FORMAT, fmt.serialize(desc))
    ref = weakref.ref(exe)
    a = buffer(device, 16, fill=0)
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch(exe, 0, (1, 1, 1), 0, [4], [(0, a, 0, -1)])
    cb.finalize()
    assert exe in list(cb.resources)
    borrowed = device.create_command_buffer(0, ANY)
    borrowed.dispatch(exe, 0, (1, 1, 1), int(DispatchFlags.BORROW_RESOURCE_LIFETIMES), [4],
                      [(0, a, 0, -1)])
    assert len(borrowed.resources) == 0
    del exe
    gc.collect()
    execute(device, cb)
    assert ref() is not None
    assert list(np.frombuffer(a.read(), np.int32)) == [7] * 4


def test_dispatch_failure_fails_the_signal_fence(device):
    exe = kernels()
    a = f32(device, np.ones(4))
    counts = buffer(device, 12, usage=INDIRECT_USAGE,
                    fill=np.array([100, 1, 1], "<u4").view(np.uint8))
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch_indirect(exe, 0, 0, counts, 0, 0, [400], [(0, a, 0, -1)] * 3)
    cb.finalize()
    signal = fence()
    if device.id == "local-sync":
        with pytest.raises(OutOfRangeError):
            device.queue_execute(-1, None, signal, cb, None, 0)
    else:
        device.queue_execute(-1, None, signal, cb, None, 0)
    with raises(OutOfRangeError) as info:
        signal.wait(TIMEOUT)
    assert "needs 1600 bytes" in info.value.message
    assert signal.query() == int(OutOfRangeError.code)


def test_inline_dispatch(device):
    exe = kernels()
    a, b, c = f32(device, [1, 2]), f32(device, [3, 4]), f32(device, [0, 0])
    cb = device.create_command_buffer(0x11, ANY)
    cb.dispatch(exe, 0, (1, 1, 1), 0, [2], [(0, a, 0, -1), (0, b, 0, -1), (0, c, 0, -1)])
    if device.id == "local-sync":
        assert list(floats(c)) == [4, 6]
    cb.finalize()
    execute(device, cb)
    assert list(floats(c)) == [4, 6]


def test_unretained_dispatch_runs(device):
    exe = kernels()
    a, b, c = f32(device, [1, 2]), f32(device, [3, 4]), f32(device, [0, 0])
    cb = device.create_command_buffer(UNRETAINED, ANY)
    cb.dispatch(exe, 0, (1, 1, 1), 0, [2], [(0, a, 0, -1), (0, b, 0, -1), (0, c, 0, -1)])
    cb.finalize()
    execute(device, cb)
    assert list(floats(c)) == [4, 6]


# Collectives on a single-participant channel.


def test_channel(device):
    channel = device.create_channel(-1, 0, None, b"group", -1, -1)
    assert channel.rank_and_count() == (0, 1)
    assert channel.split(1, 0, 0).rank_and_count() == (0, 1)
    assert channel.split(-1, 0, 0) is None
    with raises(UnimplementedError):
        device.create_channel(-1, 0, None, None, 1, 2)


def test_collective_is_a_local_copy(device):
    channel = device.create_channel()
    send = f32(device, [1, 2, 3, 4])
    recv = f32(device, [0, 0, 0, 0])
    cb = device.create_command_buffer(0, ANY)
    all_reduce_sum_f32 = 1 | (1 << 8) | (9 << 16)
    cb.collective(channel, all_reduce_sum_f32, 0, 0, 0, send, recv, 0, 16, 0, 16, 4)
    cb.finalize()
    assert channel in list(cb.resources)
    execute(device, cb)
    assert list(floats(recv)) == [1, 2, 3, 4]


@pytest.mark.parametrize("op,error", [
    (9, "unknown collective operation 9"),
    (1 | (6 << 8), "unknown collective reduction 6"),
    (1 | (12 << 16), "unknown collective element type 12"),
    (0 | (1 << 8), "collective ALL_GATHER does not take a reduction (got SUM)"),
])
def test_collective_op_validation(device, op, error):
    b = f32(device, [0, 0])
    cb = device.create_command_buffer(0, ANY)
    with raises(InvalidArgumentError, error):
        cb.collective(device.create_channel(), op, 0, 0, 0, b, b, 0, 4, 4, 4, 1)


def test_collective_send_recv_rules(device):
    b = f32(device, [0, 0])
    cb = device.create_command_buffer(0, ANY)
    with raises(InvalidArgumentError, "collective RECV cannot have a send buffer"):
        cb.collective(device.create_channel(), 7, 0, 0, 0, b, b, 0, 4, 4, 4, 1)
    with raises(InvalidArgumentError, "collective SEND cannot have a receive buffer"):
        cb.collective(device.create_channel(), 6, 0, 0, 0, b, b, 0, 4, 4, 4, 1)
    with raises(UnimplementedError):
        cb.collective(device.create_channel(), 6, 0, 0, 0, b, None, 0, 4, 4, 4, 1)
