"""Integer arithmetic, bitwise, shift, comparison and width-change handlers.

Registers hold signed values (s32 in a slot, s64 in a pair, see ``regs.py``). Results
that can leave the width's range are written with :meth:`Layout.write_wrapped`; Python's
``& | ^ ~ >>`` on in-range signed ints already give in-range two's-complement results.
Unsigned views mask with ``& 0xFFFFFFFF`` (or the 64-bit mask).
"""

from __future__ import annotations

from pyree.vm.codegen.emit import emitter, operands, result_field, write_result

M = {32: "0xFFFFFFFF", 64: "0xFFFFFFFFFFFFFFFF"}


def _w(mnemonic: str) -> int:
    return 64 if ".i64" in mnemonic else 32


def _typed(name: str, t: str) -> str:
    """``cmp.lt.s`` + ``i32`` -> ``cmp.lt.i32.s``; ``add`` -> ``add.i32``."""
    if name.endswith((".s", ".u")):
        return f"{name[:-2]}.{t}{name[-2:]}"
    return f"{name}.{t}"


def _base(mnemonic: str) -> str:
    return mnemonic.replace(".i32", "").replace(".i64", "")


#: Results that may overflow the width: written wrapped.
_WRAPPING = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "fma": "{0} * {1} + {2}",
    "shl": "{0} << ({1} & {W1})",
    "shr.u": "({0} & {M}) >> ({1} & {W1})",
    "abs": "abs({0})",
    "div.u": "_udiv({0} & {M}, {1} & {M})",
    "rem.u": "_urem({0} & {M}, {1} & {M})",
}

#: Results always in range.
_EXACT = {
    "and": "{0} & {1}",
    "or": "{0} | {1}",
    "xor": "{0} ^ {1}",
    "not": "~{0}",
    "shr.s": "{0} >> ({1} & {W1})",
    "min.s": "({1} if {1} < {0} else {0})",
    "min.u": "({1} if ({1} & {M}) < ({0} & {M}) else {0})",
    "max.s": "({1} if {0} < {1} else {0})",
    "max.u": "({1} if ({0} & {M}) < ({1} & {M}) else {0})",
    "cmp.eq": "{0} == {1}",
    "cmp.ne": "{0} != {1}",
    "cmp.lt.s": "{0} < {1}",
    "cmp.lt.u": "({0} & {M}) < ({1} & {M})",
    "cmp.nz": "{0} != 0",
    "ctlz": "{W} - ({0} & {M}).bit_length()",
    "div.s": "_sdiv{W}({0}, {1})",
    "rem.s": "_srem{W}({0}, {1})",
}


def _format(template: str, ins, ops) -> str:
    w = _w(ins.op.mnemonic)
    return template.format(*ops, M=M[w], W=w, W1=w - 1)


@emitter(*[_typed(n, t) for n in _WRAPPING for t in ("i32", "i64")])
def _wrapping(t, ins):
    expr = _format(_WRAPPING[_base(ins.op.mnemonic)], ins, operands(t, ins))
    f, a = result_field(ins)
    return t.layout.write_wrapped(f.type, a, expr)


@emitter(*[_typed(n, t) for n in _EXACT for t in ("i32", "i64")])
def _exact(t, ins):
    return write_result(t, ins, _format(_EXACT[_base(ins.op.mnemonic)], ins,
                                        operands(t, ins)))


_WIDTH = {
    "trunc.i32.i8": "{0} & 0xFF",
    "trunc.i32.i16": "{0} & 0xFFFF",
    "trunc.i64.i32": "((({0} & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)",
    "ext.i8.i32.s": "((({0} & 0xFF) ^ 0x80) - 0x80)",
    "ext.i8.i32.u": "{0} & 0xFF",
    "ext.i16.i32.s": "((({0} & 0xFFFF) ^ 0x8000) - 0x8000)",
    "ext.i16.i32.u": "{0} & 0xFFFF",
    "ext.i32.i64.s": "{0}",
    "ext.i32.i64.u": "{0} & 0xFFFFFFFF",
}


@emitter(*_WIDTH)
def _width(t, ins):
    return write_result(t, ins, _WIDTH[ins.op.mnemonic].format(*operands(t, ins)))


@emitter("const.i32.zero", "const.i64.zero", "const.f32.zero", "const.f64.zero")
def _const_zero(t, ins):
    return write_result(t, ins, "0")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@emitter("const.i32", "const.f32")
def _const32(t, ins):
    return write_result(t, ins, str(_signed(ins.args[0], 32)))


@emitter("const.i64", "const.f64")
def _const64(t, ins):
    return write_result(t, ins, str(_signed(ins.args[0], 64)))


@emitter("select.i32", "select.i64", "select.f32", "select.f64")
def _select(t, ins):
    c, a, b = operands(t, ins)
    return write_result(t, ins, f"({a} if {c} else {b})")


@emitter("switch.i32", "switch.i64", "switch.f32", "switch.f64")
def _switch(t, ins):
    index, default = operands(t, ins)
    field = ins.op.field("values")
    values = [t.layout.read(field.type, o) for o in ins.arg("values")]
    if not values:
        return write_result(t, ins, default)
    table = "(" + ", ".join(values) + ",)"
    return write_result(
        t, ins, f"({table}[{index}] if 0 <= {index} < {len(values)} else {default})")
