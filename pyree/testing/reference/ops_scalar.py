"""Integer, constant, select/switch and integer-cast instructions (vm-isa.md 5.2, 5.4, 5.5,
5.8, 5.9, 5.10), as pure functions of their operand values.

:func:`pure` wraps a function of the read operands (in field order: i32/i64 as signed
ints, f32/f64 as bits, typed value lists as lists, immediates as decoded) into a handler
that writes its return value to the instruction's one result register.
"""

from __future__ import annotations

from pyree.status import StatusCode
from pyree.testing.reference import values as V
from pyree.testing.reference.machine import handler
from pyree.testing.reference.objects import trap


def pure(*mnemonics: str):
    def wrap(fn):
        def run(m, frame, ins, depth):
            operands = []
            out = None
            for f, a in zip(ins.op.fields, ins.args):
                if f.kind == "register":
                    if f.access == "write":
                        out = (f.type, a)
                    else:
                        operands.append(frame.get(f.type, a))
                elif f.kind == "variadic_operands":
                    operands.append([frame.get(f.type, o) for o in a])
                else:
                    operands.append(a)
            frame.set(out[0], out[1], fn(m, *operands))
        handler(*mnemonics)(run)
        return fn
    return wrap


# -- constants ----------------------------------------------------------------------------

@pure("const.i32.zero", "const.i64.zero", "const.f32.zero", "const.f64.zero")
def _zero(m):
    return 0


@pure("const.i32", "const.i64", "const.f32", "const.f64")
def _const(m, value):
    return value


# -- select / switch ----------------------------------------------------------------------

@pure("select.i32", "select.i64", "select.f32", "select.f64")
def _select(m, condition, true_value, false_value):
    return true_value if condition != 0 else false_value


@pure("switch.i32", "switch.i64", "switch.f32", "switch.f64")
def _switch(m, index, default, values):
    return values[index] if 0 <= index < len(values) else default


# -- integer arithmetic -------------------------------------------------------------------

def _binary(width: int, fn):
    wrap = V.s32 if width == 32 else V.s64

    def run(m, left, right):
        return wrap(fn(left, right, width))
    return run


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _div_checks(a: int, b: int, width: int, signed: bool) -> None:
    if b == 0:
        raise trap(StatusCode.INVALID_ARGUMENT, "integer division by zero")
    if signed and a == -(1 << (width - 1)) and b == -1:
        raise trap(StatusCode.INVALID_ARGUMENT, "integer overflow in division")


def _div_s(a, b, w):
    _div_checks(a, b, w, True)
    return _trunc_div(a, b)


def _div_u(a, b, w):
    _div_checks(a, b, w, False)
    mask = (1 << w) - 1
    return (a & mask) // (b & mask)


def _rem_s(a, b, w):
    _div_checks(a, b, w, True)
    return a - _trunc_div(a, b) * b


def _rem_u(a, b, w):
    _div_checks(a, b, w, False)
    mask = (1 << w) - 1
    return (a & mask) % (b & mask)


def _unsigned(w):
    return lambda x: x & ((1 << w) - 1)


_INT_BINARY = {
    "add": lambda a, b, w: a + b,
    "sub": lambda a, b, w: a - b,
    "mul": lambda a, b, w: a * b,
    "div.{}.s": _div_s, "div.{}.u": _div_u, "rem.{}.s": _rem_s, "rem.{}.u": _rem_u,
    "and": lambda a, b, w: a & b,
    "or": lambda a, b, w: a | b,
    "xor": lambda a, b, w: a ^ b,
    "min.{}.s": lambda a, b, w: min(a, b),
    "max.{}.s": lambda a, b, w: max(a, b),
    "min.{}.u": lambda a, b, w: b if _unsigned(w)(b) < _unsigned(w)(a) else a,
    "max.{}.u": lambda a, b, w: b if _unsigned(w)(a) < _unsigned(w)(b) else a,
    "shl": lambda a, b, w: a << (b & (w - 1)),
    "shr.{}.s": lambda a, b, w: a >> (b & (w - 1)),
    "shr.{}.u": lambda a, b, w: _unsigned(w)(a) >> (b & (w - 1)),
}

for _w, _t in ((32, "i32"), (64, "i64")):
    for _name, _fn in _INT_BINARY.items():
        _m = _name.format(_t) if "{}" in _name else f"{_name}.{_t}"
        pure(_m)(_binary(_w, _fn))


@pure("fma.i32")
def _fma32(m, a, b, c):
    return V.s32(a * b + c)


@pure("fma.i64")
def _fma64(m, a, b, c):
    return V.s64(a * b + c)


@pure("not.i32")
def _not32(m, x):
    return V.s32(~x)


@pure("not.i64")
def _not64(m, x):
    return V.s64(~x)


@pure("abs.i32")
def _abs32(m, x):
    return V.s32(abs(x))


@pure("abs.i64")
def _abs64(m, x):
    return V.s64(abs(x))


@pure("ctlz.i32")
def _ctlz32(m, x):
    return 32 - (x & V.M32).bit_length()


@pure("ctlz.i64")
def _ctlz64(m, x):
    return 64 - (x & V.M64).bit_length()


# -- integer width changes ----------------------------------------------------------------

@pure("trunc.i32.i8")
def _trunc8(m, x):
    return x & 0xFF


@pure("trunc.i32.i16")
def _trunc16(m, x):
    return x & 0xFFFF


@pure("trunc.i64.i32")
def _trunc32(m, x):
    return V.s32(x)


@pure("ext.i8.i32.s")
def _ext8s(m, x):
    return V.sext(x, 8)


@pure("ext.i8.i32.u")
def _ext8u(m, x):
    return x & 0xFF


@pure("ext.i16.i32.s")
def _ext16s(m, x):
    return V.sext(x, 16)


@pure("ext.i16.i32.u")
def _ext16u(m, x):
    return x & 0xFFFF


@pure("ext.i32.i64.s")
def _ext32s(m, x):
    return x


@pure("ext.i32.i64.u")
def _ext32u(m, x):
    return x & V.M32


# -- integer comparisons ------------------------------------------------------------------

for _w, _t in ((32, "i32"), (64, "i64")):
    _u = _unsigned(_w)
    pure(f"cmp.eq.{_t}")(lambda m, a, b: int(a == b))
    pure(f"cmp.ne.{_t}")(lambda m, a, b: int(a != b))
    pure(f"cmp.lt.{_t}.s")(lambda m, a, b: int(a < b))
    pure(f"cmp.lt.{_t}.u")(lambda m, a, b, _u=_u: int(_u(a) < _u(b)))
    pure(f"cmp.nz.{_t}")(lambda m, a: int(a != 0))
