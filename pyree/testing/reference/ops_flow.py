"""Ref operations, control flow, calls, failure and debugging (vm-isa.md 5.12 - 5.17)."""

from __future__ import annotations

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa
from pyree.status import StatusCode as S
from pyree.testing.reference import values as V
from pyree.testing.reference.machine import Export, Return, handler
from pyree.testing.reference.objects import Trap, trap, type_accepts

IMPORT_BIT = 0x80000000

# -- refs ---------------------------------------------------------------------------------


@handler("const.ref.zero")
def _ref_zero(m, frame, ins, depth):
    frame.set("ref", ins.args[0], None)


@handler("assign.ref")
def _assign(m, frame, ins, depth):
    source, result = ins.args
    if (source ^ result) & isa.REF_INDEX_MASK == 0:
        return  # moving a register onto itself is a no-op
    frame.set("ref", result, frame.take_ref(source))


@handler("cast.any.ref")
def _cast(m, frame, ins, depth):
    operand, type_id, result = ins.args
    if not type_accepts(m.types[type_id], frame.get("ref", operand)):
        raise trap(S.INVALID_ARGUMENT, "source ref type mismatch")
    if (operand ^ result) & isa.REF_INDEX_MASK == 0:
        return
    frame.set("ref", result, frame.take_ref(operand))


@handler("select.ref")
def _select_ref(m, frame, ins, depth):
    condition, type_id, true_value, false_value, result = ins.args
    chosen, other = (true_value, false_value) if frame.get("i32", condition) else \
        (false_value, true_value)
    if not type_accepts(m.types[type_id], frame.get("ref", chosen)):
        raise trap(S.INVALID_ARGUMENT, "source ref type mismatch")
    obj = frame.get("ref", chosen)
    if chosen & isa.MOVE_BIT:
        frame.set("ref", chosen, None)
    if other & isa.MOVE_BIT and (other ^ result) & isa.REF_INDEX_MASK:
        frame.set("ref", other, None)
    frame.set("ref", result, obj)


@handler("switch.ref")
def _switch_ref(m, frame, ins, depth):
    index, type_id, default, values, result = ins.args
    i = frame.get("i32", index)
    chosen = values[i] if 0 <= i < len(values) else default
    if not type_accepts(m.types[type_id], frame.get("ref", chosen)):
        raise trap(S.INVALID_ARGUMENT, "source ref type mismatch")
    frame.set("ref", result, frame.take_ref(chosen))


@handler("cmp.eq.ref")
def _cmp_eq_ref(m, frame, ins, depth):
    a, b, result = ins.args
    frame.set("i32", result, int(frame.get("ref", a) is frame.get("ref", b)))


@handler("cmp.ne.ref")
def _cmp_ne_ref(m, frame, ins, depth):
    a, b, result = ins.args
    frame.set("i32", result, int(frame.get("ref", a) is not frame.get("ref", b)))


@handler("cmp.nz.ref")
def _cmp_nz_ref(m, frame, ins, depth):
    a, result = ins.args
    frame.set("i32", result, int(frame.get("ref", a) is not None))


@handler("discard.refs")
def _discard(m, frame, ins, depth):
    for ordinal in ins.args[0]:
        frame.set("ref", ordinal, None)


# -- control flow -------------------------------------------------------------------------

def remap(frame, pairs) -> None:
    """Sequential copies: one i32 slot or one ref per pair (vm-isa.md 5.13)."""
    for src, dst in pairs:
        if src & isa.REF_BIT:
            if (src ^ dst) & isa.REF_INDEX_MASK == 0:
                continue
            frame.set("ref", dst, frame.take_ref(src))
        else:
            frame.set("i32", dst, frame.get("i32", src))


@handler("block")
def _block(m, frame, ins, depth):
    return None


@handler("br")
def _br(m, frame, ins, depth):
    target, pairs = ins.args
    remap(frame, pairs)
    return target + 1


@handler("cond_br")
def _cond_br(m, frame, ins, depth):
    condition, t, t_pairs, f, f_pairs = ins.args
    if frame.get("i32", condition) != 0:
        remap(frame, t_pairs)
        return t + 1
    remap(frame, f_pairs)
    return f + 1


@handler("br_table")
def _br_table(m, frame, ins, depth):
    index, default, default_pairs, size, cases = ins.args
    i = frame.get("i32", index)
    target, pairs = cases[i] if 0 <= i < size else (default, default_pairs)
    remap(frame, pairs)
    return target + 1


@handler("yield")
def _yield(m, frame, ins, depth):
    # The host's synchronous invoke resumes at once (vm-runtime.md 9.2).
    target, pairs = ins.args
    remap(frame, pairs)
    return target + 1


@handler("cond_break")
def _cond_break(m, frame, ins, depth):
    _, target, pairs = ins.args
    remap(frame, pairs)
    return target + 1


@handler("break")
def _break(m, frame, ins, depth):
    target, pairs = ins.args
    remap(frame, pairs)
    return target  # lands on the Block marker itself


@handler("fail")
def _fail(m, frame, ins, depth):
    status_reg, message = ins.args
    status = frame.get("i32", status_reg)
    if status != 0:
        raise Trap({status & 0x1F}, message.decode("utf-8", "replace"))


@handler("trace", "print")
def _trace(m, frame, ins, depth):
    for ordinal in ins.args[1]:
        if ordinal & isa.REF_BIT and ordinal & isa.MOVE_BIT:
            frame.set("ref", ordinal, None)


@handler("return")
def _return(m, frame, ins, depth):
    out = []
    for c, ordinal in zip(frame.fn.sig.result_chars, ins.args[0]):
        out.append(frame.take_ref(ordinal) if c == "r" else frame.get(cc.CHAR_BANK[c], ordinal))
    return Return(out)


# -- calls --------------------------------------------------------------------------------

@handler("import.resolved")
def _import_resolved(m, frame, ins, depth):
    ordinal, result = ins.args
    frame.set("i32", result, int(m.imports[ordinal & ~IMPORT_BIT] is not None))


def _call(m, frame, ins, depth):
    f = {fld.name: a for fld, a in zip(ins.op.fields, ins.args)}
    callee, operands, results = f["callee_ordinal"], f["operands"], f["results"]
    if callee & IMPORT_BIT:
        k = callee & ~IMPORT_BIT
        sig = cc.parse(m.module.imports[k].cconv)
        raw = isinstance(m.imports[k], Export)  # bytecode export: bits, not host values
        args = _import_args(frame, sig, operands, f.get("segment_sizes"), raw)
        values = m.call_import(k, args, depth)
    else:
        fn = m.functions[callee]
        sig = fn.sig
        args = [frame.take_ref(o) if c == "r" else frame.get(cc.CHAR_BANK[c], o)
                for c, o in zip(sig.arg_chars, operands)]
        values = m.invoke(fn, args, depth + 1)
    for c, ordinal, value in zip(sig.result_chars, results, values):
        frame.set(cc.CHAR_BANK[c], ordinal, value)
    if "dest_pc" in f:
        return f["dest_pc"] + 1
    return None


def _host_value(frame, c: str, ordinal: int, raw: bool = False):
    if c == "r":
        return frame.take_ref(ordinal)
    value = frame.get(cc.CHAR_BANK[c], ordinal)
    if raw:
        return value
    if c == "f":
        return float(V.f32(value))
    if c == "F":
        return float(V.f64(value))
    return value


def _import_args(frame, sig, operands, segment_sizes, raw: bool = False) -> list:
    out, pos = [], 0
    for i, element in enumerate(sig.args):
        if isinstance(element, cc.Span):
            count = segment_sizes[i] if segment_sizes is not None and i < len(segment_sizes) \
                else 0
            items = []
            for _ in range(count):
                tup = []
                for c in element.elements:
                    tup.append(_host_value(frame, c, operands[pos], raw))
                    pos += 1
                items.append(tup[0] if len(tup) == 1 else tuple(tup))
            out.append(items)
        else:
            out.append(_host_value(frame, element, operands[pos], raw))
            pos += 1
    return out


handler("call", "call.variadic", "call.yieldable", "call.variadic.yieldable")(_call)
