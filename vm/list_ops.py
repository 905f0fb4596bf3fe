"""Value conversions of ``list.get.T`` / ``list.set.T`` (``vm-isa.md`` 5.3).

Values travel as *raw* ints, the VM's register convention: integer types as the signed
value of their width, ``f32``/``f64`` as their IEEE bit patterns read as signed s32/s64.
``CONVERT[src][dst]`` maps a raw ``src`` value to a raw ``dst`` value:

* integer -> integer: wrap to the destination width (widening sign-extends because raw
  ints are signed; narrowing keeps the low bits);
* f32 <-> f64: numeric conversion as C does it (f64 -> f32 rounds to nearest, overflows to
  +-inf, never raises; NaNs become quiet NaNs);
* integer <-> float: 0 (no conversion at all, by design of the VM);
* same type: unchanged (wrapped to the width, so a sloppy caller cannot corrupt storage).

A get uses ``CONVERT[element][access]``, a set ``CONVERT[access][element]``.

Variants hold :class:`~pyree.vm.ref.TypedValue` with Python numbers. ``float_to_f32_bits``
and ``f32_bits_to_float`` move between an f32 and a Python float *exactly* (NaN payloads
and signalling NaNs survive a round trip), so a variant round-trips the bits it was given.
"""

from __future__ import annotations

import math
import numbers
import operator
import struct

from pyree.status import FailedPreconditionError, InvalidArgumentError
from pyree.vm.ref import _BY_CLS, TypedValue, ValueType, type_name

I8, I16, I32, I64 = ValueType.I8, ValueType.I16, ValueType.I32, ValueType.I64
F32, F64 = ValueType.F32, ValueType.F64
INT_TYPES = (I8, I16, I32, I64)
FLOAT_TYPES = (F32, F64)

_S32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_S64 = struct.Struct("<q")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


def wrap8(value: int) -> int:
    return ((value + 0x80) & 0xFF) - 0x80


def wrap16(value: int) -> int:
    return ((value + 0x8000) & 0xFFFF) - 0x8000


def wrap32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def wrap64(value: int) -> int:
    return ((value + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


WRAP = {I8: wrap8, I16: wrap16, I32: wrap32, I64: wrap64, F32: wrap32, F64: wrap64}


def _zero(value: int) -> int:
    return 0


def f64_bits_to_f32_bits(bits: int) -> int:
    """binary64 -> binary32 as C's cast: round to nearest even, overflow to +-inf."""
    x = _F64.unpack(_S64.pack(wrap64(bits)))[0]
    try:
        return _S32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return 0x7F800000 if x > 0 else -0x800000


def f32_bits_to_f64_bits(bits: int) -> int:
    """binary32 -> binary64 (exact for numbers; NaNs come out quiet, as in C)."""
    return _S64.unpack(_F64.pack(_F32.unpack(_U32.pack(bits & 0xFFFFFFFF))[0]))[0]


def f32_bits_to_float(bits: int) -> float:
    """The Python float equal to an f32 bit pattern, keeping NaN payloads bit-exact."""
    u = bits & 0xFFFFFFFF
    if u & 0x7F800000 == 0x7F800000 and u & 0x7FFFFF:
        d = (u >> 31) << 63 | 0x7FF0000000000000 | (u & 0x7FFFFF) << 29
        return _F64.unpack(_S64.pack(wrap64(d)))[0]
    return _F32.unpack(_U32.pack(u))[0]


def float_to_f32_bits(x: float) -> int:
    """A Python float rounded to f32 bits (overflow to +-inf; NaN payloads truncated exactly)."""
    if math.isnan(x):
        d = _S64.unpack(_F64.pack(x))[0] & 0xFFFFFFFFFFFFFFFF
        mantissa = (d >> 29) & 0x7FFFFF or 0x400000
        return wrap32((d >> 63) << 31 | 0x7F800000 | mantissa)
    try:
        return _S32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return 0x7F800000 if x > 0 else -0x800000


def float_to_f64_bits(x: float) -> int:
    return _S64.unpack(_F64.pack(x))[0]


def f64_bits_to_float(bits: int) -> float:
    return _F64.unpack(_S64.pack(wrap64(bits)))[0]


def _build_table() -> dict:
    table = {}
    for src in ValueType:
        row = table[src] = {}
        for dst in ValueType:
            if src is ValueType.NONE or dst is ValueType.NONE:
                continue
            if src.is_float != dst.is_float:
                row[dst] = _zero
            elif src is dst or not src.is_float:
                row[dst] = WRAP[dst]
            elif src is F32:
                row[dst] = f32_bits_to_f64_bits
            else:
                row[dst] = f64_bits_to_f32_bits
    return table


CONVERT: dict[ValueType, dict[ValueType, callable]] = _build_table()


def convert(src: ValueType, raw: int, dst: ValueType) -> int:
    """Converts the raw ``src`` value ``raw`` to a raw ``dst`` value (table above)."""
    return CONVERT[src][dst](raw)


def typed_value_raw(value: TypedValue) -> int:
    """The raw register form of a :class:`TypedValue`."""
    vt = value.type
    if vt is F32:
        return float_to_f32_bits(float(value.value))
    if vt is F64:
        return float_to_f64_bits(float(value.value))
    return WRAP[vt](int(value.value))


def raw_to_python(vt: ValueType, raw: int) -> int | float:
    """The Python number of a raw value of type ``vt``."""
    if vt is F32:
        return f32_bits_to_float(raw)
    if vt is F64:
        return f64_bits_to_float(raw)
    return raw


def make_typed_value(vt: ValueType, raw: int) -> TypedValue:
    """A :class:`TypedValue` of type ``vt`` holding the raw value ``raw``."""
    if vt is F32:
        return TypedValue(vt, f32_bits_to_float(raw))
    if vt is F64:
        return TypedValue(vt, f64_bits_to_float(raw))
    return TypedValue(vt, WRAP[vt](raw))


# -- host values --------------------------------------------------------------------------------

def host_raw(vt: ValueType, value, index: int) -> int:
    """Converts a Python number to a raw ``vt`` value (numerically: ints wrap to the width)."""
    if value is None or type(value) in _BY_CLS:
        raise FailedPreconditionError("list cannot store refs")
    if vt.is_float:
        if not isinstance(value, numbers.Real):
            raise InvalidArgumentError(
                f"list<{vt.type_name}> element {index}: expected a number, got "
                f"{type_name(value)}")
        try:
            x = float(value)
        except OverflowError:
            x = float("inf") if value > 0 else float("-inf")
        return float_to_f32_bits(x) if vt is F32 else float_to_f64_bits(x)
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidArgumentError(
            f"list<{vt.type_name}> element {index}: expected an integer, got "
            f"{type_name(value)}") from None
    return WRAP[vt](number)


def host_variant(value, index: int):
    """Converts a host value to a variant: None, a ref, or a TypedValue (int -> i64,
    float -> f64)."""
    if value is None or type(value) in _BY_CLS:
        return value
    if type(value) is TypedValue:
        if value.type is ValueType.NONE or not isinstance(value.type, ValueType):
            raise InvalidArgumentError(f"list<!vm.opaque> element {index}: untyped value")
        return value
    if isinstance(value, numbers.Integral):
        number = operator.index(value)
        if not -(1 << 63) <= number < (1 << 63):
            raise InvalidArgumentError(
                f"list<!vm.opaque> element {index}: integer {number} does not fit in i64")
        return TypedValue(I64, number)
    if isinstance(value, numbers.Real):
        return TypedValue(F64, float(value))
    raise InvalidArgumentError(
        f"list<!vm.opaque> element {index}: got {type_name(value)}, not a value or a ref")
