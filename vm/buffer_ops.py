"""The run-time half of every ``vm.buffer.*`` instruction (``vm-isa.md`` 5.11).

Plain functions the interpreter binds once. Register values come in as Python ints: i32
operands as signed s32, i64 operands (offsets, lengths, i64 values) as signed s64, and
f32/f64 values as their raw IEEE bit patterns read as signed s32/s64 (the VM keeps float
registers as bits). Loads return values in the same convention.

Checks, in order (the verifier cannot prove any of them):

1. a null or non-buffer operand -> INVALID_ARGUMENT "<operand> is null";
2. a write into a buffer without MUTABLE -> PERMISSION_DENIED (before bounds for
   store/fill; for copy after the source range and before the target range);
3. a range outside the buffer -> OUT_OF_RANGE "out-of-bounds access detected (...)".

Offsets and lengths are the u64 reinterpretation of the s64 register and the range check
uses unbounded ints, so "negative" (huge) offsets or lengths are always out of range and
nothing wraps. Load/store/fill offsets and fill lengths count elements; copy, compare,
clone and hash count bytes.

Per-kind functions live in :data:`LOADS`, :data:`STORES` and :data:`FILLS`, keyed by the
mnemonic suffix (``"i8.u"``, ``"i32"``, ``"f64"``, ...).
"""

from __future__ import annotations

import struct

import numpy as np

from pyree.status import InvalidArgumentError, OutOfRangeError, PermissionDeniedError
from pyree.vm.buffer import MUTABLE, ORIGIN_GUEST, VmBuffer
from pyree.vm.siphash import siphash24

_M64 = 0xFFFFFFFFFFFFFFFF
_READ_ONLY = "buffer is read-only and cannot be mapped for mutation"
_GUEST_FLAGS = MUTABLE | ORIGIN_GUEST
# Fills below this many bytes use a repeated pattern; larger ones a numpy view.
_SMALL_FILL = 4096
_SMALL_COMPARE = 4096


def _null(operand: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{operand} is null")


def _out_of_range(offset: int, count: int, size: int, buffer_length: int) -> OutOfRangeError:
    return OutOfRangeError(
        f"out-of-bounds access detected (offset={(offset & _M64) * size}, "
        f"length={(count & _M64) * size}, alignment={size}, buffer length={buffer_length})")


def _read_only() -> PermissionDeniedError:
    return PermissionDeniedError(_READ_ONLY)


# -- loads / stores / fills -------------------------------------------------------------------

def _make_load(kind: str, fmt: str):
    codec = struct.Struct(fmt)
    unpack_from, size = codec.unpack_from, codec.size

    def load(buffer, offset):
        if type(buffer) is not VmBuffer:
            raise _null("buffer")
        data = buffer.data
        position = offset * size
        if offset < 0 or position + size > len(data):
            raise _out_of_range(offset, 1, size, len(data))
        return unpack_from(data, position)[0]

    load.__name__ = load.__qualname__ = "buffer_load_" + kind.replace(".", "_")
    return load


def _make_store(kind: str, fmt: str):
    codec = struct.Struct(fmt)
    pack_into, size = codec.pack_into, codec.size
    mask = (1 << (8 * size)) - 1

    def store(buffer, offset, value):
        if type(buffer) is not VmBuffer:
            raise _null("buffer")
        if not buffer.flags & MUTABLE:
            raise _read_only()
        data = buffer.data
        position = offset * size
        if offset < 0 or position + size > len(data):
            raise _out_of_range(offset, 1, size, len(data))
        pack_into(data, position, value & mask)

    store.__name__ = store.__qualname__ = "buffer_store_" + kind
    return store


def _make_fill(kind: str, fmt: str):
    codec = struct.Struct(fmt)
    pack, size = codec.pack, codec.size
    mask = (1 << (8 * size)) - 1
    dtype = np.dtype(fmt)

    def fill(buffer, offset, length, value):
        if type(buffer) is not VmBuffer:
            raise _null("buffer")
        if not buffer.flags & MUTABLE:
            raise _read_only()
        data = buffer.data
        if offset < 0 or length < 0 or (offset + length) * size > len(data):
            raise _out_of_range(offset, length, size, len(data))
        start = offset * size
        nbytes = length * size
        if nbytes <= _SMALL_FILL:
            if nbytes:
                data[start:start + nbytes] = pack(value & mask) * length
        else:
            np.frombuffer(data, dtype=dtype, count=length, offset=start).fill(value & mask)

    fill.__name__ = fill.__qualname__ = "buffer_fill_" + kind
    return fill


_LOAD_FORMATS = {"i8.u": "<B", "i8.s": "<b", "i16.u": "<H", "i16.s": "<h",
                 "i32": "<i", "i64": "<q", "f32": "<i", "f64": "<q"}
_STORE_FORMATS = {"i8": "<B", "i16": "<H", "i32": "<I", "i64": "<Q", "f32": "<I", "f64": "<Q"}

LOADS = {kind: _make_load(kind, fmt) for kind, fmt in _LOAD_FORMATS.items()}
STORES = {kind: _make_store(kind, fmt) for kind, fmt in _STORE_FORMATS.items()}
FILLS = {kind: _make_fill(kind, fmt) for kind, fmt in _STORE_FORMATS.items()}


def _kind(table: dict, kind: str, what: str):
    try:
        return table[kind]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown buffer.{what} kind {kind!r} (expected one of {', '.join(table)})"
        ) from None


def buffer_load(kind: str, buffer, offset: int) -> int:
    """``buffer.load.<kind>``: element ``offset``; ints sign/zero-extended, floats as bits."""
    return _kind(LOADS, kind, "load")(buffer, offset)


def buffer_store(kind: str, buffer, offset: int, value: int) -> None:
    """``buffer.store.<kind>``: store the low bits of ``value`` at element ``offset``."""
    _kind(STORES, kind, "store")(buffer, offset, value)


def buffer_fill(kind: str, buffer, offset: int, length: int, value: int) -> None:
    """``buffer.fill.<kind>``: ``length`` elements starting at element ``offset``."""
    _kind(FILLS, kind, "fill")(buffer, offset, length, value)


# -- whole-range operations -------------------------------------------------------------------

def buffer_alloc(length: int, alignment: int) -> VmBuffer:
    """``buffer.alloc``: a zero-filled MUTABLE|ORIGIN_GUEST buffer of ``u64(length)`` bytes."""
    return VmBuffer.allocate(length & _M64, alignment, _GUEST_FLAGS)


def buffer_clone(source, offset: int, length: int, alignment: int) -> VmBuffer:
    """``buffer.clone``: a MUTABLE|ORIGIN_GUEST copy of ``source[offset, offset+length)``."""
    if type(source) is not VmBuffer:
        raise _null("source")
    data = source.data
    if offset < 0 or length < 0 or offset + length > len(data):
        raise _out_of_range(offset, length, 1, len(data))
    clone = VmBuffer.allocate(length, alignment, _GUEST_FLAGS)
    clone.data[:] = data[offset:offset + length]
    return clone


def buffer_length(buffer) -> int:
    """``buffer.length``: the byte length."""
    if type(buffer) is not VmBuffer:
        raise _null("buffer")
    return len(buffer.data)


def buffer_copy(source, source_offset: int, target, target_offset: int, length: int) -> None:
    """``buffer.copy``: ``length`` bytes, memmove semantics for overlapping ranges."""
    if type(source) is not VmBuffer:
        raise _null("source_buffer")
    if type(target) is not VmBuffer:
        raise _null("target_buffer")
    source_data = source.data
    if source_offset < 0 or length < 0 or source_offset + length > len(source_data):
        raise _out_of_range(source_offset, length, 1, len(source_data))
    if not target.flags & MUTABLE:
        raise _read_only()
    target_data = target.data
    if target_offset < 0 or target_offset + length > len(target_data):
        raise _out_of_range(target_offset, length, 1, len(target_data))
    if length:
        # memoryview slice assignment is a memmove, so overlapping ranges are safe.
        target_data[target_offset:target_offset + length] = \
            source_data[source_offset:source_offset + length]


def buffer_compare(lhs, lhs_offset: int, rhs, rhs_offset: int, length: int) -> int:
    """``buffer.compare``: 1 if the two byte ranges are identical, else 0."""
    if type(lhs) is not VmBuffer:
        raise _null("lhs_buffer")
    if type(rhs) is not VmBuffer:
        raise _null("rhs_buffer")
    lhs_data = lhs.data
    if lhs_offset < 0 or length < 0 or lhs_offset + length > len(lhs_data):
        raise _out_of_range(lhs_offset, length, 1, len(lhs_data))
    rhs_data = rhs.data
    if rhs_offset < 0 or rhs_offset + length > len(rhs_data):
        raise _out_of_range(rhs_offset, length, 1, len(rhs_data))
    left = lhs_data[lhs_offset:lhs_offset + length]
    right = rhs_data[rhs_offset:rhs_offset + length]
    if length <= _SMALL_COMPARE:
        return 1 if left == right else 0
    return 1 if np.array_equal(np.frombuffer(left, np.uint8), np.frombuffer(right, np.uint8)) \
        else 0


def buffer_hash(source, offset: int, length: int) -> int:
    """``buffer.hash``: SipHash-2-4 of the byte range, returned as a signed s64."""
    if type(source) is not VmBuffer:
        raise _null("source_buffer")
    data = source.data
    if offset < 0 or length < 0 or offset + length > len(data):
        raise _out_of_range(offset, length, 1, len(data))
    value = siphash24(data[offset:offset + length])
    return value - (1 << 64) if value >> 63 else value
