"""Floating-point instructions (vm-isa.md 5.6, 5.7, 5.9, 5.10) on numpy scalars.

binary32 operations use ``numpy.float32`` arithmetic (one rounding per operation), the
libm functions call the C library through :mod:`ctypes` (``sinf`` for f32, ``sin`` for
f64), as the ISA reference says they are defined. Results whose NaN payload is
unspecified go through the machine's NaN policy (``m.nan``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from pyree.testing.reference import values as V
from pyree.testing.reference.ops_scalar import pure

_TYPES = {
    "f32": (V.f32, V.bits32, np.float32, "r32", V.is_nan32, 0x80000000, 1 << 23),
    "f64": (V.f64, V.bits64, np.float64, "r64", V.is_nan64, 1 << 63, 1 << 52),
}


def _arith(t: str, fn):
    to, back, _, policy, _, _, _ = _TYPES[t]

    def run(m, *bits):
        return getattr(m.nan, policy)(back(fn(*(to(b) for b in bits))))
    return run


def _rem(x, y):
    fx, fy = float(x), float(y)
    if math.isnan(fx) or math.isnan(fy):
        return x + y  # NaN propagation as the hardware does it
    if fy == 0 or math.isinf(fx):
        return type(x)(math.nan)
    if math.isinf(fy):
        return x
    return type(x)(math.remainder(fx, fy))  # exact: the remainder is representable


def _round_away(x):
    fx = float(x)
    if math.isnan(fx) or math.isinf(fx) or fx == 0:
        return x + type(x)(0) if math.isnan(fx) else x
    r = V.round_half_away(fx)
    return type(x)(math.copysign(float(r), fx))


def _round_even(x):
    fx = float(x)
    if math.isnan(fx) or math.isinf(fx) or fx == 0:
        return x + type(x)(0) if math.isnan(fx) else x
    t = math.trunc(fx)
    if abs(fx - t) == 0.5:  # a tie: the even neighbour; a zero result is +0.0
        r = t if t % 2 == 0 else t + (1 if fx > 0 else -1)
        return type(x)(float(r))
    return _round_away(x)


for _t in ("f32", "f64"):
    _to, _back, _np, _pol, _isnan, _sign, _ = _TYPES[_t]
    for _name, _fn in {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "rem": _rem,
        "fma": lambda a, b, c: (a * b) + c,  # unfused: the product is rounded first
        "ceil": np.ceil, "floor": np.floor, "sqrt": np.sqrt,
        "round": _round_away, f"round.{_t}.even": _round_even,
    }.items():
        _m = _name if _name.endswith(".even") else f"{_name}.{_t}"
        pure(_m)(_arith(_t, _fn))

    pure(f"abs.{_t}")(lambda m, x, _s=_sign: x & ~_s)
    pure(f"neg.{_t}")(lambda m, x, _s=_sign: x ^ _s)
    pure(f"min.{_t}")(lambda m, a, b, _to=_to: b if _to(b) < _to(a) else a)
    pure(f"max.{_t}")(lambda m, a, b, _to=_to: b if _to(a) < _to(b) else a)

    def _cmp(fn, unordered, _to=_to, _isnan=_isnan):
        def run(m, a, b):
            if unordered and (_isnan(a) or _isnan(b)):
                return 1
            return int(bool(fn(_to(a), _to(b))))
        return run

    pure(f"cmp.eq.{_t}.o")(_cmp(lambda a, b: a == b, False))
    pure(f"cmp.eq.{_t}.u")(_cmp(lambda a, b: a == b, True))
    pure(f"cmp.ne.{_t}.o")(_cmp(lambda a, b: a != b, False))  # C !=: true for NaN
    pure(f"cmp.ne.{_t}.u")(_cmp(lambda a, b: a != b, True))
    pure(f"cmp.lt.{_t}.o")(_cmp(lambda a, b: a < b, False))
    pure(f"cmp.lt.{_t}.u")(_cmp(lambda a, b: a < b, True))
    pure(f"cmp.lte.{_t}.o")(_cmp(lambda a, b: a <= b, False))
    pure(f"cmp.lte.{_t}.u")(_cmp(lambda a, b: a <= b, True))
    pure(f"cmp.nan.{_t}")(lambda m, a, _isnan=_isnan: int(_isnan(a)))

# -- conversions --------------------------------------------------------------------------

pure("bitcast.i32.f32", "bitcast.f32.i32")(lambda m, x: x)
pure("bitcast.i64.f64", "bitcast.f64.i64")(lambda m, x: x)
pure("cast.si32.f32")(lambda m, x: V.int_to_f32_bits(x))
pure("cast.ui32.f32")(lambda m, x: V.int_to_f32_bits(x & V.M32))
pure("cast.si64.f32")(lambda m, x: V.int_to_f32_bits(x))
pure("cast.ui64.f32")(lambda m, x: V.int_to_f32_bits(x & V.M64))
pure("cast.si32.f64")(lambda m, x: V.int_to_f64_bits(x))
pure("cast.ui32.f64")(lambda m, x: V.int_to_f64_bits(x & V.M32))
pure("cast.si64.f64")(lambda m, x: V.int_to_f64_bits(x))
pure("cast.ui64.f64")(lambda m, x: V.int_to_f64_bits(x & V.M64))
pure("cast.f32.si32", "cast.f32.ui32")(lambda m, x: V.f32_to_i32(x))
pure("cast.f32.si64")(lambda m, x: V.f32_to_si64(x))
pure("cast.f32.ui64")(lambda m, x: V.f32_to_ui64(x))
pure("cast.f64.si32", "cast.f64.ui32")(lambda m, x: V.f64_to_i32(x))
pure("cast.f64.si64")(lambda m, x: V.f64_to_si64(x))
pure("cast.f64.ui64")(lambda m, x: V.f64_to_ui64(x))
pure("trunc.f64.f32")(lambda m, x: m.nan.r32(V.f64_to_f32_bits(x)))
pure("ext.f32.f64")(lambda m, x: m.nan.r64(V.bits64(np.float64(V.f32(x)))))

# -- libm (vm-isa.md 5.7) -----------------------------------------------------------------

_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_UNARY = ("atan", "cos", "sin", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2",
          "sqrt", "tanh", "erf")
_BINARY = ("atan2", "pow")


def _libm(name: str, c_type, arity: int):
    fn = getattr(_LIBM, name)
    fn.restype = c_type
    fn.argtypes = [c_type] * arity
    return fn


def _nudged(t: str, run):
    """A libm handler whose result moves ``m.libm_ulps`` ulps (the machine's libm
    perturbation, see :class:`~.machine.Machine`); NaN, infinities and results that would
    cross into them stay put."""
    wide = t == "f64"

    def nudged(m, *bits):
        r = run(m, *bits)
        m.libm_calls += 1
        return V.step_ulps(r, m.libm_ulps, wide) if m.libm_ulps else r
    return nudged


for _t, _c, _suffix in (("f32", ctypes.c_float, "f"), ("f64", ctypes.c_double, "")):
    _to, _back = _TYPES[_t][0], _TYPES[_t][1]
    _np = _TYPES[_t][2]
    for _name in _UNARY + _BINARY:
        _f = _libm(_name + _suffix, _c, 2 if _name in _BINARY else 1)
        if _name == "sqrt":
            # rsqrt: 1 / sqrt(x), a division of two correctly rounded values.
            pure(f"rsqrt.{_t}")(_nudged(_t, _arith(_t, lambda x, _np=_np: _np(1) / np.sqrt(x))))
            continue
        pure(f"{_name}.{_t}")(_nudged(_t, _arith(
            _t, lambda *a, _f=_f, _np=_np: _np(_f(*map(float, a))))))
