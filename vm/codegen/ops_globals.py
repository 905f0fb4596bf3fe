"""Primitive global handlers (rwdata): direct and indirect loads and stores.

rwdata is the per-context ``bytearray`` bound as ``_rw``. Direct offsets were proven in
range by the verifier; indirect offsets are u32 register values checked here without
wraparound (vm-isa.md 5.1, quirks 3 and 4).
"""

from __future__ import annotations

from pyree.vm.codegen.emit import emitter, write_result


def _width(mnemonic: str) -> int:
    return 8 if mnemonic.endswith(("i64", "f64")) else 4


@emitter("global.load.i32", "global.load.f32", "global.load.i64", "global.load.f64")
def _load(t, ins):
    w = _width(ins.op.mnemonic)
    return write_result(t, ins, f"_ld{w}(_rw, {ins.arg('byte_offset')})[0]")


@emitter("global.store.i32", "global.store.f32", "global.store.i64", "global.store.f64")
def _store(t, ins):
    w = _width(ins.op.mnemonic)
    value = t.layout.read(ins.op.field("value").type, ins.arg("value"))
    return [f"_st{w}(_rw, {ins.arg('byte_offset')}, {value})"]


@emitter("global.load.indirect.i32", "global.load.indirect.f32",
         "global.load.indirect.i64", "global.load.indirect.f64")
def _load_indirect(t, ins):
    w = _width(ins.op.mnemonic)
    offset = t.layout.r32(ins.arg("byte_offset"))
    return [f"_t = {offset} & 0xFFFFFFFF", f"if _t + {w} > _rw_len: _global_range(_t, _rw_len)",
            *write_result(t, ins, f"_ld{w}(_rw, _t)[0]")]


@emitter("global.store.indirect.i32", "global.store.indirect.f32",
         "global.store.indirect.i64", "global.store.indirect.f64")
def _store_indirect(t, ins):
    w = _width(ins.op.mnemonic)
    offset = t.layout.r32(ins.arg("byte_offset"))
    value = t.layout.read(ins.op.field("value").type, ins.arg("value"))
    return [f"_t = {offset} & 0xFFFFFFFF", f"if _t + {w} > _rw_len: _global_range(_t, _rw_len)",
            f"_st{w}(_rw, _t, {value})"]
