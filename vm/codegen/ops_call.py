"""Call handlers: call, call.variadic, call.yieldable, call.variadic.yieldable,
import.resolved.

Internal callees are the translated ``_f{k}`` of the same module instance and take
internal bit patterns. Imports are bound per context to ``_i{k}`` (plain calls: always
returns a result tuple, driving a suspending callee to completion or failing) and
``_iy{k}`` (yieldable calls: may return a generator, which is delegated to with
``yield from``); both speak the cross-module ABI, so arguments and results are converted.
Spans of variadic calls are passed as Python lists (of tuples when the span has more than
one element).
"""

from __future__ import annotations

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa
from pyree.vm.codegen.emit import emitter
from pyree.vm.codegen.module import _conv_in, _conv_out


def _read(t, c, ordinal):
    return t.layout.read(cc.CHAR_BANK[c], ordinal)


def _abi_value(t, c, ordinal) -> str:
    """The ABI value of a register operand: ``_conv_out`` of it, except that an integer
    local only constants write is passed as is (it holds an int, never a bool)."""
    expr = _read(t, c, ordinal)
    if c in "iI" and expr in t.int_locals:
        return expr
    return _conv_out(c, expr)


def _import_args(t, sig: cc.CConv, operands, segment_sizes) -> list[str]:
    out = []
    pos = 0
    for i, element in enumerate(sig.args):
        if isinstance(element, cc.Span):
            count = segment_sizes[i] if segment_sizes is not None and i < len(segment_sizes) else 0
            items = []
            for _ in range(count):
                tup = []
                for c in element.elements:
                    tup.append(_abi_value(t, c, operands[pos]))
                    pos += 1
                items.append(tup[0] if len(tup) == 1 else "(" + ", ".join(tup) + ",)")
            out.append("[" + ", ".join(items) + "]")
        else:
            out.append(_abi_value(t, element, operands[pos]))
            pos += 1
    return out


def _emit_call(t, ins, *, yieldable: bool, variadic: bool):
    callee = ins.arg("callee_ordinal")
    operands = ins.arg("operands")
    results = ins.arg("results")
    sig = t.unit.callee_cconv(callee)
    is_import = bool(callee & 0x80000000)
    out = []
    if is_import and (callee & 0x7FFFFFFF) in t.unit.direct:
        return _emit_direct(t, ins, sig, callee & 0x7FFFFFFF, yieldable=yieldable,
                            variadic=variadic)
    if is_import:
        k = callee & 0x7FFFFFFF
        segments = ins.arg("segment_sizes") if variadic else None
        args = ", ".join(["inv", "d + 1"] + _import_args(t, sig, operands, segments))
        fn = f"_iy{k}" if yieldable else f"_i{k}"
        # try costs nothing until an exception (3.11+); the annotation is IREE's.
        out += ["try:", "<indent>", f"_r = {fn}({args})"]
        if yieldable:
            out.append("if _r.__class__ is _GenType: _r = yield from _r")
        out += ["<dedent>", "except _PyreeError as _e:", "<indent>",
                "raise _e.annotate('while calling import')", "<dedent>"]
    else:
        # A moved ref is taken out of the caller's register while the argument is built
        # ((value, reg := None)[0]), so the callee holds the only reference.
        args = ", ".join(["inv", "d + 1"] + [
            f"(r{o & isa.REF_INDEX_MASK}, r{o & isa.REF_INDEX_MASK} := None)[0]"
            if c == "r" and o & isa.MOVE_BIT else _read(t, c, o)
            for c, o in zip(sig.arg_chars, operands)])
        call = f"_f{callee}({args})"
        if callee in t.unit.generators:
            call = f"(yield from {call})" if yieldable else f"_drive({call})"
        out.append(f"_r = {call}")
    if is_import:
        for o in operands:
            if o & isa.REF_BIT and o & isa.MOVE_BIT:
                out.append(f"r{o & isa.REF_INDEX_MASK} = None")
    for i, (c, o) in enumerate(zip(sig.result_chars, results)):
        value = f"_r[{i}]"
        if is_import:
            value = _conv_in(c, value)
        out += t.layout.write(cc.CHAR_BANK[c], o, value)
    if "r" in sig.result_chars:
        out.append("_r = None")  # the result tuple must not keep refs alive
    if yieldable:
        out += t.jump(ins.arg("dest_pc"))
    return out


# The result checks of a direct call inlined for the common shapes (what the adapter's
# ``_result_checker`` does first); anything else goes through ``_ic{k}``, the adapter's check.
_DIRECT_CHECKS = {
    "": "if _v is not None: _ic{k}(_v)",
    "r": "if _v is not None and _v.__class__ not in _ref_classes: _v = _ic{k}(_v)[0]",
    "i": "if _v.__class__ is not int or not -2147483648 <= _v <= 2147483647: "
         "_v = _ic{k}(_v)[0]",
    "I": "if _v.__class__ is not int or not -9223372036854775808 <= _v <= "
         "9223372036854775807: _v = _ic{k}(_v)[0]",
}


def _emit_direct(t, ins, sig: cc.CConv, k: int, *, yieldable: bool, variadic: bool):
    """An import bound to a plain native export: ``fn(module, state, *args)`` called here,
    with the adapter's error annotation (``_ie{k}``) and result check (``_ic{k}``). A plain
    export never suspends, so a yieldable call just continues."""
    segments = ins.arg("segment_sizes") if variadic else None
    args = ", ".join([f"_im{k}", f"_is{k}"]
                     + _import_args(t, sig, ins.arg("operands"), segments))
    chars = sig.result_chars
    moved = [f"r{o & isa.REF_INDEX_MASK} = None" for o in ins.arg("operands")
             if o & isa.REF_BIT and o & isa.MOVE_BIT]
    target = t.layout.write("ref", ins.arg("results")[0], "_v") if chars == "r" else None
    reg = "_v"
    if target is not None and len(target) == 1 and \
            target[0].split(" = ")[0] + " = None" not in moved:
        # One ref result into a register no moved operand clears: the call writes the
        # register itself and the check reads it there (no temporary to drop).
        reg = target[0].split(" = ")[0]
    out = ["try:", "<indent>", f"{reg} = _id{k}({args})", "<dedent>",
           "except Exception as _e:", "<indent>", f"raise _ie{k}(_e)", "<dedent>", *moved]
    check = _DIRECT_CHECKS.get(chars)
    if reg != "_v":
        out.append(check.replace("_v", reg).format(k=k))
        values, chars = [], ""      # written and checked in place
    elif check is not None:
        out.append(check.format(k=k))
        values = ["_v"] if chars else []
    else:
        out.append(f"_v = _ic{k}(_v)")
        values = [f"_v[{i}]" for i in range(len(chars))]
    for c, o, value in zip(chars, ins.arg("results"), values):
        out += t.layout.write(cc.CHAR_BANK[c], o, _conv_in(c, value))
    if "r" in chars:
        out.append("_v = None")  # the result must not keep refs alive
    if yieldable:   # a plain export never suspends: this call does not make a generator
        out += t.jump(ins.arg("dest_pc"))
    return out


@emitter("call")
def _call(t, ins):
    return _emit_call(t, ins, yieldable=False, variadic=False)


@emitter("call.variadic")
def _call_variadic(t, ins):
    return _emit_call(t, ins, yieldable=False, variadic=True)


@emitter("call.yieldable")
def _call_yieldable(t, ins):
    return _emit_call(t, ins, yieldable=True, variadic=False)


@emitter("call.variadic.yieldable")
def _call_variadic_yieldable(t, ins):
    return _emit_call(t, ins, yieldable=True, variadic=True)


@emitter("import.resolved")
def _import_resolved(t, ins):
    k = ins.arg("import_ordinal") & 0x7FFFFFFF
    return t.layout.write("i32", ins.arg("result"), f"_ir{k}")
