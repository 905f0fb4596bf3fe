"""Helpers that translated code calls: bit conversions, failures, float semantics.

Everything here is bound by name into the globals of translated functions (see
:data:`HELPERS`). Integer registers hold unsigned bit patterns; float registers hold the
IEEE bits of binary32/binary64 values.
"""

from __future__ import annotations

import math
import struct
import types

from pyree import status
from pyree.vm import ref as _ref

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<i")  # float bits are held as signed ints, like every register
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<q")
_pack_f32, _unpack_f32 = _F32.pack, _F32.unpack
_pack_u32, _unpack_u32 = _U32.pack, _U32.unpack
_pack_f64, _unpack_f64 = _F64.pack, _F64.unpack
_pack_u64, _unpack_u64 = _U64.pack, _U64.unpack

INF = math.inf


def bf32(bits: int) -> float:
    """s32 bits -> Python float (exact)."""
    return _unpack_f32(_pack_u32(bits))[0]


def fb32(x: float) -> int:
    """Python float -> binary32 bits (s32), rounding to nearest even; overflow -> +-inf."""
    try:
        return _unpack_u32(_pack_f32(x))[0]
    except OverflowError:
        return -0x800000 if x < 0 else 0x7F800000


def r32(x: float) -> float:
    """Round a double to the nearest binary32 value."""
    try:
        return _unpack_f32(_pack_f32(x))[0]
    except OverflowError:
        return -INF if x < 0 else INF


def bf64(bits: int) -> float:
    return _unpack_f64(_pack_u64(bits))[0]


def fb64(x: float) -> int:
    return _unpack_u64(_pack_f64(x))[0]


def w32(x: int) -> int:
    """Wrap an unbounded int to s32."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def w64(x: int) -> int:
    return ((x + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


def s32(x: int) -> int:
    return (x ^ 0x80000000) - 0x80000000


def s64(x: int) -> int:
    return (x ^ 0x8000000000000000) - 0x8000000000000000


# -- failures ---------------------------------------------------------------------------
def fail(code: int, message: str):
    code &= 0x1F
    if code == 0:
        raise status.OkStatusFailure(message)
    raise status.make_error(code, message)


def depth_exceeded(d: int):
    raise status.ResourceExhaustedError(
        f"call depth limit exceeded: {d} nested calls (stack would exceed maximum size)")


def bad_block(b):
    raise status.InternalError(f"invalid block index {b} (corrupt translation)")


def ran_off_end():
    raise status.InternalError("program counter ran off the end of the function")


def div_zero():
    raise status.InvalidArgumentError("integer division by zero")


def div_overflow():
    raise status.InvalidArgumentError("integer overflow in division")


def type_mismatch():
    raise status.InvalidArgumentError("source ref type mismatch")


def null_ref(what: str):
    raise status.InvalidArgumentError(f"{what} is null")


def drive(gen):
    """Run a generator to completion on a plain (non-yieldable) call.

    A callee that wants to suspend on a plain call is a program error (vm-isa.md 5.14).
    """
    try:
        gen.send(None)
    except StopIteration as stop:
        return stop.value
    gen.close()
    raise status.UnimplementedError("yield in imports with results not supported "
                                    "(a plain call reached a suspending callee)")


GeneratorType = types.GeneratorType


# -- integer helpers (signed inputs and outputs) ----------------------------------------
def sdiv32(a: int, b: int) -> int:
    if b == 0:
        div_zero()
    if a == -0x80000000 and b == -1:
        div_overflow()
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def srem32(a: int, b: int) -> int:
    if b == 0:
        div_zero()
    if a == -0x80000000 and b == -1:
        div_overflow()
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def sdiv64(a: int, b: int) -> int:
    if b == 0:
        div_zero()
    if a == -0x8000000000000000 and b == -1:
        div_overflow()
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def srem64(a: int, b: int) -> int:
    if b == 0:
        div_zero()
    if a == -0x8000000000000000 and b == -1:
        div_overflow()
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def udiv(a: int, b: int) -> int:
    """Unsigned division of masked operands; the caller wraps the result."""
    if b == 0:
        div_zero()
    return a // b


def urem(a: int, b: int) -> int:
    if b == 0:
        div_zero()
    return a % b


HELPERS = {
    "_PyreeError": status.PyreeError,
    "_bf32": bf32, "_fb32": fb32, "_r32": r32, "_bf64": bf64, "_fb64": fb64,
    "_s32": s32, "_s64": s64, "_fail": fail, "_depth_exceeded": depth_exceeded,
    "_bad_block": bad_block, "_ran_off_end": ran_off_end, "_type_mismatch": type_mismatch,
    "_null_ref": null_ref, "_drive": drive, "_GenType": GeneratorType,
    "_sdiv32": sdiv32, "_srem32": srem32, "_sdiv64": sdiv64, "_srem64": srem64,
    "_udiv": udiv, "_urem": urem, "_w32": w32, "_w64": w64,
    "_ref_classes": _ref._BY_CLS,  # classes of registered ref types (live registry)
}


# -- globals -----------------------------------------------------------------------------
def global_range(offset: int, size: int):
    raise status.OutOfRangeError(
        f"global byte_offset out of range: {s32(offset)} (rwdata={size})")


def global_ref_range(index: int, count: int):
    raise status.OutOfRangeError(f"global ref ordinal out of range: {s32(index)} (table={count})")


HELPERS.update({
    "_ld4": _U32.unpack_from, "_st4": _U32.pack_into,  # signed formats
    "_ld8": _U64.unpack_from, "_st8": _U64.pack_into,
    "_global_range": global_range, "_global_ref_range": global_ref_range,
})


def _bind_objects():
    from pyree.vm import buffer_ops
    from pyree.vm.list import VmList, check_list

    names = {"_VmList": VmList, "_check_list": check_list,
             "_balloc": buffer_ops.buffer_alloc, "_bclone": buffer_ops.buffer_clone,
             "_blength": buffer_ops.buffer_length, "_bcopy": buffer_ops.buffer_copy,
             "_bcompare": buffer_ops.buffer_compare, "_bhash": buffer_ops.buffer_hash}
    for kind, fn in buffer_ops.LOADS.items():
        names["_bld_" + kind.replace(".", "_")] = fn
    for kind, fn in buffer_ops.STORES.items():
        names["_bst_" + kind] = fn
    for kind, fn in buffer_ops.FILLS.items():
        names["_bfl_" + kind] = fn
    # The cross-module ABI conversions of f32 values (codegen/module.py) must keep NaN bits,
    # which a plain struct round trip quiets: calls copy bits, never convert (vm-isa.md 2.2).
    from pyree.vm.list_ops import f32_bits_to_float, float_to_f32_bits
    names["_bf32"] = f32_bits_to_float
    names["_fb32"] = float_to_f32_bits
    HELPERS.update(names)


_bind_objects()

