"""vm.list: storage modes, capacity, access rules and conversions (vm-isa.md 5.3,
vm-runtime.md 6)."""

import gc
import math
import struct
import subprocess
import sys
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vmhelpers import raises_exactly

from pyree.status import (FailedPreconditionError, InvalidArgumentError, NotFoundError,
                          OutOfRangeError, ResourceExhaustedError, StatusCode)
from pyree.vm import list as list_mod
from pyree.vm import list_ops
from pyree.vm.buffer import VmBuffer
from pyree.vm.list import VmList, check_list
from pyree.vm.ref import VARIANT, TypedValue, ValueType, lookup_ref_type

I8, I16, I32, I64 = ValueType.I8, ValueType.I16, ValueType.I32, ValueType.I64
F32, F64 = ValueType.F32, ValueType.F64
BUFFER = lookup_ref_type("vm.buffer")
LIST = lookup_ref_type("vm.list")


def f32(x):
    return struct.unpack("<i", struct.pack("<f", x))[0]


def f64(x):
    return struct.unpack("<q", struct.pack("<d", x))[0]


def as_f32(bits):
    return struct.unpack("<f", struct.pack("<i", bits))[0]


def as_f64(bits):
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def sized(element_type, size):
    lst = VmList(element_type)
    lst.resize(size)
    return lst


# -- construction and capacity -----------------------------------------------------------------

def test_storage_modes():
    assert VmList(I32).element_type is I32
    assert VmList("i8").element_type is I8
    assert VmList("!vm.buffer").element_type is BUFFER
    assert VmList("!vm.list<i32>").element_type is LIST
    assert VmList("!vm.opaque").element_type is VARIANT
    assert VmList(ValueType.NONE).element_type is VARIANT
    assert VmList(VARIANT).element_type_name == "!vm.opaque"
    assert VmList(BUFFER).element_type_name == "!vm.buffer"
    with pytest.raises(InvalidArgumentError):
        VmList(3.5)
    with pytest.raises(NotFoundError):
        VmList("?")


@pytest.mark.parametrize("request_, capacity", [(0, 0), (1, 64), (64, 64), (65, 128),
                                                (1000, 1024)])
def test_initial_capacity_rounds_to_64(request_, capacity):
    lst = VmList(I32, request_)
    assert lst.capacity == capacity and lst.size == 0 and len(lst) == 0


def test_growth_doubles():
    lst = VmList(I64, 1)
    lst.reserve(65)
    assert lst.capacity == 128
    lst.reserve(129)
    assert lst.capacity == 256
    lst.reserve(100)
    assert lst.capacity == 256
    lst.reserve(1000)
    assert lst.capacity == 1024
    lst.resize(1025)
    assert lst.capacity == 2048 and lst.size == 1025
    ref_list = VmList(VARIANT)
    for _ in range(65):
        ref_list.append(None)
    assert ref_list.capacity == 128


def test_resize_within_capacity_keeps_storage():
    lst = VmList(I32, 64)
    storage = lst._items
    lst.resize(64)
    lst.resize(3)
    assert lst._items is storage and lst.capacity == 64


@pytest.mark.parametrize("element_type", [I8, I16, I32, I64, F32, F64])
def test_regrow_exposes_zeros_for_values(element_type):
    lst = VmList(element_type)
    lst.resize(10)
    for i in range(10):
        lst.set_i32(i, 7)
        lst.set_f64(i, f64(7.0))
    lst.resize(2)
    lst.resize(10)
    assert lst.to_list()[2:] == [0] * 8
    lst.resize(0)
    lst.resize(3)
    assert lst.to_list() == [0, 0, 0]


@pytest.mark.parametrize("element_type", [BUFFER, VARIANT])
def test_shrink_releases_refs(element_type):
    lst = VmList(element_type)
    lst.resize(3)
    buf = VmBuffer.allocate(4)
    alive = weakref.ref(buf)
    lst.set_ref(2, buf)
    del buf
    lst.resize(1)
    gc.collect()
    assert alive() is None
    lst.resize(3)
    assert lst.to_list() == [None, None, None]


def test_capacity_overflow(limits):
    lst = VmList(I32)
    for bad in (-1, -(1 << 31), list_mod.MAX_LIST_ELEMENTS + 1):
        with pytest.raises(ResourceExhaustedError) as info:
            lst.reserve(bad)
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
        assert info.value.message.startswith("capacity overflow")
        with pytest.raises(ResourceExhaustedError):
            lst.resize(bad)
        with pytest.raises(ResourceExhaustedError):
            VmList(VARIANT, bad)
    assert lst.size == 0 and lst.capacity == 0
    list_mod.set_limits(max_elements=100)
    lst.reserve(100)
    assert lst.capacity == 100
    with pytest.raises(ResourceExhaustedError):
        lst.resize(101)
    with pytest.raises(InvalidArgumentError):
        list_mod.set_limits(max_elements=-1)


def test_cap_from_environment():
    code = ("from pyree.vm.list import VmList;import pyree.status as s\n"
            "VmList('i8', 128)\n"
            "try:\n VmList('i8', 129)\nexcept s.ResourceExhaustedError: pass\n"
            "else: raise SystemExit('no cap')\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYREE_MAX_LIST_ELEMENTS": "128", "PATH": ""})


def test_check_list():
    lst = VmList(I32)
    assert check_list(lst) is lst
    for bad in (None, VmBuffer.allocate(1), [1]):
        with raises_exactly(InvalidArgumentError, "list is null"):
            check_list(bad)


# -- bounds and modes --------------------------------------------------------------------------

GETTERS = ["get_i32", "get_i64", "get_f32", "get_f64"]
SETTERS = ["set_i32", "set_i64", "set_f32", "set_f64"]


@pytest.mark.parametrize("element_type", [I8, I32, F64, BUFFER, VARIANT])
def test_index_out_of_bounds_comes_first(element_type):
    lst = sized(element_type, 3)
    for index, shown in ((3, 3), (100, 100), (-1, 4294967295), (-(1 << 31), 1 << 31)):
        message = f"index {shown} out of bounds (3)"
        for name in GETTERS:
            with raises_exactly(OutOfRangeError, message):
                getattr(lst, name)(index)
        for name in SETTERS:
            with raises_exactly(OutOfRangeError, message):
                getattr(lst, name)(index, 0)
        with raises_exactly(OutOfRangeError, message):
            lst.get_ref(index, BUFFER)
        with raises_exactly(OutOfRangeError, message):
            lst.set_ref(index, 12)
    with raises_exactly(OutOfRangeError, "index 0 out of bounds (0)"):
        VmList(I32).get_i32(0)


def test_value_access_on_ref_list():
    lst = sized(BUFFER, 1)
    for name in GETTERS:
        with raises_exactly(FailedPreconditionError, "list does not store values"):
            getattr(lst, name)(0)
    for name in SETTERS:
        with raises_exactly(FailedPreconditionError, "list cannot store values"):
            getattr(lst, name)(0, 0)


def test_ref_access_on_value_list():
    lst = sized(I32, 1)
    with raises_exactly(FailedPreconditionError, "list does not store refs"):
        lst.get_ref(0, BUFFER)
    with raises_exactly(FailedPreconditionError, "list cannot store refs"):
        lst.set_ref(0, VmBuffer.allocate(1))
    with raises_exactly(FailedPreconditionError, "list cannot store refs"):
        lst.set_ref(0, None)


def test_variant_get_value_of_non_value():
    lst = sized(VARIANT, 2)
    lst.set_ref(1, VmBuffer.allocate(1))
    for index in (0, 1):
        for name in GETTERS:
            with raises_exactly(FailedPreconditionError,
                                f"variant at index {index} is not a value type"):
                getattr(lst, name)(index)


# -- conversions ---------------------------------------------------------------------------------

def test_int_widening_sign_extends_and_narrowing_truncates():
    lst = sized(I8, 1)
    lst.set_i32(0, 0x1FF)
    assert lst.get_i32(0) == -1 and lst.get_i64(0) == -1
    lst.set_i64(0, 0x1_0000_0080)
    assert lst.get_i32(0) == -128
    lst = sized(I16, 1)
    lst.set_i32(0, 0x12348000)
    assert lst.get_i32(0) == -0x8000
    lst = sized(I64, 1)
    lst.set_i32(0, -5)
    assert lst.get_i64(0) == -5
    lst.set_i64(0, 0x1_8000_0001)
    assert lst.get_i32(0) == -0x7FFFFFFF and lst.get_i64(0) == 0x1_8000_0001
    lst = sized(I32, 1)
    lst.set_i64(0, -(1 << 40) + 3)
    assert lst.get_i32(0) == 3 and lst.get_i64(0) == 3
    lst.set_i32(0, 0xFFFFFFFF)  # an unsigned caller still stores the same bits
    assert lst.get_i32(0) == -1


def test_f32_f64_convert():
    lst = sized(F32, 1)
    lst.set_f32(0, f32(1.5))
    assert lst.get_f32(0) == f32(1.5) and lst.get_f64(0) == f64(1.5)
    lst.set_f64(0, f64(0.1))
    assert lst.get_f32(0) == f32(0.1)
    assert as_f64(lst.get_f64(0)) == float(np.float32(0.1))
    lst.set_f64(0, f64(1e300))
    assert as_f32(lst.get_f32(0)) == math.inf
    lst.set_f64(0, f64(-1e300))
    assert as_f32(lst.get_f32(0)) == -math.inf
    lst.set_f64(0, f64(3.4028235e38))  # rounds down to FLT_MAX, no overflow
    assert as_f32(lst.get_f32(0)) == float(np.finfo(np.float32).max)
    lst = sized(F64, 1)
    lst.set_f32(0, f32(0.1))
    assert as_f64(lst.get_f64(0)) == float(np.float32(0.1))
    lst.set_f64(0, f64(1e300))
    assert as_f32(lst.get_f32(0)) == math.inf and lst.get_f64(0) == f64(1e300)


@pytest.mark.parametrize("element_type", [I8, I16, I32, I64])
def test_int_float_gives_zero_on_int_lists(element_type):
    lst = sized(element_type, 1)
    lst.set_i32(0, 7)
    assert lst.get_f32(0) == 0 and lst.get_f64(0) == 0
    lst.set_f32(0, f32(2.5))
    assert lst.get_i64(0) == 0
    lst.set_i32(0, 7)
    lst.set_f64(0, f64(2.5))
    assert lst.get_i32(0) == 0


@pytest.mark.parametrize("element_type", [F32, F64])
def test_int_float_gives_zero_on_float_lists(element_type):
    lst = sized(element_type, 1)
    lst.set_f64(0, f64(2.5))
    assert lst.get_i32(0) == 0 and lst.get_i64(0) == 0
    lst.set_i32(0, 7)
    assert lst.get_f64(0) == 0 and lst[0] == 0.0
    lst.set_f64(0, f64(2.5))
    lst.set_i64(0, -7)
    assert lst.get_f32(0) == 0


def test_nan_payloads_are_bit_exact():
    snan32, snan64 = 0x7F800001, 0x7FF0000000000001
    for element_type in (F32, VARIANT):
        lst = sized(element_type, 1)
        lst.set_f32(0, snan32)
        assert lst.get_f32(0) == snan32
        lst.set_f32(0, -0x3FFFFF)  # negative NaN bits as s32
        assert lst.get_f32(0) == -0x3FFFFF
    for element_type in (F64, VARIANT):
        lst = sized(element_type, 1)
        lst.set_f64(0, snan64)
        assert lst.get_f64(0) == snan64
    lst = sized(F32, 1)
    lst.set_f64(0, snan64)
    assert math.isnan(as_f32(lst.get_f32(0)))


def test_variant_values():
    lst = sized(VARIANT, 4)
    lst.set_i32(0, -3)
    lst.set_i64(1, 1 << 40)
    lst.set_f32(2, f32(0.1))
    lst.set_f64(3, f64(-2.5))
    assert lst.get_variant(0) == TypedValue(I32, -3)
    assert lst.get_variant(1) == TypedValue(I64, 1 << 40)
    assert lst.get_variant(2) == TypedValue(F32, float(np.float32(0.1)))
    assert lst.get_variant(3) == TypedValue(F64, -2.5)
    assert lst.get_i64(0) == -3 and lst.get_i32(1) == 0
    assert lst.get_f32(0) == 0 and lst.get_i32(2) == 0
    assert lst.get_f64(2) == f64(float(np.float32(0.1)))
    assert lst.get_f32(3) == f32(-2.5)
    assert lst.to_list() == [-3, 1 << 40, float(np.float32(0.1)), -2.5]
    buf = VmBuffer.allocate(1)
    alive = weakref.ref(buf)
    lst.set_ref(0, buf)
    del buf
    lst.set_i32(0, 1)  # replacing the ref releases it
    gc.collect()
    assert alive() is None


@given(st.sampled_from([I8, I16, I32, I64]), st.sampled_from([I8, I16, I32, I64]),
       st.integers(-(1 << 63), (1 << 63) - 1))
def test_int_conversion_matches_numpy(element_type, tag, value):
    dtypes = {I8: np.int8, I16: np.int16, I32: np.int32, I64: np.int64}
    lst = sized(element_type, 1)
    lst.set_i64(0, value)
    stored = int(np.array(value & ((1 << 64) - 1), np.uint64).astype(dtypes[element_type]))
    assert lst.get_i64(0) == stored
    assert lst.get_i32(0) == int(np.int64(stored).astype(np.int32))
    variant = sized(VARIANT, 1)
    variant.set_i64(0, value)
    assert variant.get_i32(0) == int(np.uint64(value & ((1 << 64) - 1)).astype(np.int32))


@given(st.floats(allow_nan=False, width=64))
def test_f64_to_f32_matches_numpy(x):
    with np.errstate(over="ignore"):
        expected = int(np.float64(x).astype(np.float32).view(np.int32))
    assert list_ops.f64_bits_to_f32_bits(f64(x)) == expected
    assert list_ops.float_to_f32_bits(x) == expected


@given(st.floats(width=32))
def test_f32_to_f64_matches_numpy(x):
    bits = f32(x)
    if not math.isnan(x):
        expected = int(np.float32(x).astype(np.float64).view(np.int64))
        assert list_ops.f32_bits_to_f64_bits(bits) == expected
    assert list_ops.float_to_f32_bits(list_ops.f32_bits_to_float(bits)) == bits


# -- refs ----------------------------------------------------------------------------------------

class _SubBuffer(VmBuffer):
    pass


def test_typed_ref_list():
    lst = sized(BUFFER, 3)
    buf = VmBuffer.allocate(1)
    lst.set_ref(0, buf)
    assert lst.get_ref(0, BUFFER) is buf
    assert lst.get_ref(0, BUFFER) is buf  # retained: the list keeps its reference
    assert lst.get_ref(1, BUFFER) is None
    lst.set_ref(0, None)
    assert lst.get_ref(0, BUFFER) is None
    for bad in (VmList(I32), _SubBuffer.allocate(1), 5, TypedValue(I32, 1)):
        with raises_exactly(InvalidArgumentError, "source ref type mismatch"):
            lst.set_ref(1, bad)
    assert lst.to_list() == [None, None, None]


def test_get_ref_type_mismatch_yields_null():
    lst = sized(BUFFER, 1)
    buf = VmBuffer.allocate(1)
    lst.set_ref(0, buf)
    for wrong in (LIST, None, VARIANT, I32):
        assert lst.get_ref(0, wrong) is None
    assert lst.get_ref(0, BUFFER) is buf


def test_moving_get():
    lst = sized(BUFFER, 2)
    buf = VmBuffer.allocate(1)
    lst.set_ref(0, buf)
    lst.set_ref(1, buf)
    assert lst.get_ref(0, BUFFER, move=True) is buf
    assert lst.get_ref(0, BUFFER) is None
    # A moving get with the wrong type removes the element and drops it.
    assert lst.get_ref(1, LIST, move=True) is None
    assert lst.to_list() == [None, None]
    assert lst.get_ref(1, BUFFER, move=True) is None


def test_variant_refs():
    lst = sized(VARIANT, 3)
    buf, inner = VmBuffer.allocate(1), VmList(I8)
    lst.set_ref(0, buf)
    lst.set_ref(1, inner)
    assert lst.get_ref(0, BUFFER) is buf and lst.get_ref(1, LIST) is inner
    assert lst.get_ref(0, LIST) is None and lst.get_ref(0, None) is None
    assert lst.get_ref(2, BUFFER) is None  # empty element
    assert lst.get_ref(1, BUFFER, move=True) is None  # moved out and dropped
    assert lst.get_variant(1) is None
    assert lst.get_ref(0, BUFFER, move=True) is buf and lst.get_variant(0) is None
    lst.set_i32(2, 5)
    with raises_exactly(FailedPreconditionError, ""):
        lst.get_ref(2, BUFFER)
    with raises_exactly(FailedPreconditionError, ""):
        lst.get_ref(2, BUFFER, move=True)
    assert lst.get_i32(2) == 5
    lst.set_ref(2, None)
    assert lst.get_variant(2) is None
    with pytest.raises(InvalidArgumentError):
        lst.set_ref(0, object())
    with pytest.raises(InvalidArgumentError):
        lst.set_ref(0, TypedValue(I32, 1))


def test_list_of_lists():
    outer = VmList("!vm.list<i32>")
    inner = VmList.of("i32", [1, 2])
    outer.append(inner)
    assert outer.get_ref(0, LIST) is inner and outer[0][1] == 2


# -- host API ------------------------------------------------------------------------------------

def test_of_append_and_indexing():
    lst = VmList.of("i32", [1, -2, 3])
    assert len(lst) == 3 and lst.size == 3
    assert lst[0] == 1 and lst[-1] == 3 and lst[1:] == [-2, 3]
    assert list(lst) == [1, -2, 3] == lst.to_list()
    lst[0] = 1 << 32 | 9  # host ints wrap to the element width
    assert lst[0] == 9
    lst[1] = np.int64(-7)
    assert lst.get_i32(1) == -7
    lst.append(True)
    assert lst[3] == 1
    with raises_exactly(OutOfRangeError, "index 4 out of bounds (4)"):
        lst[4]
    with raises_exactly(OutOfRangeError, "index -5 out of bounds (4)"):
        lst[-5] = 1
    with pytest.raises(InvalidArgumentError):
        lst[0] = 1.5
    with pytest.raises(InvalidArgumentError):
        lst.append("x")
    assert len(lst) == 4  # a failed append leaves the size unchanged
    with raises_exactly(FailedPreconditionError, "list cannot store refs"):
        lst[0] = None
    with raises_exactly(FailedPreconditionError, "list cannot store refs"):
        lst.append(VmBuffer.allocate(1))
    assert len(lst) == 4


def test_host_floats():
    lst = VmList.of("f32", [1.5, 1e300, -1e300, 3, np.float32(0.25), 1 << 2000])
    assert lst.to_list() == [1.5, math.inf, -math.inf, 3.0, 0.25, math.inf]
    assert lst.get_f32(0) == f32(1.5)
    lst[0] = 0.1
    assert lst[0] == float(np.float32(0.1))
    dbl = VmList.of("f64", [0.1, 2])
    assert dbl.to_list() == [0.1, 2.0] and dbl.get_f64(0) == f64(0.1)
    with pytest.raises(InvalidArgumentError):
        dbl.append("1.0")


def test_host_typed_values_follow_vm_conversions():
    lst = VmList.of("i32", [TypedValue(F32, 1.5), TypedValue(I64, (1 << 32) + 5),
                            TypedValue(I8, -1)])
    assert lst.to_list() == [0, 5, -1]
    fl = VmList.of("f32", [TypedValue(F64, 0.1), TypedValue(I32, 3)])
    assert fl.to_list() == [float(np.float32(0.1)), 0.0]


def test_host_variants():
    buf = VmBuffer.allocate(1)
    lst = VmList.of("!vm.opaque", [1, 2.5, None, buf, TypedValue(F32, 0.5), np.int32(4)])
    assert lst.to_list() == [1, 2.5, None, buf, 0.5, 4]
    assert lst.get_variant(0) == TypedValue(I64, 1)
    assert lst.get_variant(1) == TypedValue(F64, 2.5)
    assert lst.get_variant(5) == TypedValue(I64, 4)
    assert lst.get_i32(0) == 1 and lst.get_f32(4) == f32(0.5)
    with pytest.raises(InvalidArgumentError):
        lst.append(object())
    with pytest.raises(InvalidArgumentError):
        lst.append(1 << 64)
    with pytest.raises(InvalidArgumentError):
        lst.append(TypedValue(ValueType.NONE, 0))
    assert len(lst) == 6


def test_host_ref_list():
    buf = VmBuffer.allocate(1)
    lst = VmList.of("!vm.buffer", [buf, None])
    assert lst.to_list() == [buf, None]
    with raises_exactly(FailedPreconditionError, "list cannot store values"):
        lst[1] = 3
    with raises_exactly(InvalidArgumentError, "source ref type mismatch"):
        lst[1] = VmList(I32)


def test_get_variant_of_value_lists():
    assert VmList.of("i16", [-2]).get_variant(0) == TypedValue(I16, -2)
    assert VmList.of("f32", [0.5]).get_variant(0) == TypedValue(F32, 0.5)


def test_clone_copies_elements_and_shares_refs():
    buf = VmBuffer.allocate(1)
    lst = VmList.of("!vm.opaque", [1, buf])
    copy = lst.clone()
    assert copy is not lst and copy.element_type is VARIANT
    assert copy.to_list() == [1, buf] and copy[1] is buf
    copy[0] = 2
    assert lst[0] == 1
    ints = VmList.of("i8", [1, 2, 3])
    ints_copy = ints.clone()
    ints_copy.set_i32(0, 9)
    assert ints.to_list() == [1, 2, 3] and ints_copy.to_list() == [9, 2, 3]
    assert VmList(I32).clone().to_list() == []


def test_repr_truthiness_and_identity():
    assert repr(VmList.of("i32", [1, 2])) == "VmList<i32>[1, 2]"
    assert repr(VmList.of("i8", range(20))).endswith(", 15, ...]")
    assert repr(VmList("!vm.opaque")) == "VmList<!vm.opaque>[]"
    empty = VmList(I32)
    assert bool(empty) and empty != VmList(I32) and empty in {empty}
    assert len({empty, VmList(I32)}) == 2
    lst = VmList.of("i32", [1])
    lst.clear()
    assert len(lst) == 0 and lst.capacity == 64


@pytest.mark.parametrize("element_type, setter, getter, bits", [
    (I32, "set_i32", "get_i32", 32), (I64, "set_i64", "get_i64", 64),
    (F32, "set_f32", "get_f32", 32), (F64, "set_f64", "get_f64", 64)])
def test_same_type_fast_path_wraps_unsigned_bits(element_type, setter, getter, bits):
    lst = sized(element_type, 1)
    getattr(lst, setter)(0, (1 << bits) - 2)
    assert getattr(lst, getter)(0) == -2
    getattr(lst, setter)(0, 5)
    assert getattr(lst, getter)(0) == 5
