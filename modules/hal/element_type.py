"""Element and encoding types (``hal-abi.md`` 4.4, 4.5).

An element type is a plain u32 ``(numerical_type << 24) | bit_count``: it crosses the VM ABI
as an int and is stored as given, so every helper here takes and returns ints. The class
:class:`ElementType` is a namespace of the common codes plus the helpers; the module-level
functions are the same helpers for call sites that prefer them.

Text names follow IREE's formatter: ``i``/``si``/``ui``/``f``/``bf``/``cf`` + bit count,
``i1`` for the boolean type (stored in 8 bits), the five ``f8...`` names, and ``*N`` for
opaque or unknown types (``x8`` parses as well). numpy dtypes exist for the byte-sized
integer, boolean, IEEE float, complex and opaque (``V``) types; signless integers map to
numpy's signed types and numpy's signed types map back to signless ones (as compiled
programs declare them). bf16 and the f8 types have no numpy dtype but a same-sized
*storage* dtype (``uint16``/``uint8``) for byte-exact views; sub-byte types have neither.
``ml_dtypes``' bf16 and f8 arrays map to those element types (``from_numpy_dtype``).
"""

from __future__ import annotations

import enum

import numpy as np

from pyree.status import InvalidArgumentError


class NumericalType(enum.IntEnum):
    UNKNOWN = 0x00
    INTEGER = 0x10
    INTEGER_SIGNED = 0x11
    INTEGER_UNSIGNED = 0x12
    BOOLEAN = 0x13
    FLOAT = 0x20
    FLOAT_IEEE = 0x21
    FLOAT_BRAIN = 0x22
    FLOAT_COMPLEX = 0x23
    FLOAT_8_E5M2 = 0x24
    FLOAT_8_E4M3FN = 0x25
    FLOAT_8_E5M2_FNUZ = 0x26
    FLOAT_8_E4M3_FNUZ = 0x27
    FLOAT_8_E8M0_FNU = 0x28


class EncodingType(enum.IntEnum):
    OPAQUE = 0
    DENSE_ROW_MAJOR = 1


_F8_NAMES = {0x24: "f8E5M2", 0x25: "f8E4M3FN", 0x26: "f8E5M2FNUZ", 0x27: "f8E4M3FNUZ",
             0x28: "f8E8M0FNU"}
_F8_BY_NAME = {name: (code << 24) | 8 for code, name in _F8_NAMES.items()}
_PREFIXES = {0x10: "i", 0x11: "si", 0x12: "ui", 0x21: "f", 0x22: "bf", 0x23: "cf"}
# Parse order matters only where one prefix is a prefix of another ("f" vs "f8E...",
# handled by the exact f8 names first).
_PARSE_PREFIXES = (("si", 0x11), ("ui", 0x12), ("i", 0x10), ("bf", 0x22), ("cf", 0x23),
                   ("f", 0x21), ("x", 0x00), ("*", 0x00))


def make_element_type(numerical_type: int, bit_count: int) -> int:
    return ((int(numerical_type) & 0xFF) << 24) | (int(bit_count) & 0xFF)


def numerical_type(element_type: int) -> int:
    return (int(element_type) >> 24) & 0xFF


def bit_count(element_type: int) -> int:
    return int(element_type) & 0xFF


def is_integer(element_type: int) -> bool:
    """Integer class: signless, signed, unsigned or boolean (numerical type bit 0x10)."""
    return ((int(element_type) >> 24) & 0xF0) == 0x10


def is_float(element_type: int) -> bool:
    return ((int(element_type) >> 24) & 0xF0) == 0x20


def is_opaque(element_type: int) -> bool:
    return (int(element_type) >> 24) & 0xFF == 0


def element_type_name(element_type: int) -> str:
    """IREE's text for an element type: ``f32``, ``si8``, ``i1``, ``bf16``, ``cf64``, ``*8``."""
    element_type = int(element_type) & 0xFFFFFFFF
    code = element_type >> 24
    bits = element_type & 0xFF
    if code == 0x13:
        return "i1"
    name = _F8_NAMES.get(code)
    if name is not None:
        return name
    return f"{_PREFIXES.get(code, '*')}{bits}"


def parse_element_type(text: str) -> int:
    """Parses an element type name (inverse of :func:`element_type_name`).

    Unknown prefix: INVALID_ARGUMENT "unhandled element type prefix in 'TEXT'"; a missing,
    non-decimal or > 255 bit count: INVALID_ARGUMENT "out of range bit count in 'TEXT'".
    """
    if text == "i1":
        return ElementType.BOOL_8
    f8 = _F8_BY_NAME.get(text)
    if f8 is not None:
        return f8
    for prefix, code in _PARSE_PREFIXES:
        if text.startswith(prefix):
            digits = text[len(prefix):]
            if not digits.isdigit() or not digits.isascii() or int(digits) > 0xFF:
                raise InvalidArgumentError(f"out of range bit count in '{text}'")
            return (code << 24) | int(digits)
    raise InvalidArgumentError(f"unhandled element type prefix in '{text}'")


def element_byte_size(element_type: int) -> int:
    """Bytes per element, ``ceil(bit_count / 8)``; bit count 0 fails INVALID_ARGUMENT."""
    bits = int(element_type) & 0xFF
    if bits == 0:
        raise InvalidArgumentError("opaque element type cannot be sized")
    return (bits + 7) >> 3


def dense_byte_size(element_type: int, element_count: int) -> int:
    """Dense storage size of ``element_count`` elements: ``ceil(count * bits / 8)``."""
    bits = int(element_type) & 0xFF
    if bits == 0:
        raise InvalidArgumentError("opaque element type cannot be sized")
    return (element_count * bits + 7) >> 3


_INT_KINDS = {0x10: "i", 0x11: "i", 0x12: "u"}
# The element types of ml_dtypes' numpy types (by dtype name).
_ML_CODES = {"bfloat16": 0x22000010, "float8_e5m2": 0x24000008, "float8_e4m3fn": 0x25000008,
             "float8_e5m2fnuz": 0x26000008, "float8_e4m3fnuz": 0x27000008,
             "float8_e8m0fnu": 0x28000008}


def to_numpy_dtype(element_type: int) -> np.dtype | None:
    """The numpy dtype with the same meaning, or None (bf16, f8, sub-byte, odd sizes)."""
    element_type = int(element_type) & 0xFFFFFFFF
    code, bits = element_type >> 24, element_type & 0xFF
    if code == 0x13:
        return np.dtype(np.bool_) if bits == 8 else None
    if bits == 0 or bits % 8:
        return None
    size = bits // 8
    kind = _INT_KINDS.get(code)
    if kind is not None:
        return np.dtype(f"<{kind}{size}") if size in (1, 2, 4, 8) else None
    if code == 0x21:
        return np.dtype(f"<f{size}") if size in (2, 4, 8) else None
    if code == 0x23:
        return np.dtype(f"<c{size}") if size in (8, 16) else None
    if code == 0:
        return np.dtype(f"V{size}")
    return None


def storage_dtype(element_type: int) -> np.dtype | None:
    """A same-sized dtype for byte-exact views: the numpy dtype if one exists, else
    ``uint8/16/32/64`` or ``V<n>`` by size; None for sub-byte types."""
    dtype = to_numpy_dtype(element_type)
    if dtype is not None:
        return dtype
    bits = int(element_type) & 0xFF
    if bits == 0 or bits % 8:
        return None
    size = bits // 8
    return np.dtype(f"<u{size}") if size in (1, 2, 4, 8) else np.dtype(f"V{size}")


def from_numpy_dtype(dtype) -> int:
    """The element type of a numpy dtype (signed -> signless ``iN``, ``V<n>`` -> opaque)."""
    dtype = np.dtype(dtype)
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return ElementType.BOOL_8
    if dtype.num >= 256 and dtype.name in _ML_CODES:  # a user dtype: ml_dtypes' bf16, f8...
        return _ML_CODES[dtype.name]
    if kind in "iufcV" and dtype.fields is None and not dtype.subdtype and size <= 31:
        code = {"i": 0x10, "u": 0x12, "f": 0x21, "c": 0x23, "V": 0x00}[kind]
        if kind != "V" and dtype.byteorder == ">":
            raise InvalidArgumentError(f"big-endian numpy dtype {dtype} is not supported")
        return (code << 24) | (size * 8)
    raise InvalidArgumentError(f"numpy dtype {dtype} has no HAL element type")


class ElementType:
    """Common element type codes and the helpers, as a namespace (values are ints)."""

    NONE = 0x00000000
    OPAQUE_8 = 0x00000008
    OPAQUE_16 = 0x00000010
    OPAQUE_32 = 0x00000020
    OPAQUE_64 = 0x00000040
    BOOL_8 = 0x13000008
    INT_4 = 0x10000004
    SINT_4 = 0x11000004
    UINT_4 = 0x12000004
    INT_8 = 0x10000008
    SINT_8 = 0x11000008
    UINT_8 = 0x12000008
    INT_16 = 0x10000010
    SINT_16 = 0x11000010
    UINT_16 = 0x12000010
    INT_32 = 0x10000020
    SINT_32 = 0x11000020
    UINT_32 = 0x12000020
    INT_64 = 0x10000040
    SINT_64 = 0x11000040
    UINT_64 = 0x12000040
    FLOAT_16 = 0x21000010
    FLOAT_32 = 0x21000020
    FLOAT_64 = 0x21000040
    BFLOAT_16 = 0x22000010
    COMPLEX_FLOAT_64 = 0x23000040
    COMPLEX_FLOAT_128 = 0x23000080
    FLOAT_8_E5M2 = 0x24000008
    FLOAT_8_E4M3_FN = 0x25000008
    FLOAT_8_E5M2_FNUZ = 0x26000008
    FLOAT_8_E4M3_FNUZ = 0x27000008
    FLOAT_8_E8M0_FNU = 0x28000008

    make = staticmethod(make_element_type)
    numerical_type = staticmethod(numerical_type)
    bit_count = staticmethod(bit_count)
    is_integer = staticmethod(is_integer)
    is_float = staticmethod(is_float)
    is_opaque = staticmethod(is_opaque)
    name = staticmethod(element_type_name)
    parse = staticmethod(parse_element_type)
    byte_size = staticmethod(element_byte_size)
    dense_byte_size = staticmethod(dense_byte_size)
    to_numpy = staticmethod(to_numpy_dtype)
    storage_dtype = staticmethod(storage_dtype)
    from_numpy = staticmethod(from_numpy_dtype)


def element_types_compatible(actual: int, expected: int) -> bool:
    """``buffer_view.assert``'s rule (3.3): the actual type is opaque, or both are
    integer-class types of the same bit width, or the types are equal."""
    actual &= 0xFFFFFFFF
    expected &= 0xFFFFFFFF
    if actual >> 24 == 0:
        return True
    if (actual >> 24) & 0xF0 == 0x10 and (expected >> 24) & 0xF0 == 0x10 \
            and actual & 0xFF == expected & 0xFF:
        return True
    return actual == expected
