"""Buffer views as the tools print and write them (``hal-abi.md`` 6.2, 6.3).

Printing follows IREE's ``iree_hal_buffer_view_format``: ``SHAPExTYPE=CONTENTS`` with nested
rows in brackets and the innermost elements separated by spaces (``2x2xf32=[1 2][3 4]``,
``f32=5``); floats (f16, bf16 and f8 converted to f32 first) as C ``%G``; integers in
decimal (signless and signed as signed, unsigned as unsigned); every other type (``i1``,
opaque, complex, sub-byte) as uppercase hex bytes in memory order. At most
``max_elements`` elements are printed in total: a row cut short ends in ``...`` and rows
after the budget is spent print as ``[...]``. A buffer shorter than the view is OUT_OF_RANGE
"input data underflow".

Output files: :func:`view_to_array` is a copy of the view with its numpy dtype (``|b1``,
``<iN``, ``<uN``, ``<fN``, ``<cN``, ``|VN``; UNIMPLEMENTED for bf16, f8 and sub-byte types),
:func:`view_bytes` the dense bytes for raw outputs, :func:`buffer_to_array` a
``hal.buffer``'s bytes as ``i8``.
"""

from __future__ import annotations

import struct

import numpy as np

from pyree import status

from . import hal_values_floats as floats
from .buffer import HalBuffer
from .buffer_view import HalBufferView
from .element_type import ElementType as E
from .element_type import element_type_name, to_numpy_dtype
from .enums import MemoryAccess

DEFAULT_MAX_ELEMENTS = 1024
_READ = int(MemoryAccess.READ)


def _struct_formatter(fmt: str, to_text):
    unpack = struct.Struct(fmt).unpack_from
    return lambda data, offset: to_text(unpack(data, offset)[0])


def _element_formatter(element_type: int):
    """``fn(data, byte_offset) -> text`` for one element (6.2)."""
    ints = {E.INT_8: "<b", E.SINT_8: "<b", E.UINT_8: "<B", E.INT_16: "<h", E.SINT_16: "<h",
            E.UINT_16: "<H", E.INT_32: "<i", E.SINT_32: "<i", E.UINT_32: "<I",
            E.INT_64: "<q", E.SINT_64: "<q", E.UINT_64: "<Q"}
    g = floats.format_upper_g
    if element_type in ints:
        return _struct_formatter(ints[element_type], str)
    if element_type == E.FLOAT_16:
        return _struct_formatter("<e", g)
    if element_type == E.FLOAT_32:
        return _struct_formatter("<f", g)
    if element_type == E.FLOAT_64:
        return _struct_formatter("<d", g)
    if element_type == E.BFLOAT_16:
        return _struct_formatter("<H", lambda bits: g(
            struct.unpack("<f", struct.pack("<I", bits << 16))[0]))
    if element_type in floats.F8_FORMATS:
        table = floats._F8_TABLES[element_type]
        return lambda data, offset: g(float(table[data[offset]]))
    size = (element_type & 0xFF) + 7 >> 3
    return lambda data, offset: bytes(data[offset:offset + size]).hex().upper()


def format_elements(data, shape, element_type: int, max_elements: int) -> str:
    """IREE's ``iree_hal_format_buffer_elements`` over the bytes ``data``."""
    size = (element_type & 0xFF) + 7 >> 3
    if size == 0:
        raise status.InvalidArgumentError("opaque element type cannot be sized")
    fmt = _element_formatter(element_type)
    out: list[str] = []
    budget = [max(int(max_elements), 0)]
    data = memoryview(data)

    def rows(offset: int, available: int, dims) -> None:
        if len(dims) > 1:
            stride = size
            for d in dims[1:]:
                stride *= d
            if available < stride * dims[0]:
                raise status.OutOfRangeError(
                    f"input data underflow: data_length={available} < "
                    f"expected={stride * dims[0]}")
            for i in range(dims[0]):
                out.append("[")
                rows(offset + i * stride, stride, dims[1:])
                out.append("]")
            return
        count = min(budget[0], dims[0])
        if available < count * size:
            raise status.OutOfRangeError(
                f"input data underflow; data_length={available} < expected={count * size}")
        budget[0] -= count
        out.append(" ".join(fmt(data, offset + i * size) for i in range(count)))
        if count < dims[0]:
            out.append("...")

    rows(0, len(data), tuple(shape) or (1,))
    return "".join(out)


def format_buffer_view(view: HalBufferView,
                       max_elements: int = DEFAULT_MAX_ELEMENTS) -> str:
    """``SHAPExTYPE=CONTENTS`` of a buffer view (``2x2xf32=[1 2][3 4]``, ``f32=5``)."""
    shape = "".join(f"{d}x" for d in view.shape)
    data = view.buffer.map_range(_READ)
    contents = format_elements(data, view.shape, view.element_type, max_elements)
    return f"{shape}{element_type_name(view.element_type)}={contents}"


def view_to_array(view: HalBufferView) -> np.ndarray:
    """A copy of the view as a numpy array of its shape and dtype (6.3)."""
    dtype = to_numpy_dtype(view.element_type)
    if dtype is None:
        raise status.UnimplementedError(
            f"element type {element_type_name(view.element_type)} has no numpy dtype; "
            "write it as raw bytes (`@path`) instead")
    nbytes = view.element_count * dtype.itemsize
    data = view.buffer.map_range(_READ, 0, nbytes)
    return data.view(dtype).reshape(view.shape).copy()


def view_bytes(view: HalBufferView) -> bytes:
    """The dense bytes of a view (raw output)."""
    return view.buffer.read(0, view.byte_length)


def buffer_to_array(buffer: HalBuffer) -> np.ndarray:
    return np.frombuffer(buffer.read(), dtype=np.int8)
