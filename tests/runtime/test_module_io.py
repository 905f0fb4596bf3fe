"""pyree.runtime.module's host path: inputs wrapped as buffer views (large ones imported
without a copy, with every check), results back as numpy (small ones copied)."""

import numpy as np
import pytest
from onnx import TensorProto, helper
from pyree.compiler import compile_model
from pyree.modules.hal import HalAllocator, HalBufferView, MemoryAccess

from pyree.runtime import load_module
from pyree.runtime.module import ZERO_COPY_BYTES, _input_view, _to_array
from pyree.status import InvalidArgumentError, PermissionDeniedError

LARGE = (128, 256)      # 128 KiB of f32: above ZERO_COPY_BYTES


def _allocator(**kwargs):
    return HalAllocator.create(arena_bytes=1 << 20, **kwargs)


def _misaligned(shape) -> np.ndarray:
    count = int(np.prod(shape))
    raw = np.zeros(count * 4 + 128, np.uint8)
    start = -raw.ctypes.data % 64 + 4
    return raw[start:start + count * 4].view(np.float32).reshape(shape)


def test_large_contiguous_inputs_are_imported_and_read_only_ones_stay_read_only():
    alloc = _allocator()
    x = np.random.default_rng(0).standard_normal(LARGE, dtype=np.float32)
    assert x.nbytes >= ZERO_COPY_BYTES
    view = _input_view(x, alloc)
    assert np.shares_memory(np.asarray(view), x)
    assert view.buffer.allowed_access == MemoryAccess.ALL
    assert view.shape == LARGE and view.element_type == HalBufferView.from_numpy(
        x[:1], alloc).element_type
    frozen = x.copy()
    frozen.flags.writeable = False
    view = _input_view(frozen, alloc)
    assert np.shares_memory(np.asarray(view), frozen)
    assert view.buffer.allowed_access == MemoryAccess.READ
    with pytest.raises(PermissionDeniedError):
        view.buffer.map_range(MemoryAccess.WRITE)
    assert alloc.statistics().allocation_count == 1     # only the x[:1] copy above


@pytest.mark.parametrize("kind", ["strided", "misaligned", "small"])
def test_inputs_that_cannot_or_should_not_be_imported_are_copied(kind):
    alloc = _allocator(import_alignment=64)
    x = np.random.default_rng(1).standard_normal(LARGE, dtype=np.float32)
    source = {"strided": x.T.copy().T, "misaligned": _misaligned(LARGE),
              "small": x[:4].copy()}[kind]
    if kind == "misaligned":
        source[...] = x
    view = _input_view(source, alloc)
    out = np.asarray(view)
    assert not np.shares_memory(out, source)
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, source)
    assert alloc.statistics().allocation_count == 1


def test_byte_swapped_inputs_are_refused_as_from_numpy_refuses_them():
    swapped = np.ones(LARGE, ">f4")
    assert HalBufferView.import_array(swapped, _allocator()) is None
    with pytest.raises(InvalidArgumentError, match="big-endian numpy dtype >f4"):
        _input_view(swapped, _allocator())


def test_results_small_copied_large_zero_copy():
    alloc = _allocator()
    small = HalBufferView.from_numpy(np.arange(640, dtype=np.float32).reshape(64, 10), alloc)
    out = _to_array(small)
    assert out.shape == (64, 10) and out.dtype == np.float32 and out.flags.writeable
    assert not np.shares_memory(out, small.to_numpy())
    np.testing.assert_array_equal(out, np.arange(640).reshape(64, 10))
    large = HalBufferView.from_numpy(np.ones(LARGE, np.float32), alloc)
    out = _to_array(large)
    assert np.shares_memory(out, large.to_numpy())
    ref = large.buffer
    del large
    np.testing.assert_array_equal(out, 1)       # the array keeps its buffer alive
    assert ref.allocation.memory is not None
    assert _to_array(7) == 7                    # non-view results pass through


def test_model_results_through_the_fast_paths():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(LARGE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(LARGE))])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(3).standard_normal(LARGE, dtype=np.float32)
    with load_module(compile_model(m)) as cm:
        with pytest.raises(InvalidArgumentError, match="big-endian"):
            cm.main(x.astype(">f4"))
        for arg in (x, x.T.copy().T, _misaligned(LARGE)):
            if arg.base is not None and arg.base.dtype == np.uint8:
                arg[...] = x
            (y,) = cm.main(arg)
            np.testing.assert_array_equal(y, np.maximum(x, 0))
        ys = [cm.main(x)[0] for _ in range(3)]      # large results: their own buffers
        assert not np.shares_memory(ys[0], ys[1])
        np.testing.assert_array_equal(ys[0], np.maximum(x, 0))
    np.testing.assert_array_equal(ys[2], np.maximum(x, 0))      # outlive the module
