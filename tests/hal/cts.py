"""Shared pieces of the HAL conformance suite (``test_conformance_*.py``), IREE ``hal/cts``
style: every test that takes the ``device`` fixture runs once per driver.

Kernels are compiled once per process (:func:`kernels`): one small executable with the few
functions the suite dispatches, shapes from push constants.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.device import DRIVERS, create_device
from pyree.modules.hal.enums import BufferUsage, CommandBufferMode, CommandCategory, MemoryType
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.semaphore import HalSemaphore

DEVICE_LOCAL = int(MemoryType.DEVICE_LOCAL)
DEFAULT_USAGE = int(BufferUsage.DEFAULT)
ONE_SHOT = int(CommandBufferMode.ONE_SHOT)
INLINE = int(CommandBufferMode.ONE_SHOT | CommandBufferMode.ALLOW_INLINE_EXECUTION)
UNVALIDATED = int(CommandBufferMode.UNVALIDATED)
UNRETAINED = int(CommandBufferMode.UNRETAINED)
TRANSFER = int(CommandCategory.TRANSFER)
DISPATCH = int(CommandCategory.DISPATCH)
ANY = int(CommandCategory.ANY)
TIMEOUT = 10.0     # seconds: every wait in the suite is bounded


@pytest.fixture(params=DRIVERS)
def device(request):
    dev = create_device(request.param, poison=True)
    yield dev
    dev.close()


@pytest.fixture
def sync_device():
    """For behaviour that only the synchronous driver has (inline execution)."""
    dev = create_device("local-sync", poison=True)
    yield dev
    dev.close()


@pytest.fixture
def task_device():
    """For behaviour that only an asynchronous queue has (out-of-order submission,
    retention until a later signal)."""
    dev = create_device("local-task", poison=True)
    yield dev
    dev.close()


def buffer(device, size, *, usage=DEFAULT_USAGE, memory=DEVICE_LOCAL, access=0, fill=None):
    b = device.allocator.allocate(memory, usage, size, access=access)
    if fill is not None:
        b.map_range(0x7 if not access else access, 0, size)[:] = fill
    return b


def data(b) -> np.ndarray:
    return np.frombuffer(b.read(), dtype=np.uint8)


def fence():
    """A fresh fence (new semaphore at 0, timepoint 1)."""
    return HalFence.create()


def run(device, op, *args, wait=None):
    """Runs ``device.queue_<op>(-1, wait, signal, *args)`` and waits for its signal."""
    signal = fence()
    getattr(device, f"queue_{op}")(-1, wait, signal, *args)
    signal.wait(TIMEOUT)
    return signal


def execute(device, cb, table=None, flags=0, wait=None):
    signal = fence()
    device.queue_execute(-1, wait, signal, cb, table, flags)
    signal.wait(TIMEOUT)


def signal_later(f, delay=0.05):
    """Signals ``f`` from another thread after ``delay`` seconds (local-sync blocks)."""
    timer = threading.Timer(delay, f.signal)
    timer.daemon = True
    timer.start()
    return timer


class Gate:
    """A host fence that holds back submissions waiting on it (local-sync: signalled from a
    timer, since the submitting thread blocks)."""

    def __init__(self, device):
        self.fence = fence()
        self.sync = device.id == "local-sync"
        if self.sync:
            signal_later(self.fence)

    def open(self):
        if not self.sync:
            self.fence.signal()


# Kernels (pyree-kernels-v1), compiled once per process.

def _ew(name, t, expr, extra_push=0):
    n = {"pc": 0}
    reads = [{"index": i, "type": t, "access": "read", "shape": [n]} for i in range(2)]
    return {"name": name, "push_constants": ["n"] + [f"k{i}" for i in range(extra_push)],
            "bindings": reads + [{"index": 2, "type": t, "access": "write", "shape": [n]}],
            "items_per_workgroup": 4,
            "body": {"kind": "elementwise", "shape": [n],
                     "outputs": [{"binding": 2, "value": expr}]}}


LOAD_A = {"op": "load", "binding": 0}
LOAD_B = {"op": "load", "binding": 1}


@functools.cache
def kernels() -> Executable:
    """``add_f32`` (c = a + b, n = pc0), ``add_u8`` (wrapping) and ``scale_i32``
    (c = a * k0 + b): bindings a, b (read), c (write), items_per_workgroup 4."""
    functions = [
        _ew("add_f32", "f32", {"op": "add", "args": [LOAD_A, LOAD_B]}),
        _ew("add_u8", "ui8", {"op": "add", "args": [LOAD_A, LOAD_B]}),
        _ew("scale_i32", "i32", {"op": "add", "args": [
            {"op": "mul", "args": [LOAD_A, {"op": "push", "index": 1, "type": "i32"}]},
            LOAD_B]}, extra_push=1),
    ]
    data = fmt.serialize({"version": 1, "functions": functions})
    return Executable.create(fmt.FORMAT, data)


def groups(n, per=4):
    return (max(1, -(-n // per)), 1, 1)


__all__ = [
    "Gate",
    "HalSemaphore",
    "buffer",
    "data",
    "device",
    "execute",
    "fence",
    "groups",
    "kernels",
    "run",
    "signal_later",
]
