"""f32/f64 handlers (ext_f32 / ext_f64 sets): arithmetic, math, comparisons, casts.

The semantics live in ``floats.py``; these emitters only bind each instruction to its
helper. Float registers hold IEEE bits, so select/switch/const/globals/lists/buffers need
no float handling at all.
"""

from __future__ import annotations

from pyree.vm.codegen.emit import emitter, operands, write_result
from pyree.vm.codegen.floats import BINARY, UNARY

_SIGN = {32: "0x80000000", 64: "0x8000000000000000"}


def _width(m: str) -> int:
    return 64 if ".f64" in m else 32


def _base(m: str) -> str:
    return m.replace(".f32", "").replace(".f64", "")


@emitter(*[f"{n}.{t}" for n in BINARY for t in ("f32", "f64")])
def _binary(t, ins):
    a, b = operands(t, ins)
    w = _width(ins.op.mnemonic)
    return write_result(t, ins, f"_b{w}_{_base(ins.op.mnemonic)}({a}, {b})")


@emitter(*[f"{n.split('.')[0]}.{t}{n[len(n.split('.')[0]):]}"
           for n in UNARY for t in ("f32", "f64")])
def _unary(t, ins):
    (a,) = operands(t, ins)
    w = _width(ins.op.mnemonic)
    base = _base(ins.op.mnemonic)
    if base == "abs":
        return write_result(t, ins, f"{a} & {int(_SIGN[w], 16) - 1:#x}")
    if base == "neg":  # flip the sign bit of a signed bit pattern
        return write_result(t, ins, f"({a} - {_SIGN[w]} if {a} >= 0 else {a} + {_SIGN[w]})")
    return write_result(t, ins, f"_u{w}_{base.replace('.', '_')}({a})")


@emitter("fma.f32", "fma.f64")
def _fma(t, ins):
    return write_result(t, ins, f"_fma{_width(ins.op.mnemonic)}({', '.join(operands(t, ins))})")


@emitter(*[f"cmp.{c}.{t}.{o}" for c in ("eq", "ne", "lt", "lte") for t in ("f32", "f64")
           for o in ("o", "u")])
def _cmp(t, ins):
    _, c, ty, o = ins.op.mnemonic.split(".")
    a, b = operands(t, ins)
    return write_result(t, ins, f"_c{ty[1:]}_{c}_{o}({a}, {b})")


@emitter("cmp.nan.f32", "cmp.nan.f64")
def _cmp_nan(t, ins):
    (a,) = operands(t, ins)
    return write_result(t, ins, f"_c{_width(ins.op.mnemonic)}_nan({a})")


_CASTS = ["cast.f32.si32", "cast.f32.ui32", "cast.f64.si32", "cast.f64.ui32",
          "cast.f32.si64", "cast.f32.ui64", "cast.f64.si64", "cast.f64.ui64",
          "cast.si32.f32", "cast.ui32.f32", "cast.si64.f32", "cast.ui64.f32",
          "cast.si32.f64", "cast.ui32.f64", "cast.si64.f64", "cast.ui64.f64",
          "trunc.f64.f32", "ext.f32.f64"]


@emitter(*_CASTS)
def _cast(t, ins):
    (a,) = operands(t, ins)
    return write_result(t, ins, f"_{ins.op.mnemonic.replace('.', '_')}({a})")


@emitter("bitcast.i32.f32", "bitcast.f32.i32", "bitcast.i64.f64", "bitcast.f64.i64")
def _bitcast(t, ins):
    (a,) = operands(t, ins)
    return write_result(t, ins, a)
