"""Helpers of the ``hal`` module tests (``test_module_*.py``): call exports from the host.

``HalHarness(driver)`` owns a device, a :class:`HalModule` on it and a context; calling it
with an export name (without ``hal.``) and arguments returns the result (one value), a
tuple (several) or None (no results), exactly as bytecode would see them.
"""

from __future__ import annotations

import contextlib

import pytest

from pyree import status
from pyree.modules.hal.device import create_device
from pyree.modules.hal.executable_format import FORMAT, serialize
from pyree.modules.hal.module import HalModule
from pyree.vm import Context, VmBuffer

DRIVERS = ("local-sync", "local-task")
F32 = 0x21000020
I32 = 0x10000020
DENSE = 1
DEVICE_LOCAL = 0x30
DEFAULT_USAGE = 0xC03
ONE_SHOT = 0x1
ALLOW_INLINE = 0x10
UNRETAINED = 0x40
ANY_CATEGORY = 3


def text(s: str | bytes, *, mutable: bool = False) -> VmBuffer:
    """A ``!vm.buffer`` holding ``s`` (UTF-8), immutable by default like rodata."""
    data = s.encode() if isinstance(s, str) else bytes(s)
    return VmBuffer.from_bytes(data, mutable=mutable)


def rodata(data: bytes) -> VmBuffer:
    """A buffer flagged exactly like module rodata (ORIGIN_MODULE, immutable)."""
    return VmBuffer.wrap(memoryview(bytes(data)), flags=VmBuffer.ORIGIN_MODULE)


class HalHarness:
    def __init__(self, driver: str = "local-sync", **module_kwargs):
        self.device = create_device(driver)
        self.module = HalModule([self.device], **module_kwargs)
        self.context = Context([self.module])

    def __call__(self, name: str, *args):
        results = self.context.lookup_function("hal." + name)(*args)
        if not results:
            return None
        return results[0] if len(results) == 1 else results

    @property
    def allocator(self):
        return self.device.allocator

    def buffer(self, size: int, memory_types=DEVICE_LOCAL, usage=DEFAULT_USAGE):
        return self("allocator.allocate", self.allocator, -1, memory_types, usage, size)

    def f32_view(self, values):
        import numpy as np

        array = np.asarray(values, dtype=np.float32)
        buffer = self.buffer(array.nbytes)
        buffer.write(array.tobytes())
        return self("buffer_view.create", buffer, 0, array.nbytes, F32, DENSE,
                    list(array.shape))

    def close(self) -> None:
        self.context.close()
        self.device.close()


@pytest.fixture(params=DRIVERS)
def hal(request):
    harness = HalHarness(request.param)
    yield harness
    harness.close()


@pytest.fixture
def sync_hal():
    harness = HalHarness("local-sync")
    yield harness
    harness.close()


@contextlib.contextmanager
def fails(cls, message=None, *, contains=None):
    """The call fails with ``cls`` (and exactly ``message`` / a message containing
    ``contains``), annotated as a native hal function."""
    with pytest.raises(cls) as info:
        yield info
    err = info.value
    if message is not None:
        assert err.message == message
    if contains is not None:
        assert contains in err.message, err.message
    assert any(a.startswith("while invoking native function hal.") for a in err.annotations)


def ref_is_null():
    return fails(status.InvalidArgumentError, "ref is null")


def ref_mismatch(expected: str):
    return fails(status.InvalidArgumentError, contains=f"ref type mismatch; expected {expected}")


def executable_json(*functions) -> bytes:
    return serialize({"version": 1, "functions": list(functions)})


def unary_function(name: str, op: str, t: str = "f32") -> dict:
    """``out[i] = op(in[i])`` over a push-constant length, 64 items per workgroup."""
    n = {"pc": 0}
    return {"name": name, "push_constants": ["n"],
            "bindings": [{"index": 0, "type": t, "access": "read", "shape": [n]},
                         {"index": 1, "type": t, "access": "write", "shape": [n]}],
            "items_per_workgroup": 64,
            "body": {"kind": "elementwise", "shape": [n],
                     "outputs": [{"binding": 1,
                                  "value": {"op": op, "args": [{"op": "load", "binding": 0}]}}]}}


ABS_NEG = executable_json(unary_function("abs", "abs"), unary_function("neg", "neg"))


def create_executable(h: HalHarness, data: bytes = ABS_NEG):
    return h("executable.create", h.device, -1, text(FORMAT), rodata(data), None)

