"""Float semantics for translated code (vm-isa.md 5.6, 5.7, 5.9, 5.10), on IEEE bits.

Every helper takes and returns register values: float bits and integers as signed ints. f32 arithmetic is computed in
binary64 and rounded once to binary32, which is exact for + - * / sqrt (binary64 has more
than 2 x 24 + 2 bits) and gives IREE's unfused fma when the product is rounded first.
The f32 libm functions (``LIBM32``: sin, log10, pow, ...) are the C library's binary32
functions (``sinf``, ``log10f``, ``powf``, through ctypes), as vm-isa.md 5.7 asks: the
binary64 function rounded to binary32 is correctly rounded where the platform's may not
be (glibc 2.36's ``log10f(0.75)`` is 2 ulps from it), so an IREE program's f32 results
would otherwise differ from IREE's by more than the ulp the ISA allows. The f64 forms are
Python's ``math`` functions, which are the C library's binary64 ones.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

from pyree.vm.codegen.runtime import bf32, bf64, fb32, fb64, r32

NAN = math.nan
INF = math.inf


def _safe(fn):
    def call(*args):
        try:
            return fn(*args)
        except (ValueError, ZeroDivisionError):
            return NAN
        except OverflowError:
            return INF
    return call


def _c_pow(x, y):
    try:
        return math.pow(x, y)
    except (ValueError, ZeroDivisionError):
        if x == 0:  # pow(+-0, y < 0) is a pole: +-inf for odd integer y, else +inf
            if y == math.floor(y) and int(y) % 2 == 1:
                return math.copysign(INF, x)
            return INF
        return NAN
    except OverflowError:
        if x < 0 and y == math.floor(y) and int(y) % 2 == 1:
            return -INF
        return INF


def _log(x, fn):
    if x == 0:
        return -INF
    if x < 0 or x != x:
        return NAN
    return fn(x)


def _rsqrt(x):
    if x == 0:
        return math.copysign(INF, x)
    if x < 0 or x != x:
        return NAN
    return 1.0 / math.sqrt(x)


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _expm1(x):
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def _exp2(x):
    try:
        return 2.0 ** x
    except OverflowError:
        return INF


def _sqrt(x):
    if x < 0:
        return NAN
    return math.sqrt(x)


def _remainder(x, y):
    if x != x or y != y or math.isinf(x) or y == 0:
        return NAN
    return math.remainder(x, y)


def _round_away(x):
    if x != x or math.isinf(x):
        return x
    t = math.trunc(x)
    if abs(x - t) >= 0.5:  # x - trunc(x) is exact
        t += 1 if x > 0 else -1
    return math.copysign(float(t), x)


def _round_even(x):
    if x != x or math.isinf(x):
        return x
    if abs(x - math.trunc(x)) == 0.5:
        return float(round(x))  # exact tie: nearest even; a zero result is +0 as in IREE
    return _round_away(x)


def _ceil(x):
    if x != x or math.isinf(x):
        return x
    return math.copysign(float(math.ceil(x)), x) if math.ceil(x) == 0 else float(math.ceil(x))


def _floor(x):
    if x != x or math.isinf(x):
        return x
    return math.copysign(float(math.floor(x)), x) if math.floor(x) == 0 else float(math.floor(x))


UNARY = {
    "abs": None, "neg": None, "ceil": _ceil, "floor": _floor, "round": _round_away,
    "round.even": _round_even, "atan": math.atan, "cos": _safe(math.cos),
    "sin": _safe(math.sin), "exp": _exp, "exp2": _exp2, "expm1": _expm1,
    "log": lambda x: _log(x, math.log), "log10": lambda x: _log(x, math.log10),
    "log1p": lambda x: NAN if x < -1 or x != x else (-INF if x == -1 else math.log1p(x)),
    "log2": lambda x: _log(x, math.log2), "rsqrt": _rsqrt, "sqrt": _sqrt,
    "tanh": math.tanh, "erf": math.erf,
}

BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: (a / b if b != 0 else
                         (NAN if a == 0 or a != a else math.copysign(INF, a) *
                          math.copysign(1.0, b))),
    "rem": _remainder, "atan2": math.atan2, "pow": _c_pow,
    "min": lambda a, b: b if b < a else a, "max": lambda a, b: b if a < b else a,
}


def _unary32(fn):
    return lambda x: fb32(fn(bf32(x)))


def _unary64(fn):
    return lambda x: fb64(fn(bf64(x)))


def _binary32(fn):
    return lambda a, b: fb32(fn(bf32(a), bf32(b)))


def _binary64(fn):
    return lambda a, b: fb64(fn(bf64(a), bf64(b)))


HELPERS = {}
for _name, _fn in UNARY.items():
    if _fn is not None:
        HELPERS[f"_u32_{_name.replace('.', '_')}"] = _unary32(_fn)
        HELPERS[f"_u64_{_name.replace('.', '_')}"] = _unary64(_fn)
for _name, _fn in BINARY.items():
    HELPERS[f"_b32_{_name}"] = _binary32(_fn)
    HELPERS[f"_b64_{_name}"] = _binary64(_fn)


def _rsqrt32(x):
    """1.0f / sqrtf(x): the root is rounded to binary32 before the division."""
    if x > 0 and x != INF:
        return 1.0 / r32(math.sqrt(x))
    return _rsqrt(x)


HELPERS["_u32_rsqrt"] = _unary32(_rsqrt32)

# f32 libm functions: the C library's binary32 ones (module docstring)
LIBM32 = ("atan", "cos", "sin", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2",
          "tanh", "erf", "atan2", "pow")
_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")


def _libm32(name: str):
    fn = getattr(_LIBM, name + "f")
    arity = 2 if name in BINARY else 1
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float] * arity
    if arity == 2:
        return lambda a, b: fb32(fn(bf32(a), bf32(b)))
    return lambda x: fb32(fn(bf32(x)))


for _name in LIBM32:
    HELPERS[f"_{'b' if _name in BINARY else 'u'}32_{_name}"] = _libm32(_name)


def fma32(a, b, c):
    return fb32(r32(bf32(a) * bf32(b)) + bf32(c))


def fma64(a, b, c):
    return fb64(bf64(a) * bf64(b) + bf64(c))


# -- comparisons (results are bools) -------------------------------------------------------
def _cmp(bits_to_float, op, unordered):
    def compare(a, b):
        x, y = bits_to_float(a), bits_to_float(b)
        if x != x or y != y:
            return unordered
        return op(x, y)
    return compare


_CMPS = {"eq": (lambda x, y: x == y), "ne": (lambda x, y: x != y),
         "lt": (lambda x, y: x < y), "lte": (lambda x, y: x <= y)}
for _w, _conv in ((32, bf32), (64, bf64)):
    for _name, _op in _CMPS.items():
        HELPERS[f"_c{_w}_{_name}_o"] = _cmp(_conv, _op, _name == "ne")  # IREE: ne.o true on NaN
        HELPERS[f"_c{_w}_{_name}_u"] = _cmp(_conv, _op, True)
HELPERS["_c32_nan"] = lambda a: bf32(a) != bf32(a)
HELPERS["_c64_nan"] = lambda a: bf64(a) != bf64(a)


# -- conversions (integer operands and results are signed, like the registers) ---------------
INT64_MIN = -0x8000000000000000


def _to_i64_intermediate(x: float) -> int:
    """round_half_away(x) as s64; NaN/inf/out of range -> INT64_MIN."""
    if x != x or math.isinf(x):
        return INT64_MIN
    r = int(_round_away(x))
    if not -(1 << 63) <= r < (1 << 63):
        return INT64_MIN
    return r


def _low32(v: int) -> int:
    return ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def f32_to_i32(bits: int) -> int:
    return _low32(_to_i64_intermediate(bf32(bits)))


def f64_to_i32(bits: int) -> int:
    return _low32(_to_i64_intermediate(r32(bf64(bits))))


def f32_to_ui64(bits: int) -> int:
    x = bf32(bits)
    if x != x or math.isinf(x):
        return INT64_MIN
    r = int(_round_away(x))
    if r >= (1 << 64) or r <= -(1 << 63):
        return INT64_MIN
    return ((r & 0xFFFFFFFFFFFFFFFF) ^ 0x8000000000000000) - 0x8000000000000000


def _int_to_f32(v: int) -> float:
    """Round an integer to binary32 directly (no double rounding through binary64)."""
    a = abs(v)
    shift = a.bit_length() - 24
    if shift > 0:
        q, rem = a >> shift, a & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and q & 1):
            q += 1
        a = q << shift
    return float(a) if v >= 0 else -float(a)


HELPERS.update({
    "_fma32": fma32, "_fma64": fma64,
    "_cast_f32_si32": f32_to_i32, "_cast_f32_ui32": f32_to_i32,
    "_cast_f64_si32": f64_to_i32, "_cast_f64_ui32": f64_to_i32,
    "_cast_f32_si64": lambda b: _to_i64_intermediate(bf32(b)),
    "_cast_f32_ui64": f32_to_ui64,
    "_cast_f64_si64": lambda b: _to_i64_intermediate(bf64(b)),
    "_cast_f64_ui64": lambda b: _to_i64_intermediate(bf64(b)),
    "_cast_si32_f32": lambda v: fb32(float(v)),
    "_cast_ui32_f32": lambda v: fb32(float(v & 0xFFFFFFFF)),
    "_cast_si64_f32": lambda v: fb32(_int_to_f32(v)),
    "_cast_ui64_f32": lambda v: fb32(_int_to_f32(v & 0xFFFFFFFFFFFFFFFF)),
    "_cast_si32_f64": lambda v: fb64(float(v)),
    "_cast_ui32_f64": lambda v: fb64(float(v & 0xFFFFFFFF)),
    "_cast_si64_f64": lambda v: fb64(float(v)),
    "_cast_ui64_f64": lambda v: fb64(float(v & 0xFFFFFFFFFFFFFFFF)),
    "_trunc_f64_f32": lambda b: fb32(bf64(b)),
    "_ext_f32_f64": lambda b: fb64(bf32(b)),
})
