"""Enum values (hal-abi 4.1-4.10), flag text and element types (4.4, 4.5)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyree.modules.hal import ElementType, EncodingType
from pyree.modules.hal import element_type as et
from pyree.modules.hal import enums
from pyree.modules.hal.enums import (BufferUsage, CommandBufferMode, CommandCategory,
                                     DispatchFlags, ExecutionStage, MemoryAccess, MemoryType,
                                     SemaphoreFlags)
from pyree.status import InvalidArgumentError

from .halhelpers import raises


def test_abi_values():
    assert [int(MemoryType[n]) for n in (
        "NONE", "OPTIMAL", "HOST_VISIBLE", "HOST_COHERENT", "HOST_CACHED", "HOST_LOCAL",
        "OPTIMAL_FOR_HOST", "DEVICE_VISIBLE", "DEVICE_LOCAL", "OPTIMAL_FOR_DEVICE")] == [
        0, 1, 2, 4, 8, 0x46, 0x47, 0x10, 0x30, 0x31]
    assert [int(MemoryAccess[n]) for n in (
        "NONE", "READ", "WRITE", "DISCARD", "DISCARD_WRITE", "MAY_ALIAS", "UNALIGNED", "ANY",
        "ALL")] == [0, 1, 2, 4, 6, 8, 0x10, 0x20, 7]
    assert BufferUsage.TRANSFER == 3 and BufferUsage.DISPATCH_STORAGE == 0xC00
    assert BufferUsage.DISPATCH == 0x3F00 and BufferUsage.DISPATCH_IMAGE == 0x3000
    assert BufferUsage.MAPPING == 0x9000000 and BufferUsage.DEFAULT == 0xC03
    assert BufferUsage.SHARING_IMMUTABLE == 0x80000
    assert BufferUsage.MAPPING_ACCESS_SEQUENTIAL_WRITE == 0x10000000
    assert CommandBufferMode.UNRETAINED == 0x40 and CommandBufferMode.ALLOW_INLINE_EXECUTION == 0x10
    assert CommandBufferMode.RETAIN_DISPATCH_METADATA == 0x100
    assert CommandCategory.ANY == 3
    assert ExecutionStage.HOST == 0x20
    assert DispatchFlags.BORROW_RESOURCE_LIFETIMES == 0x40
    assert enums.ExecuteFlags.BORROW_BINDING_TABLE_LIFETIME == 1
    assert enums.AllocaFlags.ALLOW_POOL_WAIT_FRONTIER == 2
    assert SemaphoreFlags.DEFAULT == 0xA == SemaphoreFlags.HOST_INTERRUPT | SemaphoreFlags.EXPORTABLE_TIMEPOINTS
    assert enums.AccessScope.MEMORY_WRITE == 0x200
    assert enums.CollectiveKind.SEND_RECV == 8 and enums.CollectiveElementType.BFLOAT_16 == 11
    assert enums.WHOLE_BUFFER == 2**64 - 1


@pytest.mark.parametrize("value, text", [
    (0x32, "DEVICE_LOCAL|HOST_VISIBLE"),
    (0x46, "HOST_LOCAL"),
    (0x47, "HOST_LOCAL|OPTIMAL"),
    (0x02, "HOST_VISIBLE"),
    (0x12, "HOST_VISIBLE|DEVICE_VISIBLE"),
    (0x40, "40h"),
    (0, ""),
])
def test_format_memory_type(value, text):
    assert enums.format_memory_type(value) == text
    assert enums.parse_memory_type(text) == value


@pytest.mark.parametrize("value, text", [
    (0xC03, "TRANSFER|DISPATCH_STORAGE"),
    (0xB000C03, ("TRANSFER|DISPATCH_STORAGE|MAPPING_SCOPED|MAPPING_PERSISTENT|"
                 "MAPPING_ACCESS_RANDOM")),
    (0x1, "TRANSFER_SOURCE"),
    (0x3F00, ("DISPATCH_STORAGE|DISPATCH_IMAGE|DISPATCH_INDIRECT_PARAMETERS|"
              "DISPATCH_UNIFORM_READ")),
    (0x80000, "SHARING_IMMUTABLE"),
])
def test_format_buffer_usage(value, text):
    assert enums.format_buffer_usage(value) == text
    assert enums.parse_buffer_usage(text) == value


@pytest.mark.parametrize("value, text", [
    (7, "ALL"), (6, "DISCARD_WRITE"), (3, "READ|WRITE"), (0x21, "READ|ANY"), (0x1F, "ALL|MAY_ALIAS|UNALIGNED"),
])
def test_format_memory_access(value, text):
    assert enums.format_memory_access(value) == text
    assert enums.parse_memory_access(text) == value


def test_other_formats_and_parse_errors():
    assert enums.format_command_category(3) == "ANY"
    assert enums.format_command_category(1) == "TRANSFER"
    assert enums.format_command_buffer_mode(0x51) == "ONE_SHOT|ALLOW_INLINE_EXECUTION|UNRETAINED"
    assert enums.format_execution_stage(0x0C) == "DISPATCH|TRANSFER"
    assert enums.format_dispatch_flags(0x41) == \
        "DYNAMIC_INDIRECT_PARAMETERS|BORROW_RESOURCE_LIFETIMES"
    assert enums.format_semaphore_flags(0xA) == "HOST_INTERRUPT|EXPORTABLE_TIMEPOINTS"
    assert enums.parse_memory_type("DEVICE_LOCAL | 0x2") == 0x32
    assert enums.parse_memory_type("OPTIMAL_FOR_DEVICE") == 0x31
    with raises(InvalidArgumentError, "unknown flag 'BOGUS'"):
        enums.parse_buffer_usage("TRANSFER|BOGUS")


@given(st.integers(0, 2**32 - 1))
def test_flag_text_round_trip(value):
    for fmt, parse in ((enums.format_memory_type, enums.parse_memory_type),
                       (enums.format_buffer_usage, enums.parse_buffer_usage),
                       (enums.format_memory_access, enums.parse_memory_access)):
        assert parse(fmt(value)) == value


# -- element types ---------------------------------------------------------------------------------

NAMES = [
    (0x00000000, "*0"), (0x00000008, "*8"), (0x00000020, "*32"), (0x13000008, "i1"),
    (0x10000004, "i4"), (0x11000004, "si4"), (0x12000004, "ui4"),
    (0x10000008, "i8"), (0x11000008, "si8"), (0x12000008, "ui8"),
    (0x10000010, "i16"), (0x11000020, "si32"), (0x12000040, "ui64"),
    (0x21000010, "f16"), (0x21000020, "f32"), (0x21000040, "f64"), (0x22000010, "bf16"),
    (0x23000040, "cf64"), (0x23000080, "cf128"),
    (0x24000008, "f8E5M2"), (0x25000008, "f8E4M3FN"), (0x26000008, "f8E5M2FNUZ"),
    (0x27000008, "f8E4M3FNUZ"), (0x28000008, "f8E8M0FNU"),
]


@pytest.mark.parametrize("code, name", NAMES)
def test_element_type_names(code, name):
    assert ElementType.name(code) == name
    assert ElementType.parse(name) == code


def test_element_type_constants_and_helpers():
    assert ElementType.FLOAT_32 == 0x21000020 and ElementType.BOOL_8 == 0x13000008
    assert ElementType.COMPLEX_FLOAT_64 == 0x23000040
    assert ElementType.make(et.NumericalType.INTEGER_SIGNED, 8) == ElementType.SINT_8
    assert ElementType.numerical_type(ElementType.BFLOAT_16) == 0x22
    assert ElementType.bit_count(ElementType.COMPLEX_FLOAT_128) == 128
    assert ElementType.is_integer(ElementType.BOOL_8)
    assert not ElementType.is_integer(ElementType.FLOAT_16)
    assert ElementType.is_float(ElementType.FLOAT_8_E5M2)
    assert ElementType.is_opaque(ElementType.OPAQUE_8)
    assert ElementType.parse("x16") == ElementType.OPAQUE_16
    assert EncodingType.OPAQUE == 0 and EncodingType.DENSE_ROW_MAJOR == 1


def test_element_type_parse_errors():
    with raises(InvalidArgumentError, "unhandled element type prefix in 'q32'"):
        ElementType.parse("q32")
    with raises(InvalidArgumentError, "out of range bit count in 'i256'"):
        ElementType.parse("i256")
    with raises(InvalidArgumentError, "out of range bit count in 'f'"):
        ElementType.parse("f")
    with raises(InvalidArgumentError, "out of range bit count in 'f3x'"):
        ElementType.parse("f3x")
    assert ElementType.parse("i255") == 0x100000FF


def test_element_sizes():
    assert ElementType.byte_size(ElementType.FLOAT_32) == 4
    assert ElementType.byte_size(ElementType.INT_4) == 1
    assert ElementType.byte_size(ElementType.BOOL_8) == 1
    assert ElementType.dense_byte_size(ElementType.INT_4, 5) == 3      # packed
    assert ElementType.dense_byte_size(ElementType.FLOAT_16, 5) == 10
    with raises(InvalidArgumentError, "opaque element type cannot be sized"):
        ElementType.byte_size(ElementType.NONE)
    with raises(InvalidArgumentError, "opaque element type cannot be sized"):
        ElementType.dense_byte_size(ElementType.NONE, 1)


@pytest.mark.parametrize("code, dtype", [
    (ElementType.INT_8, "i1"), (ElementType.SINT_16, "<i2"), (ElementType.UINT_32, "<u4"),
    (ElementType.INT_64, "<i8"), (ElementType.BOOL_8, "?"), (ElementType.FLOAT_16, "<f2"),
    (ElementType.FLOAT_64, "<f8"), (ElementType.COMPLEX_FLOAT_64, "<c8"),
    (ElementType.OPAQUE_32, "V4"),
    (ElementType.BFLOAT_16, None), (ElementType.FLOAT_8_E4M3_FN, None),
    (ElementType.INT_4, None), (ElementType.NONE, None),
])
def test_numpy_dtypes(code, dtype):
    result = ElementType.to_numpy(code)
    assert result == (None if dtype is None else np.dtype(dtype))


def test_storage_dtypes_and_from_numpy():
    assert ElementType.storage_dtype(ElementType.BFLOAT_16) == np.uint16
    assert ElementType.storage_dtype(ElementType.FLOAT_8_E5M2) == np.uint8
    assert ElementType.storage_dtype(ElementType.INT_4) is None
    assert ElementType.storage_dtype(0x21000018) == np.dtype("V3")
    assert ElementType.from_numpy(np.int32) == ElementType.INT_32          # signless
    assert ElementType.from_numpy(np.uint8) == ElementType.UINT_8
    assert ElementType.from_numpy(np.bool_) == ElementType.BOOL_8
    assert ElementType.from_numpy(np.complex128) == ElementType.COMPLEX_FLOAT_128
    assert ElementType.from_numpy("V2") == ElementType.OPAQUE_16
    with raises(InvalidArgumentError):
        ElementType.from_numpy(object)
    with raises(InvalidArgumentError):
        ElementType.from_numpy(">f4")
