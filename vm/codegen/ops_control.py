"""Control flow handlers: block, br, cond_br, br_table, return, fail, yield, break,
cond_break, trace, print."""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.vm.codegen.emit import emitter
from pyree.vm.codegen.module import _conv_out  # noqa: F401  (re-exported for ops_call)


@emitter("block")
def _block(t, ins):
    return []


@emitter("br", "break", "cond_break")
def _br(t, ins):
    target = ins.arg("dest_pc")
    return t.remap(ins.arg("operands")) + t.jump(target)


@emitter("cond_br")
def _cond_br(t, ins):
    cond = t.layout.r32(ins.arg("condition"))
    true_lines = t.remap(ins.arg("true_operands")) + t.jump(ins.arg("true_dest_pc"))
    false_lines = t.remap(ins.arg("false_operands")) + t.jump(ins.arg("false_dest_pc"))
    return [f"if {cond}:", "<indent>", *true_lines, "<dedent>", *false_lines]


@emitter("br_table")
def _br_table(t, ins):
    index = t.layout.r32(ins.arg("index"))
    out = [f"_t = {index}"]
    for k, (target, remap) in enumerate(ins.arg("cases")):
        out += [f"{'if' if k == 0 else 'elif'} _t == {k}:", "<indent>",
                *t.remap(remap), *t.jump(target), "<dedent>"]
    out += t.remap(ins.arg("default_operands")) + t.jump(ins.arg("default_dest_pc"))
    return out


@emitter("return")
def _return(t, ins):
    values = [t.layout.read(_bank(c), o) for c, o in zip(t.sig.result_chars, ins.args[0])]
    return [f"return ({', '.join(values)}{',' if len(values) == 1 else ''})"]


def _bank(c: str) -> str:
    return {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "r": "ref"}[c]


@emitter("fail")
def _fail(t, ins):
    status = t.layout.r32(ins.arg("status"))
    message = t.const(ins.arg("message").decode("utf-8", "replace"))
    out = [f"if {status}: _fail({status}, {message})"]
    return out + _fallthrough(t, ins)


def _fallthrough(t, ins):
    if ins.end in t.block_at:
        return t.jump(ins.end)
    return ["_ran_off_end()"]


@emitter("yield")
def _yield(t, ins):
    return t.remap(ins.arg("operands")) + ["yield None"] + t.jump(ins.arg("dest_pc"))


@emitter("trace", "print")
def _trace(t, ins):
    name = t.const(ins.arg("event_name").decode("utf-8", "replace"))
    regs = ins.arg("operands")
    values = [f"r{o & isa.REF_INDEX_MASK}" if o & isa.REF_BIT else t.layout.r32(o)
              for o in regs]
    kind = t.const(ins.op.mnemonic)
    out = [f"if inv.on_trace is not None: inv.on_trace({kind}, {name}, "
           f"({', '.join(values)}{',' if len(values) == 1 else ''}))"]
    for o in regs:
        if o & isa.REF_BIT and o & isa.MOVE_BIT:
            out.append(f"r{o & isa.REF_INDEX_MASK} = None")
    return out
