"""List handlers: the VM side of ``vm.list.*`` (the list object lives in ``vm/list.py``).

Values cross as signed bit patterns, the registers' own representation.
"""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.vm.codegen.emit import emitter, write_result

def _list(t, ins) -> str:
    return f"_check_list(r{ins.arg('list') & isa.REF_INDEX_MASK})"


@emitter("list.alloc")
def _alloc(t, ins):
    cap = t.layout.r32(ins.arg("initial_capacity"))
    # The operand names the element type ("!vm.list<...>" is the vm.list ref type itself).
    return write_result(t, ins, f"_VmList(_LT{ins.arg('element_type')}, {cap})")


@emitter("list.reserve")
def _reserve(t, ins):
    return [f"{_list(t, ins)}.reserve({t.layout.r32(ins.arg('minimum_capacity'))})"]


@emitter("list.size")
def _size(t, ins):
    return write_result(t, ins, f"{_list(t, ins)}.size")


@emitter("list.resize")
def _resize(t, ins):
    return [f"{_list(t, ins)}.resize({t.layout.r32(ins.arg('new_size'))})"]


@emitter("list.get.i32", "list.get.i64", "list.get.f32", "list.get.f64")
def _get(t, ins):
    kind = ins.op.mnemonic.rsplit(".", 1)[1]
    index = t.layout.r32(ins.arg("index"))
    return write_result(t, ins, f"{_list(t, ins)}.get_{kind}({index})")


@emitter("list.set.i32", "list.set.i64", "list.set.f32", "list.set.f64")
def _set(t, ins):
    kind = ins.op.mnemonic.rsplit(".", 1)[1]
    index = t.layout.r32(ins.arg("index"))
    value = t.layout.read(kind, ins.arg("value"))
    return [f"{_list(t, ins)}.set_{kind}({index}, {value})"]


@emitter("list.get.ref")
def _get_ref(t, ins):
    index = t.layout.r32(ins.arg("index"))
    dst = ins.arg("result")
    move = "True" if dst & isa.MOVE_BIT else "False"
    return [f"r{dst & isa.REF_INDEX_MASK} = {_list(t, ins)}.get_ref({index}, "
            f"_RT{ins.arg('type_def')}, {move})"]


@emitter("list.set.ref")
def _set_ref(t, ins):
    index = t.layout.r32(ins.arg("index"))
    src = ins.arg("value")
    out = [f"{_list(t, ins)}.set_ref({index}, r{src & isa.REF_INDEX_MASK})"]
    if src & isa.MOVE_BIT:
        out.append(f"r{src & isa.REF_INDEX_MASK} = None")
    return out
