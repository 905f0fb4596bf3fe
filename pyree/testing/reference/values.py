"""Value helpers of the reference evaluator: integer widths, IEEE bits, exact conversions.

Integers are Python ints; floats are carried as their raw IEEE bits (unsigned ints) and
turned into numpy ``float32`` / ``float64`` scalars only to compute, so binary32
arithmetic is real binary32 arithmetic (one rounding per operation, as vm-isa.md 5.6
asks) and NaN payloads move exactly where the ISA says bits move.

NaN payloads produced by arithmetic are unspecified (vm-isa.md 5.6). The evaluator runs
under a :class:`NanPolicy`: ``hardware`` keeps whatever the machine produced, ``canonical``
replaces every NaN result of an operation whose payload is unspecified by the default
quiet NaN. A program whose outcome differs between the two depends on unspecified bits,
and the differential harness does not compare it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
INT64_MIN_BITS = 0x8000000000000000
F32_QNAN = 0x7FC00000
F64_QNAN = 0x7FF8000000000000


def s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


def s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def u32(x: int) -> int:
    return x & M32


def u64(x: int) -> int:
    return x & M64


def sext(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


# -- IEEE bits <-> numpy scalars ----------------------------------------------------------

def f32(bits: int) -> np.float32:
    return np.uint32(bits & M32).view(np.float32)


def f64(bits: int) -> np.float64:
    return np.uint64(bits & M64).view(np.float64)


def bits32(x) -> int:
    return int(np.float32(x).view(np.uint32))


def bits64(x) -> int:
    return int(np.float64(x).view(np.uint64))


def is_nan32(bits: int) -> bool:
    return (bits & 0x7F800000) == 0x7F800000 and bool(bits & 0x7FFFFF)


def is_nan64(bits: int) -> bool:
    return (bits & 0x7FF0000000000000) == 0x7FF0000000000000 and bool(bits & 0xFFFFFFFFFFFFF)


def ulp_key(bits: int, wide: bool) -> int:
    """An integer that orders float bit patterns by value (adjacent floats differ by 1;
    +0 and -0 are both 0)."""
    sign = 1 << (63 if wide else 31)
    return -(bits & ~sign) if bits & sign else bits


def step_ulps(bits: int, ulps: int, wide: bool) -> int:
    """``bits`` moved ``ulps`` representable values up (positive) or down; NaN and
    infinities, and steps that would reach them, leave ``bits`` unchanged."""
    exp_mask = 0x7FF0000000000000 if wide else 0x7F800000
    if bits & exp_mask == exp_mask:
        return bits
    sign = 1 << (63 if wide else 31)
    key = ulp_key(bits, wide) + ulps
    out = key if key >= 0 else (-key) | sign
    return bits if out & exp_mask == exp_mask else out


class NanPolicy:
    """What a NaN result of an operation with an unspecified payload becomes."""

    def __init__(self, name: str):
        if name not in ("hardware", "canonical"):
            raise ValueError(f"unknown NaN policy {name!r}")
        self.name = name

    def r32(self, bits: int) -> int:
        if self.name == "canonical" and is_nan32(bits):
            return F32_QNAN
        return bits

    def r64(self, bits: int) -> int:
        if self.name == "canonical" and is_nan64(bits):
            return F64_QNAN
        return bits


# -- exact integer -> float rounding ------------------------------------------------------

def _round_int(v: int, mantissa_bits: int) -> int:
    """``v`` rounded to ``mantissa_bits`` significant bits, ties to even (exact int)."""
    m = abs(v)
    excess = m.bit_length() - mantissa_bits
    if excess <= 0:
        return v
    q, r = divmod(m, 1 << excess)
    half = 1 << (excess - 1)
    if r > half or (r == half and q & 1):
        q += 1
    m = q << excess
    return -m if v < 0 else m


def int_to_f32_bits(v: int) -> int:
    return bits32(np.float32(float(_round_int(v, 24))))


def int_to_f64_bits(v: int) -> int:
    return bits64(float(_round_int(v, 53)))


# -- float -> integer (vm-isa.md 5.9) -----------------------------------------------------

def round_half_away(x: float) -> int:
    """Nearest integer, halfway cases away from zero (x finite)."""
    t = math.trunc(x)
    frac = abs(Fraction(x) - t)
    if frac >= Fraction(1, 2):
        t += 1 if x > 0 else -1
    return t


def _signed64_or_min(x: float) -> int:
    """round_half_away(x) as i64 bits; NaN, inf or out of signed range -> INT64_MIN."""
    if math.isnan(x) or math.isinf(x):
        return INT64_MIN_BITS
    r = round_half_away(x)
    if r < -(1 << 63) or r >= (1 << 63):
        return INT64_MIN_BITS
    return r & M64


def f32_to_i32(bits: int) -> int:
    """cast.f32.si32 and cast.f32.ui32: low 32 bits of the 64-bit intermediate."""
    return s32(_signed64_or_min(float(f32(bits))))


def f32_to_si64(bits: int) -> int:
    return s64(_signed64_or_min(float(f32(bits))))


def f32_to_ui64(bits: int) -> int:
    x = float(f32(bits))
    if math.isnan(x) or math.isinf(x):
        return s64(INT64_MIN_BITS)
    r = round_half_away(x)
    if r >= (1 << 64) or r <= -(1 << 63):
        return s64(INT64_MIN_BITS)
    return s64(r)


def f64_to_f32_bits(bits: int) -> int:
    """Round to nearest even; overflow to infinity (the NaN payload is the caller's
    concern)."""
    return bits32(np.float32(f64(bits)))


def f64_to_i32(bits: int) -> int:
    return f32_to_i32(f64_to_f32_bits(bits))


def f64_to_si64(bits: int) -> int:
    return s64(_signed64_or_min(float(f64(bits))))


def f64_to_ui64(bits: int) -> int:
    return s64(_signed64_or_min(float(f64(bits))))
