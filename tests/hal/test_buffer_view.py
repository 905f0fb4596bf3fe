"""HalBufferView: create, dims, buffer_view.assert (hal-abi 3.3) and numpy / DLPack exchange."""

import gc
import weakref

import ml_dtypes
import numpy as np
import pytest

from pyree.modules.hal import (BufferUsage, ElementType, HalBuffer, HalBufferView,
                               MemoryAccess, MemoryType)
from pyree.status import (InvalidArgumentError, OutOfRangeError, PermissionDeniedError,
                          UnimplementedError)
from pyree.vm.buffer import VmBuffer
from pyree.vm.ref import lookup_ref_type, ref_type_of

from .halhelpers import allocator, raises

M64 = 2**64 - 1
F32 = ElementType.FLOAT_32


def view_of(shape=(2, 3), element_type=F32, encoding=1, size=None, alloc=None):
    alloc = alloc or allocator()
    if size is None:
        size = int(np.prod(shape)) * 4
    buffer = alloc.allocate(MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT, size)
    return HalBufferView(buffer, shape, element_type, encoding)


# -- construction and shape ----------------------------------------------------------------------

def test_create_and_queries():
    view = view_of((2, 3, 4))
    assert view.rank == 3 and view.shape == (2, 3, 4)
    assert [view.dim(i) for i in range(5)] == [2, 3, 4, 0, 0]
    assert view.dim(-1) == 0                       # i32 -1 is a huge unsigned index
    assert view.element_count == 24 and view.byte_length == 96
    assert view.encoding_type == 1 and view.element_type == F32
    assert ref_type_of(view) is lookup_ref_type("hal.buffer_view")


def test_view_is_immutable():
    view = view_of()
    with pytest.raises(AttributeError):
        view.shape = (1,)


def test_fast_built_views_and_buffers_are_read_only_and_exact():
    # from_numpy / allocate / buffer_view.create's fast path build through the mutable
    # slot base classes; what they hand out is the frozen class itself, weakref-able.
    alloc = allocator()
    view = HalBufferView.from_numpy(np.arange(3, dtype=np.float32), alloc)
    made = HalBufferView.create(view.buffer, [3], view.element_type)
    for v in (view, made):
        assert type(v) is HalBufferView and type(v.buffer) is HalBuffer
        assert ref_type_of(v) is lookup_ref_type("hal.buffer_view")
        assert weakref.ref(v)() is v and weakref.ref(v.buffer)() is v.buffer
        for name, value in (("shape", (1,)), ("element_type", 0), ("buffer", None)):
            with pytest.raises(AttributeError):
                setattr(v, name, value)
        with pytest.raises(AttributeError):
            v.buffer.byte_length = 1
        with pytest.raises(AttributeError):
            del v.shape
        assert v.shape == (3,) and v.buffer.byte_length == 12
    assert np.array(made).tolist() == [0.0, 1.0, 2.0]


def test_create_subspans_when_needed():
    buffer = allocator().allocate(0, 0, 64)
    whole = HalBufferView.create(buffer, [4], F32)
    assert whole.buffer is buffer
    assert HalBufferView.create(buffer, [4], F32, 1, 0, 64).buffer is buffer
    sub = HalBufferView.create(buffer, [2], F32, 1, 16, 8)
    assert (sub.buffer.byte_offset, sub.buffer.byte_length) == (16, 8)
    assert sub.buffer.allocation is buffer.allocation
    with raises(OutOfRangeError) as info:
        HalBufferView.create(buffer, [2], F32, 1, 60, 8)
    assert info.value.annotations == [
        "invalid subspan of an existing buffer (source_offset=60, length=8)"]


def test_dims_stored_as_given():
    view = view_of((5, -1), size=4)                # not checked against the byte length
    assert view.shape == (5, M64)
    assert view.dim(1) == M64


def test_rank_limit():
    buffer = allocator().allocate(0, 0, 4)
    assert HalBufferView(buffer, (1,) * 128, F32).rank == 128
    with raises(OutOfRangeError, "count 129 > 128"):
        HalBufferView(buffer, (1,) * 129, F32)
    with raises(InvalidArgumentError):
        HalBufferView(buffer, ("a",), F32)
    with raises(InvalidArgumentError):
        HalBufferView(VmBuffer.allocate(4), (1,), F32)


def test_view_retains_buffer():
    view = view_of()
    ref = weakref.ref(view.buffer.allocation)
    gc.collect()
    assert ref() is not None
    del view
    assert ref() is None


# -- buffer_view.assert --------------------------------------------------------------------------

def test_assert_matches_ok():
    view = view_of((2, 3))
    view.assert_matches("x", F32, 1, [2, 3])
    view_of((), encoding=0).assert_matches("x", F32, 7, [])     # OPAQUE matches anything


def test_assert_encoding_mismatch():
    with raises(InvalidArgumentError,
                "input 0 encoding mismatch; expected 0000ABCD but have 00000001"):
        view_of().assert_matches("input 0", F32, 0xABCD, [2, 3])
    with raises(InvalidArgumentError,
                "m encoding mismatch; expected 00000000 but have 00000001"):
        view_of().assert_matches(b"m", F32, 0, [2, 3])


def test_assert_element_type_mismatch():
    with raises(InvalidArgumentError,
                "input 0 element type mismatch; expected si32 (11000020) but have f32 "
                "(21000020)"):
        view_of().assert_matches("input 0", ElementType.SINT_32, 1, [2, 3])
    with raises(InvalidArgumentError,
                " element type mismatch; expected f16 (21000010) but have i1 (13000008)"):
        view_of(element_type=ElementType.BOOL_8).assert_matches("", ElementType.FLOAT_16, 1,
                                                                [2, 3])


@pytest.mark.parametrize("actual, expected", [
    (ElementType.INT_32, ElementType.SINT_32),
    (ElementType.UINT_32, ElementType.INT_32),
    (ElementType.SINT_8, ElementType.BOOL_8),       # boolean is integer-class, 8 bits
    (ElementType.OPAQUE_32, ElementType.FLOAT_32),  # opaque actual matches anything
    (ElementType.NONE, ElementType.FLOAT_64),
    (ElementType.FLOAT_32, ElementType.FLOAT_32),
])
def test_element_type_compatible(actual, expected):
    view_of((2,), element_type=actual).assert_matches("", expected, 1, [2])


@pytest.mark.parametrize("actual, expected", [
    (ElementType.INT_32, ElementType.INT_16),
    (ElementType.FLOAT_32, ElementType.INT_32),
    (ElementType.FLOAT_16, ElementType.BFLOAT_16),
    (ElementType.INT_32, ElementType.OPAQUE_32),     # only an opaque *actual* is a wildcard
])
def test_element_type_incompatible(actual, expected):
    with raises(InvalidArgumentError):
        view_of((2,), element_type=actual).assert_matches("", expected, 1, [2])


def test_assert_rank_and_dims():
    with raises(InvalidArgumentError, "r shape rank mismatch; expected 3 but have 2"):
        view_of((2, 3)).assert_matches("r", F32, 1, [2, 3, 1])
    with raises(InvalidArgumentError, "r shape rank mismatch; expected 0 (scalar) but have 2"):
        view_of((2, 3)).assert_matches("r", F32, 1, [])
    with raises(InvalidArgumentError, "r shape rank mismatch; expected 1 but have 0 (scalar)"):
        view_of(()).assert_matches("r", F32, 1, [1])
    with raises(InvalidArgumentError, "d shape dimension 1 mismatch; expected 4 but have 3"):
        view_of((2, 3)).assert_matches("d", F32, 1, [2, 4])
    with raises(InvalidArgumentError,
                f"d shape dimension 0 mismatch; expected {M64} but have 2"):
        view_of((2, 3)).assert_matches("d", F32, 1, [-1, 4])


def test_assert_check_order():
    view = view_of((2, 3))
    with raises(InvalidArgumentError) as info:          # encoding first
        view.assert_matches("", ElementType.INT_8, 5, [9])
    assert "encoding" in info.value.message
    with raises(InvalidArgumentError) as info:          # then element type
        view.assert_matches("", ElementType.INT_8, 1, [9])
    assert "element type" in info.value.message
    with raises(InvalidArgumentError) as info:          # then rank
        view.assert_matches("", F32, 1, [9])
    assert "rank" in info.value.message


# -- numpy ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.int16,
                                   np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                                   np.uint64, np.bool_, np.complex64, np.complex128])
def test_numpy_round_trip_copy(dtype):
    alloc = allocator()
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    view = HalBufferView.from_numpy(array, alloc)
    assert view.shape == (2, 3, 4)
    assert view.element_type == ElementType.from_numpy(dtype)
    assert view.buffer.memory_type == 0x32
    out = np.asarray(view)
    assert out.dtype == array.dtype and np.array_equal(out, array)
    assert not np.shares_memory(out, array)
    assert np.shares_memory(out, view.buffer.map_range())     # zero-copy out
    assert np.shares_memory(view.to_numpy(), out)


def test_from_numpy_zero_copy():
    alloc = allocator()
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    view = HalBufferView.from_numpy(array, alloc, zero_copy=True)
    assert np.shares_memory(np.asarray(view), array)
    assert alloc.statistics().allocation_count == 0
    np.asarray(view)[1, 2] = 42
    assert array[1, 2] == 42
    ref = weakref.ref(view.buffer.allocation)
    del array
    gc.collect()
    assert np.asarray(view)[1, 2] == 42            # the view keeps the array alive
    del view
    assert ref() is None
    with raises(InvalidArgumentError):
        HalBufferView.from_numpy(np.zeros((4, 4))[:, ::2], alloc, zero_copy=True)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.uint16, np.complex64, np.bool_,
                                   "V3", ml_dtypes.bfloat16])
def test_import_array_is_from_numpy_zero_copy(dtype):
    alloc = allocator()
    array = (np.arange(24) % 5).astype(np.uint8).view(np.uint8)
    array = np.resize(array, 24 * np.dtype(dtype).itemsize).view(dtype).reshape(2, 3, 4)
    frozen = array.copy()
    frozen.flags.writeable = False
    for source in (array, frozen):
        fast = HalBufferView.import_array(source, alloc)
        slow = HalBufferView(alloc.import_host(source.view(np.uint8), MemoryType.DEVICE_LOCAL,
                                               BufferUsage.DEFAULT), source.shape,
                             ElementType.from_numpy(np.dtype(dtype)))
        assert type(fast) is HalBufferView
        assert (fast.shape, fast.element_type, fast.encoding_type) == \
            (slow.shape, slow.element_type, slow.encoding_type)
        assert (fast.buffer.memory_type, fast.buffer.allowed_access, fast.buffer.allowed_usage,
                fast.buffer.byte_length) == (slow.buffer.memory_type,
                                             slow.buffer.allowed_access,
                                             slow.buffer.allowed_usage, slow.buffer.byte_length)
        out = np.asarray(fast)
        assert np.shares_memory(out, source) and out.flags.writeable == (source is array)
        assert out.tobytes() == source.tobytes()
        zero_copy = HalBufferView.from_numpy(source, alloc, zero_copy=True)
        assert zero_copy.buffer.allowed_access == fast.buffer.allowed_access
        assert np.shares_memory(np.asarray(zero_copy), source)
    assert alloc.statistics().allocation_count == 0


def test_import_array_declines_what_cannot_be_imported():
    alloc = allocator()
    swapped = np.arange(32768, dtype=">f4").reshape(128, 256)
    strided = np.arange(64, dtype=np.float32).reshape(8, 8)[:, ::2]
    for array in (swapped, strided, np.zeros(4, "datetime64[s]")):
        assert HalBufferView.import_array(array, alloc) is None
    with raises(InvalidArgumentError, "big-endian numpy dtype >f4 is not supported"):
        HalBufferView.from_numpy(swapped, alloc, zero_copy=True)
    with raises(InvalidArgumentError, "zero-copy import needs a C-contiguous array"):
        HalBufferView.from_numpy(strided, alloc, zero_copy=True)
    raw = np.zeros(4 * 16 + 128, np.uint8)
    start = -raw.ctypes.data % 64 + 4
    misaligned = raw[start:start + 64].view(np.float32)
    aligned_only = allocator(import_alignment=64)
    assert HalBufferView.import_array(misaligned, aligned_only) is None
    with raises(OutOfRangeError):
        HalBufferView.from_numpy(misaligned, aligned_only, zero_copy=True)
    assert np.shares_memory(np.asarray(HalBufferView.import_array(misaligned, alloc)),
                            misaligned)


def test_copy_to_numpy():
    alloc = allocator()
    array = np.arange(640, dtype=np.float32).reshape(64, 10)
    for source, pooled in ((array, True), (array[::2], True), (array.reshape(-1)[1:], True),
                           (array, False)):
        view = HalBufferView.from_numpy(source, alloc, zero_copy=not pooled and
                                        source.flags.c_contiguous)
        out = view.copy_to_numpy()
        assert out.dtype == np.float32 and out.shape == source.shape
        assert np.array_equal(out, source) and out.flags.c_contiguous and out.flags.writeable
        assert not np.shares_memory(out, view.to_numpy())
        assert view.copy_to_numpy(out.nbytes) is None
        assert np.array_equal(view.copy_to_numpy(out.nbytes + 1), source)
        assert np.array_equal(np.array(view), source)
    odd = alloc.allocate(MemoryType.DEVICE_LOCAL, BufferUsage.DEFAULT, 64).subspan(2, 8)
    shorts = HalBufferView(odd, (4,), ElementType.UINT_16)    # a start not 4-byte aligned
    odd.write(np.arange(4, dtype=np.uint16).tobytes())
    assert shorts.copy_to_numpy().tolist() == [0, 1, 2, 3]
    scalar = HalBufferView.from_numpy(np.array(7, np.int64), alloc)
    assert scalar.copy_to_numpy().shape == () and int(scalar.copy_to_numpy()) == 7
    with raises(OutOfRangeError):       # the view is longer than its buffer
        HalBufferView(alloc.allocate(0x30, 0, 8), (4,), F32).copy_to_numpy()
    write_only = alloc.allocate(0x30, 0, 16, access=MemoryAccess.WRITE)
    with raises(PermissionDeniedError):
        HalBufferView(write_only, (4,), F32).copy_to_numpy()
    released = HalBufferView.from_numpy(np.ones(4, np.float32), alloc)
    released.buffer.allocation.release()
    with pytest.raises(Exception, match="released"):
        released.copy_to_numpy()


def test_np_array_of_a_rank_one_view_is_copy_to_numpy():
    # np.array(view) copies rank-1 pooled views in __array__'s own frame: same values,
    # same errors as copy_to_numpy (checked range, READ access, released storage)
    alloc = allocator()
    block = alloc.allocate(0x30, 0, 64)
    block.write(np.arange(16, dtype=np.float32).tobytes())
    for offset, count in ((0, 16), (4, 3), (8, 0), (2, 3), (60, 1), (62, 1)):
        view = HalBufferView(block.subspan(offset, 64 - offset), (count,), F32)
        try:
            expected = view.copy_to_numpy()
        except OutOfRangeError:
            with raises(OutOfRangeError):
                np.array(view)
            continue
        for host in (np.array(view), np.array(view, copy=True)):
            assert host.dtype == np.float32 and host.shape == (count,)
            assert host.tobytes() == expected.tobytes() == block.read(offset, count * 4)
            assert host.flags.writeable and not np.shares_memory(host, view.to_numpy())
    with raises(OutOfRangeError):       # longer than its buffer
        np.array(HalBufferView(alloc.allocate(0x30, 0, 8), (4,), F32))
    write_only = alloc.allocate(0x30, 0, 16, access=MemoryAccess.WRITE)
    with raises(PermissionDeniedError):
        np.array(HalBufferView(write_only, (4,), F32))
    released = HalBufferView.from_numpy(np.ones(4, np.float32), alloc)
    released.buffer.allocation.release()
    with pytest.raises(Exception, match="released"):
        np.array(released)


def test_non_contiguous_and_scalar_copies():
    alloc = allocator()
    strided = np.arange(16, dtype=np.float32).reshape(4, 4)[:, ::2]
    assert np.array_equal(np.asarray(HalBufferView.from_numpy(strided, alloc)), strided)
    scalar = HalBufferView.from_numpy(np.float32(2.5), alloc)
    assert scalar.rank == 0 and np.asarray(scalar).shape == () and float(np.asarray(scalar)) == 2.5
    empty = HalBufferView.from_numpy(np.zeros((0, 3), np.float32), alloc)
    assert np.asarray(empty).shape == (0, 3)
    big_endian = np.arange(3, dtype=">i4")
    assert np.asarray(HalBufferView.from_numpy(big_endian, alloc, element_type=ElementType.INT_32)
                      ).tolist() == [0, 1, 2]


def test_read_only_buffers_give_read_only_arrays():
    alloc = allocator()
    array = np.arange(4, dtype=np.float32)
    array.flags.writeable = False
    view = HalBufferView.from_numpy(array, alloc, zero_copy=True)
    assert view.buffer.allowed_access == MemoryAccess.READ
    out = np.asarray(view)
    assert not out.flags.writeable
    with raises(PermissionDeniedError):
        view.to_numpy(writable=True)
    assert not view_of().to_numpy(writable=False).flags.writeable


def test_array_protocol_dtype_and_copy():
    view = HalBufferView.from_numpy(np.arange(4, dtype=np.int32), allocator())
    assert np.asarray(view, dtype=np.float64).tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        np.array(view, dtype=np.float64, copy=False)
    assert not np.shares_memory(np.array(view, copy=True), view.to_numpy())


def test_types_without_numpy_dtype():
    bf16_bits = np.array([0x3F80, 0x4000], dtype=np.uint16)
    view = HalBufferView.from_numpy(bf16_bits, allocator(), element_type=ElementType.BFLOAT_16)
    assert view.element_type == ElementType.BFLOAT_16
    assert np.asarray(view).dtype == np.uint16             # storage bits
    assert np.asarray(view).tolist() == [0x3F80, 0x4000]
    with raises(InvalidArgumentError):
        HalBufferView.from_numpy(np.zeros(3, np.float32), allocator(),
                                 element_type=ElementType.BFLOAT_16)
    with raises(UnimplementedError):
        np.asarray(view_of((4,), element_type=ElementType.INT_4, size=2))


def test_to_numpy_checks_buffer_length():
    view = view_of((4,), size=8)
    with raises(OutOfRangeError):
        view.to_numpy()


# -- DLPack and the buffer protocol --------------------------------------------------------------

def test_dlpack_export():
    view = HalBufferView.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3), allocator())
    assert view.__dlpack_device__() == (1, 0)
    out = np.from_dlpack(view)
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert np.shares_memory(out, view.to_numpy())
    capsule = view.to_dlpack()
    assert type(capsule).__name__ == "PyCapsule"


def test_dlpack_import():
    alloc = allocator()
    source = np.arange(5, dtype=np.int64)
    view = HalBufferView.from_dlpack(source, alloc)
    assert view.element_type == ElementType.INT_64
    assert np.shares_memory(np.asarray(view), source)
    copied = HalBufferView.from_dlpack(source, alloc, copy=True)
    assert not np.shares_memory(np.asarray(copied), source)
    chained = HalBufferView.from_dlpack(view, alloc)        # a view is a DLPack producer
    assert np.shares_memory(np.asarray(chained), source)


def test_buffer_protocol_where_available():
    view = HalBufferView.from_numpy(np.arange(3, dtype=np.int16), allocator())
    if hasattr(memoryview, "__buffer__") or hasattr(object, "__buffer__"):
        assert memoryview(view).tolist() == [0, 1, 2]
    else:
        assert memoryview(np.asarray(view)).tolist() == [0, 1, 2]
    assert "3xi16" in repr(view)


def test_host_arrays_keep_the_buffer_alive():
    alloc = allocator(poison=True)
    view = HalBufferView.from_numpy(np.arange(4, dtype=np.int32), alloc)
    allocation = weakref.ref(view.buffer.allocation)
    out = np.asarray(view)
    exported = np.from_dlpack(view)
    raw = np.asarray(view.buffer)
    del view
    gc.collect()
    assert allocation() is not None
    HalBufferView.from_numpy(np.full(4, 7, np.int32), alloc)   # must not reuse the block
    assert out.tolist() == exported.tolist() == [0, 1, 2, 3]
    assert raw[:4].tolist() == [0, 0, 0, 0]
    del out, exported, raw
    gc.collect()
    assert allocation() is None


@pytest.mark.parametrize("name, code", [
    ("bfloat16", ElementType.BFLOAT_16), ("float8_e5m2", ElementType.FLOAT_8_E5M2),
    ("float8_e4m3fn", ElementType.FLOAT_8_E4M3_FN), ("float8_e5m2fnuz", 0x26000008),
    ("float8_e4m3fnuz", 0x27000008), ("float8_e8m0fnu", 0x28000008)])
def test_ml_dtypes_arrays_have_their_own_element_types(name, code):
    """Not an IEEE ``f8`` (float8_e5m2 is numpy kind 'f') nor an opaque ``*16`` (bfloat16 is
    kind 'V'): a view of such an array keeps its meaning, and its bits."""
    dtype = np.dtype(getattr(ml_dtypes, name))
    assert ElementType.from_numpy(dtype) == code
    array = np.array([1.0, 0.5, 2.0], np.float32).astype(dtype)
    view = HalBufferView.from_numpy(array, allocator())
    assert view.element_type == code
    assert np.asarray(view).tobytes() == array.tobytes()
