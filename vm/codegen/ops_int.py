"""Integer arithmetic, bitwise, shift, comparison and width-change handlers.

Registers hold unsigned bit patterns (u32 in a slot, u64 in a pair); signed views are
taken by flipping the sign bit (``x ^ 0x80000000`` orders like ``s32(x)``).
"""

from __future__ import annotations

from pyree.vm.codegen.emit import emitter, operands, write_result

M = {32: "0xFFFFFFFF", 64: "0xFFFFFFFFFFFFFFFF"}
SIGN = {32: "0x80000000", 64: "0x8000000000000000"}


def _w(mnemonic: str) -> int:
    return 64 if ".i64" in mnemonic else 32


def _simple(template_by_name):
    def emit(t, ins):
        w = _w(ins.op.mnemonic)
        ops = operands(t, ins)
        base = ins.op.mnemonic.replace(".i32", "").replace(".i64", "")
        expr = template_by_name[base].format(*ops, M=M[w], S=SIGN[w], W=w, W1=w - 1)
        return write_result(t, ins, expr)
    return emit


_BINARY = {
    "add": "({0} + {1}) & {M}",
    "sub": "({0} - {1}) & {M}",
    "mul": "({0} * {1}) & {M}",
    "fma": "({0} * {1} + {2}) & {M}",
    "and": "{0} & {1}",
    "or": "{0} | {1}",
    "xor": "{0} ^ {1}",
    "not": "{0} ^ {M}",
    "shl": "({0} << ({1} & {W1})) & {M}",
    "shr.s": "((({0} ^ {S}) - {S}) >> ({1} & {W1})) & {M}",
    "shr.u": "{0} >> ({1} & {W1})",
    "abs": "abs(({0} ^ {S}) - {S}) & {M}",
    "min.s": "({1} if ({1} ^ {S}) < ({0} ^ {S}) else {0})",
    "min.u": "({1} if {1} < {0} else {0})",
    "max.s": "({1} if ({0} ^ {S}) < ({1} ^ {S}) else {0})",
    "max.u": "({1} if {0} < {1} else {0})",
    "cmp.eq": "{0} == {1}",
    "cmp.ne": "{0} != {1}",
    "cmp.lt.s": "({0} ^ {S}) < ({1} ^ {S})",
    "cmp.lt.u": "{0} < {1}",
    "cmp.nz": "{0} != 0",
    "ctlz": "{W} - {0}.bit_length()",
    "div.s": "_sdiv{W}({0}, {1})",
    "rem.s": "_srem{W}({0}, {1})",
    "div.u": "_udiv({0}, {1})",
    "rem.u": "_urem({0}, {1})",
}



def _typed(name: str, t: str) -> str:
    """``cmp.lt.s`` + ``i32`` -> ``cmp.lt.i32.s``; ``add`` -> ``add.i32``."""
    if name.endswith((".s", ".u")):
        return f"{name[:-2]}.{t}{name[-2:]}"
    return f"{name}.{t}"


emitter(*[_typed(name, t) for name in _BINARY for t in ("i32", "i64")])(_simple(_BINARY))

_WIDTH = {
    "trunc.i32.i8": "{0} & 0xFF",
    "trunc.i32.i16": "{0} & 0xFFFF",
    "trunc.i64.i32": "{0} & 0xFFFFFFFF",
    "ext.i8.i32.s": "((({0} & 0xFF) ^ 0x80) - 0x80) & 0xFFFFFFFF",
    "ext.i8.i32.u": "{0} & 0xFF",
    "ext.i16.i32.s": "((({0} & 0xFFFF) ^ 0x8000) - 0x8000) & 0xFFFFFFFF",
    "ext.i16.i32.u": "{0} & 0xFFFF",
    "ext.i32.i64.s": "(({0} ^ 0x80000000) - 0x80000000) & 0xFFFFFFFFFFFFFFFF",
    "ext.i32.i64.u": "{0}",
}


@emitter(*_WIDTH)
def _width(t, ins):
    return write_result(t, ins, _WIDTH[ins.op.mnemonic].format(*operands(t, ins)))


@emitter("const.i32.zero", "const.i64.zero", "const.f32.zero", "const.f64.zero")
def _const_zero(t, ins):
    return write_result(t, ins, "0")


@emitter("const.i32", "const.f32")
def _const32(t, ins):
    return write_result(t, ins, str(ins.args[0] & 0xFFFFFFFF))


@emitter("const.i64", "const.f64")
def _const64(t, ins):
    return write_result(t, ins, str(ins.args[0] & 0xFFFFFFFFFFFFFFFF))


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
    return write_result(t, ins, f"({table}[{index}] if {index} < {len(values)} else {default})")
