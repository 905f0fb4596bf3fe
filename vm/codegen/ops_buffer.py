"""``vm.buffer.*`` handlers; the checks and data movement live in ``vm/buffer_ops.py``.

Offsets and lengths are s64 register values read as u64 by the checks (negative values
are simply out of range); loads return signed values, the registers' representation.
"""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.vm.codegen.emit import emitter, operands, write_result


def _r(ordinal: int) -> str:
    return f"r{ordinal & isa.REF_INDEX_MASK}"


@emitter("buffer.load.i8.u", "buffer.load.i8.s", "buffer.load.i16.u", "buffer.load.i16.s",
         "buffer.load.i32", "buffer.load.i64", "buffer.load.f32", "buffer.load.f64")
def _load(t, ins):
    kind = ins.op.mnemonic[len("buffer.load."):]
    buf, offset = operands(t, ins)
    return write_result(t, ins, f"_bld_{kind.replace('.', '_')}({buf}, {offset})")


@emitter("buffer.store.i8", "buffer.store.i16", "buffer.store.i32", "buffer.store.i64",
         "buffer.store.f32", "buffer.store.f64")
def _store(t, ins):
    kind = ins.op.mnemonic[len("buffer.store."):]
    buf, offset, value = operands(t, ins)
    return [f"_bst_{kind}({buf}, {offset}, {value})"]


@emitter("buffer.fill.i8", "buffer.fill.i16", "buffer.fill.i32", "buffer.fill.i64",
         "buffer.fill.f32", "buffer.fill.f64")
def _fill(t, ins):
    kind = ins.op.mnemonic[len("buffer.fill."):]
    buf, offset, length, value = operands(t, ins)
    return [f"_bfl_{kind}({buf}, {offset}, {length}, {value})"]


@emitter("buffer.alloc")
def _alloc(t, ins):
    length, alignment = operands(t, ins)
    return write_result(t, ins, f"_balloc({length}, {alignment})")


@emitter("buffer.clone")
def _clone(t, ins):
    src, offset, length, alignment = operands(t, ins)
    return write_result(t, ins, f"_bclone({src}, {offset}, {length}, {alignment})")


@emitter("buffer.length")
def _length(t, ins):
    (buf,) = operands(t, ins)
    return write_result(t, ins, f"_blength({buf})")


@emitter("buffer.copy")
def _copy(t, ins):
    return [f"_bcopy({', '.join(operands(t, ins))})"]


@emitter("buffer.compare")
def _compare(t, ins):
    return write_result(t, ins, f"_bcompare({', '.join(operands(t, ins))})")


@emitter("buffer.hash")
def _hash(t, ins):
    return write_result(t, ins, f"_bhash({', '.join(operands(t, ins))})")
