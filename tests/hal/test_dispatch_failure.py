"""A dispatch failing while it executes names its executable function
(``modules/hal/dispatch_failure.py``): on both drivers, direct and indirect, deferred and
inline, whether the error surfaces from the queue operation or from the signal fence."""

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.enums import BufferUsage
from pyree.modules.hal.executable import Executable

from pyree.status import OutOfRangeError

from . import cts
from .cts import ANY, TIMEOUT, buffer, fence, kernels
from .halhelpers import raises

device = cts.device

LOOKUP = {"name": "Gather_7", "bindings": [
    {"index": 0, "type": "f32", "access": "read", "shape": [4]},
    {"index": 1, "type": "i64", "access": "read", "shape": [2]},
    {"index": 2, "type": "f32", "access": "write", "shape": [2]}],
    "items_per_workgroup": 1,
    "body": {"kind": "op", "op": "gather", "attrs": {"axis": 0}, "inputs": [0, 1],
             "outputs": [2]}}


def _submit_and_wait(device, cb):
    """The error of running ``cb``: raised by queue_execute (local-sync) or the fence."""
    signal = fence()
    if device.id == "local-sync":
        with pytest.raises(OutOfRangeError):
            device.queue_execute(-1, None, signal, cb, None, 0)
    else:
        device.queue_execute(-1, None, signal, cb, None, 0)
    with raises(OutOfRangeError) as info:
        signal.wait(TIMEOUT)
    return info.value


@pytest.mark.parametrize("inline", [False, True])
def test_failing_op_dispatch_is_annotated_with_its_function(device, inline):
    exe = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1, "functions": [LOOKUP]}))
    x = buffer(device, 16, fill=np.arange(4, dtype=np.float32).view(np.uint8))
    i = buffer(device, 16, fill=np.array([0, 4], np.int64).view(np.uint8))
    y = buffer(device, 8)
    cb = device.create_command_buffer(0x11 if inline else 0, ANY)
    bindings = [(0, x, 0, -1), (0, i, 0, -1), (0, y, 0, -1)]
    if inline and device.id == "local-sync":   # runs while recording
        with raises(OutOfRangeError) as info:
            cb.dispatch(exe, 0, (1, 1, 1), 0, [], bindings)
        error = info.value
    else:
        cb.dispatch(exe, 0, (1, 1, 1), 0, [], bindings)
        cb.finalize()
        error = _submit_and_wait(device, cb)
    assert "index 4 at indices[1] is out of range for axis 0 of size 4" in error.message
    assert error.annotations[0] == "while executing dispatch 'Gather_7'"


def test_failing_indirect_dispatch_is_annotated_with_its_function(device):
    exe = kernels()
    a = buffer(device, 16)
    counts = buffer(device, 12, usage=int(BufferUsage.DEFAULT |
                                          BufferUsage.DISPATCH_INDIRECT_PARAMETERS),
                    fill=np.array([100, 1, 1], "<u4").view(np.uint8))
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch_indirect(exe, 2, 0, counts, 0, 0, [400, 3], [(0, a, 0, -1)] * 3)
    cb.finalize()
    error = _submit_and_wait(device, cb)
    assert "needs 1600 bytes" in error.message
    assert error.annotations[0] == "while executing dispatch 'scale_i32'"
