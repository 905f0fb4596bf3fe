"""Small float formats of the tools' tensor text (``hal-abi.md`` 6.1, 6.2).

f16, bf16 and the five f8 types are parsed as f32 and converted with round-to-nearest-even,
and printed by converting to f32. numpy has f16; bf16 and the f8 types are bit manipulation
here (no ml_dtypes dependency), with the semantics of the OCP / ml_dtypes formats:

| type | exponent, mantissa bits | bias | inf | NaN | -0 |
|------|-------------------------|------|-----|-----|----|
| f8E5M2 | 5, 2 | 15 | yes | exp all ones, mantissa != 0 | yes |
| f8E4M3FN | 4, 3 | 7 | no (overflow is NaN) | S.1111.111 | yes |
| f8E5M2FNUZ | 5, 2 | 16 | no | 0x80 only | no (-0 is +0) |
| f8E4M3FNUZ | 4, 3 | 8 | no | 0x80 only | no |
| f8E8M0FNU | 8, 0, unsigned | 127 | no | 0xFF | no zero: 0 and negatives are NaN |

Decoding uses a 256-entry f32 table per f8 type; encoding works on the f32 bits.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from .element_type import ElementType

#: element type -> (exponent bits, mantissa bits, bias, kind); kind is "ieee" (E5M2),
#: "fn" (finite, NaN S.1..1.1..1), "fnuz" (NaN 0x80, no -0), "e8m0".
F8_FORMATS = {
    ElementType.FLOAT_8_E5M2: (5, 2, 15, "ieee"),
    ElementType.FLOAT_8_E4M3_FN: (4, 3, 7, "fn"),
    ElementType.FLOAT_8_E5M2_FNUZ: (5, 2, 16, "fnuz"),
    ElementType.FLOAT_8_E4M3_FNUZ: (4, 3, 8, "fnuz"),
    ElementType.FLOAT_8_E8M0_FNU: (8, 0, 127, "e8m0"),
}


def f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _decode_f8(code: int, exp_bits: int, mant_bits: int, bias: int, kind: str) -> float:
    if kind == "e8m0":
        return math.nan if code == 0xFF else math.ldexp(1.0, code - bias)
    sign = -1.0 if code & 0x80 else 1.0
    exponent = (code >> mant_bits) & ((1 << exp_bits) - 1)
    mantissa = code & ((1 << mant_bits) - 1)
    if kind == "fnuz" and code == 0x80:
        return math.nan
    if kind == "ieee" and exponent == (1 << exp_bits) - 1:
        return sign * math.inf if mantissa == 0 else math.nan
    if kind == "fn" and code & 0x7F == 0x7F:
        return math.nan
    if exponent == 0:
        return sign * math.ldexp(mantissa, 1 - bias - mant_bits)
    return sign * math.ldexp((1 << mant_bits) | mantissa, exponent - bias - mant_bits)


_F8_TABLES = {
    et: np.array([_decode_f8(code, *fmt) for code in range(256)], dtype=np.float32)
    for et, fmt in F8_FORMATS.items()
}


def f8_to_f32(element_type: int, codes: np.ndarray) -> np.ndarray:
    """f32 values of f8 codes (a uint8 array)."""
    return _F8_TABLES[element_type][codes]


def _round_half_even(numerator: int, shift: int) -> int:
    """``numerator / 2**shift`` rounded to nearest, ties to even (shift may be <= 0)."""
    if shift <= 0:
        return numerator << -shift
    quotient = numerator >> shift
    remainder = numerator - (quotient << shift)
    half = 1 << (shift - 1)
    if remainder > half or (remainder == half and quotient & 1):
        quotient += 1
    return quotient


def f32_to_f8(element_type: int, value: float) -> int:
    """The f8 code nearest to the f32 ``value`` (round to nearest even; see the table)."""
    exp_bits, mant_bits, bias, kind = F8_FORMATS[element_type]
    bits = f32_bits(value)
    sign = bits >> 31
    exponent = (bits >> 23) & 0xFF
    mantissa = bits & 0x7FFFFF
    nan_code = {"ieee": 0x7E | (sign << 7), "fn": 0x7F | (sign << 7), "fnuz": 0x80,
                "e8m0": 0xFF}[kind]
    if exponent == 0xFF:
        if mantissa or kind != "ieee":
            return nan_code
        return (sign << 7) | 0x7C  # E5M2 infinity
    if kind == "e8m0":
        if sign or (exponent == 0 and mantissa == 0):
            return nan_code
        # ml_dtypes' rule, f32 subnormals included: round the exponent up when the
        # mantissa is at least half; 2**128 and above is NaN.
        return exponent + (1 if mantissa >= 0x400000 else 0)
    if exponent == 0 and mantissa == 0:
        return 0 if kind == "fnuz" else sign << 7
    significand = mantissa if exponent == 0 else mantissa | 0x800000
    exp2 = (1 if exponent == 0 else exponent) - 150      # value = significand * 2**exp2
    top = significand.bit_length() - 1 + exp2            # floor(log2(value))
    quantum = max(top, 1 - bias) - mant_bits             # exponent of one target ulp
    n = _round_half_even(significand, quantum - exp2)    # value / 2**quantum, rounded
    if n == 0:
        return 0 if kind == "fnuz" else sign << 7
    if n >> (mant_bits + 1):                             # carried into the next binade
        n >>= 1
        quantum += 1
    if n >> mant_bits:
        field = quantum + mant_bits + bias
        code_mantissa = n & ((1 << mant_bits) - 1)
    else:
        field, code_mantissa = 0, n
    max_field = (1 << exp_bits) - (2 if kind == "ieee" else 1)
    overflow = field > max_field or (kind == "fn" and field == max_field
                                     and code_mantissa == (1 << mant_bits) - 1)
    if overflow:
        return (sign << 7) | 0x7C if kind == "ieee" else nan_code
    return (sign << 7) | (field << mant_bits) | code_mantissa


def bf16_to_f32(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(value: float) -> int:
    """Round to nearest even; NaN stays a quiet NaN of the same sign."""
    bits = f32_bits(value)
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return ((bits >> 16) | 0x40) & 0xFFFF
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def f32_to_f16(value: float) -> int:
    with np.errstate(over="ignore"):   # overflow to infinity is the rounding's answer
        return int(np.array(value, dtype=np.float32).astype(np.float16).view(np.uint16))


def format_upper_g(value: float) -> str:
    """C ``printf("%G")`` of a double (glibc spelling: ``INF``, ``-NAN``, ``-0``)."""
    if math.isnan(value):
        return "-NAN" if math.copysign(1.0, value) < 0 else "NAN"
    return "%G" % value  # noqa: UP031 - C printf semantics are the point
